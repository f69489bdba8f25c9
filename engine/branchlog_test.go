package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/google/uuid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// getsByKind counts the recorded Gets of snapshots, transaction logs and
// ref entries.
func getsByKind(calls []storage.Call) (snapshots, txlogs, refs int) {
	for _, c := range calls {
		if c.Op != storage.OpGet {
			continue
		}
		switch {
		case strings.HasPrefix(c.Key, codec.SnapshotsPrefix):
			snapshots++
		case strings.HasPrefix(c.Key, codec.TransactionsPrefix):
			txlogs++
		case strings.HasPrefix(c.Key, codec.RefsPrefix):
			refs++
		}
	}
	return snapshots, txlogs, refs
}

// rebaseRecording rebases s with solver and returns the storage calls it
// made.
func rebaseRecording(t *testing.T, counting *storage.Counting, s *Session, solver ConflictSolver) ([]storage.Call, error) {
	t.Helper()
	counting.Reset()
	counting.Record(true)
	defer counting.Record(false)
	err := s.Rebase(context.Background(), solver)
	return counting.Calls(), err
}

// TestRebaseFindsCommitsInTheBranchLog checks that a rebase takes the
// commits it passes from the branch's log: it reads no snapshot, reads the
// transaction log only of a commit too large to carry it in its entry, and
// through a handle that has not seen the log reads its entries instead.
func TestRebaseFindsCommitsInTheBranchLog(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	ok(t, err)
	a := MustPath("/a")
	setup, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, setup.AddArray(ctx, a, ArrayMeta{Shape: []uint64{100}, ChunkShape: []uint64{1}}, nil))
	commit(t, setup, "array")

	mine, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, mine, "/a", 99, "mine")
	clash, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, clash, "/a", 2, "clash")

	var ids []codec.SnapshotID
	for c := range 5 {
		other, err := repo.WritableSession(ctx, MainBranch)
		ok(t, err)
		setRef(t, other, "/a", uint32(2*c), fmt.Sprint("other ", c))
		setRef(t, other, "/a", uint32(2*c+1), fmt.Sprint("other ", c))
		ids = append(ids, commit(t, other, fmt.Sprint("other ", c)))
	}
	// A commit whose transaction log is too large for its log entry:
	// groups with random names compress poorly.
	big, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	for range 300 {
		ok(t, big.AddGroup(ctx, MustPath("/g-"+uuid.NewString()), nil))
	}
	bigID := commit(t, big, "many groups")
	if data, err := counting.Get(ctx, codec.TransactionLogKey(bigID)); err != nil || len(data) <= codec.MaxInlineTxLog {
		t.Fatalf("the large commit's transaction log: %d bytes, %v; want more than %d", len(data), err, codec.MaxInlineTxLog)
	}

	// Through a fresh handle, as another process would: the log's entries
	// are read, but none of the snapshots.
	fresh, err := Open(ctx, counting, nil)
	ok(t, err)
	mineBytes, err := mine.Bytes(ctx)
	ok(t, err)
	mineFresh, err := fresh.SessionFromBytes(mineBytes)
	ok(t, err)
	calls, err := rebaseRecording(t, counting, mineFresh, BasicConflictSolver{})
	ok(t, err)
	if snaps, txlogs, refs := getsByKind(calls); snaps != 0 || txlogs != 1 || refs < 6 {
		t.Fatalf("rebase through a fresh handle read %d snapshots, %d transaction logs and %d log entries; want 0, 1 (the large commit's) and every entry: %v", snaps, txlogs, refs, calls)
	}

	// Through the handle that wrote the commits, the entries are known too:
	// only the tip is looked up.
	calls, err = rebaseRecording(t, counting, mine, BasicConflictSolver{})
	ok(t, err)
	if snaps, txlogs, refs := getsByKind(calls); snaps != 0 || txlogs > 1 || refs > 1 {
		t.Fatalf("rebase through the writing handle read %d snapshots, %d transaction logs and %d log entries: %v", snaps, txlogs, refs, calls)
	}
	id := commit(t, mine, "mine")
	after, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
	ok(t, err)
	for c := range 5 {
		if got := chunkBytes(t, after, "/a", uint32(2*c+1)); got != fmt.Sprint("other ", c) {
			t.Fatalf("chunk %d after the rebased commit: %q", 2*c+1, got)
		}
	}
	if got := chunkBytes(t, after, "/a", 99); got != "mine" {
		t.Fatalf("the rebased session's own chunk: %q", got)
	}

	// A conflict still names the commit and its message: the snapshot is
	// read for it, and only then (through a handle that has not cached
	// it).
	fresh, err = Open(ctx, counting, nil)
	ok(t, err)
	clashBytes, err := clash.Bytes(ctx)
	ok(t, err)
	clashFresh, err := fresh.SessionFromBytes(clashBytes)
	ok(t, err)
	calls, err = rebaseRecording(t, counting, clashFresh, ConflictDetector{})
	var rf *RebaseFailedError
	if !errors.As(err, &rf) || rf.Snapshot != ids[1] || len(rf.Conflicts) != 1 {
		t.Fatalf("rebase over a double update: got %v, want a conflict with commit %s", err, ids[1])
	}
	if c := rf.Conflicts[0]; c.Kind != ChunkDoubleUpdate || c.Path != a || c.Commit != ids[1] || c.CommitMessage != "other 1" {
		t.Fatalf("conflict: %+v", c)
	}
	if snaps, _, _ := getsByKind(calls); snaps == 0 {
		t.Fatal("a conflict named the commit's message without reading its snapshot")
	}
}

