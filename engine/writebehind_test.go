package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// gatedStore holds writes of chunk objects until its gate opens, and fails
// them while failing is set. Its bulk-write hint makes packs of two 1000
// byte chunks, two in memory at once.
type gatedStore struct {
	storage.Storage
	gate    chan struct{}
	failing atomic.Bool
	puts    atomic.Int64 // chunk objects stored
}

var errInjected = errors.New("injected chunk write failure")

func newGatedStore(open bool) *gatedStore {
	g := &gatedStore{Storage: memory.New("write-behind"), gate: make(chan struct{})}
	if open {
		close(g.gate)
	}
	return g
}

func (g *gatedStore) BulkWrite() (int, int) { return 2000, 2 }

func (g *gatedStore) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, "chunks/") {
		<-g.gate
		if g.failing.Load() {
			return errInjected
		}
		g.puts.Add(1)
	}
	return g.Storage.Put(ctx, key, data)
}

// newBehindSession is a writable session on store with an int8 array "a"
// of 100 chunks of 1000 bytes (above the inline threshold).
func newBehindSession(t *testing.T, store storage.Storage) (*Repository, *Session) {
	t.Helper()
	ctx := context.Background()
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	addBehindArray(t, s)
	return repo, s
}

// addBehindArray adds the root group and the int8 array "a" of 100 chunks
// of 1000 bytes (above the inline threshold) to s.
func addBehindArray(t *testing.T, s *Session) {
	t.Helper()
	ctx := context.Background()
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{100000}, []int{1000}, "default", "")))
}

func behindValue(i, version int) []byte {
	return bytes.Repeat([]byte{byte(i), byte(version)}, 500)
}

// checkChunks fails unless chunks first..last-1 of "a" in s hold version.
func checkChunks(t *testing.T, s *Session, first, last, version int, what string) {
	t.Helper()
	for i := first; i < last; i++ {
		if !bytes.Equal(mustGet(t, s, fmt.Sprintf("a/c/%d", i), storage.From(0)), behindValue(i, version)) {
			t.Fatalf("chunk %d %s: wrong bytes", i, what)
		}
	}
}

// committedSession opens snapshot id through a new repository handle on
// store, which shares no memory with the writer.
func committedSession(t *testing.T, store storage.Storage, id codec.SnapshotID) *Session {
	t.Helper()
	ctx := context.Background()
	fresh, err := Open(ctx, store, nil)
	mustOK(t, err)
	ro, err := fresh.ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	return ro
}

func setBehind(t *testing.T, s *Session, key string, value []byte, wait bool) bool {
	t.Helper()
	ok, err := s.StoreSetBehind(context.Background(), key, value, wait)
	mustOK(t, err)
	return ok
}

// setChunksBehind sets chunks first..last-1 of "a" at version 1, waiting
// for memory if wait; without waiting, each must be accepted.
func setChunksBehind(t *testing.T, s *Session, first, last int, wait bool) {
	t.Helper()
	for i := first; i < last; i++ {
		if !setBehind(t, s, fmt.Sprintf("a/c/%d", i), behindValue(i, 1), wait) {
			t.Fatalf("chunk %d refused with memory to spare", i)
		}
	}
}

