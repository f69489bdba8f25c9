package engine

// Manifest tests of the seed (test_aggregate_extents, test_manifests_shrink)
// adapted to our manifests, which split an array's chunk references in
// blocks of chunk space (flush.go: blockShape, planArray): a manifest's
// extents are the bounds of its block, not the bounding box of its chunks
// as in the seed's aggregate_extents.

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// seedKeys returns the keys of the store under prefix.
func seedKeys(t testing.TB, store storage.Storage, prefix string) []string {
	t.Helper()
	var out []string
	for info, err := range store.List(context.Background(), prefix, storage.ListOptions{}) {
		seedOK(t, err)
		out = append(out, info.Key)
	}
	return out
}

// seedManifestOf returns the manifest refs of the array at path in the
// session's snapshot.
func seedManifestsOf(t testing.TB, s *Session, path Path) []codec.ManifestRef {
	t.Helper()
	n, err := s.GetArray(context.Background(), path)
	seedOK(t, err)
	return n.Array.Manifests
}

// manifestRefs returns every ref of m, in order.
func manifestRefs(m *codec.Manifest) []codec.ChunkRef {
	refs := make([]codec.ChunkRef, 0, m.Len())
	for _, r := range m.All() {
		refs = append(refs, r)
	}
	return refs
}

// TestSeedBlockShape checks blockShape's contract on random grids and
// budgets: every entry is positive, the block holds at most budget chunks,
// and dimensions after the first never exceed the grid.
func TestSeedBlockShape(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		grid := rapid.SliceOfN(rapid.Uint32Range(0, 1<<20), 1, 5).Draw(t, "grid")
		budget := rapid.Uint32Range(1, 1<<20).Draw(t, "budget")
		b := blockShape(grid, budget)
		if len(b) != len(grid) {
			t.Fatalf("block %v for grid %v", b, grid)
		}
		total := uint64(1)
		for d, x := range b {
			if x == 0 {
				t.Fatalf("block %v has a zero", b)
			}
			if d > 0 && x > max(grid[d], 1) {
				t.Fatalf("block %v exceeds grid %v along %d", b, grid, d)
			}
			total *= uint64(x)
		}
		if total > uint64(budget) {
			t.Fatalf("block %v holds %d chunks, budget %d", b, total, budget)
		}
		// when the trailing dimensions fit whole, the first gets the rest
		whole := uint64(1)
		for _, g := range grid[1:] {
			whole *= uint64(max(g, 1))
		}
		if whole <= uint64(budget) && uint64(b[0]) != uint64(budget)/whole {
			t.Fatalf("block %v for grid %v and budget %d: first dimension should get %d", b, grid, budget, uint64(budget)/whole)
		}
	})
}

