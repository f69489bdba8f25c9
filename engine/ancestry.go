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
// are looked at every step the walk is not on such a path; when none
// has named the next snapshot for searchAfter steps, the walk reads the
// newest entries of every branch log, in the background, to find one. A
// hint that turns out wrong (an expiration rewrote a parent) costs a
// fetch, never a wrong answer.
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
		unhinted := 0 // steps in a row that no log named ahead
		for !id.IsZero() {
			snap, err := r.assets.fetchSnapshot(ctx, id)
			if err != nil {
				yield(nil, err)
				return
			}
			if id != until && !ahead.covers(id) {
				ahead.stop()
				ahead = r.fetchAncestorsAhead(ctx, id, until)
				if ahead.fetching() {
					unhinted = 0
				} else {
					unhinted++
				}
			}
			if !yield(snap, nil) {
				return
			}
			// Searched only once the caller asks for more: a walk that
			// stops early, as a garbage collection's does where histories
			// meet, costs no reads of the logs.
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
	credit chan struct{} // one token per fetch started and not yet passed (nil: fetching nothing)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	room   bool // the snapshot cache can keep what is fetched ahead

	mu      sync.Mutex
	naming  bool                      // still reading the log for what comes next
	started map[codec.SnapshotID]bool // the snapshots it fetched
}

// fetchAncestorsAhead starts fetching the ancestors of id that a known
// branch log names, up to until. It fetches nothing when no known log
// holds id, or when the snapshot cache could not keep what it fetches (it
// must have room for more snapshots the size of id's than are fetched at
// once).
func (r *Repository) fetchAncestorsAhead(ctx context.Context, id, until codec.SnapshotID) *ancestorFetcher {
	a := &ancestorFetcher{}
	if a.room = r.assets.snapshots.roomFor(id, 2*ancestorsAhead); !a.room {
		return a
	}
	key, slot, ref, ok := r.refs.entryOf(id)
	if !ok {
		return a // asked again at every step of a walk without hints: no allocation
	}
	a.credit = make(chan struct{}, ancestorsAhead)
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
		for !ref.Parent.IsZero() && slot > 0 {
			parent := ref.Parent
			select {
			case a.credit <- struct{}{}:
			case <-ctx.Done():
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
	return a
}

// fetching reports whether a log named snapshots to fetch ahead.
func (a *ancestorFetcher) fetching() bool {
	return a.started != nil
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
	select {
	case <-a.credit:
	default:
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
