package concurrency

import (
	"context"
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
