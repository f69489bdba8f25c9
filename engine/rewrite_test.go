package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// namedArrayJSON is arrayJSON with dimension names.
func namedArrayJSON(shape, chunks []int, names ...string) []byte {
	a := strings.TrimSuffix(string(arrayJSON(shape, chunks, "default", "")), "}")
	quoted, _ := json.Marshal(names)
	return []byte(a + `,"dimension_names":` + string(quoted) + `}`)
}

func anyArray() codec.Condition { return codec.Condition{Op: "any_array"} }

func u64(v uint64) *uint64 { return &v }

// manifestSizes returns the chunk references of each manifest of the array
// at path in snapshot id, sorted, and the array's block shape.
func manifestSizes(t *testing.T, repo *Repository, id codec.SnapshotID, path string) ([]uint64, []uint32) {
	t.Helper()
	snap, err := repo.assets.fetchSnapshot(context.Background(), id)
	mustOK(t, err)
	n, ok := snap.Node(path)
	if !ok || n.Array == nil {
		t.Fatalf("no array at %s", path)
	}
	var out []uint64
	for _, m := range n.Array.Manifests {
		info, ok := snap.ManifestFile(m.ID)
		if !ok {
			t.Fatalf("manifest %s of %s is not listed in the snapshot", m.ID, path)
		}
		out = append(out, info.NumChunkRefs)
	}
	slices.Sort(out)
	return out, n.Array.BlockShape
}

func useSplitting(t *testing.T, repo *Repository, rules ...codec.ManifestSplit) {
	t.Helper()
	c := repo.Config()
	c.Manifest = &codec.ManifestConfig{Splitting: rules}
	mustOK(t, repo.UseConfig(c))
}

