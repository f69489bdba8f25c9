package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// ChunkType tells inline, native and virtual chunks from missing ones,
// before and after a commit; coordinates outside the grid are an error
// naming them, and paths that are no array fail as other chunk calls do.
func TestChunkType(t *testing.T) {
	ctx := context.Background()
	_, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/")
	ok(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	ok(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4, 4000}, []int{2, 1000}, "default", "")))
	ok(t, s.StoreSet(ctx, "a/c/0/0", []byte("tiny")))
	ok(t, s.StoreSet(ctx, "a/c/0/1", make([]byte, 2000)))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/a"), VirtualChunkSpec{Coords: []uint32{1, 0}, Location: "s3://bucket/f", Length: 4}))
	ok(t, s.StoreSet(ctx, "a/c/1/1", []byte("gone")))
	ok(t, s.StoreDelete(ctx, "a/c/1/1"))

	want := map[[2]uint32]codec.ChunkKind{
		{0, 0}: codec.ChunkInline, {0, 1}: codec.ChunkNative, {1, 0}: codec.ChunkVirtual,
		{1, 1}: 0, // deleted
		{1, 3}: 0, // never written
	}
	check := func(when string) {
		t.Helper()
		for c, k := range want {
			got, err := s.ChunkType(ctx, MustPath("/a"), c[:])
			ok(t, err)
			if got != k {
				t.Fatalf("%s: chunk %v is %v, want %v", when, c, got, k)
			}
		}
		for _, c := range [][]uint32{{2, 0}, {0, 4}, {0}, {0, 0, 0}, {}} {
			_, err := s.ChunkType(ctx, MustPath("/a"), c)
			if !errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), fmt.Sprint(c)) {
				t.Fatalf("%s: coordinates %v outside the grid: %v", when, c, err)
			}
		}
		if _, err := s.ChunkType(ctx, Root, []uint32{0}); !errors.Is(err, ErrNotAnArray) {
			t.Fatalf("%s: chunk type in a group: %v", when, err)
		}
		if _, err := s.ChunkType(ctx, MustPath("/nope"), []uint32{0, 0}); !errors.Is(err, ErrNodeNotFound) {
			t.Fatalf("%s: chunk type of a missing array: %v", when, err)
		}
	}
	check("uncommitted")
	commit(t, s, "chunks")
	check("committed")
}

// TestOutOfGridErrorsGiveTheGrid: a chunk write outside the array's grid,
// through a key or coordinates, says which grid the coordinates missed.
func TestOutOfGridErrorsGiveTheGrid(t *testing.T) {
	ctx := context.Background()
	_, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/")
	ok(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	ok(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4, 4000}, []int{2, 1000}, "default", "")))
	outside := `coordinates [2 0] are outside the chunk grid [2 4] of the array at "/a" (shape [4 4000], chunk shape [2 1000])`
	for what, err := range map[string]error{
		"store key": s.StoreSet(ctx, "a/c/2/0", []byte("x")),
		"set chunk": s.SetChunk(ctx, MustPath("/a"), []uint32{2, 0}, []byte("x")),
		"virtual":   s.SetVirtualChunkRef(ctx, MustPath("/a"), VirtualChunkSpec{Coords: []uint32{2, 0}, Location: "s3://bucket/f", Length: 4}),
	} {
		if !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), outside) {
			t.Errorf("%s: got %v, want ErrInvalidIndex saying %q", what, err, outside)
		}
	}
	err := s.SetChunk(ctx, MustPath("/a"), []uint32{1}, []byte("x"))
	if want := `the array at "/a" has 2 dimensions (chunk grid [2 4]), coordinates [1] give 1`; !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), want) {
		t.Errorf("too few coordinates: got %v, want %q", err, want)
	}
}
