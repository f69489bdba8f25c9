package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// expireFixture is a repository whose main has two old commits and two
// new ones (written after cutoff), a branch and a tag on old commits, and
// a branch that forked from an old commit and has a new commit of its own:
//
//	root - o1 - o2 - n3 - n4        main
//	             \        o2        tag "old" (o2), branch "stale" (o1)
//	              n5                branch "fork"
type expireFixture struct {
	store                    storage.Storage
	repo                     *Repository
	root, o1, o2, n3, n4, n5 codec.SnapshotID
	cutoff                   time.Time
	early                    *Session // a writable session on main opened at root
	atO2                     *Session // a writable session on main opened at o2
}

func newExpireFixture(t *testing.T, store storage.Storage) *expireFixture {
	t.Helper()
	ctx := context.Background()
	f := &expireFixture{store: store}
	repo, err := Create(ctx, f.store, nil, nil)
	mustOK(t, err)
	f.repo = repo
	f.root, err = repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	f.early, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, f.early.StoreSet(ctx, "early/zarr.json", groupJSON("")))
	commit := func(branch string, version int, chunks ...int) codec.SnapshotID {
		s, err := repo.WritableSession(ctx, branch)
		mustOK(t, err)
		if version == 1 {
			addBehindArray(t, s)
		}
		gcSetChunks(t, s, version, chunks...)
		id, err := s.Commit(ctx, fmt.Sprintf("version %d", version), nil)
		mustOK(t, err)
		return id
	}
	f.o1 = commit(MainBranch, 1, 0, 1)
	f.o2 = commit(MainBranch, 2, 0)
	f.atO2, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, f.atO2, 8, 7)
	mustOK(t, repo.CreateBranch(ctx, "stale", f.o1))
	mustOK(t, repo.CreateTag(ctx, "old", f.o2))
	mustOK(t, repo.CreateBranch(ctx, "fork", f.o2))
	time.Sleep(20 * time.Millisecond)
	f.cutoff = time.Now()
	time.Sleep(20 * time.Millisecond)
	f.n3 = commit(MainBranch, 3, 0)
	f.n4 = commit(MainBranch, 4, 1)
	f.n5 = commit("fork", 5, 1)
	return f
}

// readsBack checks each commit's chunks through a fresh handle.
func readsBack(t *testing.T, store storage.Storage, when string, commits ...gcCommitted) {
	t.Helper()
	for _, c := range commits {
		s := committedSession(t, store, c.id)
		for i, v := range c.chunks {
			if got := mustGet(t, s, fmt.Sprintf("a/c/%d", i), storage.From(0)); !bytes.Equal(got, behindValue(i, v)) {
				t.Fatalf("snapshot %s chunk %d: wrong bytes %s", c.id, i, when)
			}
		}
	}
}

func ancestryIDs(t *testing.T, repo *Repository, v Version) []codec.SnapshotID {
	t.Helper()
	var out []codec.SnapshotID
	for info, err := range repo.Ancestry(context.Background(), v) {
		mustOK(t, err)
		out = append(out, info.ID)
	}
	return out
}

