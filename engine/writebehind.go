package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// Write-behind of chunk writes (Session.StoreSetBehind).
//
// A write-behind set copies the chunk into an open pack in memory, records
// its ref in the change set at once (the pack's chunk object id, the
// chunk's offset in it) and returns: the caller does not wait for storage.
// A full pack is written as one chunk object in the background while the
// caller goes on producing chunks. This is what a writer like zarr needs
// on remote storage: it keeps a fixed number of writes in flight and waits
// for each, so every request's latency stalls it, and the batch it hands
// over at once is too small to make objects of a size S3 handles cheaply.
//
// Because the ref is recorded when the chunk is staged, the change set is
// always in the order the caller set things in: a later set, delete or
// node change simply replaces or drops the ref. Reads of a chunk whose
// pack is not in storage yet are served from the pack, so a session reads
// its own writes. Everything that hands refs on to where
// memory is not shared (Commit, Bytes, Fork, Merge) flushes first, so
// every ref it hands on names an object in storage.
//
// Memory is bounded: at most parallel packs of packBytes each (the one being
// filled and those being written), sized by the storage
// (storage.BulkWrite): a new pack is opened only while fewer than parallel
// are being written. A producer faster than storage waits for the
// oldest pack to be written, or, if it asked not to wait, is told to come
// back (the binding then waits on a thread that may block). A pack that
// failed to write stays in memory and is written again by the next set
// (which waits for it, and fails if it fails again) or the next flush: no
// new pack is filled meanwhile, so a dead server does not fill memory, the
// caller hears of the failure soon, and a set tried again once the cause
// is gone succeeds.
//
// A storage that writes objects in pieces (storage.PieceWriter: a local
// file written in place) has several packs make one chunk object, each
// written at its offset as it fills: larger objects, the same memory. An
// object ends when it has its pieces, and at every flush, so that no ref
// handed on names an object still growing. Reads then take each byte from
// a pack still in memory, else from storage: a pack leaves memory only
// once written, so storage holds every byte no pending pack does, even
// while a later piece has landed before an earlier one.

// pendingPack is a chunk object, or a piece of one, being filled or
// written.
type pendingPack struct {
	id   codec.ChunkID
	base uint64 // the offset of buf in the object: 0 unless a later piece
	mu   sync.RWMutex
	buf  []byte // the chunks so far; nil once written
	done chan struct{}
	err  error // the write's failure, set before done is closed
	// after is the done of the object's previous piece if that was still
	// being written when this one was sealed: pieces of one object are
	// written one after the other, since a file takes one write at a time
	// and concurrent writers only spin on its lock.
	after chan struct{}
}

// readAt copies into dst the bytes from offset of the object on that the
// pack holds, and returns how many: 0 if it holds not the byte at offset,
// or is in storage by now.
func (p *pendingPack) readAt(offset uint64, dst []byte) int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if offset < p.base || offset-p.base >= uint64(len(p.buf)) {
		return 0
	}
	return copy(dst, p.buf[offset-p.base:])
}

// writeBehind holds a session's packs.
type writeBehind struct {
	assets    *assets
	packBytes int
	parallel  int
	pieces    int // packs per chunk object (storage.ObjectPieces)

	mu      sync.Mutex
	open    *pendingPack   // being filled, nil if none
	writing []*pendingPack // sealed, in write order
	failed  []*pendingPack // written without success, kept for the next flush
	free    [][]byte       // buffers of written packs, reused
	next    nextPiece      // where the next pack goes

	// pending maps the ids of chunk objects to their packs not in storage
	// yet, for reads: a slice replaced, never changed, with mu held. count
	// is the number of such packs, so that reads skip the map when none.
	pending sync.Map // codec.ChunkID -> []*pendingPack
	count   atomic.Int64
}

// nextPiece is the chunk object the next pack continues, and where; an
// object with no pieces yet (the zero value) means a new object.
type nextPiece struct {
	id     codec.ChunkID
	offset uint64
	pieces int
}

// newWriteBehind sizes packs by the storage's bulk-write hint.
func newWriteBehind(a *assets) *writeBehind {
	size, parallel := storage.BulkWrite(a.store)
	return &writeBehind{assets: a, packBytes: min(size, maxPackBytes), parallel: parallel, pieces: storage.ObjectPieces(a.store)}
}

