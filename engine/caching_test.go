package engine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Upstream's caching settings bound the caches in what they hold: chunk
// references for manifests, nodes for snapshots. They take effect on the
// handle that uses them, dropping what no longer fits, and without them
// the caches are bounded in bytes again.
func TestCachingCountsWhatTheCachesHold(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	for a := range 4 {
		mustOK(t, s.StoreSet(ctx, fmt.Sprintf("a%d/zarr.json", a), arrayJSON([]int{10}, []int{1}, "default", "")))
		for c := range 10 {
			mustOK(t, s.StoreSet(ctx, fmt.Sprintf("a%d/c/%d", a, c), []byte(strings.Repeat("x", 600))))
		}
	}
	id, err := s.Commit(ctx, "four arrays of ten chunks", nil)
	mustOK(t, err)

	h, err := Open(ctx, store, nil)
	mustOK(t, err)
	readAll := func() {
		t.Helper()
		r, err := h.ReadonlySession(ctx, Version{Snapshot: id})
		mustOK(t, err)
		for a := range 4 {
			mustGet(t, r, fmt.Sprintf("a%d/c/3", a), storage.From(0))
		}
	}
	readAll()
	if n, bytes := h.assets.manifests.stats(); n != 4 || bytes < 4*10*29 {
		t.Fatalf("by bytes: %d manifests cached, size %d", n, bytes)
	}
	refs, nodes := uint64(25), uint64(5)
	cfg := h.Config()
	cfg.Caching = &codec.CachingConfig{NumChunkRefs: &refs, NumSnapshotNodes: &nodes}
	mustOK(t, h.UseConfig(cfg))
	// 25 refs hold two manifests of 10; the snapshot of 5 nodes fits.
	if n, size := h.assets.manifests.stats(); n != 2 || size != 20 {
		t.Fatalf("bounded by 25 refs: %d manifests cached holding %d refs, want 2 holding 20", n, size)
	}
	readAll()
	if n, size := h.assets.manifests.stats(); n != 2 || size != 20 {
		t.Fatalf("after reading again: %d manifests holding %d refs", n, size)
	}
	if n, size := h.assets.snapshots.stats(); n < 1 || size > 5 {
		t.Fatalf("bounded by 5 nodes: %d snapshots holding %d nodes", n, size)
	}
	nodes = 4 // the snapshot has 5: it no longer fits
	mustOK(t, h.UseConfig(cfg))
	if n, _ := h.assets.snapshots.stats(); n != 0 {
		t.Fatalf("a snapshot of 5 nodes is cached under a bound of 4 (%d cached)", n)
	}
	cfg.Caching = nil
	mustOK(t, h.UseConfig(cfg))
	readAll()
	if n, bytes := h.assets.manifests.stats(); n != 4 || bytes < 4*10*29 {
		t.Fatalf("back to bytes: %d manifests cached, size %d", n, bytes)
	}
}

// Caching chunks is refused, naming the setting; attributes are accepted.
func TestCachingValidation(t *testing.T) {
	repo, _ := newStoreSession(t)
	cfg := repo.Config()
	some, zero := uint64(1<<20), uint64(0)
	cfg.Caching = &codec.CachingConfig{NumBytesChunks: &some}
	if err := repo.UseConfig(cfg); err == nil || !strings.Contains(err.Error(), "num_bytes_chunks") {
		t.Fatalf("num_bytes_chunks of 1 MiB: %v", err)
	}
	cfg.Caching = &codec.CachingConfig{NumBytesChunks: &zero, NumBytesAttributes: &some}
	mustOK(t, repo.UseConfig(cfg))
}

// The config's max_concurrent_requests bounds the handle's requests.
func TestMaxConcurrentRequestsFollowsTheConfig(t *testing.T) {
	repo, _ := newStoreSession(t)
	cfg := repo.Config()
	cfg.MaxConcurrentRequests = 7
	mustOK(t, repo.UseConfig(cfg))
	if p := repo.retry.MaxConcurrent(); p != 7 {
		t.Fatalf("the handle's bound is %d, want 7", p)
	}
	cfg.MaxConcurrentRequests = 0
	mustOK(t, repo.UseConfig(cfg))
	if p := repo.retry.MaxConcurrent(); p != 0 {
		t.Fatalf("the handle's bound is %d, want none", p)
	}
}

// slowReads counts the chunk reads in flight at once, each taking a while.
type slowReads struct {
	storage.Storage
	now, most atomic.Int64
}

func (s *slowReads) GetRange(ctx context.Context, key string, br storage.ByteRange) ([]byte, error) {
	if strings.HasPrefix(key, "chunks/") {
		n := s.now.Add(1)
		defer s.now.Add(-1)
		for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
		}
		time.Sleep(2 * time.Millisecond)
	}
	return s.Storage.GetRange(ctx, key, br)
}

// The config's get_partial_values_concurrency bounds the reads one
// many-key read runs at once.
func TestGetPartialValuesConcurrencyFollowsTheConfig(t *testing.T) {
	ctx := context.Background()
	store := &slowReads{Storage: memory.New(t.Name())}
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{64}, []int{1}, "default", "")))
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("a/c/%d", i)
		mustOK(t, s.StoreSet(ctx, keys[i], []byte(strings.Repeat("x", 1000))))
	}
	id, err := s.Commit(ctx, "chunks", nil)
	mustOK(t, err)
	readAll := func(limit uint32) int64 {
		t.Helper()
		cfg := repo.Config()
		cfg.GetPartialValuesConcurrency = limit
		mustOK(t, repo.UseConfig(cfg))
		r, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
		mustOK(t, err)
		store.most.Store(0)
		res, err := r.StoreGetMany(ctx, keys, nil)
		mustOK(t, err)
		for i, got := range res {
			if got.Err != nil || !got.Found || len(got.Data) != 1000 {
				t.Fatalf("%s: %+v", keys[i], got)
			}
		}
		return store.most.Load()
	}
	if most := readAll(3); most != 3 {
		t.Fatalf("with a bound of 3, %d reads ran at once", most)
	}
	if most := readAll(0); most <= 3 {
		t.Fatalf("with the default bound, at most %d reads ran at once", most)
	}
}
