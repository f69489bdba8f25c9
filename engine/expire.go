package engine

import (
	"bytes"
	"cmp"
	"context"
	"iter"
	"log/slog"
	"slices"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
)

// ExpireOptions say which history ExpireSnapshots cuts.
type ExpireOptions struct {
	// OlderThan is required: snapshots written before it are expired.
	OlderThan time.Time
	// DeleteExpiredBranches deletes the branches (other than main) whose
	// tip is itself expired, unless a commit moves the tip before the
	// delete; DeleteExpiredTags does the same for tags. Without them such
	// refs keep their snapshot, readable as before, but not the history
	// behind it (as upstream Icechunk does).
	DeleteExpiredBranches bool
	DeleteExpiredTags     bool
}

// ExpireResult says what ExpireSnapshots did.
type ExpireResult struct {
	// Expired are the snapshots cut out of some branch's or tag's history,
	// the expired snapshots of refs kept whose history was cut, and those
	// of the history of a ref deleted for its expired snapshot that no
	// remaining ref reaches, sorted by id. Nothing is deleted: a
	// garbage collection deletes those no ref reaches any more.
	Expired []codec.SnapshotID
	// Rewritten are the snapshots whose parent became the repository's
	// initial snapshot (HistoryCut set), sorted by id.
	Rewritten []codec.SnapshotID
	// DeletedBranches and DeletedTags are the refs deleted because their
	// snapshot was expired (with the options that ask for it), sorted.
	DeletedBranches []string
	DeletedTags     []string
}

