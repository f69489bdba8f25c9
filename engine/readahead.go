package engine

import (
	"bytes"
	"cmp"
	"context"
	"runtime"
	"slices"
	"sync"

	"github.com/icechunk-go/icechunk-go/codec"
)

// Read-ahead of chunk scans (Session.StoreGetManyInto, on storage that asks
// for it: storage.ReadAhead).
//
// A reader like zarr scanning an array asks for a batch of chunks,
// processes them, and only then asks for the next. On S3 the server then
// idles while the reader works, and the reader idles while the server
// works. When a batch's chunks of an array begin exactly where the previous
// batch of that array ended (in C order of chunk coordinates, the order in
// which zarr reads a selection), the session fetches the chunks that follow
// in the background: about two batches' worth, then on to the end of the
// chunk object the last of them lies in, so that the next read-ahead
// starts at an object's start and an object is one request. The next
// batch copies its chunks from memory.
//
// What is held are bytes of chunk objects at an offset, and chunk objects
// never change once written, so a read served from them is right whatever
// the session did since. Bytes are dropped once served; bytes never asked
// for (a scan that stopped or turned) are dropped when a new read-ahead
// needs the room; the storage's hint bounds the total. A fetch that failed
// is only a miss: the reader fetches the bytes itself and gets the error,
// if any, as its own.

// maxAheadLookups bounds the coordinates one read-ahead looks at, so that a
// sparse array does not make it walk a huge grid.
const maxAheadLookups = 1024

// aheadBatches is how many batches of the size of the last one a
// read-ahead covers: with two, a fetch that takes longer than the reader's
// processing of one batch does not stall it.
const aheadBatches = 2

// maxAheadArrays bounds the arrays whose scans are followed at once.
const maxAheadArrays = 256

// aheadSpan is bytes of one chunk object, fetched or being fetched.
type aheadSpan struct {
	id     codec.ChunkID
	offset uint64
	buf    []byte
	done   chan struct{} // closed once buf is filled or err set
	err    error

	// Under readAhead.mu:
	at       uint64 // where buf starts in the arena
	served   uint64 // bytes copied out so far
	readers  int    // copies in progress
	dropped  bool   // no longer in spans; the last reader releases buf
	released bool   // buf's bytes of the arena are free
}

func (sp *aheadSpan) covers(id codec.ChunkID, offset uint64) bool {
	return sp.id == id && sp.offset <= offset && offset-sp.offset < uint64(len(sp.buf))
}

func (sp *aheadSpan) fetched() bool {
	select {
	case <-sp.done:
		return true
	default:
		return false
	}
}

// readAhead is a session's read-ahead state.
//
// Spans take their bytes from one arena of the budget's size, made at the
// first read-ahead (outside the Go heap: newArena) and used as a ring: a
// scan consumes spans in the order they were made, so their bytes come free
// in that order too. The memory is the budget, held until the session is
// dropped, with no garbage left for the collector at every batch.
type readAhead struct {
	budget uint64
	fetch  func(ctx context.Context, id codec.ChunkID, offset uint64, dst []byte) error

	mu    sync.Mutex
	arena []byte
	ring  []*aheadSpan // spans holding bytes of the arena, oldest first
	spans []*aheadSpan // spans that serve reads (not dropped), oldest first
	held  uint64       // bytes of spans
	next  map[codec.NodeID][]uint32

	fetches sync.WaitGroup // read-aheads looking up or fetching (tests wait)
}

// readAheadState returns the session's read-ahead state, made on first
// use, or nil if the storage does not ask for read-ahead.
func (s *Session) readAheadState() *readAhead {
	if r := s.ahead.Load(); r != nil {
		return r
	}
	budget := s.repo.assets.readAhead
	if budget <= 0 {
		return nil
	}
	s.ahead.CompareAndSwap(nil, &readAhead{budget: uint64(budget), fetch: s.fetchObjectInto, next: map[codec.NodeID][]uint32{}})
	return s.ahead.Load()
}

// serve copies into dst the bytes of object id from offset on that are
// read ahead, waiting for a fetch in flight, and returns how many it
// copied: a prefix of dst, possibly empty, which the caller reads itself.
// Its only error is ctx's.
func (r *readAhead) serve(ctx context.Context, id codec.ChunkID, offset uint64, dst []byte) (int, error) {
	n := 0
	for n < len(dst) {
		at := offset + uint64(n)
		sp := r.acquire(id, at)
		if sp == nil {
			break
		}
		select {
		case <-sp.done:
		case <-ctx.Done():
			r.release(sp, 0)
			return n, ctx.Err()
		}
		if sp.err != nil {
			r.release(sp, 0)
			break
		}
		c := copy(dst[n:], sp.buf[at-sp.offset:])
		n += c
		r.release(sp, uint64(c))
	}
	return n, nil
}

