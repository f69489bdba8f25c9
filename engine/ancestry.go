package engine

import (
	"context"
	"iter"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
)

// ancestorsAhead bounds how many snapshots a walk through history fetches
// ahead of the step it is at.
const ancestorsAhead = 8

// searchAfter is how many snapshots in a row a walk reads with no known
// branch log naming what comes next before it reads the branch logs to
// find its place: a walk from a tag, from a snapshot id on a fresh handle,
// or one that went past the start of the log it began in.
const searchAfter = 3

// searchDepth bounds how many entries of each branch log that search
// reads; logSearches bounds how many logs it reads at once.
const (
	searchDepth = 256
	logSearches = 4
)

// ancestry yields snapshot id and its ancestors, newest first, following
// each snapshot's parent. The parents are the truth, but reading them one
// after another costs a round trip per commit. A branch log that holds a
// snapshot the walk reaches hints at what comes next: its entries before
// that snapshot's, as long as each names the snapshot of the entry before
// as its parent, are the commits the walk will reach. Those snapshots are
// fetched ahead, a few at a time, so that a long history on an object
// store costs a round trip per few commits. The logs the handle has read
// are looked at every step the walk is not on such a path; where they do
// not hold the snapshot, the entry the snapshot records as its commit's
// (codec.Snapshot.LogSlot) is read, however old, and on a branch since
// deleted too. Snapshots written before they recorded it, or not by a
// commit, have no such place: when nothing has named the next snapshot
// for searchAfter steps, the walk reads the newest entries of every
// branch log, in the background, to find one. A hint that turns out
// wrong (an expiration rewrote a parent) costs a fetch, never a wrong
// answer; a place that turns out wrong costs a read, and the walk reads
// no more places.
func (r *Repository) ancestry(ctx context.Context, id codec.SnapshotID) iter.Seq2[SnapshotInfo, error] {
	return r.ancestryUntil(ctx, id, codec.SnapshotID{})
}

// ancestryUntil is ancestry for a walk that stops at snapshot until (zero:
// none): nothing past it is fetched ahead.
func (r *Repository) ancestryUntil(ctx context.Context, id, until codec.SnapshotID) iter.Seq2[SnapshotInfo, error] {
	return func(yield func(SnapshotInfo, error) bool) {
		for snap, err := range r.snapshotsBack(ctx, id, until) {
			var info SnapshotInfo
			if err == nil {
				info, err = snapshotInfo(snap)
			}
			if !yield(info, err) || err != nil {
				return
			}
		}
	}
}

// snapshotsBack yields snapshot id and its ancestors, newest first, as
// ancestryUntil does, with the snapshots themselves.
func (r *Repository) snapshotsBack(ctx context.Context, id, until codec.SnapshotID) iter.Seq2[*codec.Snapshot, error] {
	return func(yield func(*codec.Snapshot, error) bool) {
		ahead := &ancestorFetcher{}
		var search *logSearch
		defer func() {
			ahead.stop()
			search.stop()
		}()
		unhinted := 0     // steps in a row that no log named ahead
		usePlaces := true // no snapshot's log place has proved wrong yet
		for !id.IsZero() {
			snap, err := r.assets.fetchSnapshot(ctx, id)
			if err != nil {
				yield(nil, err)
				return
			}
			atPlace := false // the step will start from snap's log place
			if id != until && !ahead.covers(id) {
				ahead.stop()
				usePlaces = usePlaces && !ahead.placeWasWrong()
				ahead = r.fetchAncestorsAhead(ctx, id, until)
				atPlace = !ahead.fetching() && ahead.room && usePlaces && snap.LogSlot > 0
				if ahead.fetching() || atPlace {
					unhinted = 0
				} else {
					unhinted++
				}
			}
			if !yield(snap, nil) {
				return
			}
			// The place is read, and the logs searched, only once the
			// caller asks for more: a walk that stops early, as a garbage
			// collection's does where histories meet, costs no reads of the
			// logs.
			if atPlace {
				ahead = r.fetchFromLogPlace(ctx, snap, until)
			}
			if unhinted >= searchAfter && search == nil && ahead.room {
				search = r.searchBranchLogs(ctx)
			}
			ahead.passed()
			id = snap.ParentID
		}
	}
}

// ancestorFetcher fetches the snapshots a branch log names into the
// snapshot cache, at most ancestorsAhead more than the walk has passed.
type ancestorFetcher struct {
	step   chan struct{} // a wake-up for the fetcher when the walk passes a step (nil: fetching nothing)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	room   bool // the snapshot cache can keep what is fetched ahead

	mu         sync.Mutex
	steps      int                       // steps the walk passed since the fetcher began
	naming     bool                      // still reading the log for what comes next
	started    map[codec.SnapshotID]bool // the snapshots it fetched
	wrongPlace bool                      // the snapshot's log place held another entry
}

