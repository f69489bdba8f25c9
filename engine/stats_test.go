package engine

import (
	"context"
	"fmt"
	"testing"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// TestChunkStorageStats counts native chunks once across the snapshots and
// manifests that share them, each chunk of a pack at its own offset;
// virtual chunks once per (location, offset, length); inline chunks once
// per manifest; and only the snapshots a branch or tag reaches.
func TestChunkStorageStats(t *testing.T) { onEachStore(t, testChunkStorageStats) }

func testChunkStorageStats(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	repo, s := newVirtualRepo(t, store, "s3://bucket/")
	stats := func(when string, want ChunkStorageStats) {
		t.Helper()
		got, err := repo.ChunkStorageStats(ctx)
		mustOK(t, err)
		if got != want {
			t.Fatalf("%s: %+v, want %+v", when, got, want)
		}
	}
	stats("empty repository", ChunkStorageStats{})

	// Two chunks in objects of their own and three packed in one object,
	// 1000 bytes each; one inline chunk; three virtual chunks of which two
	// are the same bytes of the same object.
	addBehindArray(t, s)
	gcSetChunks(t, s, 1, 0, 1)
	keys, values := []string{}, [][]byte{}
	for i := 2; i < 5; i++ {
		keys, values = append(keys, fmt.Sprintf("a/c/%d", i)), append(values, behindValue(i, 1))
	}
	mustOK(t, s.StoreSetMany(ctx, keys, values))
	packed := map[codec.ChunkID]map[uint64]bool{}
	for i := uint32(2); i < 5; i++ {
		ref, err := s.GetChunkRef(ctx, MustPath("/a"), []uint32{i})
		mustOK(t, err)
		if packed[ref.ChunkID] == nil {
			packed[ref.ChunkID] = map[uint64]bool{}
		}
		packed[ref.ChunkID][ref.Offset] = true
	}
	for _, offsets := range packed {
		if len(packed) != 1 || len(offsets) != 3 {
			t.Fatalf("set-many did not pack its chunks into one object: %v", packed)
		}
	}
	mustOK(t, s.StoreSet(ctx, "a/c/5", []byte("0123456789")))
	_, err := s.SetVirtualChunkRefs(ctx, MustPath("/a"), []VirtualChunkSpec{
		{Coords: []uint32{6}, Location: "s3://bucket/f", Length: 100},
		{Coords: []uint32{7}, Location: "s3://bucket/f", Length: 100},
		{Coords: []uint32{8}, Location: "s3://bucket/f", Offset: 100, Length: 50},
	}, true)
	mustOK(t, err)
	first := commit(t, s, "first")
	stats("one commit", ChunkStorageStats{NativeBytes: 5000, VirtualBytes: 150, InlineBytes: 10})

	// A commit adding an inline chunk rewrites the array's one manifest:
	// the native and virtual chunks it names again count once, the inline
	// ones once per manifest.
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "a/c/9", []byte("xyz")))
	second := commit(t, s, "second")
	want := ChunkStorageStats{NativeBytes: 5000, VirtualBytes: 150, InlineBytes: 10 + 13}
	stats("two commits sharing chunks", want)

	// A commit that a reset leaves behind is not counted, unless a tag
	// reaches it.
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, s, 1, 10)
	_, err = s.SetVirtualChunkRefs(ctx, MustPath("/a"), []VirtualChunkSpec{{Coords: []uint32{11}, Location: "s3://bucket/g", Length: 77}}, true)
	mustOK(t, err)
	third := commit(t, s, "third")
	stats("three commits", ChunkStorageStats{NativeBytes: 6000, VirtualBytes: 227, InlineBytes: 10 + 13 + 13})
	mustOK(t, repo.ResetBranch(ctx, MainBranch, second, third))
	stats("after a reset", want)
	mustOK(t, repo.CreateTag(ctx, "third", third))
	stats("a tag on the commit a reset left", ChunkStorageStats{NativeBytes: 6000, VirtualBytes: 227, InlineBytes: 10 + 13 + 13})
	mustOK(t, repo.DeleteTag(ctx, "third"))
	stats("after the tag is deleted", want)

	// A branch on the first commit adds nothing it does not share.
	mustOK(t, repo.CreateBranch(ctx, "old", first))
	stats("a branch on an older commit", want)
}
