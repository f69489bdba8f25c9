package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// inspectJSON is InspectSnapshot's result as its JSON reads back.
func inspectJSON(t *testing.T, repo *Repository, id codec.SnapshotID) map[string]any {
	t.Helper()
	insp, err := repo.InspectSnapshot(context.Background(), id)
	mustOK(t, err)
	data, err := json.Marshal(insp)
	mustOK(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // large integers of the metadata keep every digit
	var out map[string]any
	mustOK(t, dec.Decode(&out))
	return out
}

func wantJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	mustOK(t, err)
	w, err := json.Marshal(want)
	mustOK(t, err)
	if string(g) != string(w) {
		t.Fatalf("%s: %s, want %s", what, g, w)
	}
}

// The JSON of InspectSnapshot has upstream Icechunk's inspect_snapshot
// shape: commit fields, manifest files, nodes with the manifests of
// arrays only; history_cut only on a rewritten snapshot.
func TestInspectSnapshot(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	mustOK(t, err)
	root, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4, 4}, []int{2, 2}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "empty/zarr.json", arrayJSON([]int{4}, []int{2}, "default", "")))
	for _, k := range []string{"a/c/0/0", "a/c/1/1", "a/c/1/0"} {
		mustOK(t, s.StoreSet(ctx, k, []byte(k)))
	}
	id, err := s.Commit(ctx, "first", map[string]any{"author": "me", "n": 12345678901234567})
	mustOK(t, err)
	snap, err := repo.assets.fetchSnapshot(ctx, id)
	mustOK(t, err)
	a, _ := snap.Node("/a")
	if len(snap.ManifestFiles) != 1 || len(a.Array.Manifests) != 1 {
		t.Fatalf("want one manifest, got %+v", snap.ManifestFiles)
	}
	mf, mref := snap.ManifestFiles[0], a.Array.Manifests[0]

	got := inspectJSON(t, repo, id)
	if len(got) != 7 {
		t.Fatalf("keys of the inspection: %v", got)
	}
	wantJSON(t, "id", got["id"], id.String())
	wantJSON(t, "parent_id", got["parent_id"], root.String())
	wantJSON(t, "commit_message", got["commit_message"], "first")
	wantJSON(t, "metadata", got["metadata"], map[string]any{"author": "me", "n": json.Number("12345678901234567")})
	at, _ := got["flushed_at"].(string)
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`).MatchString(at) {
		t.Fatalf("flushed_at %q is not RFC 3339 UTC with microseconds", at)
	}
	if when, err := time.Parse(time.RFC3339Nano, at); err != nil || !when.Equal(snap.FlushedTime().Truncate(time.Microsecond)) {
		t.Fatalf("flushed_at %q is not the snapshot's time %s (%v)", at, snap.FlushedTime(), err)
	}
	wantJSON(t, "manifests", got["manifests"], []any{map[string]any{"id": mf.ID.String(), "size_bytes": mf.SizeBytes, "num_chunk_refs": 3}})
	wantJSON(t, "nodes", got["nodes"], []any{
		map[string]any{"id": snap.Nodes[0].ID.String(), "path": "/", "node_type": "group"},
		map[string]any{"id": a.ID.String(), "path": "/a", "node_type": "array",
			// A manifest covers its block: 65,536 chunks, the fastest
			// dimension's 2 first, the rest to the first dimension.
			"manifest_refs": []any{map[string]any{"id": mref.ID.String(), "extents": [][]int{{0, 32768}, {0, 2}}}}},
		map[string]any{"id": snap.Nodes[2].ID.String(), "path": "/empty", "node_type": "array", "manifest_refs": []any{}},
	})

	initial := inspectJSON(t, repo, root)
	wantJSON(t, "the initial snapshot", initial, map[string]any{
		"id": root.String(), "parent_id": nil, "flushed_at": initial["flushed_at"],
		"commit_message": "Repository initialized", "metadata": map[string]any{}, "manifests": []any{}, "nodes": []any{},
	})

	if _, err := repo.InspectSnapshot(ctx, codec.NewSnapshotID()); !errors.Is(err, ErrSnapshotNotFound) {
		t.Fatalf("an unknown snapshot: %v", err)
	}

	// A snapshot an expiration rewrote says so.
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "a/c/0/1", []byte("new")))
	kept := commit(t, s, "kept")
	if _, has := inspectJSON(t, repo, kept)["history_cut"]; has {
		t.Fatal("history_cut on a snapshot no expiration rewrote")
	}
	res, err := repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: cutoff})
	mustOK(t, err)
	wantIDs(t, "rewritten", res.Rewritten, kept)
	cut := inspectJSON(t, repo, kept)
	wantJSON(t, "history_cut", cut["history_cut"], true)
	wantJSON(t, "parent_id after the cut", cut["parent_id"], root.String())
}

// SnapshotInfo (and so every ancestry entry) lists the manifest files of
// its snapshot with their sizes and reference counts: none before any
// chunk, one per array block after, inline chunks counted.
func TestSnapshotInfoManifests(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4, 4}, []int{2, 2}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "b/zarr.json", arrayJSON([]int{4}, []int{2}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "a/c/0/0", []byte("tiny"))) // inline
	mustOK(t, s.StoreSet(ctx, "a/c/1/1", bytes.Repeat([]byte{7}, 4096)))
	mustOK(t, s.StoreSet(ctx, "a/c/1/0", bytes.Repeat([]byte{8}, 4096)))
	mustOK(t, s.StoreSet(ctx, "b/c/1", bytes.Repeat([]byte{9}, 4096)))
	first, err := s.Commit(ctx, "chunks", nil)
	mustOK(t, err)

	var infos []SnapshotInfo
	for info, err := range repo.Ancestry(ctx, Version{Branch: MainBranch}) {
		mustOK(t, err)
		infos = append(infos, info)
	}
	if len(infos) != 2 || infos[0].ID != first {
		t.Fatalf("ancestry: %+v", infos)
	}
	if len(infos[1].Manifests) != 0 {
		t.Fatalf("the initial snapshot lists manifests: %+v", infos[1].Manifests)
	}
	snap, err := repo.assets.fetchSnapshot(ctx, first)
	mustOK(t, err)
	got := infos[0].Manifests
	if len(got) != 2 || len(got) != len(snap.ManifestFiles) {
		t.Fatalf("manifests %+v, want the snapshot's two %+v", got, snap.ManifestFiles)
	}
	refs := map[uint64]bool{}
	for i, m := range got {
		if m != snap.ManifestFiles[i] || m.SizeBytes == 0 {
			t.Fatalf("manifest %d: %+v, snapshot lists %+v", i, m, snap.ManifestFiles[i])
		}
		data, err := repo.store.Get(ctx, codec.ManifestKey(m.ID))
		mustOK(t, err)
		if uint64(len(data)) != m.SizeBytes {
			t.Fatalf("manifest %s: size %d, stored %d bytes", m.ID, m.SizeBytes, len(data))
		}
		refs[m.NumChunkRefs] = true
	}
	if !refs[3] || !refs[1] {
		t.Fatalf("chunk reference counts %+v, want 3 (a, an inline one included) and 1 (b)", got)
	}
	info, err := repo.SnapshotInfo(ctx, first)
	mustOK(t, err)
	wantJSON(t, "SnapshotInfo's manifests", info.Manifests, got)
}