// ExpireSnapshots cuts the snapshots written before opts.OlderThan out of
// the history of every branch and tag, so that a garbage collection can
// then delete them with the manifests and chunks only they use. For each
// ref, the oldest snapshot of its history written at or after OlderThan
// (its own snapshot, if that is older) is rewritten in place with the
// repository's initial snapshot as its parent (and HistoryCut set): its
// id, content and every newer snapshot stay as they were, and the
// ancestry goes from it straight to the initial snapshot, which is never
// expired. So a ref whose snapshot is expired keeps that snapshot, but
// not the history behind it, unless the options ask to delete such refs
// (main is never deleted).
//
// A diff cannot span a rewritten snapshot (its transaction log says what
// it changed from a snapshot that is no longer its parent): it fails with
// ErrBadSnapshotChain instead of giving a wrong answer. A rebase takes
// the commits it passes from the branch's log, where they keep their
// order, so a session based on an expired snapshot still rebases onto its
// branch while the commits' transaction logs exist; where the log cannot
// tell (a reset since the session's base) the rebase walks the snapshots'
// parents and fails with ErrRebaseFailed at a rewritten one.
//
// This is an administrative operation. Writers may keep committing while
// it runs, but it must not run beside another expiration, a garbage
// collection, or branch resets and deletes. Other repository handles may
// keep serving a rewritten snapshot's old parent from their caches until
// they are opened again.
func (r *Repository) ExpireSnapshots(ctx context.Context, opts ExpireOptions) (res ExpireResult, err error) {
	if opts.OlderThan.IsZero() {
		return res, invalidArgument("expiring snapshots needs a time before which they expire")
	}
	refs, err := r.refs.targets(ctx)
	if err != nil {
		return res, err
	}

	// A rewritten snapshot replaces one that refs already name, and a Put
	// may be volatile until Sync: make the rewrites durable before
	// returning, on failure too.
	synced := false
	defer func() {
		if len(res.Rewritten) > 0 && !synced {
			err = cmp.Or(err, errors.Wrap(r.store.Sync(ctx), "making the rewritten snapshots durable"))
		}
	}()
	e := &expiry{repo: r, olderThan: opts.OlderThan, expired: map[codec.SnapshotID]bool{}, settled: map[codec.SnapshotID]bool{}}
	expiredTips := map[string]codec.SnapshotID{} // branches to delete, at the tip found expired
	var keptOld []codec.SnapshotID               // snapshots of refs at expired snapshots that stay
	deletedTagTips := map[string]codec.SnapshotID{}
	for _, rf := range refs {
		snap, err := r.assets.fetchSnapshot(ctx, rf.snapshot)
		if err != nil {
			return res, err
		}
		if e.old(snap) {
			switch {
			case rf.tag && opts.DeleteExpiredTags:
				res.DeletedTags = append(res.DeletedTags, rf.name)
				deletedTagTips[rf.name] = rf.snapshot
				continue
			case !rf.tag && opts.DeleteExpiredBranches && rf.name != MainBranch:
				expiredTips[rf.name] = rf.snapshot
				continue
			}
			// Kept: the ref keeps its snapshot, and cut drops the history
			// behind it.
			keptOld = append(keptOld, rf.snapshot)
		}
		rewritten, err := e.cut(ctx, snap)
		if err != nil {
			return res, errors.Wrapf(err, "expiring the history of %s", rf)
		}
		if !rewritten.IsZero() {
			res.Rewritten = append(res.Rewritten, rewritten)
			if e.old(snap) && rewritten == snap.ID {
				// An expired snapshot kept by its ref, its history cut:
				// counted as expired, as upstream counts it.
				e.expired[snap.ID] = true
			}
		}
	}
	if len(res.Rewritten) > 0 {
		synced = true
		if err := r.store.Sync(ctx); err != nil {
			return res, errors.Wrap(err, "making the rewritten snapshots durable")
		}
	}
	for _, name := range res.DeletedTags {
		if err := r.DeleteTag(ctx, name); err != nil && !errors.Is(err, ErrTagNotFound) {
			return res, err
		}
	}
	var deletedTips []codec.SnapshotID
	for _, name := range res.DeletedTags {
		deletedTips = append(deletedTips, deletedTagTips[name])
	}
	for name, tip := range expiredTips {
		// Only while the tip is still the expired snapshot: a branch a
		// writer committed to meanwhile is not expired any more.
		err := r.refs.moveBranch(ctx, name, tip, codec.SnapshotID{})
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return res, errors.Wrapf(err, "deleting branch %q", name)
		}
		res.DeletedBranches = append(res.DeletedBranches, name)
		deletedTips = append(deletedTips, tip)
	}
	// The history of a deleted ref is expired too, but for the part a ref
	// kept at an expired snapshot still reaches.
	if err := e.expireHistories(ctx, deletedTips, keptOld); err != nil {
		return res, err
	}
	for id := range e.expired {
		res.Expired = append(res.Expired, id)
	}
	byID := func(a, b codec.SnapshotID) int { return bytes.Compare(a[:], b[:]) }
	slices.SortFunc(res.Expired, byID)
	slices.SortFunc(res.Rewritten, byID)
	slices.Sort(res.DeletedBranches)
	slices.Sort(res.DeletedTags)
	if logOn(ctx, slog.LevelInfo) {
		logs.Engine.InfoContext(ctx, "expired snapshots", "older_than", opts.OlderThan, "expired", len(res.Expired), "rewritten", len(res.Rewritten),
			"deleted_branches", len(res.DeletedBranches), "deleted_tags", len(res.DeletedTags))
	}
	return res, nil
}

// expiry is the state of one ExpireSnapshots call.
type expiry struct {
	repo      *Repository
	olderThan time.Time
	root      codec.SnapshotID // the initial snapshot, once a walk reached it
	expired   map[codec.SnapshotID]bool
	// settled are kept snapshots whose history already goes to the
	// initial snapshot with nothing left to cut: a later ref's walk stops
	// at them, so refs sharing a long history walk it once.
	settled map[codec.SnapshotID]bool
}

func (e *expiry) old(s *codec.Snapshot) bool { return s.FlushedTime().Before(e.olderThan) }

