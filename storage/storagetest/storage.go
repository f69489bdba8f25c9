package storagetest

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
)

// Run runs the whole conformance suite against b as subtests.
func Run(t *testing.T, b Backend) {
	t.Run("Blob", func(t *testing.T) { testBlob(t, b) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, b) })
	t.Run("ReadRange", func(t *testing.T) { testReadRange(t, b) })
	t.Run("ReadRangeIf", func(t *testing.T) { testReadRangeIf(t, b) })
	t.Run("PutParts", func(t *testing.T) { testPutParts(t, b) })
	t.Run("PutKeepsNothing", func(t *testing.T) { testPutKeepsNothing(t, b) })
	t.Run("PutIfAbsent", func(t *testing.T) { testPutIfAbsent(t, b) })
	t.Run("InvalidKeys", func(t *testing.T) { testInvalidKeys(t, b) })
	t.Run("ListPaging", func(t *testing.T) { testListPaging(t, b) })
	t.Run("BatchDelete", func(t *testing.T) { testBatchDelete(t, b) })
	t.Run("LargeObject", func(t *testing.T) { testLargeObject(t, b) })
	t.Run("Multipart", func(t *testing.T) { testMultipart(t, b) })
	t.Run("PutIfAbsentRace", func(t *testing.T) { testPutIfAbsentRace(t, b) })
	t.Run("Consensus", func(t *testing.T) { testConsensus(t, b) })
	t.Run("ConsensusGoroutineRace", func(t *testing.T) { testConsensusGoroutineRace(t, b) })
	t.Run("ConsensusHints", func(t *testing.T) { testConsensusHints(t, b) })
	t.Run("ConsensusReplacedLog", func(t *testing.T) { testConsensusReplacedLog(t, b) })
	t.Run("ConsensusProcessRace", func(t *testing.T) { testConsensusProcessRace(t, b) })
}

func open(t *testing.T, b Backend, config string) storage.Storage {
	t.Helper()
	s, err := b.Open(config)
	if err != nil {
		t.Fatalf("%s: open %q: %v", b.Name, config, err)
	}
	return s
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

func listKeys(t *testing.T, s storage.Storage, prefix string) []string {
	t.Helper()
	keys := []string{}
	for info, err := range s.List(context.Background(), prefix, storage.ListOptions{}) {
		must(t, err)
		keys = append(keys, info.Key)
	}
	return keys
}

func wantGet(t *testing.T, s storage.Storage, key string, want []byte) {
	t.Helper()
	got, err := s.Get(context.Background(), key)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("get %q: got %q, want %q", key, got, want)
	}
}

