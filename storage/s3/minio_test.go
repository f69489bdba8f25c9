package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/s3"
	"github.com/icechunk-go/icechunk-go/storage/s3/miniotest"
)

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

// putMany stores keys concurrently.
func putMany(t *testing.T, s storage.Storage, keys []string) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, 64)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- s.Put(ctx, k, []byte(k))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
}

func listAll(t *testing.T, s storage.Storage, prefix string, opts storage.ListOptions) []storage.ObjectInfo {
	t.Helper()
	var out []storage.ObjectInfo
	for info, err := range s.List(context.Background(), prefix, opts) {
		must(t, err)
		out = append(out, info)
	}
	return out
}

func keysOf(infos []storage.ObjectInfo) []string {
	keys := make([]string, len(infos))
	for i, info := range infos {
		keys[i] = info.Key
	}
	return keys
}

// TestPutIfAbsentRace16: 16 goroutines, each with its own Store (its own
// connections), race to create one key; exactly one wins, the others get
// ErrPreconditionFailed, and the stored object is the winner's.
func TestPutIfAbsentRace16(t *testing.T) {
	const writers, rounds = 16, 20
	cfg := configFor(t, shared)
	stores := make([]*s3.Store, writers)
	for i := range stores {
		stores[i] = newStore(t, cfg)
	}
	ctx := context.Background()
	for round := range rounds {
		key := fmt.Sprintf("race/%d", round)
		var wg sync.WaitGroup
		errs := make([]error, writers)
		start := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[w] = stores[w].PutIfAbsent(ctx, key, []byte(fmt.Sprintf("writer %d", w)))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, w)
			case err == nil:
				winner = w
			case !errors.Is(err, storage.ErrPreconditionFailed):
				t.Fatalf("round %d: writer %d: %+v", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody won", round)
		}
		got, err := stores[0].Get(ctx, key)
		must(t, err)
		if want := fmt.Sprintf("writer %d", winner); string(got) != want {
			t.Fatalf("round %d: stored %q, winner wrote %q", round, got, want)
		}
	}
}