// Splitting rules give new arrays their block shape: the first rule whose
// condition matches decides, each dimension takes the first entry that
// matches it, and a dimension no entry matches is not split.
func TestManifestSplittingShapesNewArrays(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	mustOK(t, err)
	useSplitting(t, repo,
		codec.ManifestSplit{If: codec.Condition{Op: "name_matches", Regex: "^temp"}, Dims: []codec.DimSplit{
			{Kind: codec.DimName, Regex: "^t(ime)?$", Chunks: 3},
			{Kind: codec.DimAxis, Axis: 1, Chunks: 2},
		}},
		codec.ManifestSplit{If: codec.Condition{Op: "or", Of: []codec.Condition{{Op: "path_matches", Regex: "^/g/"}, {Op: "name_matches", Regex: "^never$"}}},
			Dims: []codec.DimSplit{{Kind: codec.DimAny, Chunks: 4}}},
	)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "g/zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "temperature/zarr.json", namedArrayJSON([]int{10, 4, 2}, []int{1, 1, 1}, "time", "lat", "lon")))
	mustOK(t, s.StoreSet(ctx, "g/other/zarr.json", arrayJSON([]int{10}, []int{1}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "plain/zarr.json", arrayJSON([]int{10}, []int{1}, "default", "")))
	for i := range 10 {
		for j := range 4 {
			for k := range 2 {
				mustOK(t, s.StoreSet(ctx, fmt.Sprintf("temperature/c/%d/%d/%d", i, j, k), []byte{1}))
			}
		}
		mustOK(t, s.StoreSet(ctx, fmt.Sprintf("g/other/c/%d", i), []byte{1}))
		mustOK(t, s.StoreSet(ctx, fmt.Sprintf("plain/c/%d", i), []byte{1}))
	}
	id, err := s.Commit(ctx, "split", nil)
	mustOK(t, err)

	// time by 3, lat (axis 1) by 2, lon unsplit: blocks of 3x2x2 chunks,
	// the last row of time holding one.
	sizes, shape := manifestSizes(t, repo, id, "/temperature")
	if !slices.Equal(shape, []uint32{3, 2, math.MaxUint32}) {
		t.Fatalf("temperature's block shape %v, want [3 2 unsplit]", shape)
	}
	if want := []uint64{4, 4, 12, 12, 12, 12, 12, 12}; !slices.Equal(sizes, want) {
		t.Fatalf("temperature's manifests hold %v refs, want %v", sizes, want)
	}
	if sizes, _ := manifestSizes(t, repo, id, "/g/other"); !slices.Equal(sizes, []uint64{2, 4, 4}) {
		t.Fatalf("/g/other's manifests hold %v refs, want [2 4 4]", sizes)
	}
	if sizes, _ := manifestSizes(t, repo, id, "/plain"); !slices.Equal(sizes, []uint64{10}) {
		t.Fatalf("/plain, which no rule matches, has manifests of %v refs, want one of 10", sizes)
	}
	// Every chunk reads back through the split manifests, in a new handle.
	reader, err := Open(ctx, repo.store, nil)
	mustOK(t, err)
	r, err := reader.ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	for i := range 10 {
		for j := range 4 {
			for k := range 2 {
				mustGet(t, r, fmt.Sprintf("temperature/c/%d/%d/%d", i, j, k), storage.From(0))
			}
		}
	}
}

// An array keeps its block shape when the rules change; RewriteManifests
// then rewrites every array into the shape the rules give it now, keeping
// every chunk, with the rules in the commit's metadata and no change in
// its transaction log. Run on a session's worth of nothing else, it is a
// commit of its own on the branch.
func TestRewriteManifestsFollowsTheSplittingRules(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	mustOK(t, err)
	every := func(n uint32) codec.ManifestSplit {
		return codec.ManifestSplit{If: anyArray(), Dims: []codec.DimSplit{{Kind: codec.DimAny, Chunks: n}}}
	}
	useSplitting(t, repo, every(1))
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "array/zarr.json", arrayJSON([]int{10}, []int{1}, "default", "")))
	for i := 1; i < 5; i++ {
		mustOK(t, s.StoreSet(ctx, fmt.Sprintf("array/c/%d", i), []byte{byte(i)}))
	}
	first, err := s.Commit(ctx, "four chunks", nil)
	mustOK(t, err)
	if sizes, _ := manifestSizes(t, repo, first, "/array"); !slices.Equal(sizes, []uint64{1, 1, 1, 1}) {
		t.Fatalf("split by 1: manifests of %v refs", sizes)
	}

	// New rules: the array keeps its shape in an ordinary commit.
	useSplitting(t, repo, every(3))
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	for i := 6; i < 9; i++ {
		mustOK(t, s.StoreSet(ctx, fmt.Sprintf("array/c/%d", i), []byte{byte(i)}))
	}
	second, err := s.Commit(ctx, "three more", nil)
	mustOK(t, err)
	if sizes, shape := manifestSizes(t, repo, second, "/array"); !slices.Equal(sizes, []uint64{1, 1, 1, 1, 1, 1, 1}) || shape[0] != 1 {
		t.Fatalf("a commit after the rules changed: manifests of %v refs, shape %v; want the old shape kept", sizes, shape)
	}

	rewritten, err := repo.RewriteManifests(ctx, MainBranch, "rewrite", map[string]any{"who": "test"})
	mustOK(t, err)
	if sizes, shape := manifestSizes(t, repo, rewritten, "/array"); !slices.Equal(sizes, []uint64{2, 2, 3}) || shape[0] != 3 {
		t.Fatalf("rewritten: manifests of %v refs, shape %v; want [2 2 3] in blocks of 3", sizes, shape)
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	if tip != rewritten {
		t.Fatalf("the branch is at %s, not at the rewrite %s", tip, rewritten)
	}
	info, err := repo.SnapshotInfo(ctx, rewritten)
	mustOK(t, err)
	if info.ParentID != second || info.Message != "rewrite" {
		t.Fatalf("the rewrite's parent %s and message %q, want %s and %q", info.ParentID, info.Message, second, "rewrite")
	}
	var meta struct {
		Who       string                `json:"who"`
		Splitting []codec.ManifestSplit `json:"splitting_config"`
	}
	raw, err := json.Marshal(info.Metadata)
	mustOK(t, err)
	mustOK(t, json.Unmarshal(raw, &meta))
	if meta.Who != "test" || len(meta.Splitting) != 1 || meta.Splitting[0].Dims[0].Chunks != 3 {
		t.Fatalf("the rewrite's metadata %s, want the caller's and the rules", info.Metadata)
	}
	d, err := repo.Diff(ctx, Version{Snapshot: second}, Version{Snapshot: rewritten})
	mustOK(t, err)
	if !d.IsEmpty() {
		t.Fatalf("the rewrite changed something: %+v", d)
	}
	r, err := repo.ReadonlySession(ctx, Version{Snapshot: rewritten})
	mustOK(t, err)
	for i := range 10 {
		key := fmt.Sprintf("array/c/%d", i)
		if i == 0 || i == 5 || i == 9 {
			mustMissing(t, r, key)
			continue
		}
		if got := mustGet(t, r, key, storage.From(0)); len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("%s reads %v after the rewrite", key, got)
		}
	}
	// Without rules, the rewrite goes back to the engine's own shape: one
	// manifest for so few chunks. No rules, no rules in the metadata.
	c := repo.Config()
	c.Manifest = nil
	mustOK(t, repo.UseConfig(c))
	plain, err := repo.RewriteManifests(ctx, MainBranch, "back", nil)
	mustOK(t, err)
	if sizes, _ := manifestSizes(t, repo, plain, "/array"); !slices.Equal(sizes, []uint64{7}) {
		t.Fatalf("rewritten without rules: manifests of %v refs, want one of 7", sizes)
	}
	info, err = repo.SnapshotInfo(ctx, plain)
	mustOK(t, err)
	if _, ok := info.Metadata["splitting_config"]; ok {
		t.Fatalf("a rewrite without rules records rules: %s", info.Metadata)
	}
}

