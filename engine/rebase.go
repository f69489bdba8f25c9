package engine

import (
	"context"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// Rebase replays the session's changes over the commits that landed on its
// branch since its base, oldest first, reading each commit's transaction
// log (never comparing whole snapshots) and letting solver patch the change
// set step by step. On success the session is based on the branch tip and a
// commit will succeed unless the branch moves again.
//
// If a step cannot be solved, Rebase stops with a *RebaseFailedError
// (ErrRebaseFailed) naming that commit and its conflicts; the session is
// left based on the last commit it passed, with its changes as they were
// before the failing step. Rebase needs transaction logs (ErrTxLogsDisabled
// otherwise).
func (s *Session) Rebase(ctx context.Context, solver ConflictSolver) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("rebase"); err != nil {
		return err
	}
	if s.fork {
		return invalidArgument("a fork cannot rebase: merge it into the session it was forked from")
	}
	tip, _, err := s.repo.refs.branchTip(ctx, s.branch)
	if err != nil {
		return err
	}
	if tip == s.snapshotID {
		return nil
	}
	var chain []codec.SnapshotID // newest first
	var cut codec.SnapshotID     // the newest of them whose history was expired
	found := false
	for info, err := range s.repo.ancestry(ctx, tip) {
		if err != nil {
			return err
		}
		if info.ID == s.snapshotID {
			found = true
			break
		}
		chain = append(chain, info.ID)
		if info.HistoryCut && cut.IsZero() {
			cut = info.ID
		}
	}
	if !found {
		if !cut.IsZero() {
			return errors.Mark(errors.Wrapf(cutError(cut, "rebase"), "this session's base %s was expired from branch %q; start a new session", s.snapshotID, s.branch), ErrRebaseFailed)
		}
		return errors.Mark(errors.Newf("cannot rebase: branch %q was reset to %s, which does not descend from this session's base %s; start a new session", s.branch, tip, s.snapshotID), ErrRebaseFailed)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		commit, err := s.repo.assets.fetchSnapshot(ctx, chain[i])
		if err != nil {
			return err
		}
		if commit.HistoryCut {
			return errors.Mark(errors.Newf("cannot rebase: the history between this session's base %s and commit %s was expired; start a new session", s.snapshotID, commit.ID), ErrRebaseFailed)
		}
		base, err := s.repo.assets.fetchSnapshot(ctx, s.snapshotID)
		if err != nil {
			return err
		}
		txlog, err := s.repo.assets.fetchTransactionLog(ctx, commit.ID)
		if err != nil {
			return errors.Wrap(err, "rebase needs the transaction log of every commit it passes")
		}
		patched, conflicts, err := solver.Solve(ctx, &RebaseStep{Commit: commit, TxLog: txlog, Base: base, Changes: s.changes.clone()})
		if err != nil {
			return errors.Wrapf(err, "solving conflicts with commit %s", commit.ID)
		}
		if len(conflicts) > 0 {
			return &RebaseFailedError{Snapshot: commit.ID, Conflicts: conflicts}
		}
		if patched.IsEmpty() && !s.changes.IsEmpty() {
			s.superseded = true
		}
		s.changes = patched
		s.snapshotID = commit.ID
		s.zarrInfo.Clear()
	}
	return nil
}

// RetryOptions tune CommitRebasing.
type RetryOptions struct {
	// Attempts is the number of rebases tried before giving up (the seed's
	// rebase_attempts).
	Attempts int
	// BaseDelay and MaxDelay bound the exponential backoff, with full
	// jitter, slept before each rebase after the first, so that many
	// writers contending for one branch spread out instead of livelocking.
	// The first rebase is immediate: a writer that just lost usually wins
	// the next round, and waiting long only lets fresh writers overtake it.
	// Zero values mean 5 ms and 250 ms.
	BaseDelay, MaxDelay time.Duration
	// BeforeRebase and AfterRebase, when set, are called around each
	// rebase with the attempt number (from 1).
	BeforeRebase, AfterRebase func(attempt int)
}

// CommitRebasing commits, and on a conflict rebases with solver and tries
// again, up to opts.Attempts rebases, sleeping a jittered exponential
// backoff before each. It gives up with the last *ConflictError, or returns
// the first error that is not a conflict (a failed rebase included).
func (s *Session) CommitRebasing(ctx context.Context, solver ConflictSolver, message string, meta map[string]any, opts RetryOptions) (codec.SnapshotID, error) {
	base, maxDelay := opts.BaseDelay, opts.MaxDelay
	if base <= 0 {
		base = 5 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 250 * time.Millisecond
	}
	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		id, err := s.Commit(ctx, message, meta)
		if !errors.Is(err, ErrConflict) {
			return id, err
		}
		if attempt > 1 {
			if err := storage.SleepBackoff(ctx, attempt-1, base, maxDelay); err != nil {
				return codec.SnapshotID{}, err
			}
		}
		if opts.BeforeRebase != nil {
			opts.BeforeRebase(attempt)
		}
		if err := s.Rebase(ctx, solver); err != nil {
			return codec.SnapshotID{}, err
		}
		if opts.AfterRebase != nil {
			opts.AfterRebase(attempt)
		}
	}
	return s.Commit(ctx, message, meta)
}