func TestWriteBehindReadsOwnWritesThenCommits(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(false)
	_, s := newBehindSession(t, g)
	// Two packs fit in memory: the first (chunks 0, 1) is written, the
	// second (2, 3) fills; chunk 4 finds memory full while the gate is shut.
	setChunksBehind(t, s, 0, 4, false)
	if setBehind(t, s, "a/c/4", behindValue(4, 1), false) {
		t.Fatal("chunk 4 accepted beyond the memory bound")
	}
	mustMissing(t, s, "a/c/4")
	checkChunks(t, s, 0, 4, 1, "read from memory")
	res, err := s.StoreGetMany(ctx, []string{"a/c/1", "a/c/2", "a/c/0"}, []storage.ByteRange{storage.Range(10, 20), storage.From(0), storage.From(0)})
	mustOK(t, err)
	for j, i := range []int{1, 2, 0} {
		want := behindValue(i, 1)
		if j == 0 {
			want = want[10:20]
		}
		if res[j].Err != nil || !bytes.Equal(res[j].Data, want) {
			t.Fatalf("get-many of chunk %d: %v", i, res[j].Err)
		}
	}
	if g.puts.Load() != 0 {
		t.Fatal("a chunk object was stored through a shut gate")
	}

	// A waiting set goes through once a write finishes.
	done := make(chan bool)
	go func() {
		ok, err := s.StoreSetBehind(ctx, "a/c/4", behindValue(4, 1), true)
		done <- ok && err == nil
	}()
	close(g.gate)
	if !<-done {
		t.Fatal("a waiting set was not accepted once writes finished")
	}
	id, err := s.Commit(ctx, "written behind", nil)
	mustOK(t, err)
	if g.puts.Load() != 3 {
		t.Fatalf("%d chunk objects stored, want 3 packs", g.puts.Load())
	}

	checkChunks(t, committedSession(t, g, id), 0, 5, 1, "after commit")
}

func TestWriteBehindKeepsTheOrderOfChanges(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(true)
	_, s := newBehindSession(t, g)
	setBehind(t, s, "a/c/0", behindValue(0, 1), true)
	mustOK(t, s.StoreDelete(ctx, "a/c/0"))
	setBehind(t, s, "a/c/1", behindValue(1, 1), true)
	mustOK(t, s.StoreSet(ctx, "a/c/1", behindValue(1, 2)))
	mustOK(t, s.StoreSet(ctx, "a/c/2", behindValue(2, 1)))
	setBehind(t, s, "a/c/2", behindValue(2, 2), true)
	// Chunks outside the grid and keys of no array fail at once.
	if _, err := s.StoreSetBehind(ctx, "a/c/100", behindValue(0, 1), true); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("set outside the grid: %v", err)
	}
	if _, err := s.StoreSetBehind(ctx, "b/c/0", behindValue(0, 1), true); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("set of no array's chunk: %v", err)
	}
	// Small chunks go inline, metadata keys as StoreSet sets them.
	if !setBehind(t, s, "a/c/3", []byte("tiny"), false) {
		t.Fatal("an inline chunk was refused")
	}
	if !setBehind(t, s, "g/zarr.json", groupJSON(`"x":1`), false) {
		t.Fatal("a zarr.json was refused")
	}
	check := func(s *Session) {
		t.Helper()
		mustMissing(t, s, "a/c/0")
		if !bytes.Equal(mustGet(t, s, "a/c/1", storage.From(0)), behindValue(1, 2)) {
			t.Fatal("a later StoreSet lost to an earlier write-behind set")
		}
		if !bytes.Equal(mustGet(t, s, "a/c/2", storage.From(0)), behindValue(2, 2)) {
			t.Fatal("a later write-behind set lost to an earlier StoreSet")
		}
		if string(mustGet(t, s, "a/c/3", storage.From(0))) != "tiny" {
			t.Fatal("inline chunk lost")
		}
		mustGet(t, s, "g/zarr.json", storage.From(0))
	}
	check(s)
	id, err := s.Commit(ctx, "ordered", nil)
	mustOK(t, err)
	ro, err := s.Repository().ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	check(ro)
}

