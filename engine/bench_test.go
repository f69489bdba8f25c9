package engine

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Benchmarks print figures with b.ReportMetric; run them with `make bench`.
// They are not pass/fail.

// 100,000 chunks of 4 KiB written by 16 goroutines into one session on
// local disk, then one commit.
func BenchmarkWrite100kChunksLocal(b *testing.B) {
	ctx := context.Background()
	const n, workers = 100_000, 16
	data := make([]byte, 4096)
	for range b.N {
		b.StopTimer()
		store, err := local.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		repo, err := Create(ctx, store, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := repo.WritableSession(ctx, MainBranch)
		if err := s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{n}, ChunkShape: []uint64{1}}, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					if err := s.SetChunk(ctx, MustPath("/a"), []uint32{uint32(i)}, data); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		wrote := time.Since(start)
		cstart := time.Now()
		if _, err := s.Commit(ctx, "100k chunks", nil); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/wrote.Seconds(), "chunks/s")
		b.ReportMetric(float64(time.Since(cstart).Milliseconds()), "commit-ms")
	}
}

// bigArray commits an array of 1,000,000 chunk refs (fabricated native
// refs: the chunk objects are not written, only their references).
func bigArray(b *testing.B, store storage.Storage) *Repository {
	ctx := context.Background()
	repo, err := Create(ctx, store, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := repo.WritableSession(ctx, MainBranch)
	if err := s.AddArray(ctx, MustPath("/big"), ArrayMeta{Shape: []uint64{1000, 1000}, ChunkShape: []uint64{1, 1}}, nil); err != nil {
		b.Fatal(err)
	}
	for y := range uint32(1000) {
		for x := range uint32(1000) {
			ref := &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: codec.NewChunkID(), Length: 4096}
			if err := s.SetChunkRef(ctx, MustPath("/big"), []uint32{y, x}, ref); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := s.Commit(ctx, "1M chunk refs", nil); err != nil {
		b.Fatal(err)
	}
	return repo
}

// Change one chunk of a 1,000,000-chunk array and commit: only the manifest
// block holding it is rewritten.
func BenchmarkCommitOneChunkOf1M(b *testing.B) {
	ctx := context.Background()
	counting := storage.NewCounting(mustLocal(b, b.TempDir()))
	repo := bigArray(b, counting)
	b.ResetTimer()
	for i := range b.N {
		s, _ := repo.WritableSession(ctx, MainBranch)
		if err := s.SetChunk(ctx, MustPath("/big"), []uint32{uint32(i % 1000), 7}, []byte("tiny")); err != nil {
			b.Fatal(err)
		}
		counting.Reset()
		counting.Record(true)
		start := time.Now()
		if _, err := s.Commit(ctx, "one chunk", nil); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		counting.Record(false)
		manifests := 0
		for _, c := range counting.Calls() {
			if c.Op == storage.OpPut && len(c.Key) > len(codec.ManifestsPrefix) && c.Key[:len(codec.ManifestsPrefix)] == codec.ManifestsPrefix {
				manifests++
			}
		}
		b.ReportMetric(float64(elapsed.Microseconds())/1000, "commit-ms")
		b.ReportMetric(float64(manifests), "manifests-written")
	}
}

// Open a repository and read one chunk of a 1,000,000-chunk array, cold.
func BenchmarkColdReadOneChunkOf1M(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	bigArray(b, mustLocal(b, dir))
	b.ResetTimer()
	for range b.N {
		counting := storage.NewCounting(mustLocal(b, dir))
		start := time.Now()
		repo, err := Open(ctx, counting, nil)
		if err != nil {
			b.Fatal(err)
		}
		s, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
		if err != nil {
			b.Fatal(err)
		}
		ref, err := s.GetChunkRef(ctx, MustPath("/big"), []uint32{500, 500})
		if err != nil || ref == nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms")
		b.ReportMetric(float64(counting.Counts().BytesRead), "bytes-read")
	}
}

// The first item of the ancestry of a 10,000-commit branch comes back after
// reading one snapshot, not the whole history (objects-read also counts
// the few snapshots and log entries fetched ahead before the walk stopped).
func BenchmarkAncestryFirstOf10k(b *testing.B) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New("ancestry"))
	repo, err := Create(ctx, counting, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := repo.WritableSession(ctx, MainBranch)
	_ = s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{10}, ChunkShape: []uint64{10}}, nil)
	_, _ = s.Commit(ctx, "array", nil)
	for i := range 10_000 {
		s, _ := repo.WritableSession(ctx, MainBranch)
		_ = s.SetChunkRef(ctx, MustPath("/a"), []uint32{0}, &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte(fmt.Sprint(i))})
		if _, err := s.Commit(ctx, fmt.Sprint("commit ", i), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		fresh, err := Open(ctx, counting, nil) // cold caches
		if err != nil {
			b.Fatal(err)
		}
		counting.Reset()
		start := time.Now()
		for info, err := range fresh.Ancestry(ctx, Version{Branch: MainBranch}) {
			if err != nil || info.Message != "commit 9999" {
				b.Fatal(err, info.Message)
			}
			break
		}
		b.ReportMetric(float64(time.Since(start).Microseconds()), "first-item-µs")
		b.ReportMetric(float64(counting.Counts().Ops[storage.OpGet]), "objects-read")
	}
}