// TestRanges exercises every kind of range on the wire, including the
// edges S3 answers with 416 (a range starting at or past the end, any range
// of an empty object) and the ranges answered without a GET.
func TestRanges(t *testing.T) {
	s := freshStore(t)
	ctx := context.Background()
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	must(t, s.Put(ctx, "obj", data))
	must(t, s.Put(ctx, "empty", nil))
	type tc struct {
		key  string
		r    storage.ByteRange
		want []byte // nil: want ErrInvalidRange
	}
	cases := []tc{
		{"obj", storage.Range(0, 1), data[:1]},
		{"obj", storage.Range(10, 20), data[10:20]},
		{"obj", storage.Range(990, 2000), data[990:]},
		{"obj", storage.Range(999, 1000), data[999:]},
		{"obj", storage.Range(1000, 1000), []byte{}},
		{"obj", storage.Range(1000, 1001), []byte{}},
		{"obj", storage.Range(500, 500), []byte{}},
		{"obj", storage.Range(1001, 1002), nil},
		{"obj", storage.Range(1001, 1001), nil},
		{"obj", storage.From(0), data},
		{"obj", storage.From(999), data[999:]},
		{"obj", storage.From(1000), []byte{}},
		{"obj", storage.From(1001), nil},
		{"obj", storage.Suffix(1), data[999:]},
		{"obj", storage.Suffix(100), data[900:]},
		{"obj", storage.Suffix(1000), data},
		{"obj", storage.Suffix(5000), data},
		{"obj", storage.Suffix(0), []byte{}},
		{"empty", storage.From(0), []byte{}},
		{"empty", storage.Range(0, 10), []byte{}},
		{"empty", storage.Range(0, 0), []byte{}},
		{"empty", storage.Suffix(5), []byte{}},
		{"empty", storage.Suffix(0), []byte{}},
		{"empty", storage.From(1), nil},
		{"empty", storage.Range(1, 2), nil},
	}
	for _, c := range cases {
		got, err := s.GetRange(ctx, c.key, c.r)
		if c.want == nil {
			if !errors.Is(err, storage.ErrInvalidRange) {
				t.Errorf("%s %v: want ErrInvalidRange, got %d bytes, %v", c.key, c.r, len(got), err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %+v", c.key, c.r, err)
			continue
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s %v: got %d bytes, want %d", c.key, c.r, len(got), len(c.want))
		}
	}
	for _, r := range []storage.ByteRange{storage.Range(0, 10), storage.Range(3, 3), storage.From(0), storage.Suffix(4), storage.Suffix(0)} {
		_, err := s.GetRange(ctx, "missing", r)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("missing %v: want ErrNotFound, got %v", r, err)
		}
	}
}

// TestListPagination lists more than 1000 keys (several ListObjectsV2
// pages), resumes with StartAfter at and across page boundaries, and checks
// keys that need URL-decoding.
func TestListPagination(t *testing.T) {
	s := freshStore(t)
	const n = 2101
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("many/%05d", i))
	}
	odd := []string{"many/odd key with spaces", "many/plus+sign", "many/percent%20", "many/ünïcödé", "many/ctl\x01char", "many/amp&lt;"}
	putMany(t, s, append(slices.Clone(keys), odd...))
	must(t, s.Put(context.Background(), "other", []byte("x")))
	must(t, s.Put(context.Background(), "manx", []byte("x"))) // shares "man", not "many/"

	want := append(slices.Clone(keys), odd...)
	slices.Sort(want)
	infos := listAll(t, s, "many/", storage.ListOptions{})
	if got := keysOf(infos); !slices.Equal(got, want) {
		t.Fatalf("listed %d keys, want %d; first difference near %v", len(got), len(want), firstDiff(got, want))
	}
	for _, info := range infos {
		if info.Size != int64(len(info.Key)) || info.ModTime.IsZero() {
			t.Fatalf("%q: size %d, mod time %v", info.Key, info.Size, info.ModTime)
		}
		if time.Since(info.ModTime) > time.Hour || time.Until(info.ModTime) > time.Hour {
			t.Fatalf("%q: mod time %v is far from now", info.Key, info.ModTime)
		}
	}
	for _, after := range []int{0, 998, 999, 1000, 1999, 2100} {
		got := keysOf(listAll(t, s, "many/", storage.ListOptions{StartAfter: want[after]}))
		if !slices.Equal(got, want[after+1:]) {
			t.Fatalf("StartAfter %q: got %d keys, want %d", want[after], len(got), len(want)-after-1)
		}
	}
	// StartAfter before the prefix lists everything; after it, nothing.
	if got := listAll(t, s, "many/", storage.ListOptions{StartAfter: "a"}); len(got) != len(want) {
		t.Fatalf("StartAfter before the prefix: %d keys", len(got))
	}
	if got := listAll(t, s, "many/", storage.ListOptions{StartAfter: "zzz"}); len(got) != 0 {
		t.Fatalf("StartAfter past the prefix: %d keys", len(got))
	}
	// The whole store, in byte order.
	all := keysOf(listAll(t, s, "", storage.ListOptions{}))
	if len(all) != len(want)+2 || !slices.IsSorted(all) {
		t.Fatalf("whole listing: %d keys, sorted %v", len(all), slices.IsSorted(all))
	}
	// Odd keys read back.
	for _, k := range odd {
		got, err := s.Get(context.Background(), k)
		must(t, err)
		if string(got) != k {
			t.Fatalf("%q: got %q", k, got)
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %q vs %q", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}

// TestBatchDeleteMany deletes more than 1000 existing keys (several
// DeleteObjects requests), with duplicates and absent keys mixed in, and
// again (idempotence).
func TestBatchDeleteMany(t *testing.T) {
	s := freshStore(t)
	ctx := context.Background()
	var keys []string
	for i := range 2101 {
		keys = append(keys, fmt.Sprintf("del/%04d", i))
	}
	putMany(t, s, keys)
	must(t, s.Put(ctx, "keep/me", []byte("x")))
	doomed := append(slices.Clone(keys), keys[:100]...) // duplicates
	doomed = append(doomed, "del/absent-1", "never/was")
	start := time.Now()
	must(t, s.Delete(ctx, doomed...))
	t.Logf("deleted %d keys in %s", len(keys), time.Since(start))
	if got := keysOf(listAll(t, s, "", storage.ListOptions{})); !slices.Equal(got, []string{"keep/me"}) {
		t.Fatalf("after delete: %d keys left (%v...)", len(got), got[:min(3, len(got))])
	}
	must(t, s.Delete(ctx, doomed...))
	must(t, s.Delete(ctx))
}

// TestPrefixIsolation: stores on different prefixes of one bucket do not
// see each other's objects; a store on the bucket root sees both, under
// their full keys.
func TestPrefixIsolation(t *testing.T) {
	ctx := context.Background()
	cfgA, cfgB := configFor(t, shared), configFor(t, shared)
	cfgA.Prefix = "/" + cfgA.Prefix + "/" // slashes are trimmed
	a, b := newStore(t, cfgA), newStore(t, cfgB)
	must(t, a.Put(ctx, "k", []byte("a")))
	must(t, b.Put(ctx, "k", []byte("b")))
	got, err := a.Get(ctx, "k")
	must(t, err)
	if string(got) != "a" {
		t.Fatalf("a sees %q", got)
	}
	if keys := keysOf(listAll(t, b, "", storage.ListOptions{})); !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("b lists %v", keys)
	}
	if want := "s3://" + shared.Bucket + "/" + strings.Trim(cfgA.Prefix, "/"); a.String() != want {
		t.Fatalf("String() = %q, want %q", a.String(), want)
	}
	rootCfg := cfgB
	rootCfg.Prefix = ""
	root := newStore(t, rootCfg)
	if root.String() != "s3://"+shared.Bucket {
		t.Fatalf("root String() = %q", root.String())
	}
	info, err := root.Stat(ctx, cfgB.Prefix+"/k")
	must(t, err)
	if info.Key != cfgB.Prefix+"/k" || info.Size != 1 {
		t.Fatalf("root stat: %+v", info)
	}
}

// TestStatAndNotFound: Stat reports size and time; every read of a missing
// key is ErrNotFound naming the store and key.
func TestStatAndNotFound(t *testing.T) {
	s := freshStore(t)
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	must(t, s.Put(ctx, "a/b", []byte("hello")))
	info, err := s.Stat(ctx, "a/b")
	must(t, err)
	if info.Key != "a/b" || info.Size != 5 || info.ModTime.Before(before) {
		t.Fatalf("stat: %+v", info)
	}
	_, err = s.Get(ctx, "a/missing")
	wantIs(t, err, storage.ErrNotFound)
	if !strings.Contains(err.Error(), s.String()) || !strings.Contains(err.Error(), "a/missing") {
		t.Fatalf("message %q does not name the store and key", err)
	}
	_, err = s.Stat(ctx, "a/missing")
	wantIs(t, err, storage.ErrNotFound)
}

// TestBadSecret: a wrong secret key gives determinate, non-transient
// errors that are not mistaken for "not found" or "lost race", and whose
// messages never hold the secret.
func TestBadSecret(t *testing.T) {
	const secret = "wrong-secret-Zq8vX2kLp9"
	const token = "session-token-Hh41Tt7Yy"
	cfg := configFor(t, shared)
	cfg.SecretAccessKey = secret
	s := newStore(t, cfg)
	ctx := context.Background()
	var errs []error
	_, err := s.Get(ctx, "k")
	errs = append(errs, err)
	_, err = s.GetRange(ctx, "k", storage.Suffix(3))
	errs = append(errs, err)
	_, err = s.Stat(ctx, "k")
	errs = append(errs, err)
	errs = append(errs, s.Put(ctx, "k", []byte("x")))
	errs = append(errs, s.PutIfAbsent(ctx, "k", []byte("x")))
	errs = append(errs, s.Delete(ctx, "k", "l"))
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		errs = append(errs, err)
	}
	cfg.SessionToken = token
	_, err = newStore(t, cfg).Get(ctx, "k")
	errs = append(errs, err)
	for i, err := range errs {
		switch {
		case err == nil:
			t.Fatalf("call %d succeeded with a bad secret", i)
		case !errors.Is(err, storage.ErrDeterminate) || storage.IsTransient(err) || storage.IsIndeterminate(err):
			t.Errorf("call %d: want determinate and not transient: %v", i, err)
		case errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrPreconditionFailed):
			t.Errorf("call %d: misclassified: %v", i, err)
		}
		for _, msg := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			if strings.Contains(msg, secret) || strings.Contains(msg, token) {
				t.Fatalf("call %d: message holds a credential: %s", i, msg)
			}
		}
		if !strings.Contains(err.Error(), s.String()) {
			t.Errorf("call %d: message does not name the store: %v", i, err)
		}
	}
	t.Logf("example: %v", errs[0])
}