// TestSeedAggregateExtents is test_aggregate_extents for block manifests:
// after a commit of random chunks of a 3-d array, each manifest covers one
// block, its extents are that block's bounds, it holds exactly the chunks
// written in the block, and together the extents cover the seed's bounding
// box of the chunks.
func TestSeedAggregateExtents(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		cfg := codec.DefaultRepoConfig()
		cfg.ManifestBlockChunks = rapid.Uint32Range(1, 64).Draw(t, "block_chunks")
		grid := rapid.SliceOfN(rapid.Uint32Range(1, 40), 3, 3).Draw(t, "grid")
		coordGen := rapid.Custom(func(t *rapid.T) []uint32 {
			return []uint32{
				rapid.Uint32Range(0, grid[0]-1).Draw(t, "i"),
				rapid.Uint32Range(0, grid[1]-1).Draw(t, "j"),
				rapid.Uint32Range(0, grid[2]-1).Draw(t, "k"),
			}
		})
		indices := rapid.SliceOfNDistinct(coordGen, 1, 50, coordKey).Draw(t, "indices")

		repo, err := Create(ctx, memory.New("extents"), &cfg, nil)
		rapidOK(t, err, "create")
		s, err := repo.WritableSession(ctx, MainBranch)
		rapidOK(t, err, "session")
		path := MustPath("/a")
		am := ArrayMeta{Shape: []uint64{uint64(grid[0]), uint64(grid[1]), uint64(grid[2])}, ChunkShape: []uint64{1, 1, 1}}
		rapidOK(t, s.AddArray(ctx, path, am, nil), "add array")
		for _, c := range indices {
			rapidOK(t, s.SetChunkRef(ctx, path, c, seedInline(string(coordKey(c)))), "set chunk")
		}
		id, err := s.Commit(ctx, "chunks", nil)
		rapidOK(t, err, "commit")

		// a fresh handle reads the manifests from storage
		repo, err = Open(ctx, repo.Storage(), nil)
		rapidOK(t, err, "open")
		rs, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
		rapidOK(t, err, "read-only session")
		node, err := rs.GetArray(ctx, path)
		rapidOK(t, err, "get array")
		block := node.Array.BlockShape
		if !slices.Equal(block, blockShape(grid, cfg.ManifestBlockChunks)) {
			t.Fatalf("block shape %v, want %v", block, blockShape(grid, cfg.ManifestBlockChunks))
		}

		// the blocks the chunks fall in, with the chunks of each
		byBlock := map[string][][]uint32{}
		for _, c := range indices {
			k := coordKey([]uint32{c[0] / block[0], c[1] / block[1], c[2] / block[2]})
			byBlock[k] = append(byBlock[k], c)
		}
		if len(node.Array.Manifests) != len(byBlock) {
			t.Fatalf("%d manifests for %d touched blocks", len(node.Array.Manifests), len(byBlock))
		}
		from := []uint32{^uint32(0), ^uint32(0), ^uint32(0)}
		to := []uint32{0, 0, 0}
		seen := map[string]bool{}
		for _, mref := range node.Array.Manifests {
			m, err := repo.assets.fetchManifest(ctx, mref.ID)
			rapidOK(t, err, "fetch manifest")
			if !slices.Equal(m.Extents, mref.Extents) || m.NodeID != node.ID {
				t.Fatalf("manifest %s: extents %v node %s, ref says %v node %s", m.ID, m.Extents, m.NodeID, mref.Extents, node.ID)
			}
			first := m.Coords(0)
			k := coordKey([]uint32{first[0] / block[0], first[1] / block[1], first[2] / block[2]})
			if seen[k] {
				t.Fatalf("two manifests for one block")
			}
			seen[k] = true
			for d, e := range mref.Extents {
				lo := first[d] / block[d] * block[d]
				if e.From != lo || e.To != lo+block[d] {
					t.Fatalf("manifest extents %v, want block bounds [%d,%d) along %d", mref.Extents, lo, lo+block[d], d)
				}
				from[d] = min(from[d], e.From)
				to[d] = max(to[d], e.To)
			}
			var got [][]uint32
			for _, r := range m.All() {
				if !codec.ExtentsContain(mref.Extents, r.Coords) {
					t.Fatalf("chunk %v outside its manifest's extents %v", r.Coords, mref.Extents)
				}
				if string(r.Inline) != coordKey(r.Coords) {
					t.Fatalf("chunk %v holds the wrong bytes", r.Coords)
				}
				got = append(got, r.Coords)
			}
			want := slices.Clone(byBlock[k])
			slices.SortFunc(want, codec.CompareCoords)
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("block holds %v, want %v", got, want)
			}
		}
		// the seed's aggregate: min index and max index + 1 per dimension,
		// which the block extents must cover
		for d := range 3 {
			lo, hi := indices[0][d], indices[0][d]
			for _, c := range indices {
				lo, hi = min(lo, c[d]), max(hi, c[d])
			}
			if from[d] > lo || to[d] < hi+1 {
				t.Fatalf("extents [%v, %v) do not cover the chunks' bounds along %d: [%d, %d)", from, to, d, lo, hi+1)
			}
		}
		// and every chunk reads back
		for _, c := range indices {
			ref, err := rs.GetChunkRef(ctx, path, c)
			rapidOK(t, err, "get chunk")
			if ref == nil || string(ref.Inline) != coordKey(c) {
				t.Fatalf("chunk %v read back as %+v", c, ref)
			}
		}
	})
}

