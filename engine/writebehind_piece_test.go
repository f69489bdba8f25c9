package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"pgregory.net/rapid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// pieceStore is memory storage that builds chunk objects from pieces, as a
// local disk does: packs of two 1000-byte chunks, two in memory, three
// packs to an object, with a read-ahead budget. Like a file written in
// place, an object has zeros where a piece has not landed yet. A piece at
// a held offset waits for its channel to close; pieces at failAt fail.
type pieceStore struct {
	storage.Storage
	mu     sync.Mutex // the read-modify-write of a piece
	hold   sync.Map   // int64 offset -> chan struct{}
	failAt atomic.Int64
	landed chan int64 // offsets of the pieces written, when not nil
	jitter bool       // pieces take a random moment to write

	inMu     sync.Mutex
	inFlight map[string]int // pieces being written, by key
	overlap  bool           // two pieces of one object were written at once
}

func newPieceStore() *pieceStore {
	p := &pieceStore{Storage: memory.New("pieces"), inFlight: map[string]int{}}
	p.failAt.Store(-1)
	return p
}

func (p *pieceStore) BulkWrite() (int, int) { return 2000, 2 }
func (p *pieceStore) ObjectPieces() int     { return 3 }
func (p *pieceStore) ReadAhead() int        { return 20000 }

func (p *pieceStore) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	p.inMu.Lock()
	p.inFlight[key]++
	p.overlap = p.overlap || p.inFlight[key] > 1
	p.inMu.Unlock()
	defer func() {
		p.inMu.Lock()
		p.inFlight[key]--
		p.inMu.Unlock()
	}()
	if ch, ok := p.hold.Load(offset); ok {
		<-ch.(chan struct{})
	}
	if p.failAt.Load() == offset {
		return errInjected
	}
	if p.jitter {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, err := p.Storage.Get(ctx, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	cur = slices.Clone(cur)
	if need := int(offset) + len(data); len(cur) < need {
		cur = append(cur, make([]byte, need-len(cur))...)
	}
	copy(cur[offset:], data)
	if err := p.Storage.Put(ctx, key, cur); err != nil {
		return err
	}
	if p.landed != nil {
		p.landed <- offset
	}
	return nil
}

// heldPieceStore is a pieceStore that reports the pieces landed and holds
// those at offset until gate is closed.
func heldPieceStore(offset int64) (store *pieceStore, gate chan struct{}) {
	store, gate = newPieceStore(), make(chan struct{})
	store.hold.Store(offset, gate)
	store.landed = make(chan int64, 16)
	return store, gate
}

// behindValues is the bytes of chunks 0..n-1 at version 1, one after the
// other, as written behind into one object.
func behindValues(n int) []byte {
	var out []byte
	for i := range n {
		out = append(out, behindValue(i, 1)...)
	}
	return out
}

// commitChecked commits s and checks chunks first..last-1 of "a" at
// version 1 through a session of the new snapshot, which it returns.
func commitChecked(t *testing.T, s *Session, store storage.Storage, message string, first, last int) *Session {
	t.Helper()
	id, err := s.Commit(context.Background(), message, nil)
	mustOK(t, err)
	ro := committedSession(t, store, id)
	checkChunks(t, ro, first, last, 1, "after the commit "+message)
	return ro
}

// chunkObjects returns the sizes of the chunk objects in store, by key.
func chunkObjects(t *testing.T, store storage.Storage) map[string]int {
	t.Helper()
	out := map[string]int{}
	for info, err := range store.List(context.Background(), "chunks/", storage.ListOptions{}) {
		mustOK(t, err)
		data, err := store.Get(context.Background(), info.Key)
		mustOK(t, err)
		out[info.Key] = len(data)
	}
	return out
}

func chunkRef(t *testing.T, s *Session, i int) *codec.ChunkRef {
	t.Helper()
	ref, err := s.GetChunkRef(context.Background(), "/a", []uint32{uint32(i)})
	mustOK(t, err)
	if ref == nil {
		t.Fatalf("chunk %d has no ref", i)
	}
	return ref
}

func TestWriteBehindBuildsObjectsFromPieces(t *testing.T) {
	ctx := context.Background()
	store := newPieceStore()
	_, s := newBehindSession(t, store)
	setChunksBehind(t, s, 0, 14, true)
	// A flush ends the object being built: chunk 14 starts a new one.
	mustOK(t, s.FlushWrites(ctx))
	setBehind(t, s, "a/c/14", behindValue(14, 1), true)
	ro := commitChecked(t, s, store, "in pieces", 0, 15)
	first := map[codec.ChunkID]int{} // object -> its first chunk
	for i := range 15 {
		ref := chunkRef(t, ro, i)
		f, ok := first[ref.ChunkID]
		if !ok {
			first[ref.ChunkID], f = i, i
		}
		if ref.Offset != uint64(1000*(i-f)) {
			t.Fatalf("chunk %d at offset %d of its object, want %d", i, ref.Offset, 1000*(i-f))
		}
	}
	if want := map[int]bool{0: true, 6: true, 12: true, 14: true}; len(first) != len(want) {
		t.Fatalf("objects start at chunks %v, want 0, 6, 12 and 14", first)
	} else {
		for _, f := range first {
			if !want[f] {
				t.Fatalf("objects start at chunks %v, want 0, 6, 12 and 14", first)
			}
		}
	}
	sizes := []int{}
	for _, n := range chunkObjects(t, store) {
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1000, 2000, 6000, 6000}) {
		t.Fatalf("chunk objects of %v bytes, want 1000, 2000, 6000, 6000", sizes)
	}
}