// The whole history of a 100-commit branch from a fresh handle, on a store
// whose reads take 5 ms each, as round trips to an object store do.
// "branch" walks the branch, whose log names the snapshots ahead; "tag"
// walks from a tag on the tip, which no log the handle has read holds, so
// the walk reads the log place its snapshot records; "deleted-branch"
// walks a tagged history whose branch was deleted, the same way;
// "deleted-branch-no-places" walks such a history written without log
// places, one snapshot after another (no search finds its log).
func BenchmarkAncestryOf100OnSlowStore(b *testing.B) {
	ctx := context.Background()
	base := memory.New("ancestry-slow")
	mainWithCommits(b, base, 100, withPlaces)
	plain, err := Open(ctx, base, nil)
	if err != nil {
		b.Fatal(err)
	}
	tip, err := plain.LookupBranch(ctx, MainBranch)
	if err != nil {
		b.Fatal(err)
	}
	if err := plain.CreateTag(ctx, "tip", tip); err != nil {
		b.Fatal(err)
	}
	// 100 commits on a branch since deleted, tagged: their snapshots
	// record their log places, or (as written by builds before them) not.
	deletedBranch := func(name string, places logPlaces) storage.Storage {
		store := memory.New(name)
		gone, workTip := workHistory(b, store, 100, places)
		err := gone.CreateTag(ctx, "kept", workTip)
		if err == nil {
			err = gone.DeleteBranch(ctx, "work")
		}
		if err != nil {
			b.Fatal(err)
		}
		return store
	}
	for _, tc := range []struct {
		name  string
		store storage.Storage
		v     Version
	}{
		{"branch", base, Version{Branch: MainBranch}},
		{"tag", base, Version{Tag: "tip"}},
		{"deleted-branch", deletedBranch("ancestry-slow-deleted", withPlaces), Version{Tag: "kept"}},
		{"deleted-branch-no-places", deletedBranch("ancestry-slow-no-places", withoutPlaces), Version{Tag: "kept"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				fresh, slow := openSlow(b, tc.store, 5*time.Millisecond)
				slow.logDelay = 5 * time.Millisecond
				start, n := time.Now(), 0
				for _, err := range fresh.Ancestry(ctx, tc.v) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				reads, _, most := slow.counts()
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "walk-ms")
				b.ReportMetric(float64(reads)/float64(n), "snapshot-reads-per-step")
				b.ReportMetric(float64(most), "most-in-flight")
			}
		})
	}
}

// latencyStore makes every read and write wait, as a round trip to an
// object store does.
type latencyStore struct {
	storage.Storage
	delay time.Duration
}

