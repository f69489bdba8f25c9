package codec

import (
	"github.com/cockroachdb/errors"
)

// refColumns holds the refs of a manifest column by column, in ref order
// (sorted by coordinates). Let n be the number of refs and nd the number of
// dimensions:
//
//	coords        n*nd coordinates, row-major: ref i's are coords[i*nd:(i+1)*nd]
//	kinds         n ChunkKinds
//	ids           12*n bytes: a native ref's chunk id, zeros for other refs;
//	              nil when no ref is native
//	offsets       n values: a native or virtual ref's Offset and Length; for
//	lengths       an inline ref, where its bytes are in inline
//	inline        the bytes of the inline refs, back to back in ref order
//	objects       n indexes into the object table: a virtual ref's object,
//	              0 for other refs; nil when no ref is virtual
//	locations     the object table: Location, ETag and LastModified of each
//	etags         virtual object (equal lengths)
//	lastModified
//
// Each column is one allocation, so a manifest holds a constant number of
// heap objects (plus two strings per virtual object), and the columns the
// wire form shares (see fromWire) are kept as decoded rather than copied.
// The zero value holds no refs.
type refColumns struct {
	nd           int
	coords       []uint32
	kinds        []byte
	ids          []byte
	offsets      []uint64
	lengths      []uint64
	inline       []byte
	objects      []uint32
	locations    []string
	etags        []string
	lastModified []int64
}

func (c *refColumns) len() int { return len(c.kinds) }

// coordsAt returns ref i's coordinates, capped so that appending copies.
func (c *refColumns) coordsAt(i int) []uint32 {
	return c.coords[i*c.nd : (i+1)*c.nd : (i+1)*c.nd]
}

// ref materializes ref i. It allocates nothing: slices and strings point
// into the columns.
func (c *refColumns) ref(i int) ChunkRef {
	r := ChunkRef{Coords: c.coordsAt(i), Kind: ChunkKind(c.kinds[i])}
	switch r.Kind {
	case ChunkInline:
		start, end := c.offsets[i], c.offsets[i]+c.lengths[i]
		r.Inline = c.inline[start:end:end]
	case ChunkNative:
		r.ChunkID = ChunkID(c.ids[i*IDSize : (i+1)*IDSize])
		r.Offset, r.Length = c.offsets[i], c.lengths[i]
	case ChunkVirtual:
		r.Offset, r.Length = c.offsets[i], c.lengths[i]
		o := c.objects[i]
		r.Location, r.ETag, r.LastModified = c.locations[o], c.etags[o], c.lastModified[o]
	}
	return r
}