// TestRebaseWhereTheLogCannotTell checks the walk over the snapshots'
// parents, which a rebase falls back to when the branch's log has an entry
// that is not a commit: a reset to a descendant of the session's base
// rebases, and a reset elsewhere fails and says so.
func TestRebaseWhereTheLogCannotTell(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	p := "/foo/bar/some-array"
	mine, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, mine, p, 4, "mine")
	base := mine.SnapshotID()

	// A snapshot on the base that no commit wrote to the branch: a flush,
	// then a reset of main to it.
	flushing, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, flushing, p, 0, "flushed")
	flushed, err := flushing.Flush(ctx, "flushed", nil)
	ok(t, err)
	ok(t, repo.ResetBranch(ctx, MainBranch, flushed, base))
	ok(t, mine.Rebase(ctx, BasicConflictSolver{}))
	if mine.SnapshotID() != flushed {
		t.Fatalf("rebased onto %s, want the reset tip %s", mine.SnapshotID(), flushed)
	}
	if got := chunkBytes(t, mine, p, 0); got != "flushed" {
		t.Fatalf("chunk 0 after rebasing over the reset: %q", got)
	}

	// A reset to a snapshot that does not descend from the base.
	other, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, other, p, 1, "other")
	commit(t, other, "other")
	ok(t, repo.ResetBranch(ctx, MainBranch, base, codec.SnapshotID{}))
	err = mine.Rebase(ctx, BasicConflictSolver{})
	if !errors.Is(err, ErrRebaseFailed) || !strings.Contains(err.Error(), "was reset") {
		t.Fatalf("rebase after a reset away from the base: got %v, want ErrRebaseFailed saying the branch was reset", err)
	}
}

// sessionBehindMain makes a repository in store whose main holds the array
// /a of 100 one-element chunks (log entry 1; entry 0 is the repository's
// creation), and returns a session on it with chunk 99 written, behind
// main by n commits that each wrote chunk c as "other" (entries 2 on).
func sessionBehindMain(t *testing.T, store storage.Storage, n int) *Session {
	t.Helper()
	ctx := context.Background()
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	setup, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, setup.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{100}, ChunkShape: []uint64{1}}, nil))
	commit(t, setup, "array")
	mine, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, mine, "/a", 99, "mine")
	for c := range n {
		other, err := repo.WritableSession(ctx, MainBranch)
		ok(t, err)
		setRef(t, other, "/a", uint32(c), "other")
		commit(t, other, "other")
	}
	return mine
}

// pairedGets holds each Get of a ref entry until another is in flight (or
// 200 ms have passed) and records the most in flight at once.
type pairedGets struct {
	storage.Storage
	mu       sync.Mutex
	inFlight int
	most     int
	arrived  chan struct{}
}