// testBlob follows seed 003's blob_impl_test.
func testBlob(t *testing.T, b Backend) {
	ctx := context.Background()
	config := b.Fresh(t)
	blob0 := open(t, b, config)
	_ = open(t, b, b.Fresh(t))  // a second place can coexist
	blob1 := open(t, b, config) // two handles to one place
	v0, v1 := []byte("v0"), []byte("v1")
	k0 := "foo/bar/k0"

	_, err := blob0.Get(ctx, k0)
	wantIs(t, err, storage.ErrNotFound)
	_, err = blob1.Stat(ctx, k0)
	wantIs(t, err, storage.ErrNotFound)
	if keys := listKeys(t, blob0, ""); len(keys) != 0 {
		t.Fatalf("fresh store lists %v", keys)
	}

	must(t, blob0.Put(ctx, k0, v0))
	wantGet(t, blob0, k0, v0)
	wantGet(t, blob1, k0, v0)
	must(t, blob0.Put(ctx, "k0a", v0))
	wantGet(t, blob1, "k0a", v0)
	if got, want := listKeys(t, blob1, ""), []string{k0, "k0a"}; !slices.Equal(got, want) {
		t.Fatalf("list: got %v want %v", got, want)
	}

	// Overwrite.
	must(t, blob0.Put(ctx, k0, v1))
	wantGet(t, blob0, k0, v1)
	wantGet(t, blob1, k0, v1)

	// Stat.
	info, err := blob1.Stat(ctx, k0)
	must(t, err)
	if info.Key != k0 || info.Size != 2 {
		t.Fatalf("stat: %+v", info)
	}
	if d := time.Since(info.ModTime); d < -10*time.Minute || d > 10*time.Minute {
		t.Fatalf("stat: modification time %v is far from now", info.ModTime)
	}

	// Delete, idempotently.
	must(t, blob0.Delete(ctx, k0))
	_, err = blob1.Get(ctx, k0)
	wantIs(t, err, storage.ErrNotFound)
	must(t, blob0.Delete(ctx, k0))
	must(t, blob0.Delete(ctx, "nope"))
	must(t, blob0.Delete(ctx))

	// Empty values are values.
	must(t, blob0.Put(ctx, "empty", nil))
	wantGet(t, blob1, "empty", []byte{})
	info, err = blob1.Stat(ctx, "empty")
	must(t, err)
	if info.Size != 0 {
		t.Fatalf("empty object has size %d", info.Size)
	}
	must(t, blob0.Delete(ctx, "empty", "k0a"))
	if keys := listKeys(t, blob1, ""); len(keys) != 0 {
		t.Fatalf("after deleting everything, list gives %v", keys)
	}

	// A deleted key can be set again.
	must(t, blob0.Put(ctx, k0, v1))
	wantGet(t, blob1, k0, v1)

	var expected []string
	for i := 1; i <= 5; i++ {
		k := fmt.Sprintf("k%d", i)
		must(t, blob0.Put(ctx, k, v0))
		expected = append(expected, k)
	}
	var prefixed []string
	for i := 1; i <= 3; i++ {
		k := fmt.Sprintf("k-prefix-%d", i)
		must(t, blob0.Put(ctx, k, v0))
		prefixed = append(prefixed, k)
	}
	if got := listKeys(t, blob0, "k-prefix"); !slices.Equal(got, prefixed) {
		t.Fatalf("list k-prefix: got %v want %v", got, prefixed)
	}
	expected = append(expected, prefixed...)
	slices.Sort(expected)
	if got := listKeys(t, blob1, "k"); !slices.Equal(got, expected) {
		t.Fatalf("list k: got %v want %v", got, expected)
	}
	all := append(slices.Clone(expected), k0)
	slices.Sort(all)
	if got := listKeys(t, blob1, ""); !slices.Equal(got, all) {
		t.Fatalf("list all: got %v want %v", got, all)
	}

	// Byte order, including names that a directory walk would misorder.
	for _, k := range []string{"o/a.b", "o/a/b", "o/a-b", "o/a0", "o/a/a/a", "o/ab"} {
		must(t, blob0.Put(ctx, k, v0))
	}
	want := []string{"o/a-b", "o/a.b", "o/a/a/a", "o/a/b", "o/a0", "o/ab"}
	if got := listKeys(t, blob1, "o/"); !slices.Equal(got, want) {
		t.Fatalf("list order: got %v want %v", got, want)
	}
	for info, err := range blob1.List(ctx, "o/a/", storage.ListOptions{}) {
		must(t, err)
		if info.Size != 2 {
			t.Fatalf("list gives size %d for %q", info.Size, info.Key)
		}
	}

	// Sync succeeds and changes nothing visible.
	must(t, blob0.Sync(ctx))
	wantGet(t, blob1, k0, v1)

	// A new handle to the same place sees everything.
	blob3 := open(t, b, config)
	wantGet(t, blob3, k0, v1)
}

func testRanges(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	data := []byte("0123456789")
	must(t, s.Put(ctx, "r", data))
	cases := []struct {
		r    storage.ByteRange
		want string
	}{
		{storage.Range(0, 10), "0123456789"},
		{storage.Range(2, 5), "234"},
		{storage.Range(8, 100), "89"},
		{storage.Range(3, 3), ""},
		{storage.Range(10, 12), ""},
		{storage.From(0), "0123456789"},
		{storage.From(7), "789"},
		{storage.From(10), ""},
		{storage.Suffix(3), "789"},
		{storage.Suffix(10), "0123456789"},
		{storage.Suffix(50), "0123456789"},
	}
	for _, c := range cases {
		got, err := s.GetRange(ctx, "r", c.r)
		if err != nil {
			t.Fatalf("%v: %+v", c.r, err)
		}
		if string(got) != c.want {
			t.Fatalf("%v: got %q want %q", c.r, got, c.want)
		}
	}
	for _, r := range []storage.ByteRange{storage.Range(11, 12), storage.From(11), storage.Range(-1, 2), storage.Range(5, 2), storage.Suffix(-1)} {
		_, err := s.GetRange(ctx, "r", r)
		wantIs(t, err, storage.ErrInvalidRange)
	}
	_, err := s.GetRange(ctx, "missing", storage.Range(0, 1))
	wantIs(t, err, storage.ErrNotFound)
}