// TestAnonymous: an anonymous config constructs without any network, and
// against a private bucket it is refused with a determinate error.
func TestAnonymous(t *testing.T) {
	s := newStore(t, s3.Config{Bucket: "some-public-bucket", Anonymous: true})
	if s.String() != "s3://some-public-bucket" {
		t.Fatalf("String() = %q", s.String())
	}
	cfg := configFor(t, shared)
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.Anonymous = "", "", true
	_, err := newStore(t, cfg).Get(context.Background(), "k")
	if !errors.Is(err, storage.ErrDeterminate) || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("anonymous get of a private bucket: %v", err)
	}
}

// TestFromEnv: credentials and region from the environment.
func TestFromEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", shared.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", shared.SecretKey)
	t.Setenv("AWS_REGION", shared.Region)
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg := configFor(t, shared)
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.Region, cfg.FromEnv = "", "", "", true
	s := newStore(t, cfg)
	ctx := context.Background()
	must(t, s.Put(ctx, "env", []byte("ok")))
	got, err := s.Get(ctx, "env")
	must(t, err)
	if string(got) != "ok" {
		t.Fatalf("got %q", got)
	}
}

// TestMissingBucket: a missing bucket is a determinate failure, never
// "not found" (which would make an empty repository of a typo).
func TestMissingBucket(t *testing.T) {
	cfg := configFor(t, shared)
	cfg.Bucket = "no-such-bucket-here"
	s := newStore(t, cfg)
	ctx := context.Background()
	_, err := s.Get(ctx, "k")
	if !errors.Is(err, storage.ErrDeterminate) || errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	err = s.PutIfAbsent(ctx, "k", []byte("x"))
	if !errors.Is(err, storage.ErrDeterminate) || errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("put-if-absent: %v", err)
	}
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		if !errors.Is(err, storage.ErrDeterminate) {
			t.Fatalf("list: %v", err)
		}
	}
}