// TestSeedCommitRewritesOnlyTouchedBlocks: in a huge array (10^9 chunks,
// default config) a commit changing k chunks writes only the manifests of
// the blocks holding them and keeps the others as they are; a read of one
// chunk fetches only the manifest of its block.
func TestSeedCommitRewritesOnlyTouchedBlocks(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	seedOK(t, err)
	path := MustPath("/huge")
	// 1e6 x 1000 chunks: blocks of 65 x 1000 chunks with the default budget
	am := ArrayMeta{Shape: []uint64{1_000_000, 1000}, ChunkShape: []uint64{1, 1}}
	const rows = 65
	ds := seedWritable(t, repo, MainBranch)
	seedOK(t, ds.AddArray(ctx, path, am, nil))
	const blocks = 16
	for b := range uint32(blocks) {
		// two chunks per block, at the block's first and last row
		seedOK(t, ds.SetChunkRef(ctx, path, []uint32{b * 1000 * rows, b}, seedInline("a")))
		seedOK(t, ds.SetChunkRef(ctx, path, []uint32{b*1000*rows + rows - 1, 999}, seedInline("b")))
	}
	first := seedCommit(t, ds, "fill")
	before := seedManifestsOf(t, ds, path)
	if len(before) != blocks {
		t.Fatalf("%d manifests, want %d", len(before), blocks)
	}
	node, err := ds.GetArray(ctx, path)
	seedOK(t, err)
	if !slices.Equal(node.Array.BlockShape, []uint32{rows, 1000}) {
		t.Fatalf("block shape %v", node.Array.BlockShape)
	}
	beforeIDs := map[codec.ManifestID][]codec.Extent{}
	for _, m := range before {
		if m.Extents[0].To-m.Extents[0].From != rows || m.Extents[1] != (codec.Extent{From: 0, To: 1000}) {
			t.Fatalf("manifest extents %v are not a block", m.Extents)
		}
		beforeIDs[m.ID] = m.Extents
	}

	// change k = 3 chunks in 2 blocks (block 0 twice, block 7 once)
	counting.Reset()
	counting.Record(true)
	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.SetChunkRef(ctx, path, []uint32{1, 1}, seedInline("new")))
	seedOK(t, ds.SetChunkRef(ctx, path, []uint32{0, 0}, seedInline("changed")))
	seedOK(t, ds.SetChunkRef(ctx, path, []uint32{7*1000*rows + 3, 500}, seedInline("new")))
	second := seedCommit(t, ds, "touch two blocks")
	var manifestWrites []string
	for _, c := range counting.Calls() {
		if (c.Op == storage.OpPut || c.Op == storage.OpPutIfAbsent) && strings.HasPrefix(c.Key, codec.ManifestsPrefix) {
			manifestWrites = append(manifestWrites, c.Key)
		}
	}
	if len(manifestWrites) != 2 {
		t.Fatalf("the commit wrote %d manifests, want 2: %v", len(manifestWrites), manifestWrites)
	}
	after := seedManifestsOf(t, ds, path)
	if len(after) != blocks {
		t.Fatalf("%d manifests after the commit, want %d", len(after), blocks)
	}
	kept, rewritten := 0, 0
	for _, m := range after {
		if ext, ok := beforeIDs[m.ID]; ok {
			kept++
			if !slices.Equal(ext, m.Extents) {
				t.Fatalf("kept manifest %s changed extents", m.ID)
			}
			continue
		}
		rewritten++
		if m.Extents[0].From != 0 && m.Extents[0].From != 7*1000*rows {
			t.Fatalf("rewrote the manifest of an untouched block %v", m.Extents)
		}
	}
	if kept != blocks-2 || rewritten != 2 {
		t.Fatalf("kept %d and rewrote %d manifests", kept, rewritten)
	}
	// the snapshot lists exactly the manifests its arrays use
	snap, err := repo.assets.fetchSnapshot(ctx, second)
	seedOK(t, err)
	if len(snap.ManifestFiles) != blocks {
		t.Fatalf("snapshot lists %d manifest files", len(snap.ManifestFiles))
	}
	for _, m := range after {
		if _, ok := snap.ManifestFile(m.ID); !ok {
			t.Fatalf("manifest %s missing from the snapshot's files", m.ID)
		}
	}

	// a fresh handle reading one chunk fetches one manifest
	fresh, err := Open(ctx, counting, nil)
	seedOK(t, err)
	rs := seedReadonly(t, fresh, Version{Snapshot: second})
	counting.Reset()
	counting.Record(true)
	seedChunkIs(t, rs, path, []uint32{10*1000*rows + rows - 1, 999}, "b", true)
	var manifestReads []string
	for _, c := range counting.Calls() {
		if strings.HasPrefix(c.Key, codec.ManifestsPrefix) {
			manifestReads = append(manifestReads, c.Key)
		}
	}
	if len(manifestReads) != 1 {
		t.Fatalf("one chunk read fetched %v", manifestReads)
	}
	seedChunkIs(t, rs, path, []uint32{0, 0}, "changed", true)
	seedChunkIs(t, rs, path, []uint32{1, 1}, "new", true)
	seedChunkIs(t, rs, path, []uint32{7*1000*rows + 3, 500}, "new", true)
	seedChunkIs(t, rs, path, []uint32{7*1000*rows + 4, 500}, "", false)
	// the old version is intact
	old := seedReadonly(t, fresh, Version{Snapshot: first})
	seedChunkIs(t, old, path, []uint32{0, 0}, "a", true)
	seedChunkIs(t, old, path, []uint32{1, 1}, "", false)

	// deleting every chunk of a block drops its manifest without writing one
	counting.Reset()
	counting.Record(true)
	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.DeleteChunks(ctx, path, [][]uint32{{3 * 1000 * rows, 3}, {3*1000*rows + rows - 1, 999}}))
	seedCommit(t, ds, "empty block 3")
	for _, c := range counting.Calls() {
		if (c.Op == storage.OpPut || c.Op == storage.OpPutIfAbsent) && strings.HasPrefix(c.Key, codec.ManifestsPrefix) {
			t.Fatalf("emptying a block wrote manifest %s", c.Key)
		}
	}
	final := seedManifestsOf(t, ds, path)
	if len(final) != blocks-1 {
		t.Fatalf("%d manifests after emptying a block", len(final))
	}
	for _, m := range final {
		if m.Extents[0].From == 3*1000*rows {
			t.Fatal("the emptied block still has a manifest")
		}
	}
}