// sortIDs sorts ids as ExpireResult's lists are.
func sortIDs(ids ...codec.SnapshotID) []codec.SnapshotID {
	slices.SortFunc(ids, func(a, b codec.SnapshotID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

func wantIDs(t *testing.T, what string, got []codec.SnapshotID, want ...codec.SnapshotID) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// TestExpireSnapshots cuts the old history out of main and fork, keeps the
// refs that point at old snapshots with those snapshots but not the
// history behind them (as upstream does), checks that every
// kept snapshot reads as before, that a collection then deletes exactly
// the snapshots no ref reaches, and that a second expiration changes
// nothing.
func TestExpireSnapshots(t *testing.T) { onEachStore(t, testExpireSnapshots) }

func testExpireSnapshots(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	f := newExpireFixture(t, store)
	repo := f.repo

	res, err := repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: f.cutoff})
	mustOK(t, err)
	wantIDs(t, "expired", res.Expired, sortIDs(f.o1, f.o2)...)
	wantIDs(t, "rewritten", res.Rewritten, sortIDs(f.n3, f.n5, f.o2)...) // o2: the tag's own snapshot, expired
	if len(res.DeletedBranches)+len(res.DeletedTags) != 0 {
		t.Fatalf("refs deleted without being asked: %+v", res)
	}

	// Through this handle and a fresh one alike.
	fresh, err := Open(ctx, f.store, nil)
	mustOK(t, err)
	for _, r := range []*Repository{repo, fresh} {
		wantIDs(t, "main", ancestryIDs(t, r, Version{Branch: MainBranch}), f.n4, f.n3, f.root)
		wantIDs(t, "fork", ancestryIDs(t, r, Version{Branch: "fork"}), f.n5, f.root)
		wantIDs(t, "stale", ancestryIDs(t, r, Version{Branch: "stale"}), f.o1, f.root)
		wantIDs(t, "tag old", ancestryIDs(t, r, Version{Tag: "old"}), f.o2, f.root)
	}
	snap, err := fresh.assets.fetchSnapshot(ctx, f.n3)
	mustOK(t, err)
	if !snap.HistoryCut || snap.ParentID != f.root {
		t.Fatalf("n3 after expiring: parent %s, cut %v", snap.ParentID, snap.HistoryCut)
	}

	// Every snapshot still reads its own data.
	readsBack(t, f.store, "after expiring",
		gcCommitted{f.o1, map[int]int{0: 1, 1: 1}}, gcCommitted{f.o2, map[int]int{0: 2, 1: 1}},
		gcCommitted{f.n3, map[int]int{0: 3, 1: 1}}, gcCommitted{f.n4, map[int]int{0: 3, 1: 4}},
		gcCommitted{f.n5, map[int]int{0: 2, 1: 5}})

	// Diffs inside the kept history work; across the cut they fail.
	d, err := repo.Diff(ctx, Version{Snapshot: f.n3}, Version{Branch: MainBranch})
	mustOK(t, err)
	if got := d.UpdatedChunks[MustPath("/a")]; len(got) != 1 || got[0][0] != 1 {
		t.Fatalf("diff n3..n4: %+v", d)
	}
	for _, from := range []codec.SnapshotID{f.root} {
		if _, err := fresh.Diff(ctx, Version{Snapshot: from}, Version{Branch: MainBranch}); !errors.Is(err, ErrBadSnapshotChain) {
			t.Fatalf("diff across the cut: got %v, want ErrBadSnapshotChain", err)
		}
	}

	// A session based before the cut rebases over it: the branch's log, not
	// the rewritten parents, says which commits it passes, and their
	// transaction logs are all there.
	mustOK(t, f.early.Rebase(ctx, BasicConflictSolver{}))
	for i, v := range map[int]int{0: 3, 1: 4} {
		if got := mustGet(t, f.early, fmt.Sprintf("a/c/%d", i), storage.From(0)); !bytes.Equal(got, behindValue(i, v)) {
			t.Fatalf("chunk %d after rebasing across the cut: wrong bytes", i)
		}
	}
	mustGet(t, f.early, "early/zarr.json", storage.From(0))
	// Where the log cannot tell (a reset, even to the tip, is not a
	// commit), the snapshots' parents are walked, and a session based on
	// an expired snapshot cannot rebase; the error says why.
	mustOK(t, repo.ResetBranch(ctx, MainBranch, f.n4, f.n4))
	if err := f.atO2.Rebase(ctx, BasicConflictSolver{}); !errors.Is(err, ErrRebaseFailed) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("rebase of a session based on an expired snapshot: got %v, want ErrRebaseFailed saying it was expired", err)
	}

	// Again: nothing more to cut.
	again, err := fresh.ExpireSnapshots(ctx, ExpireOptions{OlderThan: f.cutoff})
	mustOK(t, err)
	if len(again.Rewritten) != 0 || len(again.Expired) != 0 {
		t.Fatalf("second expiration: %+v", again)
	}

	// The refs on old snapshots keep o1 and o2 alive; once they are
	// deleted, a collection deletes exactly those two.
	sum, err := repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	mustOK(t, err)
	if sum.SnapshotsDeleted != 0 {
		t.Fatalf("collection with the old refs in place deleted %+v", sum)
	}
	res, err = repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: f.cutoff, DeleteExpiredBranches: true, DeleteExpiredTags: true})
	mustOK(t, err)
	if !slices.Equal(res.DeletedBranches, []string{"stale"}) || !slices.Equal(res.DeletedTags, []string{"old"}) {
		t.Fatalf("deleting expired refs: %+v", res)
	}
	sum, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	mustOK(t, err)
	if sum.SnapshotsDeleted != 2 || sum.ChunksDeleted == 0 {
		t.Fatalf("collection after expiring: %+v, want o1 and o2 with their own chunks", sum)
	}
	for _, id := range []codec.SnapshotID{f.o1, f.o2} {
		if _, err := repo.ReadonlySession(ctx, Version{Snapshot: id}); !errors.Is(err, ErrSnapshotNotFound) {
			t.Fatalf("expired snapshot %s after collecting: %v", id, err)
		}
	}
	readsBack(t, f.store, "after collecting", gcCommitted{f.n4, map[int]int{0: 3, 1: 4}}, gcCommitted{f.n5, map[int]int{0: 2, 1: 5}})
	branches, err := repo.ListBranches(ctx)
	mustOK(t, err)
	if !slices.Equal(branches, []string{"fork", MainBranch}) {
		t.Fatalf("branches: %v", branches)
	}
}