// expireHistories records as expired the snapshots of the histories of
// tips (snapshots of deleted refs, all older than the cutoff, as their
// ancestors are), down to the initial snapshot, except those the
// histories of kept (refs at expired snapshots that stay) reach.
func (e *expiry) expireHistories(ctx context.Context, tips, kept []codec.SnapshotID) error {
	if len(tips) == 0 {
		return nil
	}
	reached := map[codec.SnapshotID]bool{}
	// walk marks the history of tip as reached, stopping at the initial
	// snapshot (never expired) or at a part already reached; expire also
	// records what it marks as expired.
	walk := func(tip codec.SnapshotID, expire bool) error {
		if tip.IsZero() || reached[tip] {
			return nil
		}
		for s, err := range e.repo.snapshotsBack(ctx, tip, codec.SnapshotID{}) {
			if err != nil || s.ParentID.IsZero() || reached[s.ID] {
				return err
			}
			reached[s.ID] = true
			if expire {
				e.expired[s.ID] = true
			}
		}
		return nil
	}
	for _, tip := range kept {
		if err := walk(tip, false); err != nil {
			return err
		}
	}
	for _, tip := range tips {
		if err := walk(tip, true); err != nil {
			return err
		}
	}
	return nil
}

// cut walks back from tip to the oldest snapshot it keeps (tip itself,
// if expired); if that one's parent is expired and not the initial
// snapshot, it records the expired run and rewrites the kept snapshot's
// parent to the initial snapshot. It returns the rewritten snapshot, or
// zero if there was nothing to cut.
func (e *expiry) cut(ctx context.Context, tip *codec.Snapshot) (codec.SnapshotID, error) {
	a := e.repo.assets
	var walked []codec.SnapshotID // kept snapshots on the way down
	settle := func() {
		for _, id := range walked {
			e.settled[id] = true
		}
	}
	// The walk goes down one chain of parents, from tip: each snapshot
	// asked for is the parent of the one before, read ahead where a branch
	// log names them.
	chain, stop := iter.Pull2(e.repo.snapshotsBack(ctx, tip.ID, codec.SnapshotID{}))
	defer stop()
	parentOf := func(child *codec.Snapshot) (*codec.Snapshot, error) {
		for {
			s, err, ok := chain()
			switch {
			case !ok:
				return nil, errors.AssertionFailedf("the walk from %s ended before the parent of %s", tip.ID, child.ID)
			case err != nil:
				return nil, err
			case s.ID == child.ParentID:
				return s, nil
			}
			// tip itself, the chain's first item
		}
	}
	cur := tip
	var parent *codec.Snapshot
	for {
		if cur.ParentID.IsZero() || e.settled[cur.ID] {
			settle()
			return codec.SnapshotID{}, nil // the initial snapshot, or a history already done
		}
		walked = append(walked, cur.ID)
		var err error
		if parent, err = parentOf(cur); err != nil {
			return codec.SnapshotID{}, err
		}
		if parent.ParentID.IsZero() {
			e.root = parent.ID
			settle()
			return codec.SnapshotID{}, nil // nothing between cur and the initial snapshot
		}
		if e.old(parent) {
			break
		}
		cur = parent
	}
	defer settle() // once cur is rewritten, everything walked goes straight to the root
	// cur is kept, its parent expired: walk the expired run down to the
	// initial snapshot (or to a run an earlier ref already walked, once
	// the initial snapshot is known).
	for s := parent; ; {
		if e.expired[s.ID] && !e.root.IsZero() {
			break
		}
		if s.ParentID.IsZero() {
			e.root = s.ID
			break
		}
		e.expired[s.ID] = true
		if e.expired[s.ParentID] && !e.root.IsZero() {
			break // the rest was walked by an earlier ref: not read again
		}
		var err error
		if s, err = parentOf(s); err != nil {
			return codec.SnapshotID{}, err
		}
	}
	edited := *cur
	edited.ParentID, edited.HistoryCut = e.root, true
	data, err := codec.EncodeLevel(codec.FileTypeSnapshot, e.repo.assets.level(), &edited)
	if err != nil {
		return codec.SnapshotID{}, errors.Wrapf(err, "encoding snapshot %s", cur.ID)
	}
	// The one in-place write of a snapshot: the object is replaced whole,
	// so a reader sees the old or the new parent, never a torn file.
	if err := e.repo.store.Put(ctx, codec.SnapshotKey(cur.ID), data); err != nil {
		return codec.SnapshotID{}, errors.Wrapf(err, "rewriting snapshot %s", cur.ID)
	}
	// A copy replaces the cached one: sessions holding the old value keep
	// it unchanged.
	a.snapshots.put(cur.ID, &edited, int64(len(data))*snapshotCostFactor)
	return cur.ID, nil
}