// A later piece lands while an earlier one is still in memory (its write
// failed, and waits for the next flush): storage holds zeros where the
// earlier piece goes, and reads must not see them.
func TestWriteBehindReadsPiecesLandedOutOfOrder(t *testing.T) {
	ctx := context.Background()
	store, gate := heldPieceStore(0)
	_, s := newBehindSession(t, store)
	setChunksBehind(t, s, 0, 4, false)
	// Chunk 4 seals the second pack; both packs are being written, so it
	// is refused. The first fails once let through; the second follows it
	// and lands.
	if setBehind(t, s, "a/c/4", behindValue(4, 1), false) {
		t.Fatal("chunk 4 accepted beyond the memory bound")
	}
	store.failAt.Store(0)
	close(gate)
	if got := <-store.landed; got != 2000 {
		t.Fatalf("piece at %d landed, want the one at 2000", got)
	}
	ref := chunkRef(t, s, 0)
	stored, err := store.Storage.Get(ctx, codec.ChunkKey(ref.ChunkID))
	mustOK(t, err)
	if len(stored) != 4000 || !bytes.Equal(stored[:2000], make([]byte, 2000)) || !bytes.Equal(stored[2000:3000], behindValue(2, 1)) {
		t.Fatalf("storage does not hold the hole this test is about (%d bytes)", len(stored))
	}

	checkChunks(t, s, 0, 4, 1, "with a hole in storage")
	readBatch(t, s, 0, 1, 2, 3)
	want := behindValues(4)
	got := make([]byte, 3000)
	mustOK(t, s.fetchObjectInto(ctx, ref.ChunkID, 500, got))
	if !bytes.Equal(got, want[500:3500]) {
		t.Fatal("a read across the piece in memory and the one in storage is wrong")
	}

	store.failAt.Store(-1)
	mustOK(t, s.FlushWrites(ctx))
	setBehind(t, s, "a/c/4", behindValue(4, 1), true)
	ro := commitChecked(t, s, store, "out of order", 0, 5)
	if r3 := chunkRef(t, ro, 3); r3.ChunkID != ref.ChunkID || r3.Offset != 3000 {
		t.Fatalf("chunk 3 at %s:%d, want the second piece of %s", r3.ChunkID, r3.Offset, ref.ChunkID)
	}
}

// An earlier piece has landed while a later one is still in memory: a read
// across them takes from storage only what lies before the later piece.
func TestWriteBehindReadsAcrossALandedAndAPendingPiece(t *testing.T) {
	ctx := context.Background()
	store, gate := heldPieceStore(2000)
	_, s := newBehindSession(t, store)
	for i := range 5 {
		setBehind(t, s, fmt.Sprintf("a/c/%d", i), behindValue(i, 1), true)
		if i == 2 { // chunk 2 sealed the first pack
			if got := <-store.landed; got != 0 {
				t.Fatalf("piece at %d landed, want the one at 0", got)
			}
		}
	}
	// Storage holds the first piece; the second waits at its gate, the
	// third is being filled.
	ref := chunkRef(t, s, 0)
	want := behindValues(5)
	for _, r := range [][2]int{{500, 3500}, {1500, 4500}, {0, 5000}} {
		got := make([]byte, r[1]-r[0])
		mustOK(t, s.fetchObjectInto(ctx, ref.ChunkID, uint64(r[0]), got))
		if !bytes.Equal(got, want[r[0]:r[1]]) {
			t.Fatalf("a read of bytes %d..%d across landed and pending pieces is wrong", r[0], r[1])
		}
	}
	checkChunks(t, s, 0, 5, 1, "with a piece still to land")
	close(gate)
	commitChecked(t, s, store, "landed and pending", 0, 5)
}