func (l *latencyStore) wait(ctx context.Context) error {
	select {
	case <-time.After(l.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *latencyStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := l.wait(ctx); err != nil {
		return nil, err
	}
	return l.Storage.Get(ctx, key)
}

func (l *latencyStore) Put(ctx context.Context, key string, data []byte) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	return l.Storage.Put(ctx, key, data)
}

func (l *latencyStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := l.wait(ctx); err != nil {
		return err
	}
	return l.Storage.PutIfAbsent(ctx, key, data)
}

// One writer's commits of one 4 KiB chunk each on a store where every
// request takes 10 ms: commit-ms is the round trips in a row a commit
// waits for (the tip read runs beside the writes when the branch is not
// contended, so two: the objects, then the ref).
func BenchmarkCommitOnSlowStore(b *testing.B) {
	ctx := context.Background()
	slow := &latencyStore{Storage: memory.New("commit-slow"), delay: 10 * time.Millisecond}
	repo, err := Create(ctx, slow, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, err := repo.WritableSession(ctx, MainBranch)
	if err != nil {
		b.Fatal(err)
	}
	for key, data := range map[string][]byte{"zarr.json": groupJSON(""), "a/zarr.json": arrayJSON([]int{1 << 20}, []int{4096}, "default", "")} {
		if err := s.StoreSet(ctx, key, data); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Commit(ctx, "the array", nil); err != nil {
		b.Fatal(err)
	}
	var committing time.Duration
	i := 0
	for b.Loop() {
		s, err := repo.WritableSession(ctx, MainBranch)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.StoreSet(ctx, fmt.Sprintf("a/c/%d", i), make([]byte, 4096)); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := s.Commit(ctx, "one chunk", nil); err != nil {
			b.Fatal(err)
		}
		committing += time.Since(start)
		i++
	}
	b.ReportMetric(float64(committing.Microseconds())/1000/float64(i), "commit-ms")
}

// Rebase a session over 100 intervening commits of 10 chunks each.
func BenchmarkRebaseOver100Commits(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		counting := storage.NewCounting(memory.New("rebase"))
		repo, _ := Create(ctx, counting, nil, nil)
		s, _ := repo.WritableSession(ctx, MainBranch)
		_ = s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{2000}, ChunkShape: []uint64{1}}, nil)
		_, _ = s.Commit(ctx, "array", nil)
		mine, _ := repo.WritableSession(ctx, MainBranch)
		_ = mine.SetChunkRef(ctx, MustPath("/a"), []uint32{1999}, &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte("mine")})
		for c := range 100 {
			other, _ := repo.WritableSession(ctx, MainBranch)
			for k := range 10 {
				_ = other.SetChunkRef(ctx, MustPath("/a"), []uint32{uint32(c*10 + k)}, &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte("x")})
			}
			if _, err := other.Commit(ctx, "other", nil); err != nil {
				b.Fatal(err)
			}
		}
		// A fresh handle, so the rebase reads from storage as a separate
		// writer would.
		repo2, _ := Open(ctx, counting, nil)
		mine2, err := repo2.SessionFromBytes(mustBench(mine.Bytes(ctx)))
		if err != nil {
			b.Fatal(err)
		}
		counting.Reset()
		counting.Record(true)
		b.StartTimer()
		start := time.Now()
		if err := mine2.Rebase(ctx, BasicConflictSolver{}); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		counting.Record(false)
		kinds := map[string]int{}
		for _, c := range counting.Calls() {
			if c.Op == storage.OpGet {
				for _, p := range []string{codec.SnapshotsPrefix, codec.TransactionsPrefix, codec.ManifestsPrefix, codec.RefsPrefix} {
					if len(c.Key) >= len(p) && c.Key[:len(p)] == p {
						kinds[p]++
					}
				}
			}
		}
		b.ReportMetric(float64(elapsed.Microseconds())/1000, "rebase-ms")
		b.ReportMetric(float64(kinds[codec.TransactionsPrefix]), "txlogs-read")
		b.ReportMetric(float64(kinds[codec.SnapshotsPrefix]), "snapshots-read")
		b.ReportMetric(float64(kinds[codec.ManifestsPrefix]), "manifests-read")
		b.ReportMetric(float64(kinds[codec.RefsPrefix]), "ref-entries-read")
		b.StartTimer()
	}
}

