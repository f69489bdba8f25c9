package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// A commit of chunks set directly writes them, then manifests, the
// transaction log and the snapshot (side by side: nothing refers to them
// until the branch moves), makes them durable, and only then moves the
// branch: a crash (or power loss) at any point leaves the branch on a
// complete snapshot. (Chunks written behind may land beside the other
// objects: TestCommitWritesItsObjectsWhileChunksLand.)
func TestCommitWriteOrder(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{2}, ChunkShape: []uint64{1}}, nil))
	counting.Reset()
	counting.Record(true)
	ok(t, s.SetChunk(ctx, MustPath("/a"), []uint32{0}, make([]byte, 4096)))
	_, err = s.Commit(ctx, "ordered", nil)
	ok(t, err)
	counting.Record(false)

	stage := func(c storage.Call) string {
		switch {
		case c.Op == storage.OpSync:
			return "sync"
		case c.Op != storage.OpPut && c.Op != storage.OpPutIfAbsent:
			return ""
		case strings.HasPrefix(c.Key, codec.ChunksPrefix):
			return "chunk"
		case strings.HasPrefix(c.Key, codec.ManifestsPrefix), strings.HasPrefix(c.Key, codec.TransactionsPrefix),
			strings.HasPrefix(c.Key, codec.SnapshotsPrefix):
			return "manifests+txlog+snapshot"
		case strings.HasPrefix(c.Key, codec.RefsPrefix):
			return "ref"
		}
		return "other " + c.Key
	}
	var order []string
	for _, c := range counting.Calls() {
		if st := stage(c); st != "" && (len(order) == 0 || order[len(order)-1] != st) {
			order = append(order, st)
		}
	}
	want := []string{"chunk", "manifests+txlog+snapshot", "sync", "ref"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Fatalf("commit wrote in order %v, want %v", order, want)
	}
}

// skewedStore reports every object's modification time shifted by skew, as
// a storage whose clock is off from this machine's would.
type skewedStore struct {
	storage.Storage
	skew time.Duration
}

func (s skewedStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	info, err := s.Storage.Stat(ctx, key)
	info.ModTime = info.ModTime.Add(s.skew)
	return info, err
}

// clockedStore is a storage whose responses carry its time (as S3's Date
// header does), off from this machine's by skew; it counts the Stats of
// transaction logs and snapshots, which a commit then need not make.
type clockedStore struct {
	storage.Storage
	skew  time.Duration
	stats *atomic.Int64
}

func (s clockedStore) ServerTime() (server, local time.Time, ok bool) {
	now := time.Now()
	return now.Add(s.skew), now, true
}

func (s clockedStore) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if strings.HasPrefix(key, codec.TransactionsPrefix) || strings.HasPrefix(key, codec.SnapshotsPrefix) {
		s.stats.Add(1)
	}
	return s.Storage.Stat(ctx, key)
}

// A commit from a machine whose clock is far from the storage's is refused
// before the branch moves, whether the storage's time is read from the
// transaction log or (without transaction logs) from the snapshot, or, on
// a storage that tells its time in its responses, taken from those without
// reading any object's time back.
func TestCommitRefusesASkewedClock(t *testing.T) {
	ctx := context.Background()
	for _, clocked := range []bool{false, true} {
		for _, txlogs := range []bool{true, false} {
			for _, skew := range []time.Duration{0, maxClockSkew / 2, -maxClockSkew / 2, maxClockSkew + time.Minute, -maxClockSkew - time.Minute} {
				mem := memory.New(t.Name())
				cfg := codec.DefaultRepoConfig()
				cfg.DisableTransactionLogs = !txlogs
				repo, err := Create(ctx, mem, &cfg, nil)
				ok(t, err)
				before, err := repo.LookupBranch(ctx, MainBranch)
				ok(t, err)
				var store storage.Storage = skewedStore{Storage: mem, skew: skew}
				stats := new(atomic.Int64)
				if clocked {
					store = clockedStore{Storage: mem, skew: skew, stats: stats}
				}
				skewed, err := Open(ctx, store, nil)
				ok(t, err)
				s, err := skewed.WritableSession(ctx, MainBranch)
				ok(t, err)
				ok(t, s.AddGroup(ctx, MustPath("/g"), nil))
				_, err = s.Commit(ctx, "skewed", nil)
				tip, lerr := repo.LookupBranch(ctx, MainBranch)
				ok(t, lerr)
				wantFail := skew > maxClockSkew || skew < -maxClockSkew
				switch {
				case wantFail && !errors.Is(err, ErrInvalidTimestamp):
					t.Fatalf("clock in responses %v, txlogs %v, skew %s: want ErrInvalidTimestamp, got %v", clocked, txlogs, skew, err)
				case wantFail && tip != before:
					t.Fatalf("clock in responses %v, txlogs %v, skew %s: the refused commit moved the branch", clocked, txlogs, skew)
				case !wantFail && (err != nil || tip == before):
					t.Fatalf("clock in responses %v, txlogs %v, skew %s: %v (branch moved: %v)", clocked, txlogs, skew, err, tip != before)
				case stats.Load() != 0:
					t.Fatalf("clock in responses %v, txlogs %v, skew %s: the commit read %d object times back", clocked, txlogs, skew, stats.Load())
				}
			}
		}
	}
}
