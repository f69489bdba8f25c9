package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// getManyFixture is a session over a committed array with inline chunks,
// chunk objects and missing chunks, plus uncommitted changes on top, and
// the keys and ranges that reach every kind of value.
func getManyFixture(t *testing.T) (*Session, *memory.Store, []string, []storage.ByteRange) {
	t.Helper()
	ctx := context.Background()
	store := memory.New("get-many")
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON(`"a":1`)))
	mustOK(t, s.StoreSet(ctx, "g/zarr.json", arrayJSON([]int{4, 4}, []int{1, 1}, "default", "")))
	for i := range 4 {
		for j := range 3 { // column 3 stays missing
			mustOK(t, s.StoreSet(ctx, fmt.Sprintf("g/c/%d/%d", i, j), chunkValue(i, j)))
		}
	}
	_, err = s.Commit(ctx, "fixture", nil)
	mustOK(t, err)
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "g/c/0/0", bytes.Repeat([]byte("new "), 300))) // uncommitted
	mustOK(t, s.StoreDelete(ctx, "g/c/1/1"))
	keys := []string{
		"zarr.json", "g/zarr.json", "g/.zarray", "nope/zarr.json", "g/c/9/9", "g/c/x", "g/c/0/3",
		"g/c/0/0", "g/c/1/1", "g/c/0/1", "g/c/0/2", "g/c/2/1", "g/c/2/2", "g/c/3/1", "g/c/3/2", "g/c/2/0",
	}
	ranges := make([]storage.ByteRange, len(keys))
	for i := range ranges {
		switch i % 4 {
		case 0:
			ranges[i] = storage.From(0)
		case 1:
			ranges[i] = storage.Range(3, 700)
		case 2:
			ranges[i] = storage.Suffix(100)
		default:
			ranges[i] = storage.From(5)
		}
	}
	return s, store, keys, ranges
}

// chunkValue: chunks on the diagonal are inline, the others chunk objects.
func chunkValue(i, j int) []byte {
	v := fmt.Appendf(nil, "chunk %d/%d|", i, j)
	if i != j {
		v = bytes.Repeat(v, 80)
	}
	return v
}

// StoreGetManyInto gives the same results as StoreGetMany, for every kind
// of key, whole values and ranges, with one allocation of exactly the
// values' total size, each value in a slice of its own of that buffer.
func TestStoreGetManyIntoMatchesStoreGetMany(t *testing.T) {
	ctx := context.Background()
	s, _, keys, ranges := getManyFixture(t)
	for _, rs := range [][]storage.ByteRange{nil, ranges} {
		want, err := s.StoreGetMany(ctx, keys, rs)
		mustOK(t, err)
		total := 0
		for _, w := range want {
			total += len(w.Data)
		}
		allocs := 0
		var buf []byte
		got, err := s.StoreGetManyInto(ctx, keys, rs, func(n int) ([]byte, error) {
			allocs++
			if n != total {
				t.Fatalf("alloc(%d), want the values' total %d", n, total)
			}
			buf = make([]byte, n)
			return buf, nil
		})
		mustOK(t, err)
		if allocs != 1 {
			t.Fatalf("alloc called %d times", allocs)
		}
		var spans [][2]int // [start, end) of each value in buf
		for i := range keys {
			w, g := want[i], got[i]
			if (w.Err == nil) != (g.Err == nil) || w.Found != g.Found || !bytes.Equal(w.Data, g.Data) {
				t.Fatalf("%q (ranges %v): StoreGetMany gave %v %q %v, StoreGetManyInto %v %q %v",
					keys[i], rs != nil, w.Found, w.Data, w.Err, g.Found, g.Data, g.Err)
			}
			if w.Err != nil && !errors.Is(g.Err, ErrInvalidKey) {
				t.Fatalf("%q: want ErrInvalidKey, got %v", keys[i], g.Err)
			}
			if g.Found && len(g.Data) > 0 {
				start := int(uintptr(unsafe.Pointer(&g.Data[0])) - uintptr(unsafe.Pointer(&buf[0])))
				if start < 0 || start+len(g.Data) > len(buf) {
					t.Fatalf("%q: value at %d..%d, outside the buffer of %d", keys[i], start, start+len(g.Data), len(buf))
				}
				spans = append(spans, [2]int{start, start + len(g.Data)})
			}
		}
		slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
		for j := 1; j < len(spans); j++ {
			if spans[j][0] < spans[j-1][1] {
				t.Fatalf("values overlap in the buffer: %v and %v", spans[j-1], spans[j])
			}
		}
	}
}

func TestStoreGetManyIntoAllocFailure(t *testing.T) {
	ctx := context.Background()
	s, _, keys, _ := getManyFixture(t)
	boom := errors.New("out of buffers")
	_, err := s.StoreGetManyInto(ctx, keys, nil, func(int) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("want the alloc error, got %v", err)
	}
	_, err = s.StoreGetManyInto(ctx, keys, nil, func(n int) ([]byte, error) { return make([]byte, n+1), nil })
	if err == nil {
		t.Fatal("a buffer of the wrong size was accepted")
	}
	_, err = s.StoreGetManyInto(ctx, keys, []storage.ByteRange{storage.From(0)}, func(n int) ([]byte, error) { return make([]byte, n), nil })
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument for a wrong number of ranges, got %v", err)
	}
}