// TestExpireSnapshotsKeepsMain checks that main is never deleted, even
// when its tip is expired (it keeps the tip, not its history), and that a
// cutoff before everything cuts nothing.
func TestExpireSnapshotsKeepsMain(t *testing.T) {
	ctx := context.Background()
	f := newExpireFixture(t, memory.New("expire"))
	res, err := f.repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: time.Now().Add(-time.Hour)})
	mustOK(t, err)
	if len(res.Expired)+len(res.Rewritten)+len(res.DeletedBranches)+len(res.DeletedTags) != 0 {
		t.Fatalf("a cutoff before every commit expired %+v", res)
	}
	res, err = f.repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: time.Now().Add(time.Hour), DeleteExpiredBranches: true, DeleteExpiredTags: true})
	mustOK(t, err)
	wantIDs(t, "expired", res.Expired, sortIDs(f.o1, f.o2, f.n3, f.n4, f.n5)...) // n4: main's tip, kept; n5: fork's, deleted
	if !slices.Equal(res.Rewritten, []codec.SnapshotID{f.n4}) || !slices.Equal(res.DeletedBranches, []string{"fork", "stale"}) || !slices.Equal(res.DeletedTags, []string{"old"}) {
		t.Fatalf("a cutoff after every commit: %+v", res)
	}
	// main keeps its tip, which reads as before, but not the history behind it.
	wantIDs(t, "main", ancestryIDs(t, f.repo, Version{Branch: MainBranch}), f.n4, f.root)
	readsBack(t, f.store, "after expiring main's tip", gcCommitted{f.n4, map[int]int{0: 3, 1: 4}})
	if _, err := f.repo.ExpireSnapshots(ctx, ExpireOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no cutoff: got %v, want ErrInvalidArgument", err)
	}
}

// racingStore runs race once, at the first Sync: the expiration syncs its
// rewritten snapshots after reading every ref and before deleting any, so
// race is a writer that moves a branch in between.
type racingStore struct {
	storage.Storage
	race func()
	once sync.Once
}

func (s *racingStore) Sync(ctx context.Context) error {
	s.once.Do(s.race)
	return s.Storage.Sync(ctx)
}

// TestExpireSnapshotsKeepsABranchThatMoved checks that a branch found
// expired is not deleted if a commit lands on it before the delete.
func TestExpireSnapshotsKeepsABranchThatMoved(t *testing.T) {
	ctx := context.Background()
	f := newExpireFixture(t, memory.New("expire-race"))
	var landed codec.SnapshotID
	store := &racingStore{Storage: f.store, race: func() {
		s, err := f.repo.WritableSession(ctx, "stale")
		mustOK(t, err)
		gcSetChunks(t, s, 9, 5)
		landed, err = s.Commit(ctx, "lands while the branch is expired", nil)
		mustOK(t, err)
	}}
	repo, err := Open(ctx, store, nil)
	mustOK(t, err)
	res, err := repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: f.cutoff, DeleteExpiredBranches: true})
	mustOK(t, err)
	if landed.IsZero() || slices.Contains(res.DeletedBranches, "stale") {
		t.Fatalf("the commit landed (%v) and stale was reported deleted: %+v", !landed.IsZero(), res)
	}
	tip, err := repo.LookupBranch(ctx, "stale")
	mustOK(t, err)
	if tip != landed {
		t.Fatalf("stale is at %s, want the commit that landed, %s", tip, landed)
	}
}

// TestExpireSnapshotsWalksSharedHistoryOnce checks that refs sharing a
// history cost one walk of it, not one per ref: ten branches at main's tip
// over forty commits, with no snapshot cache.
func TestExpireSnapshotsWalksSharedHistoryOnce(t *testing.T) {
	ctx := context.Background()
	repo, _ := uncachedHistory(t, 40)
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	for i := range 10 {
		mustOK(t, repo.CreateBranch(ctx, fmt.Sprint("b", i), tip))
	}
	cold, snapshotGets := countedSnapshotReads(t, repo)
	res, err := cold.ExpireSnapshots(ctx, ExpireOptions{OlderThan: time.Now().Add(-time.Hour)})
	mustOK(t, err)
	if len(res.Expired)+len(res.Rewritten) != 0 {
		t.Fatalf("nothing is old, yet: %+v", res)
	}
	// Each ref's tip is read once, and the history below main's tip once.
	if gets := snapshotGets(); gets > 41+11 {
		t.Fatalf("%d snapshot reads for 41 snapshots shared by 11 refs", gets)
	}
}