// acquire returns the span holding byte offset of object id, marked as
// being read, or nil.
func (r *readAhead) acquire(id codec.ChunkID, offset uint64) *aheadSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sp := range r.spans {
		if sp.covers(id, offset) {
			sp.readers++
			return sp
		}
	}
	return nil
}

// release ends a read of sp that copied n bytes. A span served in full, or
// failed, is dropped.
func (r *readAhead) release(sp *aheadSpan, n uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sp.readers--
	sp.served += n
	if !sp.dropped && (sp.err != nil || sp.served >= uint64(len(sp.buf))) {
		r.dropLocked(sp)
	}
	if sp.dropped && sp.readers == 0 {
		r.releaseLocked(sp)
	}
}

// dropLocked removes a fetched span from spans.
func (r *readAhead) dropLocked(sp *aheadSpan) {
	if i := slices.Index(r.spans, sp); i >= 0 {
		r.spans = slices.Delete(r.spans, i, i+1)
		r.held -= uint64(len(sp.buf))
	}
	sp.dropped = true
}

// releaseLocked frees the bytes of a dropped span no one reads: the ring
// moves past every released span at its start.
func (r *readAhead) releaseLocked(sp *aheadSpan) {
	sp.released = true
	for len(r.ring) > 0 && r.ring[0].released {
		r.ring[0] = nil
		r.ring = r.ring[1:]
	}
}

// placeLocked finds n free bytes in the arena, after the newest span or
// else at the arena's start, and reports where (false if there is no room).
func (r *readAhead) placeLocked(n uint64) (uint64, bool) {
	if len(r.ring) == 0 {
		return 0, n <= r.budget
	}
	head := r.ring[0].at
	last := r.ring[len(r.ring)-1]
	tail := last.at + uint64(len(last.buf))
	switch {
	case head < tail && r.budget-tail >= n:
		return tail, true
	case head < tail:
		return 0, head >= n
	default: // the live bytes wrap around the arena's end
		return tail, head-tail >= n
	}
}

// holdsLocked reports whether the bytes [offset, offset+n) of object id are
// all in one span.
func (r *readAhead) holdsLocked(id codec.ChunkID, offset, n uint64) bool {
	for _, sp := range r.spans {
		if sp.covers(id, offset) && offset+n <= sp.offset+uint64(len(sp.buf)) {
			return true
		}
	}
	return false
}

// reserve adds a span of n bytes of object id at offset, to be fetched,
// making room by dropping the oldest fetched spans no one reads. It
// returns nil if there is no room.
func (r *readAhead) reserve(id codec.ChunkID, offset, n uint64) *aheadSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.arena == nil {
		var free func()
		r.arena, free = newArena(int(r.budget))
		// Nothing outside r refers to the arena: spans are r's, and reads
		// copy out of them while they hold r.
		runtime.AddCleanup(r, func(free func()) { free() }, free)
	}
	at, ok := r.placeLocked(n)
	for !ok {
		i := slices.IndexFunc(r.spans, func(sp *aheadSpan) bool { return sp.readers == 0 && sp.fetched() })
		if i < 0 {
			return nil
		}
		sp := r.spans[i]
		r.dropLocked(sp)
		r.releaseLocked(sp)
		at, ok = r.placeLocked(n)
	}
	sp := &aheadSpan{id: id, offset: offset, buf: r.arena[at : at+n : at+n], at: at, done: make(chan struct{})}
	r.ring = append(r.ring, sp)
	r.spans = append(r.spans, sp)
	r.held += n
	return sp
}

// follow notes a batch that read the chunks first..last (in C order) of
// array n, and returns where the next read-ahead of the array would start
// and whether the batch continued the array's previous one (so that it
// should start).
func (r *readAhead) follow(n *Node, first, last []uint32) ([]uint32, bool) {
	next := slices.Clone(last)
	more := nextCoords(next, gridShape(n.Array))
	r.mu.Lock()
	defer r.mu.Unlock()
	want, ok := r.next[n.ID]
	if len(r.next) >= maxAheadArrays && !ok {
		clear(r.next)
	}
	if more {
		r.next[n.ID] = next
	} else {
		delete(r.next, n.ID)
	}
	return next, more && ok && codec.CompareCoords(want, first) == 0
}

// nextCoords advances coords to the next chunk in C order within grid, and
// reports false past the last.
func nextCoords(coords, grid []uint32) bool {
	for d := len(coords) - 1; d >= 0; d-- {
		coords[d]++
		if coords[d] < grid[d] {
			return true
		}
		coords[d] = 0
	}
	return false
}

