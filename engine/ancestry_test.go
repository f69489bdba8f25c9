package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// slowSnapshots makes each snapshot read take a while, as a round trip to
// an object store does, and counts them: all, in flight, most at once. It
// also counts the reads of anything in flight (anyNow), and makes the
// other reads take logDelay.
type slowSnapshots struct {
	storage.Storage
	mu               sync.Mutex
	reads, now, most int
	anyNow           int
	delay, logDelay  time.Duration
	readsByID        map[string]int
}

func (s *slowSnapshots) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	s.anyNow++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.anyNow--
		s.mu.Unlock()
	}()
	if !strings.HasPrefix(key, codec.SnapshotsPrefix) {
		if s.logDelay > 0 {
			select {
			case <-time.After(s.logDelay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return s.Storage.Get(ctx, key)
	}
	s.mu.Lock()
	s.reads++
	s.readsByID[key]++
	s.now++
	s.most = max(s.most, s.now)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.now--
		s.mu.Unlock()
	}()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Storage.Get(ctx, key)
}

// openSlow opens a fresh handle on base whose snapshot reads take delay.
func openSlow(t testing.TB, base storage.Storage, delay time.Duration) (*Repository, *slowSnapshots) {
	t.Helper()
	slow := &slowSnapshots{Storage: base, delay: delay, readsByID: map[string]int{}}
	repo, err := Open(context.Background(), slow, nil)
	if err != nil {
		t.Fatalf("opening the repository: %+v", err)
	}
	return repo, slow
}

func (s *slowSnapshots) counts() (reads, now, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.now, s.most
}

// logPlaces says whether a test's history records each commit's place in
// its branch log in the snapshot (codec.Snapshot.LogSlot), as the library
// writes it, or not, as builds before it did: walks through such history
// must search the logs instead.
type logPlaces bool

const (
	withPlaces    logPlaces = true
	withoutPlaces logPlaces = false
)

// mainWithCommits makes a repository whose main has n commits after its
// initial snapshot.
func mainWithCommits(t testing.TB, store storage.Storage, n int, places logPlaces) {
	t.Helper()
	repo, err := Create(context.Background(), store, nil, nil)
	if err != nil {
		t.Fatalf("making the repository: %+v", err)
	}
	repo.noLogPlaces = !bool(places)
	commitGroups(t, repo, MainBranch, 0, n)
}

// commitGroups makes n commits on branch, the i-th (from from on) adding
// group g<i> with the message "commit <i>".
func commitGroups(t testing.TB, repo *Repository, branch string, from, n int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i++ {
		s, err := repo.WritableSession(ctx, branch)
		if err == nil {
			err = s.StoreSet(ctx, fmt.Sprintf("g%d/zarr.json", i), groupJSON(""))
		}
		if err == nil {
			_, err = s.Commit(ctx, fmt.Sprintf("commit %d", i), nil)
		}
		if err != nil {
			t.Fatalf("making the history: %+v", err)
		}
	}
}

// workHistory makes a repository on store with a branch "work" of n
// commits made from the initial snapshot, and returns a handle on it and
// work's tip.
func workHistory(t testing.TB, store storage.Storage, n int, places logPlaces) (*Repository, codec.SnapshotID) {
	t.Helper()
	ctx := context.Background()
	repo, err := Create(ctx, store, nil, nil)
	if err == nil {
		repo.noLogPlaces = !bool(places)
		err = repo.CreateBranch(ctx, "work", codec.InitialSnapshotID)
	}
	if err != nil {
		t.Fatalf("making the repository: %+v", err)
	}
	commitGroups(t, repo, "work", 0, n)
	tip, err := repo.LookupBranch(ctx, "work")
	if err != nil {
		t.Fatalf("reading work's tip: %+v", err)
	}
	return repo, tip
}

// mainHistory makes a repository whose main has n commits after its
// initial snapshot, and returns its store, a handle on it and main's
// history, newest first.
func mainHistory(t *testing.T, n int, places logPlaces) (*memory.Store, *Repository, []codec.SnapshotID) {
	t.Helper()
	base := memory.New(t.Name())
	mainWithCommits(t, base, n, places)
	repo, err := Open(context.Background(), base, nil)
	mustOK(t, err)
	repo.noLogPlaces = !bool(places)
	return base, repo, ancestryIDs(t, repo, Version{Branch: MainBranch})
}

// parentsOf returns id and its ancestors, newest first, read one parent
// after another: the history a walk must yield, whatever logs say.
func parentsOf(t *testing.T, repo *Repository, id codec.SnapshotID) []codec.SnapshotID {
	t.Helper()
	var out []codec.SnapshotID
	for !id.IsZero() {
		info, err := repo.SnapshotInfo(context.Background(), id)
		mustOK(t, err)
		out = append(out, id)
		id = info.ParentID
	}
	return out
}

// mainWithTag makes a repository whose main has n commits after its
// initial snapshot, and a tag on the commit back steps behind main's tip.
// It returns the store and main's history, newest first.
func mainWithTag(t *testing.T, n int, tag string, back int, places logPlaces) (*memory.Store, []codec.SnapshotID) {
	t.Helper()
	base, repo, ids := mainHistory(t, n, places)
	mustOK(t, repo.CreateTag(context.Background(), tag, ids[back]))
	return base, ids
}

// A fresh handle walking a branch's history reads the snapshots its log
// names ahead of the walk, several at once, and each only once; the walk
// is the same as one that follows the parents alone.
func TestAncestryFetchesSnapshotsAhead(t *testing.T) {
	base, plain, ids := mainHistory(t, 30, withPlaces)
	want := parentsOf(t, plain, ids[0])

	repo, slow := openSlow(t, base, 2*time.Millisecond)
	wantIDs(t, "walk with the log's hints", ancestryIDs(t, repo, Version{Branch: MainBranch}), want...)
	reads, now, most := slow.counts()
	if most < 2 {
		t.Fatalf("the walk read one snapshot at a time")
	}
	if reads != len(want) || now != 0 {
		t.Fatalf("%d snapshot reads for %d snapshots (%d still in flight), want each read once", reads, len(want), now)
	}
	if most > ancestorsAhead+1 {
		t.Fatalf("%d snapshot reads at once, more than the walk's bound of %d ahead", most, ancestorsAhead)
	}
}

// A walk that stops early leaves nothing running and has read at most
// ancestorsAhead snapshots beyond those it yielded.
func TestAncestryStoppedEarlyStopsFetching(t *testing.T) {
	ctx := context.Background()
	base := memory.New(t.Name())
	mainWithCommits(t, base, 40, withPlaces)
	repo, slow := openSlow(t, base, 2*time.Millisecond)
	taken := 0
	for _, err := range repo.Ancestry(ctx, Version{Branch: MainBranch}) {
		mustOK(t, err)
		if taken++; taken == 3 {
			break
		}
	}
	reads, now, _ := slow.counts()
	if now != 0 {
		t.Fatalf("%d snapshot reads still in flight after the walk returned", now)
	}
	if reads > taken+ancestorsAhead+1 {
		t.Fatalf("%d snapshot reads for a walk of %d steps", reads, taken)
	}
}

// An expiration rewrites a parent in place, so the log names snapshots
// that are no longer in the history: the walk still follows the parents.
func TestAncestryAfterExpirationFollowsTheParents(t *testing.T) {
	ctx := context.Background()
	f := newExpireFixture(t, memory.New(t.Name()))
	_, err := f.repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: f.cutoff})
	mustOK(t, err)
	fresh, err := Open(ctx, f.store, nil)
	mustOK(t, err)
	wantIDs(t, "main after the expiration", ancestryIDs(t, fresh, Version{Branch: MainBranch}), f.n4, f.n3, f.root)
}