func (p *pairedGets) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, codec.RefsPrefix) {
		p.mu.Lock()
		p.inFlight++
		p.most = max(p.most, p.inFlight)
		p.mu.Unlock()
		select {
		case p.arrived <- struct{}{}:
		case <-p.arrived:
		case <-time.After(200 * time.Millisecond):
		}
		defer func() {
			p.mu.Lock()
			p.inFlight--
			p.mu.Unlock()
		}()
	}
	return p.Storage.Get(ctx, key)
}

// TestRebaseReadsTheLogInBatches checks that a walk back through entries
// the handle has not seen reads several at once.
func TestRebaseReadsTheLogInBatches(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	mine := sessionBehindMain(t, store, 20)
	mineBytes, err := mine.Bytes(ctx)
	ok(t, err)

	gate := &pairedGets{Storage: store, arrived: make(chan struct{})}
	fresh, err := Open(ctx, gate, nil)
	ok(t, err)
	mineFresh, err := fresh.SessionFromBytes(mineBytes)
	ok(t, err)
	ok(t, mineFresh.Rebase(ctx, BasicConflictSolver{}))
	if gate.most < 2 {
		t.Fatalf("the walk back through the log read one entry at a time")
	}
	for c := range 20 {
		if got := chunkBytes(t, mineFresh, "/a", uint32(c)); got != "other" {
			t.Fatalf("chunk %d after the rebase: %q", c, got)
		}
	}
}

// TestBranchLogKeepsTheNewestEntries checks the bound on the entries kept
// of a branch log: past it, the oldest half goes.
func TestBranchLogKeepsTheNewestEntries(t *testing.T) {
	r := newRefs(memory.New(t.Name()))
	const key = "branch.main"
	snaps := make([]codec.SnapshotID, recentEntries+1)
	for slot := range uint64(recentEntries + 1) {
		snaps[slot] = codec.NewSnapshotID()
		ref := &codec.Ref{Snapshot: snaps[slot]}
		if slot > 0 {
			ref.Parent = snaps[slot-1] // a commit: indexed by its snapshot
		}
		data, err := codec.EncodeRef(ref)
		ok(t, err)
		r.keep(key, storage.Entry{Slot: slot, VersionedData: storage.VersionedData{Data: data}})
	}
	kept := r.recent[key]
	if len(kept) != recentEntries/2 {
		t.Fatalf("kept %d entries, want %d", len(kept), recentEntries/2)
	}
	for slot := uint64(recentEntries/2 + 1); slot <= recentEntries; slot++ {
		if e, found := kept[slot]; !found || e.err != nil || e.ref.Snapshot != snaps[slot] {
			t.Fatalf("entry %d: kept %v, %+v", slot, found, e)
		}
	}
	// The index of commits by snapshot follows what is kept.
	if len(r.commits) != recentEntries/2 {
		t.Fatalf("%d commits indexed, want the %d kept", len(r.commits), recentEntries/2)
	}
	if _, _, _, found := r.entryOf(snaps[1]); found {
		t.Fatal("a forgotten entry is still found by its snapshot")
	}
	if k, slot, ref, found := r.entryOf(snaps[recentEntries]); !found || k != key || slot != recentEntries || ref.Snapshot != snaps[recentEntries] {
		t.Fatalf("the newest entry by its snapshot: %v %q %d %+v", found, k, slot, ref)
	}
}