func mustBench(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func mustLocal(b *testing.B, dir string) storage.Storage {
	s, err := local.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// 200,000 chunk refs set in one session on a 1-D array, then one commit,
// on in-memory storage. "refs" sets fabricated native refs (no chunk
// objects); "zarr" writes 4 KiB chunks through the zarr store API in
// batches of 8,192, as the Python benchmark W3w does, into a storage that
// drops chunk objects. Reports the live heap the change set holds per ref,
// and the heap during the commit: its sampled peak (objects, garbage
// included, which is what the process's RSS follows), the peak of the live
// heap marked by the collector, the bytes allocated, and the manifest
// cache's size per ref after it; heap figures are above the heap before the
// writes.
func BenchmarkCommit200kRefs(b *testing.B) {
	const n, batch = 200_000, 8192
	ctx := context.Background()
	data := make([]byte, 4096)
	write := map[string]func(b *testing.B, s *Session){
		"refs": func(b *testing.B, s *Session) {
			for i := range uint32(n) {
				ref := &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: codec.NewChunkID(), Length: 4096}
				if err := s.SetChunkRef(ctx, MustPath("/data"), []uint32{i}, ref); err != nil {
					b.Fatal(err)
				}
			}
		},
		"zarr": func(b *testing.B, s *Session) {
			for i := 0; i < n; i += batch {
				var keys []string
				var values [][]byte
				for j := i; j < min(i+batch, n); j++ {
					keys = append(keys, fmt.Sprintf("data/c/%d", j))
					values = append(values, data)
				}
				if err := s.StoreSetMany(ctx, keys, values); err != nil {
					b.Fatal(err)
				}
			}
		},
	}
	for _, name := range []string{"refs", "zarr"} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				repo, err := Create(ctx, dropChunks{memory.New("bench")}, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				s, _ := repo.WritableSession(ctx, MainBranch)
				if err := s.StoreSet(ctx, "data/zarr.json", arrayJSON([]int{n * 1024}, []int{1024}, "default", "")); err != nil {
					b.Fatal(err)
				}
				base := liveHeap()
				b.StartTimer()
				write[name](b, s)
				b.StopTimer()
				written := liveHeap()
				b.StartTimer()
				stop := sampleHeap()
				if _, err := s.Commit(ctx, "200k chunks", nil); err != nil {
					b.Fatal(err)
				}
				peak := stop()
				b.StopTimer()
				b.ReportMetric(float64(written-base)/n, "live-B/ref")
				b.ReportMetric(float64(peak.objects-base)/(1<<20), "commit-peak-heap-MiB")
				b.ReportMetric(float64(peak.live-base)/(1<<20), "commit-peak-live-MiB")
				b.ReportMetric(float64(peak.allocated)/(1<<20), "commit-alloc-MiB")
				_, cached := repo.assets.manifests.stats()
				b.ReportMetric(float64(cached)/n, "cached-B/ref")
				runtime.KeepAlive(s)
				b.StartTimer()
			}
		})
	}
}

// The refs of 200,000 chunks committed as BenchmarkCommit200kRefs/refs
// commits them, looked up one by one from a freshly opened repository, as
// the Python benchmark W3r reads them. Reports the live heap the reads
// leave per ref (the decoded manifests, plus about 2.5 MiB that does not
// grow with the refs, mostly zstd decoder state), the manifest cache's
// size per ref, and the heap's sampled peak during the reads, above the
// heap before them.
func BenchmarkRead200kRefs(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	store := memory.New("bench")
	repo, err := Create(ctx, store, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := repo.WritableSession(ctx, MainBranch)
	if err := s.AddArray(ctx, MustPath("/data"), ArrayMeta{Shape: []uint64{n * 1024}, ChunkShape: []uint64{1024}}, nil); err != nil {
		b.Fatal(err)
	}
	for i := range uint32(n) {
		ref := &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: codec.NewChunkID(), Length: 4096}
		if err := s.SetChunkRef(ctx, MustPath("/data"), []uint32{i}, ref); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Commit(ctx, "200k chunk refs", nil); err != nil {
		b.Fatal(err)
	}
	repo, s = nil, nil
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		fresh, err := Open(ctx, store, nil)
		if err != nil {
			b.Fatal(err)
		}
		rs, err := fresh.ReadonlySession(ctx, Version{Branch: MainBranch})
		if err != nil {
			b.Fatal(err)
		}
		base := liveHeap()
		b.StartTimer()
		stop := sampleHeap()
		for i := range uint32(n) {
			if ref, err := rs.GetChunkRef(ctx, MustPath("/data"), []uint32{i}); err != nil || ref == nil {
				b.Fatal(i, err)
			}
		}
		peak := stop()
		b.StopTimer()
		live := liveHeap()
		_, cached := fresh.assets.manifests.stats()
		b.ReportMetric(float64(live-base)/n, "live-B/ref")
		b.ReportMetric(float64(cached)/n, "cached-B/ref")
		b.ReportMetric(float64(peak.objects-base)/(1<<20), "peak-heap-MiB")
		runtime.KeepAlive(rs)
		b.StartTimer()
	}
}