// Discarding changes ends the object being built; the pack still open
// then starts a new object when the next is opened, never one without id.
func TestWriteBehindDiscardEndsTheObject(t *testing.T) {
	store := newPieceStore()
	_, s := newBehindSession(t, store)
	setBehind(t, s, "a/c/0", behindValue(0, 1), true)
	s.DiscardChanges()
	addBehindArray(t, s)
	for i := 1; i < 8; i++ {
		setBehind(t, s, fmt.Sprintf("a/c/%d", i), behindValue(i, 1), true)
	}
	ro := commitChecked(t, s, store, "after a discard", 1, 8)
	mustMissing(t, ro, "a/c/0")
	for i := 1; i < 8; i++ {
		if ref := chunkRef(t, ro, i); ref.ChunkID == (codec.ChunkID{}) {
			t.Fatalf("chunk %d is in an object without id", i)
		}
	}
}

// A failed piece stays in memory, is read from there, and is written again
// at its offset by the next flush. (The last piece fails, sealed by the
// flush: a set after a failed write would get its error.)
func TestWriteBehindRetriesAFailedPiece(t *testing.T) {
	ctx := context.Background()
	store := newPieceStore()
	store.failAt.Store(4000)
	_, s := newBehindSession(t, store)
	setChunksBehind(t, s, 0, 6, true)
	if err := s.FlushWrites(ctx); !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "at 4000") {
		t.Fatalf("flush: want the failed piece at 4000, got %v", err)
	}
	checkChunks(t, s, 0, 6, 1, "after a failed piece")
	store.failAt.Store(-1)
	ro := commitChecked(t, s, store, "retried", 0, 6)
	if r5, r0 := chunkRef(t, ro, 5), chunkRef(t, ro, 0); r5.ChunkID != r0.ChunkID || r5.Offset != 5000 {
		t.Fatalf("chunk 5 at %s:%d, want offset 5000 of %s", r5.ChunkID, r5.Offset, r0.ChunkID)
	}
}

// Any sequence of write-behind sets of chunks of any size, flushes, reads
// and scans, with pieces landing in any order, reads what was set, before
// and after the commit; the pieces of an object are written one at a time.
func TestWriteBehindPiecesAnyOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		store := newPieceStore()
		store.jitter = true
		_, s := newBehindSession(t, store)
		model := map[int][]byte{}
		check := func(s *Session, i int) {
			got, ok, err := s.StoreGet(ctx, fmt.Sprintf("a/c/%d", i), storage.From(0))
			if err != nil || !ok || !bytes.Equal(got, model[i]) {
				rt.Fatalf("chunk %d: found %v, err %v, right bytes %v", i, ok, err, bytes.Equal(got, model[i]))
			}
		}
		for step := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 6:
				i := rapid.IntRange(0, 29).Draw(rt, "chunk")
				n := rapid.IntRange(260, 1000).Draw(rt, "bytes")
				v := bytes.Repeat([]byte{byte(i), byte(step)}, n/2)
				if _, err := s.StoreSetBehind(ctx, fmt.Sprintf("a/c/%d", i), v, true); err != nil {
					rt.Fatalf("set chunk %d: %v", i, err)
				}
				model[i] = v
			case op == 6:
				if err := s.FlushWrites(ctx); err != nil {
					rt.Fatalf("flush: %v", err)
				}
			case op == 7:
				for i := range model {
					check(s, i)
				}
			default: // a scan of the chunks set so far, in batches
				var keys []string
				var want [][]byte
				for i := range 30 {
					if v, ok := model[i]; ok {
						keys, want = append(keys, fmt.Sprintf("a/c/%d", i)), append(want, v)
					}
				}
				for len(keys) > 0 {
					k := min(len(keys), 4)
					res, err := s.StoreGetManyInto(ctx, keys[:k], nil, func(n int) ([]byte, error) { return make([]byte, n), nil })
					if err != nil {
						rt.Fatalf("get-many: %v", err)
					}
					for j, r := range res {
						if r.Err != nil || !r.Found || !bytes.Equal(r.Data, want[j]) {
							rt.Fatalf("scan of %s: err %v, found %v", keys[j], r.Err, r.Found)
						}
					}
					keys, want = keys[k:], want[k:]
				}
			}
		}
		if len(model) == 0 {
			return
		}
		id, err := s.Commit(ctx, "any order", nil)
		if err != nil {
			rt.Fatalf("commit: %v", err)
		}
		ro := committedSession(t, store, id)
		for i := range model {
			check(ro, i)
		}
		if store.overlap {
			rt.Fatal("two pieces of one object were written at once")
		}
	})
}
