package main

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"
)

// A handle is the only way C refers to a Go object: C never holds a Go
// pointer (cgo forbids keeping one, and the garbage collector would not see
// it). A handle is a uint64:
//
//	bits 56-63  kind (never 0, so no handle is 0)
//	bits 32-55  generation of the slot when the handle was issued
//	bits  0-31  slot index + 1
//
// A lookup checks all three against the slot, so a freed handle (the slot
// is empty or has moved to a later generation), a forged one (no such
// slot, or a mismatch) and one of another kind are told apart from a live
// one and answered with an error. Lookups take no lock: the table is a
// fixed directory of lazily allocated chunks of slots, each slot an atomic
// pointer, so many threads calling into one session do not contend here.

type handleKind uint8

const (
	kindStorage handleKind = iota + 1
	kindRepo
	kindSession
	kindIter
	kindError
	kindCancel
	kindCredentials
	kindLimit
)

var kindNames = [kindLimit]string{"", "storage", "repository", "session", "iterator", "error", "cancellation token", "credentials"}

func (k handleKind) String() string {
	if k > 0 && k < kindLimit {
		return kindNames[k]
	}
	return fmt.Sprintf("kind %d", k)
}

const (
	chunkBits  = 12
	chunkSlots = 1 << chunkBits
	dirSize    = 1 << 12
	maxSlots   = chunkSlots * dirSize // 16M live handles
	genMask    = 1<<24 - 1
)

// errInvalidHandle marks errors about a handle that is not live.
var errInvalidHandle = errors.New("invalid handle")

type entry struct {
	kind handleKind
	gen  uint32
	obj  any
}

type slot struct {
	entry atomic.Pointer[entry]
	gen   uint32 // generation of the next handle issued for this slot; guarded by table.mu
}

type handleTable struct {
	dir  [dirSize]atomic.Pointer[[chunkSlots]slot]
	mu   sync.Mutex
	free []uint32 // freed slot indices, reused oldest first
	next uint32   // first never-used slot index
	live atomic.Int64
}

var handles handleTable

// minFree is the number of freed slots kept out of reuse, so that a slot
// is not reissued right after it was freed: a use-after-free then meets an
// empty slot, which gives the clearest message.
const minFree = 1024

// add stores obj and returns its handle.
func (t *handleTable) add(kind handleKind, obj any) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var idx uint32
	switch {
	case len(t.free) > minFree || (t.next >= maxSlots && len(t.free) > 0):
		idx = t.free[0]
		t.free = t.free[1:]
	case t.next < maxSlots:
		idx = t.next
		t.next++
		if idx%chunkSlots == 0 {
			t.dir[idx>>chunkBits].Store(new([chunkSlots]slot))
		}
	default:
		return 0, errors.Mark(errors.Newf("too many live handles (%d): free some", maxSlots), errOutOfMemory)
	}
	s := &t.dir[idx>>chunkBits].Load()[idx%chunkSlots]
	s.gen = (s.gen + 1) & genMask
	if s.gen == 0 {
		s.gen = 1
	}
	s.entry.Store(&entry{kind: kind, gen: s.gen, obj: obj})
	t.live.Add(1)
	return uint64(kind)<<56 | uint64(s.gen)<<32 | uint64(idx+1), nil
}

// resolve finds the live entry of h, or explains why there is none.
func (t *handleTable) resolve(h uint64, want handleKind) (*slot, *entry, error) {
	if h == 0 {
		return nil, nil, errors.Mark(errors.Newf("the %s handle is 0 (IC_NULL_HANDLE)", want), errInvalidHandle)
	}
	kind := handleKind(h >> 56)
	gen := uint32(h>>32) & genMask
	low := uint32(h)
	forged := func() error {
		return errors.Mark(errors.Newf("invalid %s handle %#x: not a handle this library issued", want, h), errInvalidHandle)
	}
	if kind == 0 || kind >= kindLimit || low == 0 || low > maxSlots || gen == 0 {
		return nil, nil, forged()
	}
	idx := low - 1
	chunk := t.dir[idx>>chunkBits].Load()
	if chunk == nil {
		return nil, nil, forged()
	}
	s := &chunk[idx%chunkSlots]
	e := s.entry.Load()
	if e == nil || e.gen != gen || e.kind != kind {
		return nil, nil, errors.Mark(errors.Newf("invalid %s handle %#x: it was freed (or never issued)", want, h), errInvalidHandle)
	}
	if kind != want {
		return nil, nil, errors.Mark(errors.Newf("handle %#x is a live %s handle, not a %s handle", h, kind, want), errInvalidHandle)
	}
	return s, e, nil
}

// remove frees h and returns its object. Of two concurrent frees of one
// handle, exactly one succeeds.
func (t *handleTable) remove(h uint64, want handleKind) (any, error) {
	s, e, err := t.resolve(h, want)
	if err != nil {
		return nil, err
	}
	if !s.entry.CompareAndSwap(e, nil) {
		return nil, errors.Mark(errors.Newf("invalid %s handle %#x: it was freed", want, h), errInvalidHandle)
	}
	t.live.Add(-1)
	t.mu.Lock()
	t.free = append(t.free, uint32(h)-1)
	t.mu.Unlock()
	return e.obj, nil
}

// lookup returns the object of a live handle of the wanted kind.
func lookup[T any](h uint64, want handleKind) (T, error) {
	_, e, err := handles.resolve(h, want)
	if err != nil {
		var zero T
		return zero, err
	}
	obj, ok := e.obj.(T)
	if !ok {
		var zero T
		return zero, errors.AssertionFailedf("handle %#x holds %T", h, e.obj)
	}
	return obj, nil
}
