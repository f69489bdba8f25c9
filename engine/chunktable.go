package engine

import (
	"cmp"
	"iter"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/icechunk-go/icechunk-go/codec"
)

// The chunk changes of one array, kept without a heap object per chunk: a
// session writing hundreds of thousands of chunks holds them all until it
// commits. A change is a fixed-size slot in a map keyed by the packed
// coordinates; only refs that do not fit a slot (inline, virtual, native at
// an offset or of 4 GiB or more) are kept as *codec.ChunkRef beside it.

// packedBits is the number of key bits given to coordinates; the top byte
// of a packedKey holds the rank.
const packedBits = 120

// packedKey is chunk coordinates packed into 16 bytes: the rank in the top
// byte, then each coordinate in packWidth(rank) bits, the first one most
// significant. Keys of one rank therefore order as their coordinates do.
// Coordinates too large for their width do not pack (see wideKey).
type packedKey struct{ hi, lo uint64 }

// packWidth is the bits per coordinate of a packedKey of the given rank:
// whole uint32s up to rank 3, fewer beyond.
func packWidth(rank int) uint {
	if rank <= 3 {
		return 32
	}
	return uint(packedBits / rank)
}

// packCoords packs coords, or reports false if they do not fit.
func packCoords(coords []uint32) (packedKey, bool) {
	r := len(coords)
	if r > packedBits {
		return packedKey{}, false
	}
	w := packWidth(r)
	var k packedKey
	for _, c := range coords {
		if w < 32 && c >= 1<<w {
			return packedKey{}, false
		}
		k.hi = k.hi<<w | k.lo>>(64-w)
		k.lo = k.lo<<w | uint64(c)
	}
	k.hi |= uint64(r) << 56
	return k, true
}

func (k packedKey) rank() int { return int(k.hi >> 56) }

// coords unpacks k into buf (grown as needed) and returns it.
func (k packedKey) coords(buf []uint32) []uint32 {
	r := k.rank()
	w := packWidth(r)
	mask := uint64(1)<<w - 1
	out := slices.Grow(buf[:0], r)[:r]
	hi, lo := k.hi&(1<<56-1), k.lo
	for i := r - 1; i >= 0; i-- {
		out[i] = uint32(lo & mask)
		lo = lo>>w | hi<<(64-w)
		hi >>= w
	}
	return out
}

// compare orders keys as codec.CompareCoords orders their coordinates.
func (k packedKey) compare(o packedKey) int {
	if k.rank() == o.rank() {
		return cmp.Or(cmp.Compare(k.hi, o.hi), cmp.Compare(k.lo, o.lo))
	}
	var a, b [packedBits]uint32
	return codec.CompareCoords(k.coords(a[:0]), o.coords(b[:0]))
}

// wideKey is coordinates that do not pack, as coordKey encodes them.
type wideKey string

func (k wideKey) coords(buf []uint32) []uint32 {
	out := slices.Grow(buf[:0], len(k)/4)[:len(k)/4]
	for i := range out {
		s := k[4*i:]
		out[i] = uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
	}
	return out
}

func (k wideKey) compare(o wideKey) int { return strings.Compare(string(k), string(o)) }

// tableKey is what a chunkTable is keyed by.
type tableKey[K any] interface {
	comparable
	coords(buf []uint32) []uint32
	compare(K) int
}

// chunkSlot is one chunk change. A native ref within the first 4 GiB of
// its object and shorter than 4 GiB (what WriteChunk and StoreSetMany's
// packing make) is its chunk id, offset and length; otherwise the id is
// zero, which no native ref has, and length tells a delete (deletedSlot)
// from a ref kept in chunkTable.side (sideSlot).
type chunkSlot struct {
	id     codec.ChunkID
	offset uint32
	length uint32
}

var (
	deletedSlot = chunkSlot{}
	sideSlot    = chunkSlot{length: 1}
)