// A diff's walk stops at its older version, and so does what it fetches
// ahead: every snapshot from the tip to that version is read once, and
// none beyond it.
func TestDiffFetchesNothingPastItsRange(t *testing.T) {
	ctx := context.Background()
	base, _, ids := mainHistory(t, 40, withPlaces)
	from := ids[10]

	repo, slow := openSlow(t, base, 2*time.Millisecond)
	d, err := repo.Diff(ctx, Version{Snapshot: from}, Version{Branch: MainBranch})
	mustOK(t, err)
	if len(d.NewGroups) != 10 {
		t.Fatalf("diff over 10 commits: %d new groups", len(d.NewGroups))
	}
	reads, now, most := slow.counts()
	if reads != 11 || now != 0 {
		t.Fatalf("%d snapshot reads (%d in flight) for a diff over 10 commits, want 11", reads, now)
	}
	if most < 2 {
		t.Fatalf("the diff's walk read one snapshot at a time")
	}
}

// A garbage collection's walk through each ref's history fetches ahead as
// well, and reads each snapshot once even where histories meet.
func TestGarbageCollectWalksHistoryAhead(t *testing.T) {
	ctx := context.Background()
	base, ids := mainWithTag(t, 30, "middle", 15, withPlaces)
	repo, slow := openSlow(t, base, 2*time.Millisecond)
	_, err := repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(-time.Hour)})
	mustOK(t, err)
	reads, now, most := slow.counts()
	if reads != len(ids) || now != 0 {
		t.Fatalf("%d snapshot reads (%d in flight) for a history of %d", reads, now, len(ids))
	}
	if most < 2 {
		t.Fatalf("the collection's walk read one snapshot at a time")
	}
}