func TestBranchLogForgetsADeletedBranch(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	snap, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	ok(t, repo.CreateBranch(ctx, "scratch", snap))
	for i := range 3 {
		s, err := repo.WritableSession(ctx, "scratch")
		ok(t, err)
		ok(t, s.AddGroup(ctx, MustPath(fmt.Sprint("/g", i)), nil))
		commit(t, s, fmt.Sprint("group ", i))
	}
	key := branchPrefix + "scratch"
	if n := len(repo.refs.recent[key]); n != 4 {
		t.Fatalf("kept %d entries of the branch before deleting it, want 4 (its creation and 3 commits)", n)
	}
	ok(t, repo.DeleteBranch(ctx, "scratch"))
	kept := repo.refs.recent[key]
	if len(kept) != 1 {
		t.Fatalf("kept %d entries of a deleted branch, want only its tombstone", len(kept))
	}
	for _, e := range kept {
		if e.ref != nil || e.err != nil {
			t.Fatalf("the entry kept of a deleted branch is %+v, want the empty tombstone", e)
		}
	}
	for id, pos := range repo.refs.commits {
		if pos.key == key {
			t.Fatalf("commit %s of the deleted branch is still indexed", id)
		}
	}
	// Made again, the branch starts afresh and commits on it rebase as usual.
	ok(t, repo.CreateBranch(ctx, "scratch", snap))
	a, err := repo.WritableSession(ctx, "scratch")
	ok(t, err)
	ok(t, a.AddGroup(ctx, MustPath("/a"), nil))
	b, err := repo.WritableSession(ctx, "scratch")
	ok(t, err)
	ok(t, b.AddGroup(ctx, MustPath("/b"), nil))
	commit(t, a, "a")
	ok(t, b.Rebase(ctx, BasicConflictSolver{}))
	commit(t, b, "b")
	if n := len(repo.refs.recent[key]); n != 4 {
		t.Fatalf("kept %d entries of the branch made again, want 4 (tombstone, creation, 2 commits)", n)
	}
}

// A read back through a log keeps entries newest first, so the tombstone
// of a deleted branch can come after the entries of the branch made
// again: those are newer and stay kept, and walks still find the commits
// they name.
func TestBranchLogKeepsEntriesNewerThanATombstoneReadLater(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	snap, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	ok(t, repo.CreateBranch(ctx, "scratch", snap)) // entry 0
	s, err := repo.WritableSession(ctx, "scratch")
	ok(t, err)
	ok(t, s.AddGroup(ctx, MustPath("/old"), nil))
	commit(t, s, "old")                            // entry 1
	ok(t, repo.DeleteBranch(ctx, "scratch"))       // entry 2, the tombstone
	ok(t, repo.CreateBranch(ctx, "scratch", snap)) // entry 3
	var made []codec.SnapshotID
	for i := range 3 { // entries 4 to 6
		s, err := repo.WritableSession(ctx, "scratch")
		ok(t, err)
		ok(t, s.AddGroup(ctx, MustPath(fmt.Sprint("/new", i)), nil))
		made = append(made, commit(t, s, fmt.Sprint("new ", i)))
	}

	fresh, err := Open(ctx, store, nil)
	ok(t, err)
	key := branchPrefix + "scratch"
	for _, slot := range []uint64{6, 5, 4, 3, 2} {
		e, err := fresh.refs.consensus.EntryAt(ctx, key, slot)
		ok(t, err)
		fresh.refs.keep(key, e)
	}
	for i, id := range made {
		if _, slot, _, found := fresh.refs.entryOf(id); !found || slot != uint64(4+i) {
			t.Fatalf("commit %d of the branch made again: found %v at entry %d, want entry %d", i, found, slot, 4+i)
		}
	}
	if n := len(fresh.refs.recent[key]); n != 5 {
		t.Fatalf("kept %d entries, want the 5 read", n)
	}
}

// TestRebaseOverACorruptLogEntry checks that a damaged entry on the way
// back from the tip fails the rebase with ErrCorrupt naming the branch,
// and leaves the session as it was.
func TestRebaseOverACorruptLogEntry(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	mine := sessionBehindMain(t, store, 3) // the other commits are entries 2 to 4
	slotKey := fmt.Sprintf("%s%s%s/%020d", codec.RefsPrefix, branchPrefix, MainBranch, uint64(math.MaxUint64-3))
	ok(t, store.Delete(ctx, slotKey))
	ok(t, store.PutIfAbsent(ctx, slotKey, []byte("not an entry")))

	mineBytes, err := mine.Bytes(ctx)
	ok(t, err)
	fresh, err := Open(ctx, store, nil)
	ok(t, err)
	mineFresh, err := fresh.SessionFromBytes(mineBytes)
	ok(t, err)
	err = mineFresh.Rebase(ctx, BasicConflictSolver{})
	if !errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), `branch "main"`) {
		t.Fatalf("rebase over a corrupt entry: got %v, want ErrCorrupt naming the branch", err)
	}
	if mineFresh.SnapshotID() != mine.SnapshotID() || chunkBytes(t, mineFresh, "/a", 99) != "mine" {
		t.Fatal("a failed rebase changed the session")
	}
}