// slotOf returns the slot that stands for ref, or sideSlot if ref does not
// fit one. Only a ref whose every other field is zero fits, so that loading
// the slot gives back an equal ref.
func slotOf(ref *codec.ChunkRef) chunkSlot {
	switch {
	case ref == nil:
		return deletedSlot
	case ref.Kind == codec.ChunkNative && !ref.ChunkID.IsZero() && ref.Offset <= math.MaxUint32 && ref.Length <= math.MaxUint32 &&
		ref.Inline == nil && ref.Location == "" && ref.ETag == "" && ref.LastModified == 0:
		return chunkSlot{id: ref.ChunkID, offset: uint32(ref.Offset), length: uint32(ref.Length)}
	}
	return sideSlot
}

// chunkTable maps chunk keys to changes. The zero value is empty and ready
// to use.
type chunkTable[K tableKey[K]] struct {
	slots map[K]chunkSlot
	side  map[K]*codec.ChunkRef // the refs of the keys whose slot is sideSlot
}

// set records ref (nil: a delete) for k; a ref kept whole is stored as
// given (see arrayChunks.set for copies).
func (t *chunkTable[K]) set(k K, ref *codec.ChunkRef) {
	if t.slots == nil {
		t.slots = map[K]chunkSlot{}
	}
	s := slotOf(ref)
	t.slots[k] = s
	if s == sideSlot {
		if t.side == nil {
			t.side = map[K]*codec.ChunkRef{}
		}
		t.side[k] = ref
	} else {
		delete(t.side, k)
	}
}

// load writes the ref of slot s of key k into dst, leaving dst.Coords
// alone, and reports false (dst untouched) if s is a delete.
func (t *chunkTable[K]) load(k K, s chunkSlot, dst *codec.ChunkRef) bool {
	switch s {
	case deletedSlot:
		return false
	case sideSlot:
		coords := dst.Coords
		*dst = *t.side[k]
		dst.Coords = coords
	default:
		*dst = codec.ChunkRef{Coords: dst.Coords, Kind: codec.ChunkNative, ChunkID: s.id, Offset: uint64(s.offset), Length: uint64(s.length)}
	}
	return true
}

// get returns the ref recorded for k as chunk at coords (see
// ChangeSet.chunk). A ref kept whole is returned as stored; one rebuilt
// from its slot is new, with its own copy of coords.
func (t *chunkTable[K]) get(k K, coords []uint32) (*codec.ChunkRef, bool) {
	s, ok := t.slots[k]
	switch {
	case !ok || s == deletedSlot:
		return nil, ok
	case s == sideSlot:
		return t.side[k], true
	}
	ref := &codec.ChunkRef{Coords: slices.Clone(coords)}
	t.load(k, s, ref)
	return ref, true
}

func (t *chunkTable[K]) drop(k K) {
	delete(t.slots, k)
	delete(t.side, k)
}

func (t *chunkTable[K]) clone() chunkTable[K] {
	return chunkTable[K]{slots: maps.Clone(t.slots), side: maps.Clone(t.side)}
}

// merge copies every change of o into t, and returns how many changes of
// t it replaced with a different one.
func (t *chunkTable[K]) merge(o *chunkTable[K]) (replaced int) {
	for k, s := range o.slots {
		if old, had := t.slots[k]; had && (old != s || s == sideSlot && !reflect.DeepEqual(t.side[k], o.side[k])) {
			replaced++
		}
		if s == sideSlot {
			t.set(k, o.side[k])
			continue
		}
		if t.slots == nil {
			t.slots = make(map[K]chunkSlot, len(o.slots))
		}
		t.slots[k] = s
		delete(t.side, k)
	}
	return replaced
}

// sortKeys sorts keys in coordinate order.
func sortKeys[K tableKey[K]](keys []K) {
	slices.SortFunc(keys, func(a, b K) int { return a.compare(b) })
}

// arrayChunks is the chunk changes of one array. Coordinates that pack are
// in packed; the rare others (high ranks with large coordinates) in wide.
// Whether coordinates pack depends on them alone, so each chunk has one
// home.
type arrayChunks struct {
	packed chunkTable[packedKey]
	wide   chunkTable[wideKey]
}