// StoreGetInto gives, key by key, what StoreGetManyInto gives, in the one
// buffer it asked for: alloc is called once, with the value's exact size,
// for a value found, and never for a missing key or a failed lookup.
func TestStoreGetIntoMatchesStoreGetManyInto(t *testing.T) {
	ctx := context.Background()
	s, _, keys, ranges := getManyFixture(t)
	for _, rs := range [][]storage.ByteRange{nil, ranges} {
		want, err := s.StoreGetManyInto(ctx, keys, rs, func(n int) ([]byte, error) { return make([]byte, n), nil })
		mustOK(t, err)
		for i, key := range keys {
			var sizes []int
			var buf []byte
			got, found, err := s.StoreGetInto(ctx, key, rangeAt(rs, i), func(n int) ([]byte, error) {
				sizes = append(sizes, n)
				buf = make([]byte, n)
				return buf, nil
			})
			w := want[i]
			if (w.Err == nil) != (err == nil) || w.Found != found || !bytes.Equal(w.Data, got) {
				t.Fatalf("%q (ranges %v): StoreGetManyInto gave %v %q %v, StoreGetInto %v %q %v",
					key, rs != nil, w.Found, w.Data, w.Err, found, got, err)
			}
			switch {
			case !found && len(sizes) != 0:
				t.Fatalf("%q: alloc called %v for a value not found", key, sizes)
			case found && (len(sizes) != 1 || sizes[0] != len(w.Data)):
				t.Fatalf("%q: alloc called %v for a value of %d bytes", key, sizes, len(w.Data))
			case found && len(got) > 0 && &got[0] != &buf[0]:
				t.Fatalf("%q: the value is not in the buffer alloc returned", key)
			}
		}
	}
	boom := errors.New("out of buffers")
	if _, _, err := s.StoreGetInto(ctx, "g/zarr.json", storage.From(0), func(int) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("want the alloc error, got %v", err)
	}
	if _, _, err := s.StoreGetInto(ctx, "g/c/0/1", storage.From(0), func(n int) ([]byte, error) { return make([]byte, n+1), nil }); err == nil {
		t.Fatal("a buffer of the wrong size was accepted")
	}
}

// A chunk object shorter than its reference says is corrupt, through every
// read path; a missing one is ErrChunkNotFound.
func TestTruncatedChunkObjectIsCorrupt(t *testing.T) {
	ctx := context.Background()
	s, store, _, _ := getManyFixture(t)
	ref, err := s.GetChunkRef(ctx, "/g", []uint32{2, 1})
	mustOK(t, err)
	if ref == nil || ref.Kind != codec.ChunkNative {
		t.Fatalf("chunk 2/1 is not a chunk object: %+v", ref)
	}
	key := codec.ChunkKey(ref.ChunkID)
	full, err := store.Get(ctx, key)
	mustOK(t, err)
	mustOK(t, store.Put(ctx, key, full[:len(full)-1]))

	_, _, err = s.StoreGet(ctx, "g/c/2/1", storage.From(0))
	if !errors.Is(err, codec.ErrCorrupt) || errors.Is(err, storage.ErrInvalidRange) {
		// Not a bad range: the C interface would report the caller's.
		t.Fatalf("StoreGet: want ErrCorrupt and no range error, got %v", err)
	}
	_, _, err = s.GetChunk(ctx, "/g", []uint32{2, 1}, storage.From(0))
	if !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("GetChunk: want ErrCorrupt, got %v", err)
	}
	res, err := s.StoreGetManyInto(ctx, []string{"g/c/2/1", "g/c/2/2"}, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	if !errors.Is(res[0].Err, codec.ErrCorrupt) || errors.Is(res[0].Err, storage.ErrInvalidRange) || !strings.Contains(res[0].Err.Error(), "g/c/2/1") {
		t.Fatalf("StoreGetManyInto: want ErrCorrupt naming the key, got %v", res[0].Err)
	}
	if res[1].Err != nil || !bytes.Equal(res[1].Data, chunkValue(2, 2)) {
		t.Fatalf("the other key of the batch: %v %q", res[1].Err, res[1].Data)
	}
	// A range that stops before the missing byte still reads.
	got, ok, err := s.StoreGet(ctx, "g/c/2/1", storage.Range(0, 10))
	if err != nil || !ok || !bytes.Equal(got, full[:10]) {
		t.Fatalf("range before the cut: %v %v %q", ok, err, got)
	}

	mustOK(t, store.Delete(ctx, key))
	res, err = s.StoreGetManyInto(ctx, []string{"g/c/2/1"}, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	if !errors.Is(res[0].Err, ErrChunkNotFound) {
		t.Fatalf("missing chunk object: want ErrChunkNotFound, got %v", res[0].Err)
	}
}
