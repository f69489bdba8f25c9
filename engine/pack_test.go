package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// packFixture is a session on a counting memory store holding an empty
// 1-d array "a" of 64 chunks of 1,000 one-byte elements.
func packFixture(t *testing.T) (*Session, *Repository, *storage.Counting, *memory.Store) {
	t.Helper()
	ctx := context.Background()
	mem := memory.New("packs")
	store := storage.NewCounting(mem)
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{64000}, []int{1000}, "default", "")))
	return s, repo, store, mem
}

// packValue is the value of chunk i, n bytes that tell chunks apart.
func packValue(i, n int) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "<%d>", i), n/len(fmt.Sprintf("<%d>", i))+1)[:n]
}

// chunkBatch is the keys <array>/c/i and values of a batch of chunks of
// the given sizes, one per i.
func chunkBatch(array string, sizes ...int) ([]string, [][]byte) {
	keys, values := make([]string, len(sizes)), make([][]byte, len(sizes))
	for i, n := range sizes {
		keys[i], values[i] = fmt.Sprintf("%s/c/%d", array, i), packValue(i, n)
	}
	return keys, values
}

// chunkPuts are the keys of the chunk objects written since the last Reset.
func chunkPuts(store *storage.Counting) []string {
	var keys []string
	for _, c := range store.Calls() {
		if c.Op == storage.OpPut && strings.HasPrefix(c.Key, codec.ChunksPrefix) {
			keys = append(keys, c.Key)
		}
	}
	return keys
}

// The chunks of one StoreSetMany batch go to one chunk object, each at its
// own offset; inline values stay inline; and the values read back the same
// before and after the commit, in one read per object.
func TestStoreSetManyPacksABatchIntoOneObject(t *testing.T) {
	ctx := context.Background()
	s, repo, store, _ := packFixture(t)
	keys, values := chunkBatch("a", 700, 800, 900, 1000, 10 /* inline */, 1200, 1300, 1400, 1500, 1600)
	store.Record(true)
	mustOK(t, s.StoreSetMany(ctx, keys, values))
	if puts := chunkPuts(store); len(puts) != 1 {
		t.Fatalf("chunk objects written for one batch: %v, want one", puts)
	}
	var id codec.ChunkID
	var off uint64
	for i := range keys {
		ref, err := s.GetChunkRef(ctx, "/a", []uint32{uint32(i)})
		mustOK(t, err)
		if i == 4 {
			if ref.Kind != codec.ChunkInline {
				t.Fatalf("chunk 4 of 10 bytes is %s, want inline", ref.Kind)
			}
			continue
		}
		if i == 0 {
			id = ref.ChunkID
		}
		if ref.Kind != codec.ChunkNative || ref.ChunkID != id || ref.Offset != off || ref.Length != uint64(len(values[i])) {
			t.Fatalf("chunk %d: ref %+v, want native in %s at %d, %d bytes", i, ref, id, off, len(values[i]))
		}
		off += ref.Length
	}

	check := func(s *Session, when string) {
		t.Helper()
		store.Reset()
		got, err := s.StoreGetManyInto(ctx, keys, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
		mustOK(t, err)
		for i, g := range got {
			if g.Err != nil || !g.Found || !bytes.Equal(g.Data, values[i]) {
				t.Fatalf("%s: %q read back as %v %q %v", when, keys[i], g.Found, g.Data, g.Err)
			}
		}
		if n := store.Counts().Ops[storage.OpGetRange]; n != 1 {
			t.Fatalf("%s: %d range reads for one packed object, want 1", when, n)
		}
		for i, k := range keys {
			v, ok, err := s.StoreGet(ctx, k, storage.From(0))
			mustOK(t, err)
			if !ok || !bytes.Equal(v, values[i]) {
				t.Fatalf("%s: StoreGet(%q) = %q", when, k, v)
			}
		}
	}
	check(s, "before the commit")
	_, err := s.Commit(ctx, "packed", nil)
	mustOK(t, err)
	ro, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	mustOK(t, err)
	check(ro, "after the commit")
}

// A batch larger than maxPackBytes is spread over several objects, and a
// value larger than the bound gets an object of its own.
func TestStoreSetManyBoundsItsObjects(t *testing.T) {
	ctx := context.Background()
	s, _, store, mem := packFixture(t)
	mustOK(t, s.StoreSet(ctx, "b/zarr.json", arrayJSON([]int{64 << 20}, []int{4 << 20}, "default", "")))
	// 5 x 3 MiB (at most two per object), then one chunk above the bound.
	keys, values := chunkBatch("b", 3<<20, 3<<20, 3<<20, 3<<20, 3<<20, maxPackBytes+1)
	store.Record(true)
	mustOK(t, s.StoreSetMany(ctx, keys, values))
	puts := chunkPuts(store)
	if len(puts) != 4 {
		t.Fatalf("chunk objects written: %d, want 4 (2+2+1 chunks of 3 MiB, one larger chunk)", len(puts))
	}
	for _, k := range puts {
		data, err := mem.Get(ctx, k)
		mustOK(t, err)
		if len(data) > maxPackBytes && len(data) != maxPackBytes+1 {
			t.Fatalf("object %s holds %d bytes, more than %d", k, len(data), maxPackBytes)
		}
	}
	got, err := s.StoreGetManyInto(ctx, keys, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	for i, g := range got {
		if g.Err != nil || !bytes.Equal(g.Data, values[i]) {
			t.Fatalf("%q read back wrong (%v)", keys[i], g.Err)
		}
	}
}

// A failing entry of a batch fails alone: the others are packed and set.
func TestStoreSetManyPacksAroundAFailingEntry(t *testing.T) {
	ctx := context.Background()
	s, _, store, _ := packFixture(t)
	keys := []string{"a/c/0", "a/c/99", "a/c/1", "a/.zarray", "nope/c/0", "a/c/2"}
	values := [][]byte{packValue(0, 800), packValue(1, 800), packValue(2, 800), []byte("{}"), packValue(3, 800), packValue(4, 800)}
	store.Record(true)
	err := s.StoreSetMany(ctx, keys, values)
	if !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), "a/c/99") {
		t.Fatalf("want the out-of-grid entry's ErrInvalidIndex first, got %v", err)
	}
	if puts := chunkPuts(store); len(puts) != 1 {
		t.Fatalf("chunk objects written: %v, want one", puts)
	}
	for key, want := range map[string][]byte{"a/c/0": values[0], "a/c/1": values[2], "a/c/2": values[5]} {
		v, ok, err := s.StoreGet(ctx, key, storage.From(0))
		mustOK(t, err)
		if !ok || !bytes.Equal(v, want) {
			t.Fatalf("%q = %q, %v", key, v, ok)
		}
	}
	for _, key := range []string{"a/.zarray", "nope/c/0"} {
		if err := s.StoreSetMany(ctx, []string{key}, [][]byte{packValue(0, 800)}); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("%q: want ErrInvalidKey, got %v", key, err)
		}
	}
}

