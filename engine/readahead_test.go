package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/errors"
	"pgregory.net/rapid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// aheadStore is memory storage with the hints of a remote store: packs of
// ten 1000-byte chunks, and a read-ahead budget. It counts the reads of
// chunk objects and fails them while failing is set.
type aheadStore struct {
	storage.Storage
	budget  int
	reads   atomic.Int64
	failing atomic.Bool
	failLen atomic.Int64 // reads of chunk objects of this many bytes fail
}

func newAheadStore(budget int) *aheadStore {
	return &aheadStore{Storage: memory.New("read-ahead"), budget: budget}
}

func (a *aheadStore) BulkWrite() (int, int) { return 10000, 2 }
func (a *aheadStore) ReadAhead() int        { return a.budget }

func (a *aheadStore) GetRange(ctx context.Context, key string, r storage.ByteRange) ([]byte, error) {
	if strings.HasPrefix(key, "chunks/") {
		a.reads.Add(1)
		if a.failing.Load() || (r.Kind == storage.RangeBounded && r.End-r.Start == a.failLen.Load()) {
			return nil, errInjected
		}
	}
	return a.Storage.GetRange(ctx, key, r)
}

// scanFixture writes chunks 0..99 of array "a" behind (ten to an object,
// in order), commits, and returns the store and the snapshot.
func scanFixture(t *testing.T, budget int) (*aheadStore, codec.SnapshotID) {
	t.Helper()
	ctx := context.Background()
	store := newAheadStore(budget)
	_, s := newBehindSession(t, store)
	for i := range 100 {
		setBehind(t, s, fmt.Sprintf("a/c/%d", i), behindValue(i, 1), true)
	}
	id, err := s.Commit(ctx, "chunks", nil)
	mustOK(t, err)
	return store, id
}