// testPutKeepsNothing: once Put and PutIfAbsent return, the caller's
// buffer is the caller's again; changing it changes nothing stored.
func testPutKeepsNothing(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	for _, size := range []int{10, 300 << 10} {
		want := bytes.Repeat([]byte{'a'}, size)
		buf := slices.Clone(want)
		must(t, s.Put(ctx, "put", buf))
		clear(buf)
		wantGet(t, s, "put", want)
		buf = slices.Clone(want)
		must(t, s.PutIfAbsent(ctx, fmt.Sprint("once", size), buf))
		clear(buf)
		wantGet(t, s, fmt.Sprint("once", size), want)
	}
}

// testReadRange checks storage.ReadRange on the backend's own RangeReader
// (when it has one) and on the GetRange fallback: exact reads fill the
// buffer, reads past the end are ErrInvalidRange, a missing key is
// ErrNotFound.
func testReadRange(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	big := patterned(300 << 10)
	must(t, s.Put(ctx, "r", []byte("0123456789")))
	must(t, s.Put(ctx, "big", big))
	ways := map[string]storage.Storage{
		"own":      s,
		"fallback": struct{ storage.Storage }{s}, // hides any RangeReader
	}
	for name, st := range ways {
		for _, c := range []struct {
			offset int64
			want   string
		}{{0, "0123456789"}, {2, "234"}, {8, "89"}, {10, ""}, {4, ""}} {
			dst := []byte(strings.Repeat("x", len(c.want)))
			if err := storage.ReadRange(ctx, st, "r", c.offset, dst); err != nil {
				t.Fatalf("%s: read %d bytes at %d: %+v", name, len(c.want), c.offset, err)
			}
			if string(dst) != c.want {
				t.Fatalf("%s: read at %d: got %q want %q", name, c.offset, dst, c.want)
			}
		}
		dst := make([]byte, 200<<10)
		must(t, storage.ReadRange(ctx, st, "big", 100<<10, dst))
		if !bytes.Equal(dst, big[100<<10:]) {
			t.Fatalf("%s: the 200 KiB read at 100 KiB differs from what was written", name)
		}
		for _, c := range []struct {
			offset int64
			n      int
		}{{8, 3}, {10, 1}, {11, 0}, {11, 2}, {-1, 2}} {
			err := storage.ReadRange(ctx, st, "r", c.offset, make([]byte, c.n))
			wantIs(t, err, storage.ErrInvalidRange)
			if c.offset >= 0 && !strings.Contains(err.Error(), `"r"`) {
				t.Fatalf("%s: error %q does not name the key", name, err)
			}
		}
		err := storage.ReadRange(ctx, st, "missing", 0, make([]byte, 1))
		wantIs(t, err, storage.ErrNotFound)
	}
}