// TestCanceledContext: a context done before the call fails it without
// sending anything (determinate); the cause stays visible to errors.Is.
func TestCanceledContext(t *testing.T) {
	s := freshStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Get(ctx, "k")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, storage.ErrDeterminate) {
		t.Fatalf("get: %v", err)
	}
	err = s.PutIfAbsent(ctx, "k", []byte("x"))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, storage.ErrDeterminate) {
		t.Fatalf("put-if-absent: %v", err)
	}
	err = s.Delete(ctx, "k")
	if !errors.Is(err, context.Canceled) || !errors.Is(err, storage.ErrDeterminate) {
		t.Fatalf("delete: %v", err)
	}
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("list: %v", err)
		}
	}
}

// TestServerKilled: once the server is gone, every operation fails at once
// with a transient error (the connection is refused, so nothing was done:
// determinate), and none hangs.
func TestServerKilled(t *testing.T) {
	srv := miniotest.Start(t)
	s := newStore(t, configFor(t, srv))
	ctx := context.Background()
	must(t, s.Put(ctx, "k", []byte("x")))
	must(t, srv.Stop())

	start := time.Now()
	_, err1 := s.Get(ctx, "k")
	err2 := s.Put(ctx, "k", []byte("y"))
	err3 := s.PutIfAbsent(ctx, "j", []byte("y"))
	err4 := s.Delete(ctx, "k")
	_, err5 := s.Stat(ctx, "k")
	var err6 error
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		err6 = err
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("operations on a dead server took %s", d)
	}
	for i, err := range []error{err1, err2, err3, err4, err5, err6} {
		if err == nil || !storage.IsTransient(err) {
			t.Fatalf("op %d: want a transient error, got %v", i+1, err)
		}
		if !errors.Is(err, storage.ErrDeterminate) && !storage.IsIndeterminate(err) {
			t.Fatalf("op %d: unclassified: %v", i+1, err)
		}
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrPreconditionFailed) {
			t.Fatalf("op %d: misclassified: %v", i+1, err)
		}
	}
	t.Logf("example: %v", err3)
}

