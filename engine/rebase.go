package engine

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
	"github.com/icechunk-go/icechunk-go/storage"
)

// Rebase replays the session's changes over the commits that landed on its
// branch since its base, oldest first, reading each commit's transaction
// log (never comparing whole snapshots) and letting solver patch the change
// set step by step. On success the session is based on the branch tip and a
// commit will succeed unless the branch moves again.
//
// The commits are found in the branch's log, which names each commit's
// parent and carries small transaction logs, so a rebase over commits that
// touched other parts of the hierarchy reads no snapshot and often nothing
// at all beyond finding the tip. Where the log cannot tell (the branch was
// created or reset since the base, or its entries predate parent records)
// the snapshots' parents are walked instead.
//
// If a step cannot be solved, Rebase stops with a *RebaseFailedError
// (ErrRebaseFailed) naming that commit and its conflicts; the session is
// left based on the last commit it passed, with its changes as they were
// before the failing step. Rebase needs transaction logs (ErrTxLogsDisabled
// otherwise).
func (s *Session) Rebase(ctx context.Context, solver ConflictSolver) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("rebase"); err != nil {
		return err
	}
	if s.fork {
		return invalidArgument("a fork cannot rebase: merge it into the session it was forked from")
	}
	head, tip, err := s.repo.refs.branchHead(ctx, s.branch)
	if err != nil {
		return err
	}
	if tip.Snapshot == s.snapshotID {
		return nil
	}
	commits, fromLog, err := s.repo.refs.commitsSince(ctx, s.branch, head, tip, s.snapshotID)
	if err != nil {
		return err
	}
	if !fromLog {
		if commits, err = s.commitsByAncestry(ctx, tip.Snapshot); err != nil {
			logRebase(ctx, s.branch, s.snapshotID, tip.Snapshot, 0, fromLog, err)
			return err
		}
	}
	base := s.snapshotID
	defer func() { logRebase(ctx, s.branch, base, tip.Snapshot, len(commits), fromLog, err) }()
	for _, c := range commits {
		txlog := c.txlog
		if txlog == nil {
			if txlog, err = s.repo.assets.fetchTransactionLog(ctx, c.snapshot); err != nil {
				return errors.Wrap(err, "rebase needs the transaction log of every commit it passes")
			}
		}
		step := &RebaseStep{CommitID: c.snapshot, TxLog: txlog, Changes: s.changes.clone(), baseID: s.snapshotID, assets: s.repo.assets}
		patched, conflicts, err := solver.Solve(ctx, step)
		if err != nil {
			return errors.Wrapf(err, "solving conflicts with commit %s", c.snapshot)
		}
		if len(conflicts) > 0 {
			return &RebaseFailedError{Snapshot: c.snapshot, Conflicts: conflicts}
		}
		if patched.IsEmpty() && !s.changes.IsEmpty() {
			s.superseded = true
		}
		s.changes = patched
		s.snapshotID = c.snapshot
		s.zarrInfo.Clear()
	}
	return nil
}

// commitsByAncestry returns the commits from the session's base to tip,
// oldest first, walking the snapshots' parents back from tip: for a branch
// whose log cannot tell (see commitsSince). It fails with ErrRebaseFailed
// if the base is not an ancestor of tip, or if expiring history rewrote a
// snapshot on the way (its transaction log is then no longer relative to
// its parent).
func (s *Session) commitsByAncestry(ctx context.Context, tip codec.SnapshotID) ([]loggedCommit, error) {
	var chain []loggedCommit // newest first
	var cut codec.SnapshotID // the newest of them whose history was expired
	found := false
	for info, err := range s.repo.ancestryUntil(ctx, tip, s.snapshotID) {
		if err != nil {
			return nil, err
		}
		if info.ID == s.snapshotID {
			found = true
			break
		}
		chain = append(chain, loggedCommit{snapshot: info.ID})
		if info.HistoryCut && cut.IsZero() {
			cut = info.ID
		}
	}
	switch {
	case !found && !cut.IsZero():
		return nil, errors.Mark(errors.Wrapf(cutError(cut, "rebase"), "this session's base %s was expired from branch %q; start a new session", s.snapshotID, s.branch), ErrRebaseFailed)
	case !found:
		return nil, errors.Mark(errors.Newf("cannot rebase: branch %q was reset to %s, which does not descend from this session's base %s; start a new session", s.branch, tip, s.snapshotID), ErrRebaseFailed)
	case !cut.IsZero():
		return nil, errors.Mark(errors.Newf("cannot rebase: the history between this session's base %s and commit %s was expired; start a new session", s.snapshotID, cut), ErrRebaseFailed)
	}
	slices.Reverse(chain)
	return chain, nil
}

// sleepBackoff is storage.SleepBackoff; tests record the delays through it.
var sleepBackoff = storage.SleepBackoff

// RetryOptions tune CommitRebasing.
type RetryOptions struct {
	// Attempts is the number of rebases tried before giving up (the seed's
	// rebase_attempts).
	Attempts int
	// BaseDelay and MaxDelay bound the backoff slept after a commit that
	// wrote its objects and then lost the branch to another writer: for
	// the n-th such loss, a random time up to n times the longer of
	// BaseDelay and how long that commit took, at most MaxDelay. Writers
	// that lost one race together then spread over about as many commit
	// times as there are of them, instead of all writing again at once and
	// all but one losing again. A commit that found the branch moved
	// before writing anything cost one read and rebases at once: the
	// branch moved because another commit landed, so this never spins
	// without progress. Zero values mean 5 ms and 250 ms.
	BaseDelay, MaxDelay time.Duration
	// BeforeRebase and AfterRebase, when set, are called around each
	// rebase with the attempt number (from 1).
	BeforeRebase, AfterRebase func(attempt int)
}

// CommitRebasing commits, and on a conflict rebases with solver and tries
// again, up to opts.Attempts rebases, sleeping a jittered backoff after
// each lost race (see RetryOptions). It gives up with the last
// *ConflictError, or returns the first error that is not a conflict (a
// failed rebase included).
func (s *Session) CommitRebasing(ctx context.Context, solver ConflictSolver, message string, meta map[string]any, opts RetryOptions) (codec.SnapshotID, error) {
	base, maxDelay := opts.BaseDelay, opts.MaxDelay
	if base <= 0 {
		base = 5 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 250 * time.Millisecond
	}
	losses := 0
	for attempt := 1; attempt <= opts.Attempts; attempt++ {
		start := time.Now()
		id, err := s.Commit(ctx, message, meta)
		if !errors.Is(err, ErrConflict) {
			return id, err
		}
		if ce := (*ConflictError)(nil); errors.As(err, &ce) && ce.lostRace {
			losses++
			d := min(time.Duration(losses)*max(base, time.Since(start)), maxDelay)
			if logOn(ctx, slog.LevelDebug) {
				logs.Engine.DebugContext(ctx, "waiting before a rebase, after lost races", "branch", s.branch, "lost", losses, "up_to", d)
			}
			if err := sleepBackoff(ctx, 1, d, d); err != nil { // up to d
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