// dropChunks is a storage that discards chunk objects, so that a benchmark
// of the engine's memory does not count the chunks' bytes.
type dropChunks struct{ storage.Storage }

func (d dropChunks) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, codec.ChunksPrefix) {
		return nil
	}
	return d.Storage.Put(ctx, key, data)
}

// liveHeap collects garbage and returns the bytes of live heap objects.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

type heapPeak struct {
	objects   uint64 // heap objects, garbage included
	live      uint64 // live heap as marked by the last collection
	allocated uint64 // bytes allocated while sampling
}

// sampleHeap samples the heap every 100µs until the returned function is
// called, which returns the peaks.
func sampleHeap() func() heapPeak {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(samples)
	allocs0 := samples[2].Value.Uint64()
	var peak heapPeak
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			peak.objects = max(peak.objects, samples[0].Value.Uint64())
			peak.live = max(peak.live, samples[1].Value.Uint64())
			select {
			case <-done:
				peak.allocated = samples[2].Value.Uint64() - allocs0
				return
			case <-t.C:
			}
		}
	}()
	return func() heapPeak {
		close(done)
		<-finished
		return peak
	}
}

// A garbage collection (dry run, so every round sees the same repository)
// of a local-disk repository whose main has 200 commits of 50 chunks each
// (one 64 KiB object per chunk, 10,000 objects), half of them rewritten by
// a branch that was then deleted: the time, the storage requests and the
// objects found unreachable.
func BenchmarkGarbageCollectLocal(b *testing.B) {
	ctx := context.Background()
	const commits, perCommit = 200, 50
	counting := storage.NewCounting(mustLocal(b, b.TempDir()))
	repo, err := Create(ctx, counting, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64<<10)
	commit := func(branch string, c int) {
		s, err := repo.WritableSession(ctx, branch)
		if err != nil {
			b.Fatal(err)
		}
		if c == 0 && branch == MainBranch {
			if err := s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{commits * perCommit}, ChunkShape: []uint64{1}}, nil); err != nil {
				b.Fatal(err)
			}
		}
		for i := range perCommit {
			if err := s.SetChunk(ctx, MustPath("/a"), []uint32{uint32(c*perCommit + i)}, data); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Commit(ctx, fmt.Sprint("commit ", c), nil); err != nil {
			b.Fatal(err)
		}
	}
	for c := range commits {
		if c == commits/2 {
			tip, _ := repo.LookupBranch(ctx, MainBranch)
			if err := repo.CreateBranch(ctx, "scratch", tip); err != nil {
				b.Fatal(err)
			}
			for k := range commits / 2 {
				commit("scratch", k)
			}
			if err := repo.DeleteBranch(ctx, "scratch"); err != nil {
				b.Fatal(err)
			}
		}
		commit(MainBranch, c)
	}
	var sum GCSummary
	b.ResetTimer()
	for range b.N {
		fresh, err := Open(ctx, counting, nil) // cold caches, as a maintenance job starts
		if err != nil {
			b.Fatal(err)
		}
		counting.Reset()
		counting.Record(true)
		sum, err = fresh.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour), DryRun: true})
		counting.Record(false)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(counting.Calls())), "requests/op")
	b.ReportMetric(float64(sum.SnapshotsDeleted), "unreachable-snapshots")
	b.ReportMetric(float64(sum.ChunksDeleted), "unreachable-chunk-objects")
}