// TestSeedManifestsShrink is test_manifests_shrink: manifests are written
// only for chunks, kept when only nodes change, rewritten smaller when a
// chunk is deleted, and dropped when the last chunk goes.
func TestSeedManifestsShrink(t *testing.T) {
	ctx := context.Background()
	repo, store := seedRepo(t)
	count := func(prefix string) int { return len(seedKeys(t, store, prefix)) }

	// no manifests yet; the initialisation made one snapshot
	if count(codec.ManifestsPrefix) != 0 || count(codec.SnapshotsPrefix) != 1 {
		t.Fatalf("after create: %d manifests, %d snapshots", count(codec.ManifestsPrefix), count(codec.SnapshotsPrefix))
	}

	ds := seedWritable(t, repo, MainBranch)
	am := ArrayMeta{Shape: []uint64{5, 5}, ChunkShape: []uint64{2, 1}, DimensionNames: []string{"t", ""}}
	seedOK(t, ds.AddGroup(ctx, Root, nil))
	a1, a2 := MustPath("/array1"), MustPath("/array2")
	seedOK(t, ds.AddArray(ctx, a1, am, nil))
	seedOK(t, ds.AddArray(ctx, a2, am, nil))
	seedCommit(t, ds, "first commit")

	// still no manifests: no chunks were written; two snapshots
	if count(codec.ManifestsPrefix) != 0 || count(codec.SnapshotsPrefix) != 2 {
		t.Fatalf("after the first commit: %d manifests, %d snapshots", count(codec.ManifestsPrefix), count(codec.SnapshotsPrefix))
	}

	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.SetChunkRef(ctx, a1, []uint32{0, 0}, seedInline("hello1")))
	seedOK(t, ds.SetChunkRef(ctx, a1, []uint32{0, 1}, seedInline("hello2")))
	seedOK(t, ds.SetChunkRef(ctx, a2, []uint32{1, 0}, seedInline("hello3")))
	seedCommit(t, ds, "commit")

	// one manifest per array
	if count(codec.ManifestsPrefix) != 2 {
		t.Fatalf("%d manifests, want 2", count(codec.ManifestsPrefix))
	}
	refs := seedManifestsOf(t, ds, a1)
	if len(refs) != 1 {
		t.Fatalf("array1 has %d manifests", len(refs))
	}
	firstManifest := refs[0].ID
	m, err := repo.assets.fetchManifest(ctx, firstManifest)
	seedOK(t, err)
	if m.Len() != 2 {
		t.Fatalf("array1's manifest holds %d chunks, want 2", m.Len())
	}

	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.DeleteArray(ctx, a2))
	seedCommit(t, ds, "array2 deleted")
	// deleting an array writes no manifest; array1 keeps its manifest
	if count(codec.ManifestsPrefix) != 2 {
		t.Fatalf("%d manifests after an array delete, want 2", count(codec.ManifestsPrefix))
	}
	if refs := seedManifestsOf(t, ds, a1); len(refs) != 1 || refs[0].ID != firstManifest {
		t.Fatalf("array1's manifests changed to %+v", refs)
	}

	// delete a chunk
	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.SetChunkRef(ctx, a1, []uint32{0, 0}, nil))
	seedCommit(t, ds, "chunk deleted")
	if count(codec.ManifestsPrefix) != 3 || count(codec.SnapshotsPrefix) != 5 {
		t.Fatalf("after a chunk delete: %d manifests, %d snapshots", count(codec.ManifestsPrefix), count(codec.SnapshotsPrefix))
	}
	refs = seedManifestsOf(t, ds, a1)
	if len(refs) != 1 || refs[0].ID == firstManifest {
		t.Fatalf("array1's manifests after a chunk delete: %+v", refs)
	}
	m, err = repo.assets.fetchManifest(ctx, refs[0].ID)
	seedOK(t, err)
	if m.Len() != 1 || !slices.Equal(m.Coords(0), []uint32{0, 1}) {
		t.Fatalf("the shrunk manifest holds %+v", manifestRefs(m))
	}

	// delete the last chunk: no manifest left for the array
	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.SetChunkRef(ctx, a1, []uint32{0, 1}, nil))
	last := seedCommit(t, ds, "chunk deleted")
	if refs := seedManifestsOf(t, ds, a1); len(refs) != 0 {
		t.Fatalf("array1 still has manifests %+v", refs)
	}
	if count(codec.ManifestsPrefix) != 3 || count(codec.SnapshotsPrefix) != 6 {
		t.Fatalf("after the last chunk delete: %d manifests, %d snapshots", count(codec.ManifestsPrefix), count(codec.SnapshotsPrefix))
	}
	snap, err := repo.assets.fetchSnapshot(ctx, last)
	seedOK(t, err)
	if len(snap.ManifestFiles) != 0 {
		t.Fatalf("the snapshot still lists manifest files %+v", snap.ManifestFiles)
	}
}