// An expiration's walks down each ref's history read ahead too, and read
// each snapshot once: the kept commits, then the expired run to the
// initial snapshot.
func TestExpireSnapshotsWalksHistoryAhead(t *testing.T) {
	ctx := context.Background()
	base := memory.New(t.Name())
	repo, err := Create(ctx, base, nil, nil)
	mustOK(t, err)
	commitGroups(t, repo, MainBranch, 0, 30)
	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	commitGroups(t, repo, MainBranch, 30, 10)

	fresh, slow := openSlow(t, base, 2*time.Millisecond)
	res, err := fresh.ExpireSnapshots(ctx, ExpireOptions{OlderThan: cutoff})
	mustOK(t, err)
	if len(res.Expired) != 30 {
		t.Fatalf("%d snapshots expired, want the 30 old commits", len(res.Expired))
	}
	_, now, most := slow.counts()
	if now != 0 || most < 2 {
		t.Fatalf("%d reads in flight after the expiration, at most %d at once: want none left and several at once", now, most)
	}
	for key, n := range slow.readsByID {
		if n != 1 {
			t.Fatalf("%s read %d times", key, n)
		}
	}
	if len(slow.readsByID) != 41 {
		t.Fatalf("%d snapshots read, want the 41 of the history", len(slow.readsByID))
	}
	after, err := Open(ctx, base, nil)
	mustOK(t, err)
	if got := ancestryIDs(t, after, Version{Branch: MainBranch}); len(got) != 11 {
		t.Fatalf("main's history after the expiration: %d snapshots, want 10 new ones and the initial one", len(got))
	}
}

// walkWatchingReads walks v's history on repo and returns the snapshot
// ids and, for each step, whether the read of the snapshot after it had
// begun when the walk yielded it: a walk that follows the parents alone
// begins that read only after the yield, one fetching ahead before.
func walkWatchingReads(t *testing.T, repo *Repository, slow *slowSnapshots, v Version) (ids []codec.SnapshotID, ahead []bool) {
	t.Helper()
	for info, err := range repo.Ancestry(context.Background(), v) {
		mustOK(t, err)
		slow.mu.Lock()
		begun := len(slow.readsByID)
		slow.mu.Unlock()
		ahead = append(ahead, begun >= len(ids)+2)
		ids = append(ids, info.ID)
	}
	return ids, ahead
}