// startReadAhead starts, for each array whose chunks in reads (the values
// found of a StoreGetManyInto batch) continue its previous batch, a
// read-ahead of the chunks that follow.
func (s *Session) startReadAhead(ctx context.Context, r *readAhead, reads []valueRead, found []int) {
	type scan struct {
		node        *Node
		first, last []uint32
		bytes       uint64
	}
	var scans []*scan
	for _, i := range found {
		v := &reads[i]
		if v.node == nil {
			continue
		}
		j := slices.IndexFunc(scans, func(sc *scan) bool { return sc.node == v.node })
		if j < 0 {
			scans = append(scans, &scan{node: v.node, first: v.coords, last: v.coords})
			j = len(scans) - 1
		}
		sc := scans[j]
		if codec.CompareCoords(v.coords, sc.first) < 0 {
			sc.first = v.coords
		}
		if codec.CompareCoords(v.coords, sc.last) > 0 {
			sc.last = v.coords
		}
		sc.bytes += v.size()
	}
	for _, sc := range scans {
		if from, ok := r.follow(sc.node, sc.first, sc.last); ok {
			r.fetches.Add(1)
			go s.readAheadFrom(context.WithoutCancel(ctx), r, sc.node, from, min(aheadBatches*sc.bytes, r.budget))
		}
	}
}

// readAheadFrom fetches the native chunks of array n from coordinates from
// on, in C order, that are not read ahead yet: want bytes of them, then to
// the end of the last one's object, at most the budget.
func (s *Session) readAheadFrom(ctx context.Context, r *readAhead, n *Node, from []uint32, want uint64) {
	defer r.fetches.Done()
	grid := gridShape(n.Array)
	c := slices.Clone(from)
	var refs []codec.ChunkRef // to fetch
	var last *codec.ChunkRef  // the last chunk of the window, held or not
	var total uint64          // bytes of the window, held or not
	for range maxAheadLookups {
		ref, err := s.peekChunkRef(ctx, n, c)
		if err != nil {
			return
		}
		if ref != nil && ref.Kind == codec.ChunkNative && ref.Length > 0 {
			if total >= want && (ref.ChunkID != last.ChunkID || ref.Offset != last.Offset+last.Length) {
				break
			}
			if total+ref.Length > r.budget {
				break
			}
			r.mu.Lock()
			held := r.holdsLocked(ref.ChunkID, ref.Offset, ref.Length)
			r.mu.Unlock()
			if !held {
				refs = append(refs, *ref)
			}
			last = ref
			total += ref.Length
		}
		if !nextCoords(c, grid) {
			break
		}
	}
	slices.SortFunc(refs, func(a, b codec.ChunkRef) int {
		return cmp.Or(bytes.Compare(a.ChunkID[:], b.ChunkID[:]), cmp.Compare(a.Offset, b.Offset))
	})
	var spans []*aheadSpan
	for i := 0; i < len(refs); {
		j, end := i+1, refs[i].Offset+refs[i].Length
		for j < len(refs) && refs[j].ChunkID == refs[i].ChunkID && refs[j].Offset == end {
			end += refs[j].Length
			j++
		}
		if sp := r.reserve(refs[i].ChunkID, refs[i].Offset, end-refs[i].Offset); sp != nil {
			spans = append(spans, sp)
		}
		i = j
	}
	for _, sp := range spans {
		r.fetches.Add(1)
		go func() {
			defer r.fetches.Done()
			sp.err = callRecovering(func(int) error { return r.fetch(ctx, sp.id, sp.offset, sp.buf) }, 0)
			close(sp.done)
			if sp.err != nil { // give the room back now, not when a reader comes
				r.mu.Lock()
				if !sp.dropped {
					r.dropLocked(sp)
				}
				if sp.readers == 0 {
					r.releaseLocked(sp)
				}
				r.mu.Unlock()
			}
		}()
	}
}

// peekChunkRef returns the ref of the chunk at coords of array n, nil if
// there is none: the change set's, else the committed one. n may be stale
// (read-ahead looks ahead with the node of the last batch): any ref it
// finds names bytes that are right for that ref.
func (s *Session) peekChunkRef(ctx context.Context, n *Node, coords []uint32) (*codec.ChunkRef, error) {
	s.mu.RLock()
	ref, ok := s.changes.chunk(n.ID, coords)
	s.mu.RUnlock()
	if ok {
		return ref, nil
	}
	return s.repo.lookupChunk(ctx, n, coords)
}