// A session's own changes go into the new blocks with the old refs when
// its commit rewrites the manifests: written, overwritten and deleted
// chunks all land as a plain commit would leave them.
func TestRewriteManifestsMergesTheSessionsChanges(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{20}, []int{1}, "default", "")))
	for i := range 10 {
		mustOK(t, s.StoreSet(ctx, fmt.Sprintf("a/c/%d", i), []byte{byte(i)}))
	}
	_, err := s.Commit(ctx, "ten", nil)
	mustOK(t, err)
	useSplitting(t, repo, codec.ManifestSplit{If: anyArray(), Dims: []codec.DimSplit{{Kind: codec.DimAxis, Axis: 0, Chunks: 4}}})
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "a/c/3", []byte{33}))
	mustOK(t, s.StoreDelete(ctx, "a/c/4"))
	mustOK(t, s.StoreSet(ctx, "a/c/15", []byte{15}))
	s.rewriteManifests = true
	id, err := s.Commit(ctx, "changes and a rewrite", nil)
	mustOK(t, err)
	if sizes, _ := manifestSizes(t, repo, id, "/a"); !slices.Equal(sizes, []uint64{1, 2, 3, 4}) {
		t.Fatalf("manifests of %v refs, want [1 2 3 4] (0-3, 5-7, 8-9, 15)", sizes)
	}
	r, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	want := map[int]byte{0: 0, 1: 1, 2: 2, 3: 33, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 15: 15}
	for i := range 20 {
		key := fmt.Sprintf("a/c/%d", i)
		v, ok := want[i]
		if !ok {
			mustMissing(t, r, key)
			continue
		}
		if got := mustGet(t, r, key, storage.From(0)); len(got) != 1 || got[0] != v {
			t.Fatalf("%s reads %v, want [%d]", key, got, v)
		}
	}
}