// checkFetchedAhead fails unless most steps in [from, len-2] of a walk
// (three in four: a walk served from the cache can outrun the goroutine
// that starts the next reads) were fetching ahead, and unless each
// snapshot was read once, with nothing left in flight.
func checkFetchedAhead(t *testing.T, what string, slow *slowSnapshots, ahead []bool, from int) {
	t.Helper()
	steps, fetching := 0, 0
	for i := from; i < len(ahead)-1; i++ {
		steps++
		if ahead[i] {
			fetching++
		}
	}
	if steps < 8 || 4*fetching < 3*steps {
		t.Fatalf("%s: %d of %d steps from step %d fetched ahead (%v)", what, fetching, steps, from, ahead)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.reads != len(ahead) || slow.now != 0 || slow.anyNow != 0 {
		t.Fatalf("%s: %d snapshot reads for %d snapshots (%d still in flight, %d reads of any kind), want each read once and nothing left", what, slow.reads, len(ahead), slow.now, slow.anyNow)
	}
}

// A walk from a tag on a fresh handle starts in no log the handle has
// read. Where the snapshots do not say where their commits are in the
// logs, after searchAfter steps it reads the branch logs, finds its place
// in main's, and fetches the rest of the history ahead.
func TestAncestryFromATagFindsItsPlaceInALog(t *testing.T) {
	base, ids := mainWithTag(t, 40, "v1", 10, withoutPlaces)
	repo, slow := openSlow(t, base, 2*time.Millisecond)
	got, ahead := walkWatchingReads(t, repo, slow, Version{Tag: "v1"})
	wantIDs(t, "the tag's history", got, ids[10:]...)
	if ahead[0] {
		t.Fatalf("the walk's first step already fetched ahead: the handle had read no log")
	}
	checkFetchedAhead(t, "from the tag", slow, ahead, 10)
}

// A walk down a branch made from main leaves its log at the branch's
// creation and goes on into main's history: it finds main's log, by the
// searchAfter steps where the snapshots record no log places, and
// fetches ahead there too.
func TestAncestryGoesOnIntoTheLogOfItsParentBranch(t *testing.T) {
	ctx := context.Background()
	base, plain, ids := mainHistory(t, 30, withoutPlaces)
	mustOK(t, plain.CreateBranch(ctx, "dev", ids[0]))
	commitGroups(t, plain, "dev", 30, 6)
	devTip, err := plain.LookupBranch(ctx, "dev")
	mustOK(t, err)
	want := parentsOf(t, plain, devTip)

	repo, slow := openSlow(t, base, 2*time.Millisecond)
	got, ahead := walkWatchingReads(t, repo, slow, Version{Branch: "dev"})
	wantIDs(t, "dev's history", got, want...)
	checkFetchedAhead(t, "down dev into main", slow, ahead, 16) // main's tip is step 6
}

// A walk from a tag that stops early leaves nothing running: not the
// fetches ahead, not the reads of the branch logs.
func TestAncestryFromATagStoppedEarlyStopsSearching(t *testing.T) {
	ctx := context.Background()
	base, _ := mainWithTag(t, 40, "v1", 5, withoutPlaces)
	repo, slow := openSlow(t, base, 2*time.Millisecond)
	slow.logDelay = 5 * time.Millisecond // the search is still reading when the walk stops
	taken := 0
	for _, err := range repo.Ancestry(ctx, Version{Tag: "v1"}) {
		mustOK(t, err)
		if taken++; taken == searchAfter+2 {
			break
		}
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.now != 0 || slow.anyNow != 0 {
		t.Fatalf("%d snapshot reads and %d reads of any kind in flight after the walk returned", slow.now, slow.anyNow)
	}
	if slow.reads > taken+ancestorsAhead+1 {
		t.Fatalf("%d snapshot reads for a walk of %d steps", slow.reads, taken)
	}
}

// A garbage collection walks from every tag, and most of those walks stop
// at once, at a snapshot an earlier walk marked: they read no branch log
// beyond the tips the collection lists.
func TestGarbageCollectOverManyTagsSearchesNoLogs(t *testing.T) {
	ctx := context.Background()
	base, plain, ids := mainHistory(t, 30, withoutPlaces)
	for i := range 30 { // t00 on the oldest commit: each later tag's walk stops at its parent
		mustOK(t, plain.CreateTag(ctx, fmt.Sprintf("t%02d", i), ids[29-i]))
	}
	counting := storage.NewCounting(base)
	repo, err := Open(ctx, counting, nil)
	mustOK(t, err)
	counting.Reset()
	counting.Record(true)
	_, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(-time.Hour)})
	mustOK(t, err)
	var lists int
	for _, c := range counting.Calls() {
		if c.Op == storage.OpList && strings.HasPrefix(c.Key, codec.RefsPrefix) {
			lists++
		}
	}
	if lists > 3 { // the tags, the branches, and one search at most
		t.Fatalf("%d listings of the refs for a collection over 30 tags", lists)
	}
}

