package local_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/storagetest"
)

var backend = storagetest.Backend{
	Name:         "local",
	Fresh:        func(t *testing.T) string { return t.TempDir() },
	Open:         func(config string) (storage.Storage, error) { return local.New(config) },
	CrossProcess: true,
}

func TestMain(m *testing.M) { storagetest.Main(m, backend) }

func TestConformance(t *testing.T) { storagetest.Run(t, backend) }

// TestConformanceNamedStaging runs the suite with writes going through named
// staging files, the way used where unnamed files are not supported. Other
// processes of the cross-process races write through unnamed files, so the
// two ways are also checked against each other.
func TestConformanceNamedStaging(t *testing.T) {
	named := backend
	named.Name = "local (named staging)"
	named.Open = func(config string) (storage.Storage, error) { return openLocal(config, true) }
	storagetest.Run(t, named)
}

// TestUnnamedFilesOnLinux: on Linux with a filesystem that supports
// O_TMPFILE (tmpfs, ext4, xfs, btrfs), writes use unnamed files.
func TestUnnamedFilesOnLinux(t *testing.T) {
	s, _ := newStore(t)
	if runtime.GOOS == "linux" && !local.UsesUnnamedFiles(s) {
		t.Fatalf("%s: writes do not use unnamed files", s)
	}
	if runtime.GOOS != "linux" && local.UsesUnnamedFiles(s) {
		t.Fatalf("%s: unnamed files used outside Linux", s)
	}
}

// namedStaging, when set, makes the stores of newStore and openLocal write
// through named staging files. Tests that care run in both modes with
// bothWriteModes; none of them run in parallel.
var namedStaging bool

func openLocal(root string, named bool) (*local.Store, error) {
	s, err := local.New(root)
	if err == nil && named {
		local.UseNamedStaging(s)
	}
	return s, err
}

// bothWriteModes runs fn with unnamed files (where supported) and with
// named staging files.
func bothWriteModes(t *testing.T, fn func(t *testing.T)) {
	t.Run("unnamed", fn)
	t.Run("named", func(t *testing.T) {
		namedStaging = true
		defer func() { namedStaging = false }()
		fn(t)
	})
}

func newStore(t *testing.T) (*local.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := openLocal(dir, namedStaging)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %+v", err)
	}
}

func wantIs(t *testing.T, err, mark error) {
	t.Helper()
	if !errors.Is(err, mark) {
		t.Fatalf("want an error marked %q, got %v", mark, err)
	}
}

func list(t *testing.T, s storage.Storage, prefix, startAfter string) []string {
	t.Helper()
	keys := []string{}
	for info, err := range s.List(context.Background(), prefix, storage.ListOptions{StartAfter: startAfter}) {
		must(t, err)
		keys = append(keys, info.Key)
	}
	return keys
}

// dirNames lists the names in a directory of the real filesystem.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestNewAndString(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "x", "y", "repo")
	s, err := local.New(root)
	must(t, err)
	defer func() { _ = s.Close() }()
	if got, want := s.String(), "local:"+root; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	// The root and its parents are made by the first write, not by New.
	if _, err := os.Stat(filepath.Join(base, "x")); !os.IsNotExist(err) {
		t.Fatalf("New created folders: %v", err)
	}
	must(t, s.Put(context.Background(), "k", []byte("v")))
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		t.Fatalf("root not created by the first write: %v", err)
	}
	// A relative root becomes absolute.
	t.Chdir(base)
	s2, err := local.New("rel")
	must(t, err)
	defer func() { _ = s2.Close() }()
	if got, want := s2.String(), "local:"+filepath.Join(base, "rel"); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	// A file is no root.
	file := filepath.Join(base, "file")
	must(t, os.WriteFile(file, nil, 0o644))
	if _, err := local.New(file); err == nil {
		t.Fatal("New on a regular file succeeded")
	}
	if _, err := local.New(""); err == nil {
		t.Fatal("New with an empty path succeeded")
	}
}