func TestWriteBehindFailureIsReportedAndRetried(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(true)
	g.failing.Store(true)
	_, s := newBehindSession(t, g)
	setChunksBehind(t, s, 0, 2, true)
	// The pack's write fails; its chunks are still read from memory.
	err := s.FlushWrites(ctx)
	if !errors.Is(err, errInjected) {
		t.Fatalf("flush: want the write failure, got %v", err)
	}
	// A set that may not wait is told to come back; one that may writes
	// the failed pack again first, and fails as it fails again.
	if accepted, err := s.StoreSetBehind(ctx, "a/c/5", behindValue(5, 1), false); accepted || err != nil {
		t.Fatalf("set without waiting after a failed write: accepted %v, %v; want to be told to come back", accepted, err)
	}
	if _, err := s.StoreSetBehind(ctx, "a/c/5", behindValue(5, 1), true); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "earlier write-behind") {
		t.Fatalf("set after a failed write: want the earlier failure, got %v", err)
	}
	if _, err := s.Commit(ctx, "fails", nil); !errors.Is(err, errInjected) {
		t.Fatalf("commit: want the write failure, got %v", err)
	}
	if !s.HasUncommittedChanges() || s.ReadOnly() {
		t.Fatal("a failed commit lost the session's changes")
	}
	checkChunks(t, s, 0, 2, 1, "unreadable after a failed write")
	// The storage recovers: the set tried again writes the kept pack, then
	// goes through; the commit has every chunk.
	g.failing.Store(false)
	if accepted, err := s.StoreSetBehind(ctx, "a/c/5", behindValue(5, 1), true); !accepted || err != nil {
		t.Fatalf("set tried again once the storage recovered: accepted %v, %v", accepted, err)
	}
	id, err := s.Commit(ctx, "retried", nil)
	mustOK(t, err)
	checkChunks(t, committedSession(t, g, id), 0, 2, 1, "lost by the retried write")
	checkChunks(t, committedSession(t, g, id), 5, 6, 1, "the set tried again")
}

func TestWriteBehindDiscardForgetsFailures(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(true)
	g.failing.Store(true)
	_, s := newBehindSession(t, g)
	setBehind(t, s, "a/c/0", behindValue(0, 1), true)
	if err := s.FlushWrites(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("flush: %v", err)
	}
	s.DiscardChanges()
	g.failing.Store(false)
	addBehindArray(t, s)
	setBehind(t, s, "a/c/1", behindValue(1, 1), true)
	mustOK(t, s.FlushWrites(ctx))
	mustMissing(t, s, "a/c/0")
}

func TestWriteBehindFlushesBeforeRefsLeave(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(true)
	repo, s := newBehindSession(t, g)
	id, err := s.Commit(ctx, "the array", nil)
	mustOK(t, err)
	_ = id
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)

	// A fork's write-behind chunks reach storage when it is serialized and
	// when it is merged.
	f1, err := s.Fork(ctx)
	mustOK(t, err)
	setBehind(t, f1, "a/c/1", behindValue(1, 1), true)
	data, err := f1.Bytes(ctx)
	mustOK(t, err)
	other, err := Open(ctx, g, nil) // no memory shared with f1
	mustOK(t, err)
	restored, err := other.SessionFromBytes(data)
	mustOK(t, err)
	if !bytes.Equal(mustGet(t, restored, "a/c/1", storage.From(0)), behindValue(1, 1)) {
		t.Fatal("a serialized fork names a chunk that is not in storage")
	}
	f2, err := s.Fork(ctx)
	mustOK(t, err)
	setBehind(t, f2, "a/c/2", behindValue(2, 1), true)
	if err := f2.Merge(ctx, f2); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("merging a session into itself: %v", err)
	}
	mustOK(t, s.Merge(ctx, restored, f2))
	id, err = s.Commit(ctx, "merged", nil)
	mustOK(t, err)
	checkChunks(t, committedSession(t, g, id), 1, 3, 1, "of a merged fork")
}

