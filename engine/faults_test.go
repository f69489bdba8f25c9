package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Writers commit with retries on a storage that fails 10% of operations,
// half of them indeterminately (writes that land but report a timeout
// among them). Every call either succeeds or returns an error; afterwards
// the branch's log is a linear chain (no version moved twice), every
// acknowledged commit is in the history with its data, and every snapshot
// in the history reads back whole.
func TestCommitsUnderInjectedFaults(t *testing.T) {
	// 10% faults with the usual retries: (nearly) everything lands. 30%
	// with barely any retries: many calls fail, and must fail cleanly.
	t.Run("10pct", func(t *testing.T) { commitsUnderFaults(t, 0.10, 8, 30) })
	t.Run("30pct-no-retries", func(t *testing.T) { commitsUnderFaults(t, 0.30, 2, 0) })
}

func commitsUnderFaults(t *testing.T, rate float64, attempts, minAcks int) {
	ctx := context.Background()
	base := memory.New(t.Name())
	faulty := storage.NewUnreliable(base, storage.Faults{Rate: rate, IndeterminateShare: 0.5, Seed: 7})
	opts := &Options{Retry: storage.RetryPolicy{MaxAttempts: attempts, BaseDelay: 100 * time.Microsecond, MaxDelay: 2 * time.Millisecond}}

	faulty.SetEnabled(false)
	repo, err := Create(ctx, faulty, nil, opts)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	const workers, iterations = 4, 15
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{workers, 16}, ChunkShape: []uint64{1, 1}}, []byte("{}")))
	_, err = s.Commit(ctx, "setup", nil)
	ok(t, err)
	faulty.SetEnabled(true)

	type ack struct {
		snap   codec.SnapshotID
		coords []uint32
		value  string
	}
	var mu sync.Mutex
	var acks []ack
	failures := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iterations {
				coords := []uint32{uint32(w), uint32(i)}
				value := fmt.Sprintf("w%d-i%d", w, i)
				// Each worker has its own handle, as separate processes would.
				r, err := Open(ctx, faulty, opts)
				if err == nil {
					var s *Session
					if s, err = r.WritableSession(ctx, MainBranch); err == nil {
						if err = s.SetChunk(ctx, MustPath("/a"), coords, []byte(value)); err == nil {
							var id codec.SnapshotID
							id, err = s.CommitRebasing(ctx, BasicConflictSolver{}, value, nil, RetryOptions{Attempts: 100, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
							if err == nil {
								mu.Lock()
								acks = append(acks, ack{id, coords, value})
								mu.Unlock()
								continue
							}
						}
					}
				}
				mu.Lock()
				failures++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	faulty.SetEnabled(false)
	t.Logf("%d commits acknowledged, %d calls failed, %d faults injected", len(acks), failures, faulty.Injected())
	if len(acks) < minAcks {
		t.Fatalf("only %d of %d commits acknowledged: retries do not absorb the faults", len(acks), workers*iterations)
	}

	// The branch log: consecutive versions, each entry's snapshot a child
	// of the previous one's.
	reader, err := Open(ctx, base, nil)
	ok(t, err)
	entries, err := storage.NewConsensus(base, codec.RefsPrefix).Scan(ctx, "branch.main", 0, 0)
	ok(t, err)
	var prev codec.SnapshotID
	for i, e := range entries {
		if e.SeqNo != storage.SeqNo(i) {
			t.Fatalf("branch log entry %d has version %d", i, e.SeqNo)
		}
		ref, err := codec.DecodeRef("entry", e.Data)
		ok(t, err)
		info, err := reader.SnapshotInfo(ctx, ref.Snapshot)
		ok(t, err)
		if i > 0 && info.ParentID != prev {
			t.Fatalf("branch moved from %s to %s whose parent is %s", prev, ref.Snapshot, info.ParentID)
		}
		prev = ref.Snapshot
	}

	// Acknowledged commits are in the history, with their data.
	inHistory := map[codec.SnapshotID]bool{}
	for info, err := range reader.Ancestry(ctx, Version{Branch: MainBranch}) {
		ok(t, err)
		if inHistory[info.ID] {
			t.Fatalf("snapshot %s twice in the history", info.ID)
		}
		inHistory[info.ID] = true
		// Every snapshot reads back whole.
		rs, err := reader.ReadonlySession(ctx, Version{Snapshot: info.ID})
		ok(t, err)
		for c, err := range rs.AllChunks(ctx) {
			ok(t, err)
			if _, _, err := rs.GetChunk(ctx, c.Path, c.Coords, storage.From(0)); err != nil {
				t.Fatalf("snapshot %s chunk %v: %v", info.ID, c.Coords, err)
			}
		}
	}
	tip, err := reader.ReadonlySession(ctx, Version{Branch: MainBranch})
	ok(t, err)
	for _, a := range acks {
		if !inHistory[a.snap] {
			t.Fatalf("acknowledged commit %s (%s) is not in the history", a.snap, a.value)
		}
		if got := chunkBytes(t, tip, "/a", a.coords...); got != a.value {
			t.Fatalf("chunk %v holds %q, want %q", a.coords, got, a.value)
		}
	}
}