// refReads counts the calls recorded by counting on objects under refs/:
// listings of all refs (as a search of the logs starts with), and reads of
// branch log entries.
func refReads(counting *storage.Counting) (lists, logGets int) {
	for _, c := range counting.Calls() {
		switch {
		case c.Op == storage.OpList && c.Key == codec.RefsPrefix:
			lists++
		case c.Op == storage.OpGet && strings.HasPrefix(c.Key, codec.RefsPrefix+branchPrefix):
			logGets++
		}
	}
	return lists, logGets
}

// A walk from a tag on a fresh handle reads the log entry its first
// snapshot records as its commit's, and from there fetches the history
// ahead at once, with no search of the logs: on main, and on a branch
// since deleted and made again, whose tagged history is behind the
// tombstone in its log.
func TestAncestryFromATagReadsItsLogPlace(t *testing.T) {
	ctx := context.Background()
	mainBase, mainIDs := mainWithTag(t, 40, "v1", 10, withPlaces)

	deletedBase := memory.New(t.Name() + "-deleted")
	repo, workTip := workHistory(t, deletedBase, 30, withPlaces)
	mustOK(t, repo.CreateTag(ctx, "kept", workTip))
	mustOK(t, repo.DeleteBranch(ctx, "work"))
	mustOK(t, repo.CreateBranch(ctx, "work", codec.InitialSnapshotID))
	commitGroups(t, repo, "work", 30, 3)

	for _, tc := range []struct {
		name string
		base storage.Storage
		tag  string
		want []codec.SnapshotID
	}{
		{"main", mainBase, "v1", mainIDs[10:]},
		{"deleted branch", deletedBase, "kept", parentsOf(t, repo, workTip)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counting := storage.NewCounting(tc.base)
			fresh, slow := openSlow(t, counting, 2*time.Millisecond)
			counting.Record(true)
			got, ahead := walkWatchingReads(t, fresh, slow, Version{Tag: tc.tag})
			wantIDs(t, "the tag's history", got, tc.want...)
			checkFetchedAhead(t, "from the tag", slow, ahead, 1)
			if lists, _ := refReads(counting); lists != 0 {
				t.Fatalf("%d listings of all refs: the walk searched the logs", lists)
			}
		})
	}
}