// testReadRangeIf checks storage.ReadRangeIf on the backend's own
// ConditionalRangeReader (when it has one) and on the Stat-then-read
// fallback: a read whose object meets the condition is ReadRange's, one
// whose object does not (a later modification time, another entity tag, or
// any entity tag on a backend without them) is ErrPreconditionFailed naming
// the key, and the condition is checked before anything else is reported
// about the range.
func testReadRangeIf(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	must(t, s.Put(ctx, "v", []byte("0123456789")))
	info, err := s.Stat(ctx, "v")
	must(t, err)
	type cond = storage.ReadCondition
	holds := []cond{
		{},
		{NotModifiedAfter: info.ModTime},
		{NotModifiedAfter: info.ModTime.Add(time.Hour)},
	}
	fails := []cond{
		{NotModifiedAfter: info.ModTime.Add(-2 * time.Second)},
		{ETag: `"00000000000000000000000000000000"`},
	}
	if info.ETag != "" {
		holds = append(holds, cond{ETag: info.ETag}, cond{ETag: storage.UnquoteETag(info.ETag)},
			cond{ETag: info.ETag, NotModifiedAfter: info.ModTime})
		fails = append(fails, cond{ETag: info.ETag, NotModifiedAfter: info.ModTime.Add(-2 * time.Second)})
	} else {
		// No entity tags: the storage cannot vouch for any.
		fails = append(fails, cond{ETag: `"anything"`})
	}
	ways := map[string]storage.Storage{
		"own":      s,
		"fallback": struct{ storage.Storage }{s}, // hides any ConditionalRangeReader
	}
	for name, st := range ways {
		for _, c := range holds {
			dst := []byte("xxx")
			if err := storage.ReadRangeIf(ctx, st, "v", 2, dst, c); err != nil {
				t.Fatalf("%s: read with %+v, which the object meets: %+v", name, c, err)
			}
			if string(dst) != "234" {
				t.Fatalf("%s: read with %+v: got %q want %q", name, c, dst, "234")
			}
			must(t, storage.ReadRangeIf(ctx, st, "v", 10, nil, c))
			wantIs(t, storage.ReadRangeIf(ctx, st, "v", 8, make([]byte, 3), c), storage.ErrInvalidRange)
			wantIs(t, storage.ReadRangeIf(ctx, st, "v", 11, nil, c), storage.ErrInvalidRange)
			wantIs(t, storage.ReadRangeIf(ctx, st, "missing", 0, make([]byte, 1), c), storage.ErrNotFound)
		}
		for _, c := range fails {
			for _, n := range []int{3, 0} {
				err := storage.ReadRangeIf(ctx, st, "v", 2, make([]byte, n), c)
				wantIs(t, err, storage.ErrPreconditionFailed)
				if !strings.Contains(err.Error(), `"v"`) {
					t.Fatalf("%s: error %q does not name the key", name, err)
				}
			}
			wantIs(t, storage.ReadRangeIf(ctx, st, "missing", 0, make([]byte, 1), c), storage.ErrNotFound)
		}
		wantIs(t, storage.ReadRangeIf(ctx, st, "v", -1, make([]byte, 1), cond{}), storage.ErrInvalidRange)
	}
	if info.ETag != "" {
		// A replaced object has another entity tag: the old one no longer
		// reads.
		must(t, s.Put(ctx, "v", []byte("9876543210")))
		for name, st := range ways {
			err := storage.ReadRangeIf(ctx, st, "v", 0, make([]byte, 3), cond{ETag: info.ETag})
			if !errors.Is(err, storage.ErrPreconditionFailed) {
				t.Fatalf("%s: read of a replaced object with its old ETag: want ErrPreconditionFailed, got %v", name, err)
			}
		}
	}
}

