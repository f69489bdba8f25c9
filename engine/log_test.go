package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/logs/logstest"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// wantLine fails unless exactly one captured line has every part.
func wantLine(t *testing.T, lines *logstest.Lines, parts ...string) {
	t.Helper()
	if got := lines.Matching(parts...); len(got) != 1 {
		t.Fatalf("%d lines with %q, want 1; the log:\n%s", len(got), parts, strings.Join(lines.All(), "\n"))
	}
}

func TestEngineLogsCommitsRebasesAndRefChanges(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	lines := logstest.Capture(t, "engine=debug")

	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/array"), basicShape(), nil))
	base := s.SnapshotID()
	first := commit(t, s, "create array")
	wantLine(t, lines, "level=INFO", "msg=committed", "component=engine", "branch=main", "snapshot="+first.String(), "parent="+base.String(), "took=")

	// Behind the branch: the commit finds it moved before writing.
	behind, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, behind, "/array", 1, "behind")
	ahead, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, ahead, "/array", 2, "ahead")
	second := commit(t, ahead, "ahead")
	_, err = behind.Commit(ctx, "behind", nil)
	if err == nil {
		t.Fatal("a commit behind its branch landed")
	}
	wantLine(t, lines, "level=DEBUG", `msg="the branch moved before the commit wrote anything"`, "expected="+first.String(), "actual="+second.String())
	ok(t, behind.Rebase(ctx, BasicConflictSolver{}))
	wantLine(t, lines, "level=DEBUG", "msg=rebased", "from="+first.String(), "to="+second.String(), "commits=1", `found_by="branch log"`)

	// A race lost after writing, then a wait and a rebase.
	sleepBackoff = func(context.Context, int, time.Duration, time.Duration) error { return nil }
	defer func() { sleepBackoff = storage.SleepBackoff }()
	racing := &raceOnSnapshotPut{Storage: store, t: t, other: repo}
	racing.armed.Store(1)
	handle, err := Open(ctx, racing, nil)
	ok(t, err)
	loser, err := handle.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, loser, "/array", 4, "loser")
	_, err = loser.CommitRebasing(ctx, BasicConflictSolver{}, "loser", nil, RetryOptions{Attempts: 5})
	ok(t, err)
	wantLine(t, lines, "level=DEBUG", `msg="lost the race for the branch after writing the commit"`, "branch=main")
	wantLine(t, lines, "level=DEBUG", `msg="waiting before a rebase, after lost races"`, "lost=1", "up_to=")

	// Branches and tags.
	ok(t, repo.CreateBranch(ctx, "dev", first))
	wantLine(t, lines, `msg="created a branch"`, "branch=dev", "snapshot="+first.String())
	ok(t, repo.ResetBranch(ctx, "dev", second, first))
	wantLine(t, lines, `msg="reset a branch"`, "branch=dev", "snapshot="+second.String())
	ok(t, repo.DeleteBranch(ctx, "dev"))
	wantLine(t, lines, `msg="deleted a branch"`, "branch=dev")
	ok(t, repo.CreateTag(ctx, "v1", first))
	wantLine(t, lines, `msg="created a tag"`, "tag=v1", "snapshot="+first.String())
	ok(t, repo.DeleteTag(ctx, "v1"))
	wantLine(t, lines, `msg="deleted a tag"`, "tag=v1")

	// Maintenance reports what it did.
	_, err = repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: time.Now().Add(time.Hour)})
	ok(t, err)
	wantLine(t, lines, `msg="expired snapshots"`, "older_than=", "expired=", "rewritten=")
	sum, err := repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	ok(t, err)
	wantLine(t, lines, `msg="garbage collected"`, fmt.Sprint("snapshots=", sum.SnapshotsDeleted), fmt.Sprint("bytes=", sum.BytesDeleted))

	// Above the level, nothing.
	quiet := logstest.Capture(t, "engine=warn")
	s, err = repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, s, "/array", 0, "quiet")
	commit(t, s, "quiet")
	if all := quiet.All(); len(all) != 0 {
		t.Fatalf("lines at warn level: %q", all)
	}
}