// A snapshot whose log place holds no entry naming it (here, every
// snapshot of main's history points past the log's end) costs the walk
// one read of that place: it stops reading places, searches the logs, and
// still yields the history the parents give.
func TestAncestryPastAWrongLogPlaceStopsReadingPlaces(t *testing.T) {
	ctx := context.Background()
	base, ids := mainWithTag(t, 40, "v1", 10, withPlaces)
	for _, id := range ids {
		data, err := base.Get(ctx, codec.SnapshotKey(id))
		mustOK(t, err)
		snap, err := codec.DecodeSnapshot(codec.SnapshotKey(id), data)
		mustOK(t, err)
		if snap.LogSlot == 0 {
			continue // the initial snapshot
		}
		snap.LogSlot += 1000
		data, err = codec.EncodeSnapshot(snap)
		mustOK(t, err)
		mustOK(t, base.Put(ctx, codec.SnapshotKey(id), data))
	}
	counting := storage.NewCounting(base)
	fresh, slow := openSlow(t, counting, 2*time.Millisecond)
	counting.Record(true)
	got, ahead := walkWatchingReads(t, fresh, slow, Version{Tag: "v1"})
	wantIDs(t, "the tag's history", got, ids[10:]...)
	checkFetchedAhead(t, "past a wrong place", slow, ahead, 10)
	// One place (walkBatch entries), and the search's read of main's 41.
	if _, logGets := refReads(counting); logGets > walkBatch+41+walkBatch {
		t.Fatalf("%d reads of branch log entries: the walk kept reading wrong places", logGets)
	}
}

// A garbage collection over many tags on the history of a deleted branch
// reads that branch's log about once, through the tags' snapshots' log
// places: each walk from a tag stops at a snapshot an earlier one marked,
// or goes on from the entries kept, and none searches the logs.
func TestGarbageCollectOverTagsOfADeletedBranchReadsItsLogOnce(t *testing.T) {
	ctx := context.Background()
	base := memory.New(t.Name())
	repo, tip := workHistory(t, base, 30, withPlaces)
	for i, id := range parentsOf(t, repo, tip)[:30] {
		mustOK(t, repo.CreateTag(ctx, fmt.Sprintf("t%02d", i), id))
	}
	mustOK(t, repo.DeleteBranch(ctx, "work"))
	counting := storage.NewCounting(base)
	fresh, err := Open(ctx, counting, nil)
	mustOK(t, err)
	counting.Record(true)
	_, err = fresh.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(-time.Hour)})
	mustOK(t, err)
	lists, logGets := refReads(counting)
	if lists > 1 { // the collection's own, of the branches
		t.Fatalf("%d listings of all refs for a collection over 30 tags: a walk searched the logs", lists)
	}
	// work's log: the creation, 30 commits and the tombstone; main's head.
	if logGets > 32+2*walkBatch {
		t.Fatalf("%d reads of branch log entries for a log of 32", logGets)
	}
}

// A walk keeps its full reach ahead however often the fetcher waits on
// the log: steps the walk passes meanwhile count. Here every read takes as
// long as a snapshot's, so the fetcher waits on each batch of entries,
// and the walk catches up with it each time.
func TestAncestryKeepsItsReachWhileTheLogIsRead(t *testing.T) {
	ctx := context.Background()
	base, ids := mainWithTag(t, 100, "v1", 0, withPlaces)
	repo, slow := openSlow(t, base, 3*time.Millisecond)
	slow.logDelay = 3 * time.Millisecond
	var leads []int // snapshot reads begun beyond the step yielded
	step := 0
	for _, err := range repo.Ancestry(ctx, Version{Tag: "v1"}) {
		mustOK(t, err)
		slow.mu.Lock()
		leads = append(leads, len(slow.readsByID)-(step+1))
		slow.mu.Unlock()
		step++
	}
	if step != len(ids) {
		t.Fatalf("a walk of %d steps, want %d", step, len(ids))
	}
	// Late in the walk, after many waits on the log, the reads begun
	// ahead of a step still reach ancestorsAhead - 1 or more.
	if most := slices.Max(leads[50:90]); most < ancestorsAhead-1 {
		t.Fatalf("late in the walk, at most %d snapshots were being read ahead of a step, want %d or more (leads %v)", most, ancestorsAhead-1, leads)
	}
}