// testPutParts checks storage.PutParts on the backend's own PartsPutter
// (when it has one) and on the Put fallback: the object is the parts one
// after the other, empty parts and no parts included; it replaces what the
// key held; ranges across part boundaries read back right; the parts'
// memory is the caller's again once PutParts returns; invalid keys are
// refused.
func testPutParts(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	big := patterned(6<<20 + 12345)
	// Part lengths of big, awkward ones included: empty, one byte, odd.
	bigLens := []int{1, 0, 1<<20 - 1, 3 << 20, 17, 0, 64<<10 + 3}
	ways := map[string]storage.Storage{
		"own":      s,
		"fallback": struct{ storage.Storage }{s}, // hides any PartsPutter
	}
	for name, st := range ways {
		key := func(k string) string { return name + "/" + k }

		// Small parts, empty ones among them; ranges across boundaries.
		small := [][]byte{nil, []byte("012"), {}, []byte("3456"), []byte("7"), nil, []byte("89"), {}}
		must(t, storage.PutParts(ctx, st, key("small"), small))
		wantGet(t, s, key("small"), []byte("0123456789"))
		for _, c := range []struct {
			r    storage.ByteRange
			want string
		}{
			{storage.Range(2, 4), "23"},
			{storage.Range(1, 9), "12345678"},
			{storage.Range(6, 8), "67"},
			{storage.Range(7, 8), "7"},
			{storage.Range(8, 20), "89"},
			{storage.From(3), "3456789"},
			{storage.Suffix(3), "789"},
		} {
			got, err := s.GetRange(ctx, key("small"), c.r)
			must(t, err)
			if string(got) != c.want {
				t.Fatalf("%s: range %v of the small parts: got %q want %q", name, c.r, got, c.want)
			}
		}

		// One part, only empty parts, and no parts at all.
		must(t, storage.PutParts(ctx, st, key("one"), [][]byte{[]byte("single")}))
		wantGet(t, s, key("one"), []byte("single"))
		for _, parts := range [][][]byte{nil, {}, {nil}, {{}, nil, {}}} {
			must(t, storage.PutParts(ctx, st, key("empty"), parts))
			wantGet(t, s, key("empty"), []byte{})
			info, err := s.Stat(ctx, key("empty"))
			must(t, err)
			if info.Size != 0 {
				t.Fatalf("%s: PutParts of %d empty parts stored %d bytes", name, len(parts), info.Size)
			}
		}

		// Replacing an object, longer or shorter, with parts and by Put.
		must(t, s.Put(ctx, key("replace"), []byte("an older and longer value")))
		must(t, storage.PutParts(ctx, st, key("replace"), [][]byte{[]byte("new"), nil, []byte(" one")}))
		wantGet(t, s, key("replace"), []byte("new one"))
		must(t, storage.PutParts(ctx, st, key("replace"), [][]byte{[]byte("newer"), []byte(", longer"), []byte(" one")}))
		wantGet(t, s, key("replace"), []byte("newer, longer one"))
		must(t, storage.PutParts(ctx, st, key("replace"), [][]byte{[]byte("newer, longer one")})) // idempotent
		wantGet(t, s, key("replace"), []byte("newer, longer one"))
		must(t, s.Put(ctx, key("replace"), []byte("put")))
		wantGet(t, s, key("replace"), []byte("put"))

		// A multi-megabyte object from parts of the caller's buffer, which
		// the caller overwrites as soon as PutParts returns.
		buf := slices.Clone(big)
		var parts [][]byte
		var bounds []int // offset of each part's end
		rest := buf
		for _, n := range bigLens {
			parts = append(parts, rest[:n:n])
			rest = rest[n:]
			bounds = append(bounds, len(big)-len(rest))
		}
		parts = append(parts, rest)
		must(t, storage.PutParts(ctx, st, key("big"), parts))
		clear(buf)
		wantGet(t, s, key("big"), big)
		for _, at := range bounds {
			start, end := max(at-5, 0), min(at+5, len(big))
			got, err := s.GetRange(ctx, key("big"), storage.Range(int64(start), int64(end)))
			must(t, err)
			if !bytes.Equal(got, big[start:end]) {
				t.Fatalf("%s: range [%d, %d) across a part boundary differs from what was written", name, start, end)
			}
		}

		// The caller may overwrite small parts at once too.
		smallBuf := []byte("abcdefgh")
		must(t, storage.PutParts(ctx, st, key("reused"), [][]byte{smallBuf[:3], smallBuf[3:3], smallBuf[3:]}))
		copy(smallBuf, "XXXXXXXX")
		wantGet(t, s, key("reused"), []byte("abcdefgh"))

		for _, bad := range []string{"", "/abs", "../up", "a//b", "a/", "nul\x00"} {
			wantIs(t, storage.PutParts(ctx, st, bad, small), storage.ErrInvalidKey)
		}
	}
	want := []string{}
	for _, name := range []string{"fallback", "own"} {
		for _, k := range []string{"big", "empty", "one", "replace", "reused", "small"} {
			want = append(want, name+"/"+k)
		}
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, want) {
		t.Fatalf("after PutParts the store lists %v, want %v", got, want)
	}
}

