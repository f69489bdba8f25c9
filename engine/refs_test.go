package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// A repository handle that has read a branch finds its tip and commits to
// it without listing the branch log: one Get of the slot after the
// remembered entry, one conditional Put. Listing is what object stores
// charge most for, and contending writers do it on every attempt.
func TestWarmCommitDoesNotList(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{2}, ChunkShape: []uint64{1}}, nil))
	_, err = s.Commit(ctx, "array", nil)
	ok(t, err)

	counting.Reset()
	s, err = repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.SetChunk(ctx, MustPath("/a"), []uint32{0}, []byte{1, 2, 3, 4}))
	_, err = s.Commit(ctx, "chunk", nil)
	ok(t, err)
	if n := counting.Counts().Ops[storage.OpList]; n != 0 {
		t.Errorf("session and commit on a warm handle listed %d times, want 0", n)
	}

	// Another handle moves the branch twice; the first handle's next
	// session still sees the new tip, and its stale commit is refused.
	other, err := Open(ctx, counting, nil)
	ok(t, err)
	stale, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, stale.SetChunk(ctx, MustPath("/a"), []uint32{1}, []byte{9}))
	var last codec.SnapshotID
	for i := range 2 {
		o, err := other.WritableSession(ctx, MainBranch)
		ok(t, err)
		ok(t, o.SetChunk(ctx, MustPath("/a"), []uint32{0}, []byte{byte(i)}))
		last, err = o.Commit(ctx, "other", nil)
		ok(t, err)
	}
	if _, err := stale.Commit(ctx, "stale", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a moved branch: got %v, want a conflict", err)
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	if tip != last {
		t.Fatalf("tip through the first handle is %s, want %s", tip, last)
	}
	fresh, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, fresh.SetChunk(ctx, MustPath("/a"), []uint32{1}, []byte{7}))
	if _, err := fresh.Commit(ctx, "after", nil); err != nil {
		t.Fatalf("commit after catching up: %v", err)
	}
}

// A handle that read the branch log knows which snapshots its entries
// named, so a rebase fetches the commits it passes at once; the hint
// follows resets and gaps without misleading the rebase.
func TestRebaseFetchesPassedCommitsFromTheBranchLog(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{8}, ChunkShape: []uint64{1}}, nil))
	base, err := s.Commit(ctx, "array", nil)
	ok(t, err)

	stale, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, stale.SetChunk(ctx, MustPath("/a"), []uint32{7}, []byte{7}))
	other, err := Open(ctx, counting, nil)
	ok(t, err)
	var passed []codec.SnapshotID
	for i := range 5 {
		o, err := other.WritableSession(ctx, MainBranch)
		ok(t, err)
		ok(t, o.SetChunk(ctx, MustPath("/a"), []uint32{uint32(i)}, []byte{byte(i)}))
		id, err := o.Commit(ctx, "other", nil)
		ok(t, err)
		passed = append(passed, id)
	}
	if _, err := stale.Commit(ctx, "stale", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a moved branch: got %v, want a conflict", err)
	}
	// The failed commit read the log up to the tip.
	if got := repo.refs.snapshotsAfter(MainBranch, base); !slices.Equal(got, passed) {
		t.Fatalf("snapshots after the base: %v, want %v", got, passed)
	}
	counting.Reset()
	ok(t, stale.Rebase(ctx, BasicConflictSolver{}))
	if n := counting.Counts().Ops[storage.OpGet]; n < int64(len(passed)) {
		t.Fatalf("rebase over %d commits made %d Gets", len(passed), n)
	}
	id, err := stale.Commit(ctx, "rebased", nil)
	ok(t, err)
	if got := repo.refs.snapshotsAfter(MainBranch, passed[len(passed)-1]); !slices.Equal(got, []codec.SnapshotID{id}) {
		t.Fatalf("after the rebased commit: %v, want [%s]", got, id)
	}

	// Another handle resets the branch to the base; a session from before
	// the reset cannot rebase onto it, whatever the hint says.
	old, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, old.SetChunk(ctx, MustPath("/a"), []uint32{6}, []byte{6}))
	ok(t, other.ResetBranch(ctx, MainBranch, base, codec.SnapshotID{}))
	if _, err := old.Commit(ctx, "stale", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit after a reset: got %v, want a conflict", err)
	}
	if err := old.Rebase(ctx, BasicConflictSolver{}); !errors.Is(err, ErrRebaseFailed) {
		t.Fatalf("rebase across a reset: got %v, want ErrRebaseFailed", err)
	}
}

// The recent entries of a branch log stay consecutive and bounded.
func TestRefsRecentEntries(t *testing.T) {
	r := newRefs(memory.New(t.Name()))
	key := branchPrefix + MainBranch
	ids := make([]codec.SnapshotID, 200)
	entry := func(slot int) storage.Entry {
		data, err := codec.EncodeRef(&codec.Ref{Snapshot: ids[slot]})
		ok(t, err)
		return storage.Entry{VersionedData: storage.VersionedData{SeqNo: storage.SeqNo(slot), Data: data}, Slot: uint64(slot)}
	}
	for i := range ids {
		ids[i] = codec.NewSnapshotID()
	}
	for slot := range 100 {
		r.noteEntry(key, entry(slot))
		r.noteEntry(key, entry(slot)) // again: no change
	}
	if got := r.snapshotsAfter(MainBranch, ids[90]); !slices.Equal(got, ids[91:100]) {
		t.Fatalf("after slot 90: %v", got)
	}
	if got := r.snapshotsAfter(MainBranch, ids[10]); got != nil {
		t.Fatalf("slot 10 is older than the %d entries kept, got %v", maxRecent, got)
	}
	r.noteEntry(key, entry(150)) // a gap: what came between is unknown
	if got := r.snapshotsAfter(MainBranch, ids[99]); got != nil {
		t.Fatalf("across a gap: %v", got)
	}
	r.noteEntry(key, entry(151))
	if got := r.snapshotsAfter(MainBranch, ids[150]); !slices.Equal(got, ids[151:152]) {
		t.Fatalf("after the gap: %v", got)
	}
}