// fetchAncestorsAhead starts fetching the ancestors of id that a branch
// log this handle has read names, up to until. It fetches nothing when no
// such log holds id, or when the snapshot cache could not keep what it
// fetches (it must have room for more snapshots the size of id's than are
// fetched at once).
func (r *Repository) fetchAncestorsAhead(ctx context.Context, id, until codec.SnapshotID) *ancestorFetcher {
	a := &ancestorFetcher{}
	if a.room = r.assets.snapshots.roomFor(id, 2*ancestorsAhead); !a.room {
		return a
	}
	key, slot, ref, ok := r.refs.entryOf(id)
	if !ok {
		return a // asked again at every step of a walk without hints: no allocation
	}
	r.fetchAlongLog(ctx, a, id, until, key, slot, ref)
	return a
}

// fetchFromLogPlace is fetchAncestorsAhead from the log entry snap
// records as its commit's (codec.Snapshot.LogSlot): it reads that entry,
// with the few before it in the same round trip, and fetches ahead from
// there if the entry names snap.
func (r *Repository) fetchFromLogPlace(ctx context.Context, snap *codec.Snapshot, until codec.SnapshotID) *ancestorFetcher {
	a := &ancestorFetcher{room: true}
	r.fetchAlongLog(ctx, a, snap.ID, until, branchPrefix+snap.LogBranch, snap.LogSlot, nil)
	return a
}

// fetchAlongLog starts a's fetching of the snapshots named by the entries
// of the log at key before slot, whose entry (ref; nil: read it first, and
// note a wrong place if it does not name id as a commit) is id's.
func (r *Repository) fetchAlongLog(ctx context.Context, a *ancestorFetcher, id, until codec.SnapshotID, key string, slot uint64, ref *codec.Ref) {
	a.step = make(chan struct{}, 1)
	ctx, a.cancel = context.WithCancel(ctx)
	a.naming, a.started = true, map[codec.SnapshotID]bool{}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() {
			a.mu.Lock()
			a.naming = false
			a.mu.Unlock()
		}()
		if ref == nil {
			var err error
			ref, err = r.refs.entryAt(ctx, key, slot)
			if err != nil || ref == nil || ref.Snapshot != id || ref.Parent.IsZero() {
				if ctx.Err() == nil {
					a.mu.Lock()
					a.wrongPlace = true
					a.mu.Unlock()
				}
				return
			}
		}
		// The n-th ancestor is fetched once the walk has passed n -
		// ancestorsAhead steps. Counted by position, so that steps the
		// walk passes while the fetcher waits on the log are not lost.
		for n := 1; !ref.Parent.IsZero() && slot > 0; n++ {
			parent := ref.Parent
			if !a.waitForStep(ctx, n-ancestorsAhead) {
				return
			}
			a.mu.Lock()
			a.started[parent] = true
			a.mu.Unlock()
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				_, _ = r.assets.fetchSnapshot(ctx, parent) // the walk reports errors, if it gets there
			}()
			if parent == until {
				return
			}
			slot--
			prev, err := r.refs.entryAt(ctx, key, slot)
			if err != nil || prev == nil || prev.Snapshot != parent {
				return // the log stops telling the history here
			}
			ref = prev
		}
	}()
}

// fetching reports whether a log named snapshots to fetch ahead.
func (a *ancestorFetcher) fetching() bool {
	return a.started != nil
}

// placeWasWrong reports whether the log place the fetcher started from
// held no entry naming its snapshot (call after stop). A walk then stops
// reading places: a repository whose places mislead (logs rewritten by
// hand) would cost a read at every step.
func (a *ancestorFetcher) placeWasWrong() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wrongPlace
}

// covers reports whether the walk at snapshot id is on the fetcher's path:
// it fetched id, or is still reading the log for what comes next.
func (a *ancestorFetcher) covers(id codec.SnapshotID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.naming || a.started[id]
}

// passed notes that the walk took one more step.
func (a *ancestorFetcher) passed() {
	if a.step == nil {
		return
	}
	a.mu.Lock()
	a.steps++
	a.mu.Unlock()
	select {
	case a.step <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// waitForStep waits until the walk has passed n steps; false if ctx ended
// first.
func (a *ancestorFetcher) waitForStep(ctx context.Context, n int) bool {
	for {
		a.mu.Lock()
		reached := a.steps >= n
		a.mu.Unlock()
		if reached {
			return true
		}
		select {
		case <-a.step:
		case <-ctx.Done():
			return false
		}
	}
}

// stop ends the fetching and waits for the fetches in flight (cancelled).
func (a *ancestorFetcher) stop() {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
}

// logSearch reads the newest entries of every branch log into the kept
// entries, where a walk looks for its place (see ancestry).
type logSearch struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// searchBranchLogs starts reading back every branch's log, searchDepth
// entries at most, logSearches logs at once. What it cannot read is left
// unread: the walk follows the parents without it.
func (r *Repository) searchBranchLogs(ctx context.Context) *logSearch {
	s := &logSearch{}
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var g errgroup.Group
		g.SetLimit(logSearches)
		for key, err := range r.refs.consensus.ListKeys(ctx) {
			if err != nil {
				break
			}
			if strings.HasPrefix(key, branchPrefix) {
				g.Go(func() error {
					r.refs.readBack(ctx, key, searchDepth)
					return nil
				})
			}
		}
		_ = g.Wait()
	}()
	return s
}

// stop ends the search and waits for its reads in flight (cancelled). A
// nil search has nothing to stop.
func (s *logSearch) stop() {
	if s == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
}