func testPutIfAbsent(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	must(t, s.PutIfAbsent(ctx, "a/once", []byte("first")))
	err := s.PutIfAbsent(ctx, "a/once", []byte("second"))
	wantIs(t, err, storage.ErrPreconditionFailed)
	wantGet(t, s, "a/once", []byte("first"))
	// After a delete the key can be created again.
	must(t, s.Delete(ctx, "a/once"))
	must(t, s.PutIfAbsent(ctx, "a/once", []byte("third")))
	wantGet(t, s, "a/once", []byte("third"))
}

func testInvalidKeys(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	for _, key := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", "a/", "nul\x00", "back\\slash", "\xff\xfe"} {
		wantIs(t, s.Put(ctx, key, []byte("x")), storage.ErrInvalidKey)
		wantIs(t, s.PutIfAbsent(ctx, key, []byte("x")), storage.ErrInvalidKey)
		_, err := s.Get(ctx, key)
		wantIs(t, err, storage.ErrInvalidKey)
		_, err = s.GetRange(ctx, key, storage.Range(0, 1))
		wantIs(t, err, storage.ErrInvalidKey)
		_, err = s.Stat(ctx, key)
		wantIs(t, err, storage.ErrInvalidKey)
		wantIs(t, s.Delete(ctx, key), storage.ErrInvalidKey)
	}
	for _, err := range s.List(ctx, "../", storage.ListOptions{}) {
		wantIs(t, err, storage.ErrInvalidKey)
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Fatalf("invalid keys left objects behind: %v", keys)
	}
}

func testListPaging(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	const n = 2100
	var want []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		k := fmt.Sprintf("p/%05d", i)
		want = append(want, k)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs <- s.Put(ctx, k, []byte{byte(i)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	must(t, s.Put(ctx, "q", nil))
	if got := listKeys(t, s, "p/"); !slices.Equal(got, want) {
		t.Fatalf("listing %d keys gave %d (first %v)", n, len(got), got[:min(3, len(got))])
	}
	var got []string
	for info, err := range s.List(ctx, "p/", storage.ListOptions{StartAfter: want[1499]}) {
		must(t, err)
		got = append(got, info.Key)
	}
	if !slices.Equal(got, want[1500:]) {
		t.Fatalf("StartAfter: got %d keys, want %d", len(got), n-1500)
	}
	// Stopping early is allowed.
	count := 0
	for _, err := range s.List(ctx, "p/", storage.ListOptions{}) {
		must(t, err)
		count++
		if count == 10 {
			break
		}
	}
}

func testBatchDelete(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	var keys []string
	for i := range 1500 {
		k := fmt.Sprintf("d/%d/x", i)
		keys = append(keys, k)
	}
	for _, k := range keys[:50] {
		must(t, s.Put(ctx, k, []byte("x")))
	}
	must(t, s.Put(ctx, "keep", []byte("x")))
	// Most of the keys do not exist: deleting them is not an error.
	must(t, s.Delete(ctx, keys...))
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"keep"}) {
		t.Fatalf("after batch delete: %v", got)
	}
}

// patterned returns n bytes that differ from their neighbours, so that a
// misplaced or shifted range shows.
func patterned(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return data
}

func testLargeObject(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	data := patterned(8 << 20)
	must(t, s.Put(ctx, "big", data))
	wantGet(t, s, "big", data)
	got, err := s.GetRange(ctx, "big", storage.Range(5<<20, 5<<20+10))
	must(t, err)
	if !bytes.Equal(got, data[5<<20:5<<20+10]) {
		t.Fatalf("range of a large object differs")
	}
}

func testPutIfAbsentRace(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	const workers, rounds = 16, 20
	for round := range rounds {
		key := fmt.Sprintf("race/%d", round)
		var wg sync.WaitGroup
		results := make([]error, workers)
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[w] = s.PutIfAbsent(ctx, key, []byte(fmt.Sprint(w)))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for w, err := range results {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: workers %d and %d both created %q", round, winner, w, key)
			case err == nil:
				winner = w
			case !errors.Is(err, storage.ErrPreconditionFailed):
				t.Fatalf("round %d: worker %d: %+v", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody created %q", round, key)
		}
		wantGet(t, s, key, []byte(fmt.Sprint(winner)))
	}
}