// TestMissingRootReadsEmpty: a store on a directory that does not exist
// reads as empty (no object, an empty listing, deletes and syncs that do
// nothing) and creates nothing, until a write makes the root; a directory
// made by another writer meanwhile is found.
func TestMissingRootReadsEmpty(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root := filepath.Join(base, "typo", "repo")
	s, err := local.New(root)
	must(t, err)
	defer func() { _ = s.Close() }()
	if _, err := s.Get(ctx, "config.yaml"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get: want ErrNotFound, got %v", err)
	}
	if err := s.ReadRange(ctx, "k", 0, make([]byte, 1)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("read-range: want ErrNotFound, got %v", err)
	}
	if _, err := s.Stat(ctx, "refs/branch.main/x"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("stat: want ErrNotFound, got %v", err)
	}
	if got := list(t, s, "", ""); len(got) != 0 {
		t.Fatalf("list: %v", got)
	}
	if got := list(t, s, "refs/", ""); len(got) != 0 {
		t.Fatalf("list refs/: %v", got)
	}
	must(t, s.Delete(ctx, "a", "b/c"))
	must(t, s.Sync(ctx))
	if got := dirNames(t, base); len(got) != 0 {
		t.Fatalf("reads created %v", got)
	}

	// Another writer makes the root: this store finds it.
	other, err := local.New(root)
	must(t, err)
	defer func() { _ = other.Close() }()
	must(t, other.PutIfAbsent(ctx, "a/b", []byte("x")))
	if got, err := s.Get(ctx, "a/b"); err != nil || string(got) != "x" {
		t.Fatalf("get after another store wrote: %q, %v", got, err)
	}
	must(t, s.Put(ctx, "c", []byte("y")))
	if got, want := list(t, s, "", ""), []string{"a/b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %v want %v", got, want)
	}
	must(t, s.Sync(ctx))
}

func TestKeyEscapeRefused(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	root := filepath.Join(base, "root")
	s, err := local.New(root)
	must(t, err)
	defer func() { _ = s.Close() }()
	keys := []string{"../x", "../root/x", "/etc/passwd", "a//b", "a/./b", "a/../b", ".", "..", "a/", "nul\x00x", `a\..\b`, ".tmp", ".tmp/x", ".tmp/a/b", ""}
	for _, key := range keys {
		for name, err := range map[string]error{
			"put":           s.Put(ctx, key, []byte("x")),
			"put-if-absent": s.PutIfAbsent(ctx, key, []byte("x")),
			"delete":        s.Delete(ctx, "ok", key),
		} {
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("%s %q: want ErrInvalidKey, got %v", name, key, err)
			}
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("get %q: want ErrInvalidKey, got %v", key, err)
		}
		if _, err := s.GetRange(ctx, key, storage.Suffix(1)); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("get-range %q: want ErrInvalidKey, got %v", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("stat %q: want ErrInvalidKey, got %v", key, err)
		}
	}
	for _, prefix := range []string{"../", "/etc", "a//", "nul\x00"} {
		for _, err := range s.List(ctx, prefix, storage.ListOptions{}) {
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("list %q: want ErrInvalidKey, got %v", prefix, err)
			}
		}
	}
	// Nothing was written anywhere, not even the root.
	if got := dirNames(t, base); len(got) != 0 {
		t.Fatalf("refused keys created %v", got)
	}
	// Keys and prefixes that merely look like the staging directory are fine.
	for _, key := range []string{".tmpx", "a/.tmp", "x.tmp"} {
		must(t, s.Put(ctx, key, []byte(key)))
	}
	if got, want := list(t, s, "", ""), []string{".tmpx", "a/.tmp", "x.tmp"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %v want %v", got, want)
	}
	if got := list(t, s, ".tmp/", ""); len(got) != 0 {
		t.Fatalf("list .tmp/: %v", got)
	}
	if got, want := list(t, s, ".tm", ""), []string{".tmpx"}; !slices.Equal(got, want) {
		t.Fatalf("list .tm: got %v want %v", got, want)
	}
}