// add copies value into the open pack and returns its ref. If it does not
// fit, the pack is sealed (its write starts) and a new one opened; with
// parallel packs being written, add waits for the oldest, or, when wait
// is false, returns accepted == false without setting anything.
// value must fit a pack.
func (w *writeBehind) add(ctx context.Context, value []byte, wait bool) (ref codec.ChunkRef, accepted bool, err error) {
	for {
		w.mu.Lock()
		if len(w.failed) > 0 {
			if !wait {
				w.mu.Unlock()
				return ref, false, nil
			}
			retried := w.rewriteFailedLocked()
			w.mu.Unlock()
			if err := waitPacks(ctx, retried); err != nil {
				return ref, false, err
			}
			w.mu.Lock()
			if len(w.failed) > 0 {
				err := w.failed[0].err
				w.mu.Unlock()
				return ref, false, errors.Wrap(err, "an earlier write-behind chunk object could not be written, again (the next set, flush or commit tries it again)")
			}
			w.mu.Unlock()
			continue
		}
		if p := w.open; p != nil && len(p.buf)+len(value) <= w.packBytes {
			p.mu.Lock()
			off := len(p.buf)
			p.buf = append(growPack(p.buf, len(value), w.packBytes), value...)
			p.mu.Unlock()
			w.mu.Unlock()
			return codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: p.id, Offset: p.base + uint64(off), Length: uint64(len(value))}, true, nil
		}
		w.sealLocked()
		if len(w.writing) < w.parallel {
			w.openLocked()
			w.mu.Unlock()
			continue
		}
		oldest := w.writing[0].done
		w.mu.Unlock()
		if !wait {
			return ref, false, nil
		}
		select {
		case <-oldest:
		case <-ctx.Done():
			return ref, false, errors.Wrap(ctx.Err(), "waiting for write-behind chunks to be written")
		}
	}
}

// openLocked starts a new open pack, registered for reads: the next piece
// of the current chunk object, or a new object.
func (w *writeBehind) openLocked() {
	var buf []byte // grown as chunks come (growPack), unless reused
	if n := len(w.free); n > 0 {
		buf, w.free = w.free[n-1][:0], w.free[:n-1]
	}
	if w.next.pieces == 0 {
		w.next = nextPiece{id: codec.NewChunkID()}
	}
	p := &pendingPack{id: w.next.id, base: w.next.offset, buf: buf, done: make(chan struct{})}
	w.addPending(p)
	w.open = p
}

// endObjectLocked makes the next pack start a new chunk object.
func (w *writeBehind) endObjectLocked() { w.next = nextPiece{} }

// minPackAlloc is the least a pack's buffer grows to.
const minPackAlloc = 64 << 10

// growPack returns buf with room for n more bytes, within limit. A pack
// starts small and doubles, so that a session writing a few chunks does
// not take (and, on a reused heap span, zero) a whole pack's memory; a
// writer of many chunks reuses full-size buffers (writeBehind.free).
func growPack(buf []byte, n, limit int) []byte {
	if cap(buf)-len(buf) >= n {
		return buf
	}
	size := min(max(2*cap(buf), len(buf)+n, minPackAlloc), max(limit, len(buf)+n))
	grown := make([]byte, len(buf), size)
	copy(grown, buf)
	return grown
}

// sealLocked starts writing the open pack, if it holds anything.
func (w *writeBehind) sealLocked() {
	p := w.open
	if p == nil {
		return
	}
	w.open = nil
	if len(p.buf) == 0 {
		w.dropPending(p)
		if cap(p.buf) > 0 && len(w.free) < w.parallel {
			w.free = append(w.free, p.buf)
		}
		return
	}
	for _, q := range slices.Backward(w.writing) {
		if q.id == p.id {
			p.after = q.done
			break
		}
	}
	if p.id == w.next.id { // the object goes on, unless ended meanwhile
		w.next.offset = p.base + uint64(len(p.buf))
		if w.next.pieces++; w.next.pieces >= w.pieces {
			w.endObjectLocked()
		}
	}
	w.writing = append(w.writing, p)
	go w.write(p)
}

