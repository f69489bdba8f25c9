package concurrency

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
)

// objectKeys returns the keys of the repository's snapshots, transaction
// logs, manifests and chunk objects.
func objectKeys(t testing.TB, p place) map[string]bool {
	t.Helper()
	ctx := context.Background()
	store, err := p.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, prefix := range []string{codec.SnapshotsPrefix, codec.TransactionsPrefix, codec.ManifestsPrefix, codec.ChunksPrefix} {
		for info, err := range store.List(ctx, prefix, storage.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			keys[info.Key] = true
		}
	}
	return keys
}

// makeGarbage leaves objects no ref reaches: the commit of a branch that
// is then deleted, and the chunk of a session that never commits. It
// returns their keys.
func makeGarbage(t testing.TB, p place) []string {
	t.Helper()
	ctx := context.Background()
	before := objectKeys(t, p)
	repo := openRepo(t, p)
	tip, err := repo.LookupBranch(ctx, engine.MainBranch)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.CreateBranch(ctx, "scratch", tip); err != nil {
		t.Fatal(err)
	}
	for _, branch := range []string{"scratch", engine.MainBranch} {
		s, err := repo.WritableSession(ctx, branch)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetChunk(ctx, engine.MustPath(arrayPath), []uint32{0, 0}, chunkValue(99, 0)); err != nil {
			t.Fatal(err)
		}
		if branch == "scratch" {
			if _, err := s.Commit(ctx, "scratch", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := repo.DeleteBranch(ctx, "scratch"); err != nil {
		t.Fatal(err)
	}
	var garbage []string
	for k := range objectKeys(t, p) {
		if !before[k] {
			garbage = append(garbage, k)
		}
	}
	return garbage
}

// Garbage collections run one after another while writer processes
// commit with rebase to one branch. Their cutoff is a moment before the
// writers started, older than every session's start as the contract asks,
// with garbage older than it to collect. Every commit lands and reads back
// whole, the old garbage goes, and a last collection once the writers are
// done (every session over, so any cutoff is safe) leaves the history
// intact too.
func TestGarbageCollectWhileWritersCommit(t *testing.T) {
	const workers, commits = 4, 15
	for name, p := range places(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			setup(t, p, workers, commits)
			garbage := makeGarbage(t, p)
			if len(garbage) < 5 {
				t.Fatalf("expected a snapshot, transaction log, manifest and two chunk objects of garbage, got %v", garbage)
			}
			// S3 gives modification times to the second.
			time.Sleep(1100 * time.Millisecond)
			cutoff := time.Now()
			time.Sleep(1100 * time.Millisecond)

			repo := openRepo(t, p)
			done := make(chan struct{})
			var wg sync.WaitGroup
			var passes int
			var deleted engine.GCSummary
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					sum, err := repo.GarbageCollect(ctx, engine.GCOptions{DeleteOlderThan: cutoff})
					if err != nil {
						t.Errorf("garbage collection %d while writers commit: %+v", passes+1, err)
						return
					}
					passes++
					deleted.SnapshotsDeleted += sum.SnapshotsDeleted
					deleted.ChunksDeleted += sum.ChunksDeleted
				}
			}()
			r := runWriters(t, p, "rebase", workers, commits)
			close(done)
			wg.Wait()
			if r.conflicts != 0 || len(r.oks) != workers*commits {
				t.Fatalf("%d of %d commits landed, %d gave up", len(r.oks), workers*commits, r.conflicts)
			}
			if passes < 2 {
				t.Fatalf("only %d garbage collections ran while the writers committed", passes)
			}
			checkHistory(t, p, r.oks)
			left := objectKeys(t, p)
			for _, k := range garbage {
				if left[k] {
					t.Errorf("%s: older than the cutoff and unreachable, but still there", k)
				}
			}
			if deleted.SnapshotsDeleted != 1 {
				t.Errorf("the collections deleted %d snapshots older than the cutoff, want the deleted branch's one", deleted.SnapshotsDeleted)
			}

			final, err := repo.GarbageCollect(ctx, engine.GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatalf("%+v", err)
			}
			checkHistory(t, p, r.oks)
			t.Logf("%s: %d collections while %d commits landed (old garbage: %d objects); afterwards %+v; %d objects left",
				name, passes, len(r.oks), len(garbage), final, len(objectKeys(t, p)))
		})
	}
}

// Expiring history and then collecting garbage, on local disk and MinIO:
// the old commits leave main's history, their chunks go, and the commits
// kept read back whole through a new handle.
func TestExpireThenCollect(t *testing.T) {
	for name, p := range places(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			setup(t, p, 1, 4)
			repo := openRepo(t, p)
			commit := func(i int) codec.SnapshotID {
				s, err := repo.WritableSession(ctx, engine.MainBranch)
				if err != nil {
					t.Fatal(err)
				}
				// Every commit rewrites chunk (0, 0): each old version is
				// garbage once its commit is expired.
				if err := s.SetChunk(ctx, engine.MustPath(arrayPath), []uint32{0, 0}, chunkValue(0, i)); err != nil {
					t.Fatal(err)
				}
				id, err := s.Commit(ctx, fmt.Sprint("commit ", i), nil)
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			commit(1)
			commit(2)
			time.Sleep(1100 * time.Millisecond) // S3 gives times to the second
			cutoff := time.Now()
			time.Sleep(1100 * time.Millisecond)
			kept := []codec.SnapshotID{commit(3), commit(4)}

			res, err := repo.ExpireSnapshots(ctx, engine.ExpireOptions{OlderThan: cutoff})
			if err != nil {
				t.Fatalf("%+v", err)
			}
			if len(res.Expired) != 3 || len(res.Rewritten) != 1 || res.Rewritten[0] != kept[0] {
				t.Fatalf("expire: %+v, want the setup commit and commits 1 and 2 expired, commit 3 rewritten", res)
			}
			sum, err := repo.GarbageCollect(ctx, engine.GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatalf("%+v", err)
			}
			if sum.SnapshotsDeleted != 3 || sum.ChunksDeleted != 2 {
				t.Fatalf("collection after expiring: %+v, want 3 snapshots and the 2 old versions of the chunk", sum)
			}
			fresh := openRepo(t, p)
			var history []codec.SnapshotID
			for info, err := range fresh.Ancestry(ctx, engine.Version{Branch: engine.MainBranch}) {
				if err != nil {
					t.Fatalf("%+v", err)
				}
				history = append(history, info.ID)
			}
			if len(history) != 3 || history[0] != kept[1] || history[1] != kept[0] {
				t.Fatalf("main's history after expiring: %v, want commit 4, commit 3 and the initial snapshot", history)
			}
			for i, id := range kept {
				s, err := fresh.ReadonlySession(ctx, engine.Version{Snapshot: id})
				if err != nil {
					t.Fatal(err)
				}
				got, found, err := s.GetChunk(ctx, engine.MustPath(arrayPath), []uint32{0, 0}, storage.From(0))
				if err != nil || !found || !bytes.Equal(got, chunkValue(0, i+3)) {
					t.Fatalf("commit %d after expiring and collecting: found %v, err %v", i+3, found, err)
				}
			}
		})
	}
}