// TestSeedShrinkDropsChunksOutsideGrid: shrinking an array drops, at
// commit, the chunks that fall outside the new grid, also from blocks the
// commit does not otherwise touch; growing it back does not revive them.
func TestSeedShrinkDropsChunksOutsideGrid(t *testing.T) {
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	cfg.ManifestBlockChunks = 4
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	seedOK(t, err)
	path := MustPath("/a")
	big := ArrayMeta{Shape: []uint64{16}, ChunkShape: []uint64{1}}
	ds := seedWritable(t, repo, MainBranch)
	seedOK(t, ds.AddArray(ctx, path, big, nil))
	for i := range uint32(16) {
		seedOK(t, ds.SetChunkRef(ctx, path, []uint32{i}, seedInline(string(rune('a'+i)))))
	}
	seedCommit(t, ds, "fill")
	if n := len(seedManifestsOf(t, ds, path)); n != 4 {
		t.Fatalf("%d manifests for 16 chunks in blocks of 4", n)
	}

	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.UpdateArray(ctx, path, ArrayMeta{Shape: []uint64{6}, ChunkShape: []uint64{1}}, nil))
	// uncommitted: listing already hides the chunks outside the grid
	var listed [][]uint32
	for c, err := range ds.ChunkCoordinates(ctx, path) {
		seedOK(t, err)
		listed = append(listed, c)
	}
	if len(listed) != 6 {
		t.Fatalf("listed %v after the shrink", listed)
	}
	seedCommit(t, ds, "shrink")
	refs := seedManifestsOf(t, ds, path)
	total := 0
	for _, r := range refs {
		m, err := repo.assets.fetchManifest(ctx, r.ID)
		seedOK(t, err)
		for _, c := range m.All() {
			if c.Coords[0] >= 6 {
				t.Fatalf("chunk %v survived the shrink", c.Coords)
			}
		}
		total += m.Len()
	}
	if total != 6 || len(refs) != 2 {
		t.Fatalf("%d chunks in %d manifests after the shrink", total, len(refs))
	}

	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.UpdateArray(ctx, path, big, nil))
	seedCommit(t, ds, "grow")
	rs := seedReadonly(t, repo, Version{Branch: MainBranch})
	got := map[uint32]string{}
	for info, err := range rs.ArrayChunks(ctx, path) {
		seedOK(t, err)
		got[info.Coords[0]] = string(info.Ref.Inline)
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []uint32{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("chunks after shrink and grow: %v", got)
	}
	for i := uint32(6); i < 16; i++ {
		seedChunkIs(t, rs, path, []uint32{i}, "", false)
	}
}