// readBatch reads chunks of "a" with one StoreGetManyInto and checks them.
func readBatch(t *testing.T, s *Session, chunks ...int) {
	t.Helper()
	keys := make([]string, len(chunks))
	for j, i := range chunks {
		keys[j] = fmt.Sprintf("a/c/%d", i)
	}
	res, err := s.StoreGetManyInto(context.Background(), keys, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	for j, r := range res {
		mustOK(t, r.Err)
		if !r.Found || !bytes.Equal(r.Data, behindValue(chunks[j], 1)) {
			t.Fatalf("chunk %d: wrong bytes (found %v)", chunks[j], r.Found)
		}
	}
}

func span(first, n int) []int {
	out := make([]int, n)
	for j := range out {
		out[j] = first + j
	}
	return out
}

// settle waits until the read-ahead s started has been fetched.
func settle(s *Session) {
	if r := s.ahead.Load(); r != nil {
		r.fetches.Wait()
	}
}

// held is the bytes s holds read ahead.
func held(s *Session) uint64 {
	r := s.ahead.Load()
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// scan reads chunks 0..99 of "a" in batches of eight, in order, letting
// read-ahead finish between batches, and returns the chunk object reads it
// took.
func scan(t *testing.T, store *aheadStore, id codec.SnapshotID, budget uint64) int64 {
	t.Helper()
	s := committedSession(t, store, id)
	before := store.reads.Load()
	for first := 0; first < 100; first += 8 {
		readBatch(t, s, span(first, min(8, 100-first))...)
		settle(s)
		if h := held(s); h > budget {
			t.Fatalf("after the batch at %d, %d bytes are held read ahead, over the budget of %d", first, h, budget)
		}
	}
	return store.reads.Load() - before
}

func TestReadAheadServesASequentialScan(t *testing.T) {
	store, id := scanFixture(t, 0)
	without := scan(t, store, id, 0)

	store.budget = 30000
	with := scan(t, store, id, 30000)
	// Without read-ahead each batch of eight reads its own runs: 13 batches,
	// most straddling two objects. With it, the first two batches read for
	// themselves (the second one starts the scan's read-ahead), and from then
	// on every object is read once, ahead of the batch that wants it.
	if without < 20 {
		t.Fatalf("without read-ahead the scan read chunk objects %d times; want at least 20", without)
	}
	if with > 13 {
		t.Fatalf("with read-ahead the scan read chunk objects %d times (without: %d); want at most 13", with, without)
	}
}

func TestReadAheadFollowsOnlyScans(t *testing.T) {
	store, id := scanFixture(t, 30000)
	s := committedSession(t, store, id)
	before := store.reads.Load()
	// Backwards, and with gaps: no batch starts where the previous one ended.
	for first := 92; first >= 0; first -= 8 {
		readBatch(t, s, span(first, 4)...)
		settle(s)
	}
	if got := store.reads.Load() - before; got > 24 {
		t.Fatalf("reading 12 batches out of order read chunk objects %d times; want at most 24 (no read-ahead)", got)
	}
	if h := held(s); h != 0 {
		t.Fatalf("%d bytes read ahead for a reader that never scanned", h)
	}
}

func TestReadAheadBytesAreDroppedOnceServed(t *testing.T) {
	store, id := scanFixture(t, 30000)
	s := committedSession(t, store, id)
	readBatch(t, s, span(0, 8)...)
	readBatch(t, s, span(8, 8)...) // continues: read-ahead from chunk 16 on
	settle(s)
	if h := held(s); h == 0 {
		t.Fatal("nothing read ahead after two batches of a scan")
	}
	// A batch served from memory reads nothing more than its own
	// read-ahead.
	before := store.reads.Load()
	readBatch(t, s, span(16, 8)...)
	settle(s)
	if got := store.reads.Load() - before; got > 2 {
		t.Fatalf("a batch read ahead still read chunk objects %d times (the next read-ahead is at most 2)", got)
	}
	// Stop the scan and read elsewhere: what was read ahead goes once a
	// later read-ahead needs the room, and never past the budget.
	readBatch(t, s, span(60, 8)...)
	readBatch(t, s, span(68, 8)...)
	settle(s)
	if h := held(s); h > 30000 {
		t.Fatalf("%d bytes held, over the budget", h)
	}
	readBatch(t, s, span(24, 8)...) // where the old scan was, from memory or not
}

func TestReadAheadFailureIsOnlyAMiss(t *testing.T) {
	store, id := scanFixture(t, 30000)
	s := committedSession(t, store, id)
	// Batches read runs of at most 8000 bytes; read-ahead fetches whole
	// objects of 10000: make those fail.
	store.failLen.Store(10000)
	readBatch(t, s, span(0, 8)...)
	readBatch(t, s, span(8, 8)...) // read-ahead of 16..19 (works) and 20..29 (fails)
	settle(s)
	if h := held(s); h != 4000 {
		t.Fatalf("%d bytes held after a failed read-ahead; want the 4000 of chunks 16..19", h)
	}
	before := store.reads.Load()
	readBatch(t, s, span(16, 8)...) // 20..23 read by the batch itself
	if got := store.reads.Load() - before; got < 1 {
		t.Fatal("chunks whose read-ahead failed were not read again")
	}
	settle(s)

	// A reader whose own read fails gets the error; what was read ahead is
	// still served.
	store.failLen.Store(0)
	readBatch(t, s, span(24, 8)...)
	settle(s) // 32..39 and on read ahead
	store.failing.Store(true)
	res, err := s.StoreGetManyInto(context.Background(), []string{"a/c/33", "a/c/5"}, nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
	mustOK(t, err)
	if res[0].Err != nil || !bytes.Equal(res[0].Data, behindValue(33, 1)) {
		t.Fatalf("chunk 33, read ahead: %v", res[0].Err)
	}
	if !errors.Is(res[1].Err, errInjected) {
		t.Fatalf("chunk 5, read while storage fails: got %v, want the storage's error", res[1].Err)
	}
	store.failing.Store(false)
	readBatch(t, s, span(0, 8)...)
}

func TestReadAheadConcurrentScans(t *testing.T) {
	store, id := scanFixture(t, 30000)
	s := committedSession(t, store, id)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for first := w; first < 100; first += 8 {
				readBatch(t, s, span(first, min(8, 100-first))...)
			}
		}()
	}
	wg.Wait()
	settle(s)
	if h := held(s); h > 30000 {
		t.Fatalf("%d bytes held, over the budget", h)
	}
}

// Any sequence of batches, scans and jumps, waiting for read-ahead or
// not, reads the right bytes, and what is held stays within the budget.
func TestReadAheadAnyPattern(t *testing.T) {
	store, id := scanFixture(t, 30000)
	rapid.Check(t, func(rt *rapid.T) {
		s := committedSession(t, store, id)
		next := 0
		for range rapid.IntRange(1, 40).Draw(rt, "batches") {
			first := next
			if next >= 100 || rapid.Bool().Draw(rt, "jump") {
				first = rapid.IntRange(0, 99).Draw(rt, "first")
			}
			n := rapid.IntRange(1, min(12, 100-first)).Draw(rt, "n")
			readBatch(t, s, span(first, n)...)
			next = first + n
			if rapid.Bool().Draw(rt, "settle") {
				settle(s)
			}
			if h := held(s); h > 30000 {
				rt.Fatalf("%d bytes held, over the budget", h)
			}
		}
		settle(s)
	})
}

// A writable session scans its own chunks, some still in write-behind
// packs: read-ahead fetches them from the packs or from storage alike.
func TestReadAheadOfOwnWrites(t *testing.T) {
	store := newAheadStore(30000)
	_, s := newBehindSession(t, store)
	for i := range 100 {
		setBehind(t, s, fmt.Sprintf("a/c/%d", i), behindValue(i, 1), true)
	}
	for first := 0; first < 100; first += 8 {
		readBatch(t, s, span(first, min(8, 100-first))...)
	}
	settle(s)
}

// The arena is a ring: spans are placed after the newest, or at the start
// once the oldest are gone, never over bytes a span still holds.
func TestReadAheadArenaIsARing(t *testing.T) {
	r := &readAhead{budget: 100, next: map[codec.NodeID][]uint32{}}
	fill := func(sp *aheadSpan, b byte) {
		for i := range sp.buf {
			sp.buf[i] = b
		}
		close(sp.done)
	}
	var ids [5]codec.ChunkID
	for i := range ids {
		ids[i] = codec.NewChunkID()
	}
	a := r.reserve(ids[0], 0, 40)
	b := r.reserve(ids[1], 0, 40)
	if a == nil || b == nil || a.at != 0 || b.at != 40 {
		t.Fatalf("first spans placed at %v and %v, want 0 and 40", a, b)
	}
	if c := r.reserve(ids[2], 0, 30); c != nil {
		t.Fatal("a span was placed while every byte of room was being fetched")
	}
	fill(a, 'a')
	fill(b, 'b')
	// No room at the end (20 bytes): the oldest span goes, and the new one
	// takes the start.
	c := r.reserve(ids[2], 0, 30)
	if c == nil || c.at != 0 {
		t.Fatalf("third span placed at %v, want 0 after dropping the oldest", c)
	}
	fill(c, 'c')
	if r.holdsLocked(ids[0], 0, 40) {
		t.Fatal("the dropped span still serves reads")
	}
	// Serve all of b: its bytes come free, and the ring starts at c.
	dst := make([]byte, 40)
	if n, err := r.serve(context.Background(), ids[1], 0, dst); err != nil || n != 40 || !bytes.Equal(dst, bytes.Repeat([]byte("b"), 40)) {
		t.Fatalf("serve of b: %d bytes, %v, %q", n, err, dst)
	}
	d := r.reserve(ids[3], 0, 70)
	if d == nil || d.at != 30 {
		t.Fatalf("fourth span placed at %v, want 30 (after c)", d)
	}
	fill(d, 'd')
	got := make([]byte, 30)
	if n, _ := r.serve(context.Background(), ids[2], 0, got); n != 30 || !bytes.Equal(got, bytes.Repeat([]byte("c"), 30)) {
		t.Fatalf("c was overwritten: %q", got)
	}
	// A read that starts in a span and runs past it gets the span's part.
	part := make([]byte, 50)
	if n, _ := r.serve(context.Background(), ids[3], 40, part); n != 30 || !bytes.Equal(part[:30], bytes.Repeat([]byte("d"), 30)) {
		t.Fatalf("a read past the span's end got %d bytes: %q", n, part)
	}
}