// RewriteManifests fails on a branch that does not exist, and commits
// nothing when the branch moves while it writes.
func TestRewriteManifestsErrors(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	_, err := s.Commit(ctx, "root", nil)
	mustOK(t, err)
	if _, err := repo.RewriteManifests(ctx, "nope", "x", nil); !errors.Is(err, ErrBranchNotFound) {
		t.Fatalf("rewrite on a missing branch: %v, want ErrBranchNotFound", err)
	}
	// A commit lands between the rewrite's session and its commit.
	rw, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	rw.rewriteManifests = true
	other, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, other.StoreSet(ctx, "g/zarr.json", groupJSON("")))
	moved, err := other.Commit(ctx, "moved", nil)
	mustOK(t, err)
	if _, err := rw.Commit(ctx, "rewrite", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("rewrite on a moved branch: %v, want ErrConflict", err)
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	if tip != moved {
		t.Fatalf("the branch is at %s after a failed rewrite, want %s", tip, moved)
	}
}

// manifestReads counts the manifests read through c.
func manifestReads(c *storage.Counting) int {
	n := 0
	for _, call := range c.Calls() {
		if call.Op == storage.OpGet && strings.HasPrefix(call.Key, "manifests/") {
			n++
		}
	}
	return n
}

// A session opened with a preload condition loads the manifests it
// selects, within the bound on their chunk references, and no others;
// reads of those arrays then find them cached.
func TestManifestPreload(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	sizes := map[string]int{"time": 5, "lat": 3, "lon": 4, "data": 40}
	for name, n := range sizes {
		mustOK(t, s.StoreSet(ctx, name+"/zarr.json", arrayJSON([]int{n}, []int{1}, "default", "")))
		for i := range n {
			mustOK(t, s.StoreSet(ctx, fmt.Sprintf("%s/c/%d", name, i), []byte{1}))
		}
	}
	id, err := s.Commit(ctx, "four arrays", nil)
	mustOK(t, err)

	open := func(p *codec.ManifestPreload) (*storage.Counting, *Session) {
		t.Helper()
		counter := storage.NewCounting(store)
		counter.Record(true)
		cfg := codec.DefaultRepoConfig()
		cfg.Manifest = &codec.ManifestConfig{Preload: p}
		h, err := Open(ctx, counter, nil)
		mustOK(t, err)
		mustOK(t, h.UseConfig(cfg))
		r, err := h.ReadonlySession(ctx, Version{Snapshot: id})
		mustOK(t, err)
		<-r.preloaded
		return counter, r
	}
	coords := &codec.Condition{Op: "name_matches", Regex: "^(time|lat|lon)$"}
	// All three coordinate arrays fit in the default bound.
	c, r := open(&codec.ManifestPreload{If: coords})
	if n := manifestReads(c); n != 3 {
		t.Fatalf("preloaded %d manifests, want 3 (time, lat, lon)", n)
	}
	mustGet(t, r, "lat/c/2", storage.From(0))
	if n := manifestReads(c); n != 3 {
		t.Fatalf("reading a preloaded array read %d manifests more", n-3)
	}
	mustGet(t, r, "data/c/2", storage.From(0))
	if n := manifestReads(c); n != 4 {
		t.Fatalf("reading an array not preloaded read %d manifests, want 1", n-3)
	}
	// A bound of 8 refs takes time (5) and lat (3), then has no room for lon.
	if c, _ := open(&codec.ManifestPreload{If: coords, MaxTotalRefs: u64(8)}); manifestReads(c) != 2 {
		t.Fatalf("preloaded %d manifests within 8 refs, want 2", manifestReads(c))
	}
	// num_refs selects by size, and and/or combine.
	bySize := &codec.Condition{Op: "and", Of: []codec.Condition{{Op: "true"}, {Op: "num_refs", From: u64(4), To: u64(6)}}}
	if c, _ := open(&codec.ManifestPreload{If: bySize}); manifestReads(c) != 2 {
		t.Fatalf("preloaded %d manifests of 4 or 5 refs, want 2 (time, lon)", manifestReads(c))
	}
	if c, _ := open(&codec.ManifestPreload{If: &codec.Condition{Op: "false"}}); manifestReads(c) != 0 {
		t.Fatalf("a false condition preloaded %d manifests", manifestReads(c))
	}
	if c, _ := open(nil); manifestReads(c) != 0 {
		t.Fatalf("no preload config preloaded %d manifests", manifestReads(c))
	}
}