// readBack keeps the newest entries of a log, as many as asked for
// (rounded up to whole batches), or all of a shorter log.
func TestBranchLogReadBack(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	mainWithCommits(t, store, 40, withPlaces) // entries 0 (the initial snapshot) to 40
	key := branchPrefix + MainBranch
	for _, tc := range []struct {
		depth    uint64
		min, max int
	}{{1, 2, 1 + walkBatch}, {10, 11, 11 + walkBatch}, {1000, 41, 41}} {
		fresh, err := Open(ctx, store, nil)
		ok(t, err)
		fresh.refs.readBack(ctx, key, tc.depth)
		kept := fresh.refs.recent[key]
		if len(kept) < tc.min || len(kept) > tc.max {
			t.Fatalf("read back %d: kept %d entries, want %d to %d", tc.depth, len(kept), tc.min, tc.max)
		}
		for slot := uint64(40); slot > 40-uint64(tc.min-1); slot-- {
			if _, found := kept[slot]; !found {
				t.Fatalf("read back %d: entry %d not kept", tc.depth, slot)
			}
		}
	}
}

// checkLogPlace fails unless snapshot id records the place of its
// commit's entry in branch's log: the entry there names id, as a commit.
func checkLogPlace(t *testing.T, store storage.Storage, branch string, id codec.SnapshotID) {
	t.Helper()
	ctx := context.Background()
	fresh, err := Open(ctx, store, nil)
	ok(t, err)
	snap, err := fresh.assets.fetchSnapshot(ctx, id)
	ok(t, err)
	if snap.LogBranch != branch || snap.LogSlot == 0 {
		t.Fatalf("snapshot %s records log place %q slot %d, want a slot of branch %q", id, snap.LogBranch, snap.LogSlot, branch)
	}
	ref, err := fresh.refs.entryAt(ctx, branchPrefix+branch, snap.LogSlot)
	ok(t, err)
	if ref == nil || ref.Snapshot != id || ref.Parent.IsZero() {
		t.Fatalf("snapshot %s records slot %d of branch %q, which holds %+v", id, snap.LogSlot, branch, ref)
	}
}

// A commit's snapshot records where its entry lands in the branch log:
// after a commit that landed (the tip read beside the writes), after one
// that found the branch moved and rebased (the tip read first),
// on a branch deleted and made again (its log goes on past the
// tombstone), and on a fresh handle. A flush moves no branch and records
// nothing.
func TestCommitsRecordTheirLogPlaces(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	other, err := Open(ctx, store, nil)
	ok(t, err)
	commit := func(repo *Repository, branch, group string) codec.SnapshotID {
		t.Helper()
		s, err := repo.WritableSession(ctx, branch)
		ok(t, err)
		ok(t, s.StoreSet(ctx, group+"/zarr.json", groupJSON("")))
		id, err := s.CommitRebasing(ctx, BasicConflictSolver{}, group, nil, RetryOptions{Attempts: 3})
		ok(t, err)
		return id
	}

	for i := range 3 { // the second and third read the tip beside their writes
		checkLogPlace(t, store, MainBranch, commit(repo, MainBranch, fmt.Sprintf("a%d", i)))
	}
	// A session opened before another writer's commit finds the branch
	// moved, rebases, and lands with the tip read first.
	behind, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, behind.StoreSet(ctx, "b/zarr.json", groupJSON("")))
	checkLogPlace(t, store, MainBranch, commit(other, MainBranch, "c"))
	rebases := 0
	id, err := behind.CommitRebasing(ctx, BasicConflictSolver{}, "b", nil, RetryOptions{Attempts: 3, BeforeRebase: func(int) { rebases++ }})
	ok(t, err)
	if rebases != 1 {
		t.Fatalf("the commit behind another writer's rebased %d times, want once", rebases)
	}
	checkLogPlace(t, store, MainBranch, id)
	checkLogPlace(t, store, MainBranch, commit(repo, MainBranch, "d"))

	tip, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	ok(t, repo.CreateBranch(ctx, "dev", tip))
	checkLogPlace(t, store, "dev", commit(repo, "dev", "e"))
	ok(t, repo.DeleteBranch(ctx, "dev"))
	ok(t, repo.CreateBranch(ctx, "dev", codec.InitialSnapshotID))
	checkLogPlace(t, store, "dev", commit(repo, "dev", "f"))

	fresh, err := Open(ctx, store, nil)
	ok(t, err)
	checkLogPlace(t, store, "dev", commit(fresh, "dev", "g"))

	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.StoreSet(ctx, "h/zarr.json", groupJSON("")))
	flushed, err := s.Flush(ctx, "anonymous", nil)
	ok(t, err)
	snap, err := repo.assets.fetchSnapshot(ctx, flushed)
	ok(t, err)
	if snap.LogBranch != "" || snap.LogSlot != 0 {
		t.Fatalf("a flushed snapshot records log place %q slot %d", snap.LogBranch, snap.LogSlot)
	}
}