func TestWriteBehindConcurrentWritersAndReaders(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(true)
	_, s := newBehindSession(t, g)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 100; i += 8 {
				key := fmt.Sprintf("a/c/%d", i)
				if _, err := s.StoreSetBehind(ctx, key, behindValue(i, 3), true); err != nil {
					t.Errorf("%s: %+v", key, err)
					return
				}
				data, ok, err := s.StoreGet(ctx, key, storage.From(0))
				if err != nil || !ok || !bytes.Equal(data, behindValue(i, 3)) {
					t.Errorf("%s read back: %v %v", key, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	id, err := s.Commit(ctx, "concurrent", nil)
	mustOK(t, err)
	checkChunks(t, committedSession(t, g, id), 0, 100, 3, "wrong after concurrent writes")
}

func TestPackBuffersGrowAsChunksCome(t *testing.T) {
	const limit = 3 << 20
	buf := growPack(nil, 1000, limit)
	if cap(buf) != minPackAlloc {
		t.Fatalf("a pack of one small chunk took %d bytes", cap(buf))
	}
	buf = append(buf, make([]byte, 1000)...)
	if again := growPack(buf, 1000, limit); cap(again) != cap(buf) || &again[:1][0] != &buf[:1][0] {
		t.Fatal("a pack with room reallocated")
	}
	buf = growPack(buf[:minPackAlloc], 1, limit)
	if cap(buf) != 2*minPackAlloc || len(buf) != minPackAlloc {
		t.Fatalf("a full pack grew to cap %d, len %d", cap(buf), len(buf))
	}
	buf = growPack(make([]byte, limit-10), 10, limit)
	if cap(buf) != limit {
		t.Fatalf("a pack grew to %d, past its limit %d", cap(buf), limit)
	}
}

// A commit writes its manifests, transaction log and snapshot while its
// write-behind chunks are still being written, and moves the branch only
// once they have landed.
func TestCommitWritesItsObjectsWhileChunksLand(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(false)
	repo, s := newBehindSession(t, g)
	_, err := s.Commit(ctx, "the array", nil) // metadata only: no chunk waits at the gate
	mustOK(t, err)
	before, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	snapshots := func() int {
		n := 0
		for _, err := range g.List(ctx, codec.SnapshotsPrefix, storage.ListOptions{}) {
			mustOK(t, err)
			n++
		}
		return n
	}
	had := snapshots()

	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	setChunksBehind(t, s, 0, 2, true) // one pack: its write waits at the gate
	type result struct {
		id  codec.SnapshotID
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := s.Commit(ctx, "chunks", nil)
		done <- result{id, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for snapshots() == had {
		select {
		case r := <-done:
			t.Fatalf("the commit returned (%v) while its chunks were held", r.err)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			close(g.gate)
			<-done
			t.Fatal("the commit wrote no snapshot while its chunks were held")
		}
	}
	// The snapshot is written; the chunks are not, so the branch must wait.
	select {
	case r := <-done:
		t.Fatalf("the commit returned (%v) while its chunks were held", r.err)
	case <-time.After(20 * time.Millisecond):
	}
	if tip, err := repo.LookupBranch(ctx, MainBranch); err != nil || tip != before || g.puts.Load() != 0 {
		t.Fatalf("the branch moved (%v, %v) before the chunks landed (%d written)", tip != before, err, g.puts.Load())
	}
	close(g.gate)
	r := <-done
	mustOK(t, r.err)
	checkChunks(t, committedSession(t, g, r.id), 0, 2, 1, "after the commit")
}

// Serialising, forking and merging flush write-behind chunks under the
// caller's context: a call whose context ends while the storage does not
// answer returns its error instead of waiting, and leaves the chunks for
// the next flush.
func TestWriteBehindFlushOfForkBytesAndMergeStopsWithTheContext(t *testing.T) {
	ctx := context.Background()
	g := newGatedStore(true)
	repo, s := newBehindSession(t, g)
	_, err := s.Commit(ctx, "the array", nil)
	mustOK(t, err)
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	f, err := s.Fork(ctx)
	mustOK(t, err)

	g.gate = make(chan struct{}) // chunk writes wait from now on
	setBehind(t, f, "a/c/0", behindValue(0, 1), true)
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.Bytes(stopped); !errors.Is(err, context.Canceled) {
		t.Fatalf("serialising with a cancelled context: %v", err)
	}
	if err := s.Merge(stopped, f); !errors.Is(err, context.Canceled) {
		t.Fatalf("merging with a cancelled context: %v", err)
	}
	if !s.changes.IsEmpty() {
		t.Fatal("a stopped merge folded in the fork's changes")
	}
	if _, err := f.Fork(stopped); !errors.Is(err, context.Canceled) {
		t.Fatalf("forking with a cancelled context: %v", err)
	}

	close(g.gate)
	mustOK(t, s.Merge(ctx, f))
	id, err := s.Commit(ctx, "merged", nil)
	mustOK(t, err)
	checkChunks(t, committedSession(t, g, id), 0, 0, 1, "of a fork merged after a stopped merge")
}