// search finds coords by binary search: their position, or where they
// would be inserted and false.
func (c *refColumns) search(coords []uint32) (int, bool) {
	n := c.len()
	if len(coords) != c.nd {
		return n, false
	}
	lo, hi := 0, n
	if c.nd == 1 {
		// The common case of a 1-D array, without the slicing.
		x := coords[0]
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if c.coords[mid] < x {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo, lo < n && c.coords[lo] == x
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch CompareCoords(c.coordsAt(mid), coords) {
		case -1:
			lo = mid + 1
		case 1:
			hi = mid
		default:
			return mid, true
		}
	}
	return lo, false
}

// ManifestBuilder builds a Manifest from refs appended in coordinate order,
// straight into the manifest's columns (no []ChunkRef in between).
//
// Append records the first invalid ref it is given and ignores the rest;
// Build reports it. A builder builds one manifest.
type ManifestBuilder struct {
	cols    refColumns
	reserve int // refs to make room for when a lazy column starts
	objects map[virtualObject]uint32
	last    virtualObject // the object last appended, and its index
	lastIdx uint32
	err     error
}

// NewManifestBuilder returns a builder of a manifest of ndim-dimensional
// refs with room for about capacity of them.
func NewManifestBuilder(ndim, capacity int) *ManifestBuilder {
	capacity = max(capacity, 0)
	b := &ManifestBuilder{reserve: capacity}
	b.cols.nd = max(ndim, 0)
	// Not nil even for rank 0, so that refs' coordinates are empty, not nil.
	b.cols.coords = make([]uint32, 0, capacity*b.cols.nd)
	b.cols.kinds = make([]byte, 0, capacity)
	b.cols.offsets = make([]uint64, 0, capacity)
	b.cols.lengths = make([]uint64, 0, capacity)
	return b
}

// Len returns the number of refs appended.
func (b *ManifestBuilder) Len() int { return b.cols.len() }

// Append adds a copy of r (its inline bytes included) after the refs
// appended before it. r must be valid (ChunkRef.Validate) and have the
// builder's number of coordinates; order is checked by Build.
func (b *ManifestBuilder) Append(r *ChunkRef) {
	if b.err != nil {
		return
	}
	c := &b.cols
	if len(r.Coords) != c.nd {
		b.err = errors.Newf("chunk %v has %d coordinates, want %d", r.Coords, len(r.Coords), c.nd)
		return
	}
	if err := r.Validate(); err != nil {
		b.err = err
		return
	}
	n := c.len()
	off, length := r.Offset, r.Length
	var obj uint32
	switch r.Kind {
	case ChunkInline:
		off, length = uint64(len(c.inline)), uint64(len(r.Inline))
		c.inline = append(c.inline, r.Inline...)
	case ChunkNative:
		if c.ids == nil {
			c.ids = make([]byte, IDSize*n, IDSize*max(b.reserve, n+1))
		}
	case ChunkVirtual:
		if c.objects == nil {
			c.objects = make([]uint32, n, max(b.reserve, n+1))
		}
		obj = b.object(virtualObject{r.Location, r.ETag, r.LastModified})
	}
	c.coords = append(c.coords, r.Coords...)
	c.kinds = append(c.kinds, byte(r.Kind))
	c.offsets = append(c.offsets, off)
	c.lengths = append(c.lengths, length)
	if c.ids != nil {
		c.ids = append(c.ids, r.ChunkID[:]...) // zero unless native (Validate)
	}
	if c.objects != nil {
		c.objects = append(c.objects, obj)
	}
}

// object returns the index of o in the object table, adding it if new: the
// table holds each object once, in order of first use, as the wire form
// does.
func (b *ManifestBuilder) object(o virtualObject) uint32 {
	c := &b.cols
	if len(c.locations) > 0 && o == b.last {
		return b.lastIdx // runs of refs into one object are the rule
	}
	idx, ok := b.objects[o]
	if !ok {
		if b.objects == nil {
			b.objects = map[virtualObject]uint32{}
		}
		idx = uint32(len(c.locations))
		b.objects[o] = idx
		c.locations = append(c.locations, o.location)
		c.etags = append(c.etags, o.etag)
		c.lastModified = append(c.lastModified, o.lastModified)
	}
	b.last, b.lastIdx = o, idx
	return idx
}

// Build returns the manifest of the appended refs and validates it (see
// Manifest); an invalid ref or manifest gives an error marked ErrInvalid.
// The builder must not be used afterwards.
func (b *ManifestBuilder) Build(id ManifestID, node NodeID, extents []Extent) (*Manifest, error) {
	if b.err != nil {
		return nil, errors.Mark(errors.Wrapf(b.err, "manifest %s", id), ErrInvalid)
	}
	c := b.cols
	b.cols, b.objects = refColumns{}, nil
	// Columns are sized for an upper bound of the refs; a manifest may be
	// cached for long, so it does not keep much room it will never use.
	c.coords = trim(c.coords)
	c.kinds = trim(c.kinds)
	c.ids = trim(c.ids)
	c.offsets = trim(c.offsets)
	c.lengths = trim(c.lengths)
	c.inline = trim(c.inline)
	c.objects = trim(c.objects)
	m := &Manifest{ID: id, NodeID: node, Extents: extents, refs: c}
	if err := m.Validate(); err != nil {
		return nil, errors.Mark(err, ErrInvalid)
	}
	return m, nil
}

// trim returns s, or a copy without its spare capacity if that is more than
// an eighth of its length.
func trim[T any](s []T) []T {
	if s == nil || cap(s)-len(s) <= len(s)/8 {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}