// write stores a sealed pack and, on success, lets reads go to storage and
// keeps its buffer for the next pack. It does not use the setter's context:
// the set has returned long before.
func (w *writeBehind) write(p *pendingPack) {
	if p.after != nil {
		<-p.after
	}
	var err error
	if w.pieces > 1 {
		err = w.assets.putChunkPiece(context.Background(), p.id, p.base, p.buf)
	} else {
		err = w.assets.putChunkObject(context.Background(), p.id, [][]byte{p.buf})
	}
	w.mu.Lock()
	if i := slices.Index(w.writing, p); i >= 0 {
		w.writing = slices.Delete(w.writing, i, i+1)
	}
	p.err = err
	if err != nil {
		w.failed = append(w.failed, p)
	} else {
		p.mu.Lock()
		buf := p.buf
		p.buf = nil
		p.mu.Unlock()
		w.dropPending(p)
		if len(w.free) < w.parallel {
			w.free = append(w.free, buf[:0])
		}
	}
	w.mu.Unlock()
	close(p.done)
}

// flush writes every pack to storage, the open one and failed ones again
// included, and waits for them. It returns the first failure; failed packs
// stay for the next flush. Afterwards the spare buffers are let go.
func (w *writeBehind) flush(ctx context.Context) error {
	w.mu.Lock()
	w.sealLocked()
	w.endObjectLocked()
	w.rewriteFailedLocked()
	wait := make([]chan struct{}, len(w.writing))
	for i, p := range w.writing {
		wait[i] = p.done
	}
	w.mu.Unlock()
	if err := waitPacks(ctx, wait); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.free = nil
	if len(w.failed) > 0 {
		return errors.Wrapf(w.failed[0].err, "writing %d write-behind chunk object(s)", len(w.failed))
	}
	return nil
}

// rewriteFailedLocked starts writing the failed packs again and returns
// their done channels.
func (w *writeBehind) rewriteFailedLocked() []chan struct{} {
	var done []chan struct{}
	for _, p := range w.failed {
		p.err = nil
		p.after = nil
		p.done = make(chan struct{})
		w.writing = append(w.writing, p)
		done = append(done, p.done)
		go w.write(p)
	}
	w.failed = nil
	return done
}

// waitPacks waits for the packs of done to be written (or to fail).
func waitPacks(ctx context.Context, done []chan struct{}) error {
	for _, d := range done {
		select {
		case <-d:
		case <-ctx.Done():
			return errors.Wrap(ctx.Err(), "waiting for write-behind chunks to be written")
		}
	}
	return nil
}

// discard forgets failed packs: the changes that referred to them are gone.
func (w *writeBehind) discard() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.failed {
		w.dropPending(p)
	}
	w.failed = nil
	w.endObjectLocked()
}

// readInto fills dst with the bytes of chunk object id from offset on:
// those its packs still hold from memory, the rest from storage (see the
// comment at the top of the file).
func (w *writeBehind) readInto(ctx context.Context, id codec.ChunkID, offset uint64, dst []byte) error {
	var packs []*pendingPack
	if w.count.Load() > 0 {
		if v, ok := w.pending.Load(id); ok {
			packs = v.([]*pendingPack)
		}
	}
	for len(dst) > 0 {
		gap := uint64(len(dst)) // bytes from offset on that no pack holds
		for _, p := range packs {
			if n := p.readAt(offset, dst); n > 0 {
				gap = 0
				offset, dst = offset+uint64(n), dst[n:]
				break
			}
			if p.base > offset {
				gap = min(gap, p.base-offset)
			}
		}
		if gap == 0 {
			continue
		}
		if err := w.assets.readChunkInto(ctx, id, offset, dst[:gap]); err != nil {
			return err
		}
		offset, dst = offset+gap, dst[gap:]
	}
	return nil
}

// addPending registers p for reads; w.mu is held.
func (w *writeBehind) addPending(p *pendingPack) {
	var packs []*pendingPack
	if v, ok := w.pending.Load(p.id); ok {
		packs = v.([]*pendingPack)
	}
	w.pending.Store(p.id, append(slices.Clip(packs), p))
	w.count.Add(1)
}

// dropPending unregisters p, once in storage or forgotten; w.mu is held.
func (w *writeBehind) dropPending(p *pendingPack) {
	v, ok := w.pending.Load(p.id)
	if !ok {
		return
	}
	packs := v.([]*pendingPack)
	i := slices.Index(packs, p)
	if i < 0 {
		return
	}
	if len(packs) == 1 {
		w.pending.Delete(p.id)
	} else {
		w.pending.Store(p.id, slices.Delete(slices.Clone(packs), i, i+1))
	}
	w.count.Add(-1)
}