// TestServerHung: a server that accepts connections but never answers
// (SIGSTOP) makes a write fail when the caller's deadline passes, as
// indeterminate (the request was sent and might have been applied), and
// promptly.
func TestServerHung(t *testing.T) {
	srv := miniotest.Start(t)
	s := newStore(t, configFor(t, srv))
	must(t, s.Put(context.Background(), "warm", []byte("x"))) // open a connection
	t0 := time.Now()
	must(t, srv.Pause())
	t.Logf("paused in %s", time.Since(t0))
	defer func() { _ = srv.Resume() }()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.PutIfAbsent(ctx, "k", []byte("x"))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("put-if-absent on a hung server returned after %s", d)
	}
	if !storage.IsIndeterminate(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put-if-absent on a hung server: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := s.Get(ctx2, "warm"); !errors.Is(err, storage.ErrDeterminate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get on a hung server: %v", err)
	}
	t0 = time.Now()
	must(t, srv.Resume())
	t.Logf("resumed in %s", time.Since(t0))
	t0 = time.Now()
	must(t, s.Put(context.Background(), "after", []byte("y")))
	t.Logf("put after resume in %s", time.Since(t0))
}

// TestStorageClass: a write made with storage.WithStorageClass asks the
// server for that class (Stat reads it back), a conditional create too; a
// class the server does not offer fails the write, naming it, and leaves
// nothing behind.
func TestStorageClass(t *testing.T) {
	s := freshStore(t)
	ctx := context.Background()
	rrs := storage.WithStorageClass(ctx, "REDUCED_REDUNDANCY")
	must(t, s.Put(rrs, "classed", []byte("x")))
	must(t, s.PutIfAbsent(rrs, "created", []byte("y")))
	must(t, s.PutParts(rrs, "parts", [][]byte{[]byte("a"), []byte("b")}))
	must(t, s.Put(ctx, "plain", []byte("z")))
	for _, key := range []string{"classed", "created", "parts"} {
		info, err := s.Stat(ctx, key)
		must(t, err)
		if info.StorageClass != "REDUCED_REDUNDANCY" {
			t.Fatalf("%s: storage class %q, want REDUCED_REDUNDANCY", key, info.StorageClass)
		}
	}
	if info, err := s.Stat(ctx, "plain"); err != nil || (info.StorageClass != "" && info.StorageClass != "STANDARD") {
		t.Fatalf("a write without a class: %+v, %v", info, err)
	}
	err := s.Put(storage.WithStorageClass(ctx, "NO_SUCH_CLASS"), "refused", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(strings.ToLower(err.Error()), "storage class") {
		t.Fatalf("a class the server lacks: %v", err)
	}
	t.Logf("refused: %v", err)
	_, err = s.Stat(ctx, "refused")
	wantIs(t, err, storage.ErrNotFound)
}