// Bad rules and conditions are refused with what is wrong.
func TestManifestConfigValidation(t *testing.T) {
	bad := map[string]codec.ManifestConfig{
		"regex":                       {Splitting: []codec.ManifestSplit{{If: codec.Condition{Op: "name_matches", Regex: "("}, Dims: []codec.DimSplit{{Kind: codec.DimAny, Chunks: 1}}}}},
		"split of 0":                  {Splitting: []codec.ManifestSplit{{If: anyArray(), Dims: []codec.DimSplit{{Kind: codec.DimAny, Chunks: 0}}}}},
		"unknown dimension condition": {Splitting: []codec.ManifestSplit{{If: anyArray(), Dims: []codec.DimSplit{{Kind: "diagonal", Chunks: 1}}}}},
		"not arrays to split":         {Splitting: []codec.ManifestSplit{{If: codec.Condition{Op: "num_refs"}, Dims: nil}}},
		"not manifests to preload":    {Preload: &codec.ManifestPreload{If: &codec.Condition{Op: "or", Of: []codec.Condition{anyArray()}}}},
		"unknown condition":           {Preload: &codec.ManifestPreload{If: &codec.Condition{Op: "maybe"}}},
		"past to":                     {Preload: &codec.ManifestPreload{If: &codec.Condition{Op: "num_refs", From: u64(5), To: u64(2)}}},
	}
	repo, _ := newStoreSession(t)
	for want, m := range bad {
		c := repo.Config()
		c.Manifest = &m
		err := repo.UseConfig(c)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", want, err)
		}
	}
}

// A rewrite keeps every kind of reference as it was: inline bytes, native
// chunk objects with their offsets, virtual locations with their checks.
func TestRewriteManifestsKeepsEveryKindOfRef(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	c := repo.Config()
	c.VirtualChunkContainers = []codec.VirtualChunkContainer{{Name: "data", URLPrefix: "file:///data/"}}
	mustOK(t, repo.UseConfig(c))
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "v/zarr.json", arrayJSON([]int{6}, []int{1}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "v/c/0", []byte("inline")))
	mustOK(t, s.StoreSet(ctx, "v/c/1", []byte(strings.Repeat("n", 2000))))
	mustOK(t, s.StoreSet(ctx, "v/c/2", []byte(strings.Repeat("m", 3000))))
	mustOK(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{4}, Location: "file:///data/f.bin", Offset: 7, Length: 9, ETag: "e1"}))
	mustOK(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{5}, Location: "file:///data/g.bin", Length: 3, LastModified: 1700000000}))
	before, err := s.Commit(ctx, "every kind", nil)
	mustOK(t, err)
	useSplitting(t, repo, codec.ManifestSplit{If: anyArray(), Dims: []codec.DimSplit{{Kind: codec.DimAny, Chunks: 4}}})
	after, err := repo.RewriteManifests(ctx, MainBranch, "rewrite", nil)
	mustOK(t, err)
	if sizes, _ := manifestSizes(t, repo, after, "/v"); !slices.Equal(sizes, []uint64{2, 3}) {
		t.Fatalf("manifests of %v refs, want [2 3]", sizes)
	}
	old, err := repo.ReadonlySession(ctx, Version{Snapshot: before})
	mustOK(t, err)
	now, err := repo.ReadonlySession(ctx, Version{Snapshot: after})
	mustOK(t, err)
	for i := range uint32(6) {
		want, err := old.GetChunkRef(ctx, MustPath("/v"), []uint32{i})
		mustOK(t, err)
		got, err := now.GetChunkRef(ctx, MustPath("/v"), []uint32{i})
		mustOK(t, err)
		if (want == nil) != (got == nil) || (want != nil && !reflect.DeepEqual(*want, *got)) {
			t.Fatalf("chunk %d: %+v before the rewrite, %+v after", i, want, got)
		}
	}
}