func (a *arrayChunks) len() int { return len(a.packed.slots) + len(a.wide.slots) }

// set records ref (nil: a delete) for the chunk at coords. Neither ref nor
// coords is kept: a ref that does not fit a slot is copied, with its own
// copy of coords.
func (a *arrayChunks) set(coords []uint32, ref *codec.ChunkRef) {
	if slotOf(ref) == sideSlot {
		r := *ref
		r.Coords = slices.Clone(coords)
		ref = &r
	}
	if k, ok := packCoords(coords); ok {
		a.packed.set(k, ref)
	} else {
		a.wide.set(wideKey(coordKey(coords)), ref)
	}
}

func (a *arrayChunks) get(coords []uint32) (*codec.ChunkRef, bool) {
	if k, ok := packCoords(coords); ok {
		return a.packed.get(k, coords)
	}
	return a.wide.get(wideKey(coordKey(coords)), coords)
}

func (a *arrayChunks) drop(coords []uint32) {
	if k, ok := packCoords(coords); ok {
		a.packed.drop(k)
	} else {
		a.wide.drop(wideKey(coordKey(coords)))
	}
}

func (a *arrayChunks) clone() *arrayChunks {
	return &arrayChunks{packed: a.packed.clone(), wide: a.wide.clone()}
}

// merge copies every change of o into a, o winning where both have one,
// and returns how many of a's it replaced with a different one.
func (a *arrayChunks) merge(o *arrayChunks) int {
	return a.packed.merge(&o.packed) + a.wide.merge(&o.wide)
}

// sorted yields every change in coordinate order (see changeCursor.all).
func (a *arrayChunks) sorted() iter.Seq2[[]uint32, *codec.ChunkRef] {
	return a.cursor(a.packed.sortedKeys(), a.wide.sortedKeys()).all()
}

// sortedKeys returns the keys of t in coordinate order.
func (t *chunkTable[K]) sortedKeys() []K {
	keys := make([]K, 0, len(t.slots))
	for k := range t.slots {
		keys = append(keys, k)
	}
	sortKeys(keys)
	return keys
}

// coords yields the coordinates of every change, in no order. They are
// reused from one step to the next.
func (a *arrayChunks) coords() iter.Seq[[]uint32] {
	return func(yield func([]uint32) bool) {
		var buf []uint32
		for k := range a.packed.slots {
			if buf = k.coords(buf); !yield(buf) {
				return
			}
		}
		for k := range a.wide.slots {
			if buf = k.coords(buf); !yield(buf) {
				return
			}
		}
	}
}

// changeCursor steps through changes of an array in coordinate order. A
// plain method rather than an iterator, so that loops over hundreds of
// thousands of refs (mergeRefs) stay free of closures.
type changeCursor struct {
	a          *arrayChunks
	packed     []packedKey // sorted, not yet returned
	wide       []wideKey   // sorted, not yet returned
	pbuf, wbuf []uint32
	ref        codec.ChunkRef
}

// cursor returns a cursor over the changes of the given keys of a, each
// list sorted.
func (a *arrayChunks) cursor(packed []packedKey, wide []wideKey) *changeCursor {
	// Not nil, so that rank-0 coordinates come out empty rather than nil,
	// as coordKey's parse gives them.
	return &changeCursor{a: a, packed: packed, wide: wide, pbuf: make([]uint32, 0, 4), wbuf: make([]uint32, 0, 4)}
}

// next returns the next change: the chunk's coordinates and its ref, nil
// for a delete; false after the last. Both are reused by the following
// call: a caller keeping them must copy them.
func (c *changeCursor) next() ([]uint32, *codec.ChunkRef, bool) {
	var pc, wc []uint32
	if len(c.packed) > 0 {
		pc = c.packed[0].coords(c.pbuf)
		c.pbuf = pc
	}
	if len(c.wide) > 0 {
		wc = c.wide[0].coords(c.wbuf)
		c.wbuf = wc
	}
	var ok bool
	var coords []uint32
	switch {
	case len(c.packed) > 0 && (len(c.wide) == 0 || codec.CompareCoords(pc, wc) < 0):
		k := c.packed[0]
		c.packed = c.packed[1:]
		c.ref.Coords, coords = pc, pc
		ok = c.a.packed.load(k, c.a.packed.slots[k], &c.ref)
	case len(c.wide) > 0:
		k := c.wide[0]
		c.wide = c.wide[1:]
		c.ref.Coords, coords = wc, wc
		ok = c.a.wide.load(k, c.a.wide.slots[k], &c.ref)
	default:
		return nil, nil, false
	}
	if !ok {
		return coords, nil, true
	}
	return coords, &c.ref, true
}