// Reads of ranges within packed chunks coalesce only what is contiguous in
// the object; a truncated object fails only the chunks past its end.
func TestStoreGetManyIntoPackedRangesAndTruncation(t *testing.T) {
	ctx := context.Background()
	s, _, store, mem := packFixture(t)
	keys, values := chunkBatch("a", 1000, 1000, 1000, 1000)
	store.Record(true)
	mustOK(t, s.StoreSetMany(ctx, keys, values))
	obj := chunkPuts(store)[0]

	// Keys out of order, with ranges: chunk 1 whole, chunk 0 whole (these
	// two are adjacent in the object), chunk 3 from 500 (a gap before it).
	rk := []string{"a/c/1", "a/c/3", "a/c/0"}
	rr := []storage.ByteRange{storage.From(0), storage.From(500), storage.From(0)}
	want := [][]byte{values[1], values[3][500:], values[0]}
	store.Reset()
	got, err := s.StoreGetManyInto(ctx, rk, rr, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	for i, g := range got {
		if g.Err != nil || !bytes.Equal(g.Data, want[i]) {
			t.Fatalf("%q %v: got %q, %v", rk[i], rr[i], g.Data, g.Err)
		}
	}
	if n := store.Counts().Ops[storage.OpGetRange]; n != 2 {
		t.Fatalf("%d reads, want 2 (chunks 0-1 together, chunk 3 alone)", n)
	}

	// Cut the object in the middle of chunk 2.
	data, err := mem.Get(ctx, obj)
	mustOK(t, err)
	mustOK(t, mem.Put(ctx, obj, data[:2500]))
	got, err = s.StoreGetManyInto(ctx, keys, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	for i, g := range got {
		if i < 2 {
			if g.Err != nil || !bytes.Equal(g.Data, values[i]) {
				t.Fatalf("%q before the cut: got %v", keys[i], g.Err)
			}
		} else if !errors.Is(g.Err, codec.ErrCorrupt) {
			t.Fatalf("%q past the cut: want ErrCorrupt, got %v", keys[i], g.Err)
		}
	}
}