func TestSymlinksDoNotEscape(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	must(t, os.WriteFile(secret, []byte("secret"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(root, "evil")))
	must(t, os.Symlink(secret, filepath.Join(root, "evilfile")))
	must(t, os.MkdirAll(filepath.Join(root, "real"), 0o755))
	must(t, s.Put(ctx, "real/obj", []byte("real")))
	must(t, os.Symlink("real", filepath.Join(root, "alias")))

	for _, key := range []string{"evil/secret", "evilfile"} {
		if data, err := s.Get(ctx, key); err == nil {
			t.Fatalf("get %q through a symlink out of the root gave %q", key, data)
		}
		if _, err := s.Stat(ctx, key); err == nil {
			t.Fatalf("stat %q through a symlink out of the root succeeded", key)
		}
	}
	if err := s.Put(ctx, "evil/planted", []byte("x")); err == nil {
		t.Fatal("put through a symlink out of the root succeeded")
	}
	if err := s.PutIfAbsent(ctx, "evil/planted2", []byte("x")); err == nil {
		t.Fatal("put-if-absent through a symlink out of the root succeeded")
	}
	if err := s.Put(ctx, "evil/deeper/planted", []byte("x")); err == nil {
		t.Fatal("put through a symlink out of the root succeeded")
	}
	_ = s.Delete(ctx, "evil/secret")
	if got := dirNames(t, outside); !slices.Equal(got, []string{"secret"}) {
		t.Fatalf("outside directory changed: %v", got)
	}
	// Listing neither follows symlinks nor lists them.
	if got, want := list(t, s, "", ""), []string{"real/obj"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %v want %v", got, want)
	}
	for _, prefix := range []string{"evil/", "alias/", "alias/o"} {
		if got := list(t, s, prefix, ""); len(got) != 0 {
			t.Fatalf("list %q: %v", prefix, got)
		}
	}
}

func TestLayoutConflicts(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	must(t, s.Put(ctx, "a", []byte("a")))
	wantIs(t, s.Put(ctx, "a/b", []byte("x")), storage.ErrInvalidKey)
	wantIs(t, s.PutIfAbsent(ctx, "a/b/c", []byte("x")), storage.ErrInvalidKey)
	_, err := s.Get(ctx, "a/b")
	wantIs(t, err, storage.ErrNotFound)
	must(t, s.Delete(ctx, "a/b"))

	must(t, s.Put(ctx, "x/y", []byte("y")))
	err = s.Put(ctx, "x", []byte("x"))
	wantIs(t, err, storage.ErrInvalidKey)
	wantIs(t, err, storage.ErrDeterminate)
	wantIs(t, s.PutIfAbsent(ctx, "x", []byte("x")), storage.ErrInvalidKey)
	_, err = s.Get(ctx, "x")
	wantIs(t, err, storage.ErrNotFound)
	_, err = s.Stat(ctx, "x")
	wantIs(t, err, storage.ErrNotFound)
	must(t, s.Delete(ctx, "x")) // a directory is no object: nothing to delete
	if got, want := list(t, s, "", ""), []string{"a", "x/y"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %v want %v", got, want)
	}
}

// TestListOrder checks byte order with names that a naive directory walk
// misorders, and every prefix and StartAfter against a sorted slice.
func TestListOrder(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	keys := []string{
		"a.b", "a/b", "a-b", "a0", "a/a.b", "a/a/x", "a/a-b", "a/a0", "a/c/d/e",
		"ab", "b/a", "b-", "b.", "b0/0", "\u00e9", "z/\u00e9", "z/e", "Z",
	}
	for _, k := range keys {
		must(t, s.Put(ctx, k, []byte(k)))
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	if got := list(t, s, "", ""); !slices.Equal(got, sorted) {
		t.Fatalf("list:\n got %q\nwant %q", got, sorted)
	}
	checkListing(t, s, sorted, []string{"", "a", "a/", "a/a", "a/a/", "b", "b/", "b0", "b0/", "z/", "q", "q/", "\u00e9"})

	// Sizes and times.
	for info, err := range s.List(ctx, "", storage.ListOptions{}) {
		must(t, err)
		if info.Size != int64(len(info.Key)) {
			t.Fatalf("%q: size %d", info.Key, info.Size)
		}
		if time.Since(info.ModTime) > time.Hour {
			t.Fatalf("%q: modification time %v", info.Key, info.ModTime)
		}
	}
}

// checkListing compares List with a filter of the sorted keys, for every
// prefix given and every StartAfter among the keys and around them.
func checkListing(t *testing.T, s storage.Storage, sorted, prefixes []string) {
	t.Helper()
	afters := []string{"", "\xff", "a/", "a.", "a/a/", "a/a/x", "a/a/y"}
	for _, k := range sorted {
		afters = append(afters, k, k+"/", k+"\x00", k[:len(k)-1])
	}
	for _, prefix := range prefixes {
		for _, after := range afters {
			want := []string{}
			for _, k := range sorted {
				if strings.HasPrefix(k, prefix) && k > after {
					want = append(want, k)
				}
			}
			if got := list(t, s, prefix, after); !slices.Equal(got, want) {
				t.Fatalf("list %q after %q:\n got %q\nwant %q", prefix, after, got, want)
			}
		}
	}
}

// TestListRandomTrees compares List with sorting on random trees made of
// the characters that trip directory walks.
func TestListRandomTrees(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "a.-0/"
	for range 5 {
		s, _ := newStore(t)
		var keys []string
		for range 60 {
			b := make([]byte, 1+rng.IntN(6))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			k := string(b)
			if storage.ValidateKey(k) != nil || k == ".tmp" || strings.HasPrefix(k, ".tmp/") {
				continue
			}
			// Skip keys the layout cannot hold next to earlier ones.
			if err := s.Put(ctx, k, []byte(k)); err != nil {
				if errors.Is(err, storage.ErrInvalidKey) {
					continue
				}
				t.Fatal(err)
			}
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		prefixes := []string{"", "a", "a.", "a/", "-", "0/", "a/a", "a/a/"}
		checkListing(t, s, keys, prefixes)
	}
}

func TestListStartAfter(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	for _, k := range []string{"p/a", "p/b/1", "p/b/2", "p/c", "q"} {
		must(t, s.Put(ctx, k, nil))
	}
	cases := []struct {
		prefix, after string
		want          []string
	}{
		{"", "p/b/1", []string{"p/b/2", "p/c", "q"}},
		{"p/", "p/b", []string{"p/b/1", "p/b/2", "p/c"}},
		{"p/", "p/b/", []string{"p/b/1", "p/b/2", "p/c"}},
		{"p/", "p/b/2", []string{"p/c"}},
		{"p/", "p/c", []string{}},
		{"p/", "a", []string{"p/a", "p/b/1", "p/b/2", "p/c"}},
		{"p/", "z", []string{}},
		{"p/b/", "p/a", []string{"p/b/1", "p/b/2"}},
		{"p/b/", "p/c", []string{}},
	}
	for _, c := range cases {
		if got := list(t, s, c.prefix, c.after); !slices.Equal(got, c.want) {
			t.Errorf("list %q after %q: got %q want %q", c.prefix, c.after, got, c.want)
		}
	}
}

func TestListSkipsStrangeFiles(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	must(t, s.Put(ctx, "d/ok", []byte("x")))
	must(t, os.WriteFile(filepath.Join(root, "d", `back\slash`), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "d", "bad\xffutf8"), nil, 0o644))
	must(t, os.Symlink("ok", filepath.Join(root, "d", "link")))
	must(t, os.WriteFile(filepath.Join(root, ".tmp", "leftover"), nil, 0o644))
	if got, want := list(t, s, "", ""), []string{"d/ok"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %q want %q", got, want)
	}
}

func TestListStopsOnCancel(t *testing.T) {
	s, _ := newStore(t)
	for i := range 10 {
		must(t, s.Put(context.Background(), fmt.Sprintf("k/%d", i), nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var last error
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		if err != nil {
			last = err
			break
		}
		n++
		cancel()
	}
	if n != 1 || !errors.Is(last, context.Canceled) {
		t.Fatalf("after cancel: %d keys, error %v", n, last)
	}
}

func TestCancelledContext(t *testing.T) {
	s, root := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Put(ctx, "k", []byte("x"))
	wantIs(t, err, context.Canceled)
	wantIs(t, err, storage.ErrDeterminate)
	_, err = s.Get(ctx, "k")
	wantIs(t, err, context.Canceled)
	wantIs(t, s.Delete(ctx, "k"), context.Canceled)
	if _, err := os.Stat(filepath.Join(root, "k")); !os.IsNotExist(err) {
		t.Fatalf("cancelled put wrote the object: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	must(t, s.Put(ctx, "f", []byte("x")))
	must(t, os.MkdirAll(filepath.Join(root, "dir", "sub"), 0o755))
	for _, key := range []string{"missing", "f/below", "dir", "dir/sub", "dir/missing"} {
		_, err := s.Get(ctx, key)
		wantIs(t, err, storage.ErrNotFound)
		if !strings.Contains(err.Error(), key) {
			t.Fatalf("error %q does not name the key", err)
		}
		_, err = s.GetRange(ctx, key, storage.Range(0, 1))
		wantIs(t, err, storage.ErrNotFound)
		_, err = s.Stat(ctx, key)
		wantIs(t, err, storage.ErrNotFound)
	}
	// Reading a range past the end is an invalid range, not a short read.
	_, err := s.GetRange(ctx, "f", storage.From(2))
	wantIs(t, err, storage.ErrInvalidRange)
}

// TestNoTornWrites: readers never see anything but a whole object while a
// writer replaces it over and over.
func TestNoTornWrites(t *testing.T) { bothWriteModes(t, testNoTornWrites) }

func testNoTornWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	const size = 1 << 20
	const versions = 60
	fill := func(v int) []byte { return bytes.Repeat([]byte{byte(v)}, size) }
	must(t, s.Put(ctx, "obj/big", fill(0)))

	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 4 {
		wg.Go(func() {
			for n := 0; !done.Load(); n++ {
				var data []byte
				var err error
				if r%2 == 0 {
					data, err = s.Get(ctx, "obj/big")
				} else {
					data, err = s.GetRange(ctx, "obj/big", storage.Suffix(size/2))
				}
				if err != nil {
					errs <- err
					return
				}
				want := size
				if r%2 == 1 {
					want = size / 2
				}
				if len(data) != want || bytes.Count(data, data[:1]) != want {
					errs <- errors.Newf("reader %d saw a torn object: %d bytes, first byte %d, %d equal", r, len(data), data[0], bytes.Count(data, data[:1]))
					return
				}
			}
		})
	}
	for v := 1; v <= versions; v++ {
		must(t, s.Put(ctx, "obj/big", fill(v)))
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "obj/big")
	must(t, err)
	if !bytes.Equal(got, fill(versions)) {
		t.Fatal("final value is not the last written")
	}
}

// TestPutIfAbsentOneWinner races 16 goroutines, each with its own handle on
// the directory, to create one key: exactly one wins.
func TestPutIfAbsentOneWinner(t *testing.T) { bothWriteModes(t, testPutIfAbsentOneWinner) }

func testPutIfAbsentOneWinner(t *testing.T) {
	ctx := context.Background()
	_, root := newStore(t)
	const workers = 16
	for round := range 10 {
		key := fmt.Sprintf("refs/branch.main/%d", round)
		results := make([]error, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				s, err := openLocal(root, namedStaging && w%2 == 0)
				if err != nil {
					results[w] = err
					return
				}
				defer func() { _ = s.Close() }()
				<-start
				results[w] = s.PutIfAbsent(ctx, key, []byte(fmt.Sprint(w)))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range results {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: workers %d and %d both won", round, winner, w)
			case err == nil:
				winner = w
			case !errors.Is(err, storage.ErrPreconditionFailed):
				t.Fatalf("round %d: worker %d: %+v", round, w, err)
			case !strings.Contains(err.Error(), key):
				t.Fatalf("error %q does not name the key", err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(key)))
		must(t, err)
		if string(data) != fmt.Sprint(winner) {
			t.Fatalf("round %d: stored %q, winner %d", round, data, winner)
		}
	}
	if got := dirNames(t, filepath.Join(root, ".tmp")); len(got) != 0 {
		t.Fatalf("staging files left behind: %v", got)
	}
}

// TestDeletePrunesDirectories: deleting the last object of a directory
// removes the empty directories up to (not including) the root.
func TestDeletePrunesDirectories(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	must(t, s.Put(ctx, "a/b/c/d", nil))
	must(t, s.Put(ctx, "a/x", nil))
	must(t, s.Delete(ctx, "a/b/c/d"))
	if got := dirNames(t, filepath.Join(root, "a")); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("a/ holds %v", got)
	}
	must(t, s.Delete(ctx, "a/x"))
	if got := dirNames(t, root); !slices.Equal(got, []string{".tmp"}) {
		t.Fatalf("root holds %v", got)
	}
	// The root itself is never removed, and the store keeps working.
	must(t, s.Put(ctx, "top", nil))
	must(t, s.Delete(ctx, "top"))
	if _, err := os.Stat(root); err != nil {
		t.Fatal(err)
	}
	must(t, s.Put(ctx, "a/b/again", []byte("x")))
	if got := list(t, s, "", ""); !slices.Equal(got, []string{"a/b/again"}) {
		t.Fatalf("list: %v", got)
	}
}

// TestDeleteRacesWriters: while goroutines delete the last object of a
// directory (pruning it), others keep writing into the same directory.
// No call fails, and every completed write is readable until its writer
// deletes it.
func TestDeleteRacesWriters(t *testing.T) { bothWriteModes(t, testDeleteRacesWriters) }

func testDeleteRacesWriters(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			key := fmt.Sprintf("shared/dir/deep/w%d", w)
			for i := range rounds {
				var err error
				switch i % 3 {
				case 0:
					err = s.Put(ctx, key, []byte(key))
				case 1:
					err = s.PutIfAbsent(ctx, key, []byte(key))
				default:
					err = s.PutPiece(ctx, key, 0, []byte(key))
				}
				if err != nil {
					errs <- errors.Wrapf(err, "worker %d round %d: write", w, i)
					return
				}
				got, err := s.Get(ctx, key)
				if err != nil || string(got) != key {
					errs <- errors.Wrapf(err, "worker %d round %d: read back %q", w, i, got)
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					errs <- errors.Wrapf(err, "worker %d round %d: delete", w, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%+v", err)
	}
	if got := list(t, s, "", ""); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	if got := dirNames(t, filepath.Join(root, ".tmp")); len(got) != 0 {
		t.Fatalf("staging files left behind: %v", got)
	}
}

func TestStagingDirectoryRecreated(t *testing.T) { bothWriteModes(t, testStagingDirectoryRecreated) }

func testStagingDirectoryRecreated(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	must(t, os.RemoveAll(filepath.Join(root, ".tmp")))
	must(t, s.Put(ctx, "k", []byte("v")))
	must(t, s.PutIfAbsent(ctx, "k2", []byte("v")))
	if got, want := list(t, s, "", ""), []string{"k", "k2"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %v want %v", got, want)
	}
}

func TestOverwriteKeepsOpenReaders(t *testing.T) { bothWriteModes(t, testOverwriteKeepsOpenReaders) }

func testOverwriteKeepsOpenReaders(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	must(t, s.Put(ctx, "k", []byte("old")))
	f, err := os.Open(filepath.Join(root, "k"))
	must(t, err)
	defer func() { _ = f.Close() }()
	must(t, s.Put(ctx, "k", []byte("new")))
	buf := make([]byte, 3)
	_, err = f.ReadAt(buf, 0)
	must(t, err)
	if string(buf) != "old" {
		t.Fatalf("an open reader saw %q: the object was modified in place", buf)
	}
}

func TestPermissionErrorsAreDeterminate(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("permissions do not bind root")
	}
	ctx := context.Background()
	s, root := newStore(t)
	must(t, s.Put(ctx, "ro/existing", []byte("x")))
	must(t, os.Chmod(filepath.Join(root, "ro"), 0o555))
	defer func() { _ = os.Chmod(filepath.Join(root, "ro"), 0o755) }()
	for _, err := range []error{
		s.Put(ctx, "ro/new", []byte("x")),
		s.PutIfAbsent(ctx, "ro/new", []byte("x")),
		s.Delete(ctx, "ro/existing"),
	} {
		wantIs(t, err, storage.ErrDeterminate)
		if !strings.Contains(err.Error(), filepath.Join(root, "ro")) {
			t.Fatalf("error %q does not name the path", err)
		}
	}
}