// TestCorruptHeadEntryHidesNoOtherBranch checks that a branch whose head
// entry is damaged is still listed beside the others, that using it fails
// with ErrCorrupt naming it, and that a garbage collection, which must know
// every tip, refuses to run. With main's head damaged the repository still
// opens, and its tags and other branches read.
func TestCorruptHeadEntryHidesNoOtherBranch(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	mainWithCommits(t, store, 2, withPlaces)
	repo, err := Open(ctx, store, nil)
	ok(t, err)
	tip, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	for _, b := range []string{"dev", "feature"} {
		ok(t, repo.CreateBranch(ctx, b, tip))
	}
	ok(t, repo.CreateTag(ctx, "v1", tip))
	corrupt := func(branch string, slot uint64) {
		key := fmt.Sprintf("%s%s%s/%020d", codec.RefsPrefix, branchPrefix, branch, uint64(math.MaxUint64)-(slot-1))
		ok(t, store.Delete(ctx, key))
		ok(t, store.PutIfAbsent(ctx, key, []byte("not an entry")))
	}
	corrupt("dev", 1)

	fresh, err := Open(ctx, store, nil)
	ok(t, err)
	names, err := fresh.ListBranches(ctx)
	ok(t, err)
	if !slices.Equal(names, []string{"dev", "feature", MainBranch}) {
		t.Fatalf("branches with dev damaged: %v", names)
	}
	if _, err := fresh.LookupBranch(ctx, "dev"); !errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), `branch "dev"`) {
		t.Fatalf("lookup of the damaged branch: got %v, want ErrCorrupt naming it", err)
	}
	if _, err := fresh.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now()}); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("garbage collection with a damaged branch: got %v, want ErrCorrupt", err)
	}

	corrupt(MainBranch, 3) // main's head: the creation and two commits
	if yes, err := Exists(ctx, store); err != nil || !yes {
		t.Fatalf("exists with main damaged: %v, %v", yes, err)
	}
	fresh, err = Open(ctx, store, nil)
	ok(t, err)
	names, err = fresh.ListBranches(ctx)
	ok(t, err)
	if !slices.Equal(names, []string{"dev", "feature", MainBranch}) {
		t.Fatalf("branches with main damaged: %v", names)
	}
	if _, err := fresh.LookupBranch(ctx, MainBranch); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("lookup of main: got %v, want ErrCorrupt", err)
	}
	for _, read := range []func() (codec.SnapshotID, error){
		func() (codec.SnapshotID, error) { return fresh.LookupTag(ctx, "v1") },
		func() (codec.SnapshotID, error) { return fresh.LookupBranch(ctx, "feature") },
	} {
		if got, err := read(); err != nil || got != tip {
			t.Fatalf("a tag or branch beside a damaged main: %v, %v", got, err)
		}
	}
	if _, err := Create(ctx, store, nil, nil); !errors.Is(err, ErrRepositoryExists) {
		t.Fatalf("create over a damaged main: got %v, want ErrRepositoryExists", err)
	}
}