// readObjectInto fills dst with the bytes of a native chunk object from
// offset on: those read ahead (readahead.go) from memory, the rest as
// fetchObjectInto reads them.
func (s *Session) readObjectInto(ctx context.Context, id codec.ChunkID, offset uint64, dst []byte) error {
	if r := s.ahead.Load(); r != nil {
		n, err := r.serve(ctx, id, offset, dst)
		if err != nil || n == len(dst) {
			return err
		}
		offset, dst = offset+uint64(n), dst[n:]
	}
	return s.fetchObjectInto(ctx, id, offset, dst)
}

// fetchObjectInto is readObjectInto without read-ahead: from the session's
// write-behind packs, else from storage.
func (s *Session) fetchObjectInto(ctx context.Context, id codec.ChunkID, offset uint64, dst []byte) error {
	if w := s.writes.Load(); w != nil {
		return w.readInto(ctx, id, offset, dst)
	}
	return s.repo.assets.readChunkInto(ctx, id, offset, dst)
}

// readChunkInto is Repository.readChunkInto, with native chunks read by
// readObjectInto.
func (s *Session) readChunkInto(ctx context.Context, ref *codec.ChunkRef, start uint64, dst []byte) error {
	if ref.Kind == codec.ChunkNative {
		return s.readObjectInto(ctx, ref.ChunkID, ref.Offset+start, dst)
	}
	return s.repo.readChunkInto(ctx, ref, start, dst)
}

// behind returns the session's write-behind packs, made on first use.
func (s *Session) behind() *writeBehind {
	if w := s.writes.Load(); w != nil {
		return w
	}
	s.writes.CompareAndSwap(nil, newWriteBehind(s.repo.assets))
	return s.writes.Load()
}

// StoreSetBehind sets a chunk key as StoreSet does, but without waiting for
// storage: the chunk is copied into memory, its ref recorded, and the
// chunk object written in the background with others (see the comment at
// the top of writebehind.go). Errors about the key, the array and the
// session come back at once, as from StoreSet; a failed background write
// comes back from the next StoreSetBehind, FlushWrites or Commit.
//
// When the memory set aside for write-behind is full, StoreSetBehind waits
// for a write to finish, or, if wait is false, returns false and sets
// nothing (a caller that must not block calls again with wait). Other
// keys, chunks at or below the inline threshold and chunks larger than a
// pack are set as StoreSet does (a large chunk is its own object anyway). value is not kept once it returns.
func (s *Session) StoreSetBehind(ctx context.Context, key string, value []byte, wait bool) (bool, error) {
	if s.ReadOnly() {
		return false, readOnly(fmt.Sprintf("set zarr key %q", key))
	}
	k, err := parseZarrKey(key)
	if err != nil {
		return false, err
	}
	w := s.behind()
	if k.kind != keyChunk || len(value) <= int(s.repo.cfg().InlineChunkThreshold) || len(value) > w.packBytes {
		return true, s.StoreSet(ctx, key, value)
	}
	t, err := s.writableChunkTarget(ctx, k)
	if err != nil {
		return false, err
	}
	ref, ok, err := w.add(ctx, value, wait)
	if err != nil || !ok {
		return false, err
	}
	if err := s.SetChunkRef(ctx, Path(t.node.Path), t.coords, &ref); err != nil {
		return false, errors.Wrapf(err, "setting %q", key)
	}
	return true, nil
}

// FlushWrites waits until every chunk set with StoreSetBehind is in
// storage, writing again those whose write failed; it returns the first
// failure. Commit, Bytes, Fork and Merge flush by themselves.
func (s *Session) FlushWrites(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked(ctx)
}

// flushLocked flushes with s.mu held, so that no ref to a pack is recorded
// meanwhile: every ref in the change set then names an object in storage.
func (s *Session) flushLocked(ctx context.Context) error {
	w := s.writes.Load()
	if w == nil {
		return nil
	}
	return w.flush(ctx)
}

// flushAsyncLocked starts flushLocked on a goroutine of its own and returns
// the wait for its result, which may be called any number of times. The
// caller must wait before it releases s.mu.
func (s *Session) flushAsyncLocked(ctx context.Context) (wait func() error) {
	w := s.writes.Load()
	if w == nil {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- panicError(r)
			}
		}()
		done <- w.flush(ctx)
	}()
	return sync.OnceValue(func() error { return <-done })
}
