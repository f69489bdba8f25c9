package engine

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Commits merge changes of every ref kind into manifests of several blocks
// (replacing, deleting, and keeping refs of each kind), and every ref
// reads back the same from the manifests the commit cached and from the
// ones a fresh repository decodes.
func TestMergeKeepsEveryKind(t *testing.T) {
	ctx := context.Background()
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%+v", err)
		}
	}
	cfg := codec.DefaultRepoConfig()
	cfg.ManifestBlockChunks = 16 // 4 blocks of an 8 x 8 grid
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, &cfg, nil)
	must(t, err)
	path := MustPath("/a")
	refOf := func(round, y, x uint32) *codec.ChunkRef {
		i := round*100 + y*8 + x
		switch (y*8 + x + round) % 3 {
		case 0:
			id := codec.NewChunkID()
			return &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Offset: uint64(i % 5), Length: uint64(1000 + i)}
		case 1:
			return &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte(fmt.Sprintf("chunk %03d", i))[:i%9]} // some empty
		default:
			r := &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: fmt.Sprintf("s3://b/file-%d.nc", i/4), Offset: uint64(64 * i), Length: 64}
			if x%2 == 0 {
				r.ETag, r.LastModified = fmt.Sprintf(`"%d"`, i/4), 1700000000+int64(i)
			}
			return r
		}
	}
	want := map[[2]uint32]*codec.ChunkRef{}

	s, err := repo.WritableSession(ctx, MainBranch)
	must(t, err)
	must(t, s.AddArray(ctx, path, ArrayMeta{Shape: []uint64{8, 8}, ChunkShape: []uint64{1, 1}}, nil))
	for y := range uint32(8) {
		for x := range uint32(8) {
			if (y+x)%4 != 3 { // leave some holes
				want[[2]uint32{y, x}] = refOf(0, y, x)
				must(t, s.SetChunkRef(ctx, path, []uint32{y, x}, want[[2]uint32{y, x}]))
			}
		}
	}
	_, err = s.Commit(ctx, "every kind", nil)
	must(t, err)

	// Replace a chunk of each kind by one of another, fill holes, delete
	// others, and leave one block alone.
	s, err = repo.WritableSession(ctx, MainBranch)
	must(t, err)
	for y := range uint32(6) {
		for x := range uint32(8) {
			k := [2]uint32{y, x}
			switch (y + 2*x) % 5 {
			case 0:
				want[k] = refOf(1, y, x)
				must(t, s.SetChunkRef(ctx, path, k[:], want[k]))
			case 1:
				delete(want, k)
				must(t, s.DeleteChunks(ctx, path, [][]uint32{k[:]}))
			}
		}
	}
	_, err = s.Commit(ctx, "merged", nil)
	must(t, err)

	fresh, err := Open(ctx, store, nil)
	must(t, err)
	for name, r := range map[string]*Repository{"cached": repo, "decoded": fresh} {
		rs, err := r.ReadonlySession(ctx, Version{Branch: MainBranch})
		must(t, err)
		for y := range uint32(8) {
			for x := range uint32(8) {
				got, err := rs.GetChunkRef(ctx, path, []uint32{y, x})
				must(t, err)
				w := want[[2]uint32{y, x}]
				if (got == nil) != (w == nil) || (got != nil && !sameRef(got, w)) {
					t.Fatalf("%s: chunk [%d %d] is %+v, want %+v", name, y, x, got, w)
				}
			}
		}
		var listed [][]uint32
		for info, err := range rs.ArrayChunks(ctx, path) {
			must(t, err)
			if w := want[[2]uint32{info.Coords[0], info.Coords[1]}]; w == nil || !sameRef(info.Ref, w) {
				t.Fatalf("%s: listed %v as %+v, want %+v", name, info.Coords, info.Ref, w)
			}
			listed = append(listed, slices.Clone(info.Coords))
		}
		if len(listed) != len(want) {
			t.Fatalf("%s: listed %d chunks, want %d", name, len(listed), len(want))
		}
	}
}

// sameRef compares refs but not their coordinates, which the change set
// does not keep in the ref.
func sameRef(a, b *codec.ChunkRef) bool {
	return a.Kind == b.Kind && string(a.Inline) == string(b.Inline) && a.ChunkID == b.ChunkID &&
		a.Offset == b.Offset && a.Length == b.Length && a.Location == b.Location &&
		a.ETag == b.ETag && a.LastModified == b.LastModified
}