// uncachedHistory makes a repository in memory whose handles keep no
// snapshot cached (every walk step is a read), with n commits on main
// after the initial snapshot, which it returns.
func uncachedHistory(t *testing.T, n int) (*Repository, codec.SnapshotID) {
	t.Helper()
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	cfg.SnapshotCacheBytes = 1
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	mustOK(t, err)
	initial, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	for i := range n {
		s, err := repo.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON(fmt.Sprintf(`"n":%d`, i))))
		_, err = s.Commit(ctx, fmt.Sprint("commit ", i), nil)
		mustOK(t, err)
	}
	return repo, initial
}

// countedSnapshotReads opens a new handle on repo's storage that counts
// requests, and returns it with a function giving the snapshot reads made
// through it so far.
func countedSnapshotReads(t *testing.T, repo *Repository) (*Repository, func() int) {
	t.Helper()
	counting := storage.NewCounting(repo.Storage())
	cold, err := Open(context.Background(), counting, nil)
	mustOK(t, err)
	counting.Record(true)
	return cold, func() int {
		gets := 0
		for _, c := range counting.Calls() {
			if c.Op == storage.OpGet && strings.HasPrefix(c.Key, codec.SnapshotsPrefix) {
				gets++
			}
		}
		return gets
	}
}

// TestDiffReadsEachSnapshotOnce checks that checking a diff's range for an
// expired history costs no read of its own: with no snapshot cache, each
// snapshot of the range is read once by the walk.
func TestDiffReadsEachSnapshotOnce(t *testing.T) {
	ctx := context.Background()
	repo, from := uncachedHistory(t, 20)
	cold, snapshotGets := countedSnapshotReads(t, repo)
	d, err := cold.Diff(ctx, Version{Snapshot: from}, Version{Branch: MainBranch})
	mustOK(t, err)
	if len(d.UpdatedGroups) != 1 {
		t.Fatalf("diff: %+v", d)
	}
	// Resolving from reads it; the walk from the tip reads the 20 commits
	// and from again.
	if gets := snapshotGets(); gets > 22 {
		t.Fatalf("%d snapshot reads for a diff over 20 commits", gets)
	}
}

// TestExpireSnapshotsCountsTheHistoryOfDeletedRefs checks that the
// history of a branch deleted for its expired tip counts as expired, and
// that a ref kept at an expired snapshot keeps it without its history.
func TestExpireSnapshotsCountsTheHistoryOfDeletedRefs(t *testing.T) {
	ctx := context.Background()
	for _, keepTag := range []bool{false, true} {
		repo, err := Create(ctx, memory.New("expire-deleted"), nil, nil)
		mustOK(t, err)
		commit := func(branch, name string) codec.SnapshotID {
			s, err := repo.WritableSession(ctx, branch)
			mustOK(t, err)
			mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON(fmt.Sprintf(`"v":%q`, name))))
			id, err := s.Commit(ctx, name, nil)
			mustOK(t, err)
			return id
		}
		a := commit(MainBranch, "a")
		mustOK(t, repo.CreateBranch(ctx, "side", a))
		b := commit("side", "b")
		if keepTag {
			mustOK(t, repo.CreateTag(ctx, "at-b", b))
		}
		time.Sleep(20 * time.Millisecond)
		cutoff := time.Now()
		time.Sleep(20 * time.Millisecond)
		commit(MainBranch, "c")

		res, err := repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: cutoff, DeleteExpiredBranches: true})
		mustOK(t, err)
		wantNames(t, "deleted branches", res.DeletedBranches, "side")
		if keepTag {
			// b stays the tag's, its history cut: counted, as upstream does.
			wantIDs(t, "expired with a tag kept at b", res.Expired, sortIDs(a, b)...)
			main := ancestryIDs(t, repo, Version{Branch: MainBranch})
			initial := main[len(main)-1]
			ids := ancestryIDs(t, repo, Version{Tag: "at-b"})
			if len(ids) != 2 || ids[0] != b || ids[1] != initial {
				t.Fatalf("tag at-b after expiring: %v, want b then the initial snapshot", ids)
			}
		} else {
			want := []codec.SnapshotID{a, b}
			slices.SortFunc(want, func(x, y codec.SnapshotID) int { return bytes.Compare(x[:], y[:]) })
			wantIDs(t, "expired", res.Expired, want...)
		}
	}
}

func wantNames(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}