// TestSeedRankChangeDropsChunks: redefining an array with another rank
// makes its chunks unaddressable; the commit drops them, from the base
// manifests and from the change set alike (this used to panic in
// planArray, found by the model test).
func TestSeedRankChangeDropsChunks(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	path := MustPath("/a")
	ds := seedWritable(t, repo, MainBranch)
	seedOK(t, ds.AddArray(ctx, path, ArrayMeta{Shape: []uint64{2, 2}, ChunkShape: []uint64{1, 1}}, nil))
	seedOK(t, ds.SetChunkRef(ctx, path, []uint32{1, 1}, seedInline("committed")))
	seedCommit(t, ds, "2-d")

	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.SetChunkRef(ctx, path, []uint32{0, 1}, seedInline("pending")))
	seedOK(t, ds.UpdateArray(ctx, path, ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}, nil))
	seedOK(t, ds.SetChunkRef(ctx, path, []uint32{3}, seedInline("1-d")))
	id := seedCommit(t, ds, "1-d")

	rs := seedReadonly(t, repo, Version{Snapshot: id})
	var got [][]uint32
	for c, err := range rs.ChunkCoordinates(ctx, path) {
		seedOK(t, err)
		got = append(got, c)
	}
	if !slices.EqualFunc(got, [][]uint32{{3}}, slices.Equal) {
		t.Fatalf("chunks after the rank change: %v", got)
	}
	seedChunkIs(t, rs, path, []uint32{3}, "1-d", true)
	seedChunkIs(t, rs, path, []uint32{1, 1}, "", false)
	node, err := rs.GetArray(ctx, path)
	seedOK(t, err)
	if len(node.Array.BlockShape) != 1 || len(node.Array.Manifests) != 1 || len(node.Array.Manifests[0].Extents) != 1 {
		t.Fatalf("array after the rank change: %+v", node.Array)
	}
	// and back to two dimensions: the old 2-d chunks stay gone
	ds = seedWritable(t, repo, MainBranch)
	seedOK(t, ds.UpdateArray(ctx, path, ArrayMeta{Shape: []uint64{2, 2}, ChunkShape: []uint64{1, 1}}, nil))
	id = seedCommit(t, ds, "2-d again")
	rs = seedReadonly(t, repo, Version{Snapshot: id})
	for c, err := range rs.ChunkCoordinates(ctx, path) {
		seedOK(t, err)
		t.Fatalf("chunk %v survived two rank changes", c)
	}
}