// all yields the changes left, as next returns them.
func (c *changeCursor) all() iter.Seq2[[]uint32, *codec.ChunkRef] {
	return func(yield func([]uint32, *codec.ChunkRef) bool) {
		for {
			coords, ref, ok := c.next()
			if !ok || !yield(coords, ref) {
				return
			}
		}
	}
}

// chunkBlock is the changes of an array that fall in one manifest block,
// by key (see arrayChunks.blocks).
type chunkBlock struct {
	first  []uint32 // the coordinates of one of them, which name the block
	n      int      // the number of changes
	packed []packedKey
	wide   []wideKey
}

func (b *chunkBlock) len() int { return b.n }

// blocks splits the changes of rank-dimensional chunks into the manifest
// blocks of shape block that hold them, keyed by blockKey; changes of
// another rank are left out. Blocks hold keys only (16 bytes a change), so
// that a commit materializes one block's refs at a time.
func (a *arrayChunks) blocks(rank int, block []uint32) map[string]*chunkBlock {
	out := map[string]*chunkBlock{}
	byPacked := map[packedKey]*chunkBlock{} // saves a string key per change
	var idx []uint32
	find := func(coords []uint32) *chunkBlock {
		idx = slices.Grow(idx[:0], len(coords))[:len(coords)]
		for d, c := range coords {
			idx[d] = c / block[d]
		}
		pk, packs := packCoords(idx)
		if b := byPacked[pk]; packs && b != nil {
			return b
		}
		k := coordKey(idx)
		b := out[k]
		if b == nil {
			b = &chunkBlock{first: slices.Clone(coords)}
			out[k] = b
		}
		if packs {
			byPacked[pk] = b
		}
		return b
	}
	// Two passes, counting then filling, so that each block's keys take
	// one allocation of the right size.
	var buf []uint32
	for pass := range 2 {
		for k := range a.packed.slots {
			if k.rank() != rank {
				continue
			}
			buf = k.coords(buf)
			b := find(buf)
			if pass == 0 {
				b.n++
			} else {
				if b.packed == nil {
					b.packed = make([]packedKey, 0, b.n)
				}
				b.packed = append(b.packed, k)
			}
		}
		for k := range a.wide.slots {
			if buf = k.coords(buf); len(buf) != rank {
				continue
			}
			b := find(buf)
			if pass == 0 {
				b.n++
			} else {
				b.wide = append(b.wide, k)
			}
		}
	}
	return out
}

// cursor returns a cursor over the block's changes in coordinate order. It
// sorts the block's keys in place.
func (b *chunkBlock) cursor(a *arrayChunks) *changeCursor {
	sortKeys(b.packed)
	sortKeys(b.wide)
	return a.cursor(b.packed, b.wide)
}

// coordArena hands out copies of coordinates carved from shared arrays,
// saving an allocation per chunk where many are copied at once.
type coordArena struct{ buf []uint32 }

// coordArenaPage is the elements of one shared array (16 KiB).
const coordArenaPage = 4096

// copy returns a copy of c, with no room to append.
func (ar *coordArena) copy(c []uint32) []uint32 {
	if cap(ar.buf)-len(ar.buf) < len(c) {
		ar.buf = make([]uint32, 0, max(coordArenaPage, len(c)))
	}
	n := len(ar.buf)
	ar.buf = append(ar.buf, c...)
	return ar.buf[n:len(ar.buf):len(ar.buf)]
}
