package engine

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// TestFlushSnapshot writes an anonymous snapshot (chunks set one by one and
// written behind) from a session whose branch moved meanwhile: no branch
// moves, the session is read-only at the snapshot, which a fresh handle
// reads whole, with its metadata merged over the default and its ancestry
// reaching the session's base.
func TestFlushSnapshot(t *testing.T) { onEachStore(t, testFlushSnapshot) }

func testFlushSnapshot(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	repo.SetDefaultCommitMetadata(map[string]any{"tool": "test", "n": 1})
	base, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	addBehindArray(t, s)
	gcSetChunks(t, s, 1, 0, 1)
	setChunksBehind(t, s, 2, 6, true)

	// Another writer moves main: a flush does not care.
	other, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, other.StoreSet(ctx, "other/zarr.json", groupJSON("")))
	tip := commit(t, other, "elsewhere")

	id, err := s.Flush(ctx, "anonymous", map[string]any{"n": 2, "who": "me"})
	mustOK(t, err)
	if got, err := repo.LookupBranch(ctx, MainBranch); err != nil || got != tip {
		t.Fatalf("main moved to %s (%v), want it left at %s", got, err, tip)
	}
	if !s.ReadOnly() || s.Branch() != "" || s.SnapshotID() != id || s.HasUncommittedChanges() {
		t.Fatalf("after a flush: read-only %v, branch %q, at %s (want %s), changes %v",
			s.ReadOnly(), s.Branch(), s.SnapshotID(), id, s.HasUncommittedChanges())
	}
	if err := s.StoreSet(ctx, "a/c/9", behindValue(9, 1)); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("a write after a flush: %v", err)
	}
	if _, err := s.Flush(ctx, "again", nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("a second flush: %v", err)
	}
	checkChunks(t, s, 0, 6, 1, "read by the flushed session")

	// A fresh handle reads it by id: objects and snapshot are in storage.
	ro := committedSession(t, store, id)
	checkChunks(t, ro, 0, 6, 1, "read by id through a fresh handle")
	mustMissing(t, ro, "other/zarr.json")
	info, err := repo.SnapshotInfo(ctx, id)
	mustOK(t, err)
	want := map[string]any{"tool": "test", "n": json.Number("2"), "who": "me"}
	if info.Message != "anonymous" || info.ParentID != base || !maps.Equal(info.Metadata, want) {
		t.Fatalf("snapshot info: %+v, want message \"anonymous\", parent %s, metadata %v", info, base, want)
	}
	if got := ancestryIDs(t, repo, Version{Snapshot: id}); !slices.Equal(got, []codec.SnapshotID{id, base}) {
		t.Fatalf("ancestry of the flushed snapshot: %v, want %v", got, []codec.SnapshotID{id, base})
	}

	// A branch at the snapshot continues from it.
	mustOK(t, repo.CreateBranch(ctx, "from-flush", id))
	w, err := repo.WritableSession(ctx, "from-flush")
	mustOK(t, err)
	gcSetChunks(t, w, 2, 0)
	next := commit(t, w, "on the flushed snapshot")
	if got := ancestryIDs(t, repo, Version{Branch: "from-flush"}); !slices.Equal(got, []codec.SnapshotID{next, id, base}) {
		t.Fatalf("ancestry of a branch made at the flushed snapshot: %v", got)
	}
}

// A flush refuses what a commit refuses, and a refused flush leaves the
// session as it was.
func TestFlushSnapshotRefusals(t *testing.T) {
	ctx := context.Background()
	repo, s := newBehindSession(t, memory.New(t.Name()))
	commit(t, s, "setup")

	empty, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	if _, err := empty.Flush(ctx, "nothing", nil); !errors.Is(err, ErrNoChangesToCommit) {
		t.Fatalf("a flush without changes: %v", err)
	}
	if empty.ReadOnly() {
		t.Fatal("a refused flush made the session read-only")
	}

	ro, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	mustOK(t, err)
	if _, err := ro.Flush(ctx, "read-only", nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("a flush of a read-only session: %v", err)
	}

	f, err := empty.Fork(ctx)
	mustOK(t, err)
	gcSetChunks(t, f, 1, 0)
	if _, err := f.Flush(ctx, "fork", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a flush of a fork: %v", err)
	}
	if !f.HasUncommittedChanges() {
		t.Fatal("a refused flush dropped the fork's changes")
	}

	w, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, w, 1, 0)
	if _, err := w.Flush(ctx, "bad metadata", map[string]any{"f": func() {}}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("metadata that is not JSON: %v", err)
	}
	if !w.HasUncommittedChanges() || w.ReadOnly() {
		t.Fatal("a refused flush changed the session")
	}
}

// A flush returns only once the chunks written behind are in storage, as a
// commit does: the snapshot it hands out never names a missing object.
func TestFlushSnapshotWaitsForChunksWrittenBehind(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(false)
	_, s := newBehindSession(t, g)
	setChunksBehind(t, s, 0, 2, true) // one pack: its write waits at the gate
	var id codec.SnapshotID
	done := make(chan error, 1)
	go func() {
		var err error
		id, err = s.Flush(ctx, "behind", nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the flush returned (%v) while its chunks were held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	mustOK(t, <-done)
	if g.puts.Load() == 0 {
		t.Fatal("the flush returned without writing its chunks")
	}
	checkChunks(t, committedSession(t, g, id), 0, 2, 1, "after the flush")
}
