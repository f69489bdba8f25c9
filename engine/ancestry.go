package engine

import (
	"context"
	"iter"
	"sync"

	"github.com/icechunk-go/icechunk-go/codec"
)

// ancestorsAhead bounds how many snapshots a walk through history fetches
// ahead of the step it is at.
const ancestorsAhead = 8

// ancestry yields snapshot id and its ancestors, newest first, following
// each snapshot's parent. The parents are the truth, but reading them one
// after another costs a round trip per commit. A branch log the handle has
// read that holds id hints at what comes next: its entries before id's,
// as long as each names the snapshot of the entry before as its parent,
// are the commits the walk will reach. Those snapshots are fetched ahead,
// a few at a time, so that a long history on an object store costs a
// round trip per few commits. A hint that turns out wrong (an expiration
// rewrote a parent) costs a fetch, never a wrong answer.
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
		defer func() { ahead.stop() }()
		for first := true; !id.IsZero(); first = false {
			snap, err := r.assets.fetchSnapshot(ctx, id)
			if err != nil {
				yield(nil, err)
				return
			}
			if first && id != until {
				ahead = r.fetchAncestorsAhead(ctx, id, until)
			}
			if !yield(snap, nil) {
				return
			}
			ahead.passed()
			id = snap.ParentID
		}
	}
}

// ancestorFetcher fetches the snapshots a branch log names into the
// snapshot cache, at most ancestorsAhead more than the walk has passed.
type ancestorFetcher struct {
	credit chan struct{} // one token per fetch started and not yet passed
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fetchAncestorsAhead starts fetching the ancestors of id that a known
// branch log names, up to until. It fetches nothing when no known log
// holds id, or when the snapshot cache could not keep what it fetches (it
// must have room for more snapshots the size of id's than are fetched at
// once).
func (r *Repository) fetchAncestorsAhead(ctx context.Context, id, until codec.SnapshotID) *ancestorFetcher {
	a := &ancestorFetcher{credit: make(chan struct{}, ancestorsAhead)}
	if !r.assets.snapshots.roomFor(id, 2*ancestorsAhead) {
		return a
	}
	key, slot, ref, ok := r.refs.entryOf(id)
	if !ok {
		return a
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for !ref.Parent.IsZero() && slot > 0 {
			parent := ref.Parent
			select {
			case a.credit <- struct{}{}:
			case <-ctx.Done():
				return
			}
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
