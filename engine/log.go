package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
)

// The engine's lines in the library's log (package logs, component
// "engine"): at info, what changed the repository (commits, flushes,
// branch and tag moves, maintenance); at debug, how commits got there
// (conflicts found, races for a branch lost, waits, rebases). A line is
// built only when its level is on.

func logOn(ctx context.Context, level slog.Level) bool {
	return logs.Engine.Enabled(ctx, level)
}

// logCommit reports the outcome of one commit attempt on branch from
// parent: the snapshot it made, or why it did not land.
func logCommit(ctx context.Context, branch string, parent, id codec.SnapshotID, start time.Time, err error) {
	var ce *ConflictError
	switch {
	case err == nil:
		if logOn(ctx, slog.LevelInfo) {
			logs.Engine.InfoContext(ctx, "committed", "branch", branch, "snapshot", id, "parent", parent, "took", time.Since(start))
		}
	case errors.As(err, &ce):
		if logOn(ctx, slog.LevelDebug) {
			what := "the branch moved before the commit wrote anything"
			if ce.lostRace {
				what = "lost the race for the branch after writing the commit"
			}
			logs.Engine.DebugContext(ctx, what, "branch", branch, "expected", ce.ExpectedParent, "actual", ce.ActualParent, "took", time.Since(start))
		}
	default:
		if logOn(ctx, slog.LevelDebug) {
			logs.Engine.DebugContext(ctx, "commit failed", "branch", branch, "parent", parent, "err", err)
		}
	}
}

// logRebase reports a rebase of a session on branch from base over n
// commits to tip; fromLog says whether the branch log told the commits.
func logRebase(ctx context.Context, branch string, base, tip codec.SnapshotID, n int, fromLog bool, err error) {
	if !logOn(ctx, slog.LevelDebug) {
		return
	}
	how := "branch log"
	if !fromLog {
		how = "snapshot parents"
	}
	if err != nil {
		logs.Engine.DebugContext(ctx, "rebase failed", "branch", branch, "from", base, "to", tip, "commits", n, "found_by", how, "err", err)
		return
	}
	logs.Engine.DebugContext(ctx, "rebased", "branch", branch, "from", base, "to", tip, "commits", n, "found_by", how)
}

// logRefChange reports a branch or tag created, moved or deleted (snap
// zero for a delete).
func logRefChange(ctx context.Context, what, kind, name string, snap codec.SnapshotID, err error) {
	if err != nil || !logOn(ctx, slog.LevelInfo) {
		return
	}
	if snap.IsZero() {
		logs.Engine.InfoContext(ctx, what, kind, name)
		return
	}
	logs.Engine.InfoContext(ctx, what, kind, name, "snapshot", snap)
}
