package codec

import (
	"github.com/cockroachdb/errors"
	"github.com/tinylib/msgp/msgp"
)

//go:generate msgp -io=false -tests=false -unexported

//msgp:ignore inlineColumn

// manifestWire is the on-wire (MessagePack) form of a Manifest: the chunk
// references are stored column by column rather than as one map per
// reference. Columns of numbers compress well (coordinates of sorted refs form
// long runs and ramps), chunk ids are packed into one bin, and the object a
// virtual ref points into (location, ETag, modification time) is stored once
// in a table that refs index. Let n be the number of refs, d the number of
// dimensions, and nNative, nVirtual, nInline the refs of each kind; then:
//
//	coords          d arrays of n uint32: coords[k][i] is coordinate k of ref i
//	kinds           bin of n bytes: the ChunkKind of ref i
//	chunk_ids       bin of 12*nNative bytes: the chunk ids of native refs, in order
//	offsets         nNative+nVirtual uint64: Offset of each non-inline ref, in order
//	lengths         nNative+nVirtual uint64: Length of each non-inline ref, in order
//	inline          nInline bins: the bytes of each inline ref, in order
//	locations       table of virtual objects, in order of first use: Location,
//	etags           ETag and LastModified of each distinct combination
//	last_modified   (three arrays of equal length)
//	object_index    nVirtual uint32: index into the table of each virtual ref
//
// d is len(coords); n is len(kinds). Refs are in Manifest order (sorted by
// coordinates).
type manifestWire struct {
	ID           ManifestID   `msg:"id"`
	NodeID       NodeID       `msg:"node_id"`
	Extents      []Extent     `msg:"extents"`
	Coords       [][]uint32   `msg:"coords"`
	Kinds        []byte       `msg:"kinds"`
	ChunkIDs     []byte       `msg:"chunk_ids"`
	Offsets      []uint64     `msg:"offsets"`
	Lengths      []uint64     `msg:"lengths"`
	Inline       inlineColumn `msg:"inline"`
	Locations    []string     `msg:"locations"`
	ETags        []string     `msg:"etags"`
	LastModified []int64      `msg:"last_modified"`
	ObjectIndex  []uint32     `msg:"object_index"`
}

// virtualObject is an entry of a manifest's table of virtual objects.
type virtualObject struct {
	location     string
	etag         string
	lastModified int64
}

// MarshalMsg implements msgp.Marshaler: it appends the manifest's
// MessagePack form (see manifestWire) to b. It fails if the refs do not all
// have the same number of coordinates or one has an unknown kind; the other
// invariants are checked by Validate, which Encode calls first.
func (m *Manifest) MarshalMsg(b []byte) ([]byte, error) {
	w, err := m.toWire()
	if err != nil {
		return b, err
	}
	return w.MarshalMsg(b)
}

// UnmarshalMsg implements msgp.Unmarshaler: it decodes a manifest from its
// MessagePack form and returns the bytes left over. The columns must be
// consistent with each other; the manifest's invariants are checked by
// Validate, which Decode calls after.
func (m *Manifest) UnmarshalMsg(b []byte) ([]byte, error) {
	var w manifestWire
	rest, err := w.UnmarshalMsg(b)
	if err != nil {
		return b, err
	}
	if err := m.fromWire(&w); err != nil {
		return b, err
	}
	return rest, nil
}

// toWire returns the wire columns of m. Columns that are the same in both
// forms (all of them for a 1-D manifest of native refs) are shared, not
// copied: the result must not be modified.
func (m *Manifest) toWire() (*manifestWire, error) {
	c := &m.refs
	n := c.len()
	nd := m.NDim()
	w := &manifestWire{ID: m.ID, NodeID: m.NodeID, Extents: m.Extents, Kinds: c.kinds}
	if nd == 1 && n > 0 {
		w.Coords = [][]uint32{c.coords}
	} else {
		w.Coords = make([][]uint32, nd)
		for k := range w.Coords {
			col := make([]uint32, n)
			for i := range col {
				col[i] = c.coords[i*nd+k]
			}
			w.Coords[k] = col
		}
	}
	var nNative, nVirtual, nInline int
	for i, k := range c.kinds {
		switch ChunkKind(k) {
		case ChunkNative:
			nNative++
		case ChunkVirtual:
			nVirtual++
		case ChunkInline:
			nInline++
		default:
			return nil, errors.Newf("chunk %v: unknown chunk kind %d", c.coordsAt(i), k)
		}
	}
	// The wire columns hold only the refs of the kinds they concern.
	if nNative == n {
		w.ChunkIDs = c.ids
	} else {
		w.ChunkIDs = make([]byte, 0, IDSize*nNative)
	}
	if nInline == 0 {
		w.Offsets, w.Lengths = c.offsets, c.lengths
	} else {
		w.Offsets = make([]uint64, 0, nNative+nVirtual)
		w.Lengths = make([]uint64, 0, nNative+nVirtual)
		w.Inline = inlineColumn{data: c.inline, ends: make([]int, 0, nInline)}
	}
	if nVirtual == n {
		w.ObjectIndex = c.objects
	} else if nVirtual > 0 {
		w.ObjectIndex = make([]uint32, 0, nVirtual)
	}
	w.Locations, w.ETags, w.LastModified = c.locations, c.etags, c.lastModified
	if !mixedKinds(n, nNative, nVirtual, nInline) {
		return w, nil
	}
	for i, k := range c.kinds {
		kind := ChunkKind(k)
		if kind == ChunkNative && nNative != n {
			w.ChunkIDs = append(w.ChunkIDs, c.ids[i*IDSize:(i+1)*IDSize]...)
		}
		if kind == ChunkInline {
			// Inline bytes lie back to back in ref order.
			w.Inline.ends = append(w.Inline.ends, int(c.offsets[i]+c.lengths[i]))
		} else if nInline > 0 {
			w.Offsets = append(w.Offsets, c.offsets[i])
			w.Lengths = append(w.Lengths, c.lengths[i])
		}
		if kind == ChunkVirtual && nVirtual != n {
			w.ObjectIndex = append(w.ObjectIndex, c.objects[i])
		}
	}
	return w, nil
}

// fromWire rebuilds m from the wire columns, checking that they agree. It
// takes the columns over: those the two forms share are kept as decoded,
// so decoding a 1-D manifest of native refs copies nothing.
func (m *Manifest) fromWire(w *manifestWire) error {
	n := len(w.Kinds)
	nd := len(w.Coords)
	for k := range w.Coords {
		if len(w.Coords[k]) != n {
			return errors.Newf("manifest columns disagree: coordinate column %d has %d entries for %d refs", k, len(w.Coords[k]), n)
		}
	}
	var nNative, nVirtual, nInline int
	for i, k := range w.Kinds {
		switch ChunkKind(k) {
		case ChunkNative:
			nNative++
		case ChunkVirtual:
			nVirtual++
		case ChunkInline:
			nInline++
		default:
			return errors.Newf("ref %d has unknown chunk kind %d", i, k)
		}
	}
	switch {
	case len(w.ChunkIDs) != IDSize*nNative:
		return errors.Newf("manifest columns disagree: %d bytes of chunk ids for %d native refs", len(w.ChunkIDs), nNative)
	case len(w.Offsets) != nNative+nVirtual || len(w.Lengths) != nNative+nVirtual:
		return errors.Newf("manifest columns disagree: %d offsets and %d lengths for %d native and virtual refs", len(w.Offsets), len(w.Lengths), nNative+nVirtual)
	case len(w.Inline.ends) != nInline:
		return errors.Newf("manifest columns disagree: %d inline chunks for %d inline refs", len(w.Inline.ends), nInline)
	case len(w.ObjectIndex) != nVirtual:
		return errors.Newf("manifest columns disagree: %d object indexes for %d virtual refs", len(w.ObjectIndex), nVirtual)
	case len(w.ETags) != len(w.Locations) || len(w.LastModified) != len(w.Locations):
		return errors.Newf("manifest columns disagree: %d locations, %d etags and %d modification times in the object table",
			len(w.Locations), len(w.ETags), len(w.LastModified))
	}
	for i, idx := range w.ObjectIndex {
		if uint64(idx) >= uint64(len(w.Locations)) {
			return errors.Newf("virtual ref %d: object index %d out of range (%d objects)", i, idx, len(w.Locations))
		}
	}

	c := refColumns{nd: nd, kinds: w.Kinds, inline: w.Inline.data,
		locations: w.Locations, etags: w.ETags, lastModified: w.LastModified}
	switch {
	case nd == 1:
		c.coords = w.Coords[0]
	case n > 0:
		// Not nil even for rank 0, so that refs' coordinates are empty,
		// not nil.
		c.coords = make([]uint32, n*nd)
		for k, col := range w.Coords {
			for i, x := range col {
				c.coords[i*nd+k] = x
			}
		}
	}
	// Spread the columns that hold some kinds only over all refs, unless
	// they already hold every ref.
	if nNative == n {
		c.ids = w.ChunkIDs
	} else if nNative > 0 {
		c.ids = make([]byte, IDSize*n)
	}
	if nInline == 0 {
		c.offsets, c.lengths = w.Offsets, w.Lengths
	} else {
		c.offsets, c.lengths = make([]uint64, n), make([]uint64, n)
	}
	if nVirtual == n {
		c.objects = w.ObjectIndex
	} else if nVirtual > 0 {
		c.objects = make([]uint32, n)
	}
	if !mixedKinds(n, nNative, nVirtual, nInline) {
		m.ID, m.NodeID, m.Extents, m.refs = w.ID, w.NodeID, w.Extents, c
		return nil
	}
	var iNative, iOther, iVirtual, iInline int
	start := 0 // of the next inline chunk's bytes
	for i, k := range w.Kinds {
		switch ChunkKind(k) {
		case ChunkInline:
			end := w.Inline.ends[iInline]
			c.offsets[i], c.lengths[i] = uint64(start), uint64(end-start)
			start = end
			iInline++
			continue
		case ChunkNative:
			if nNative != n {
				copy(c.ids[i*IDSize:], w.ChunkIDs[iNative*IDSize:(iNative+1)*IDSize])
			}
			iNative++
		case ChunkVirtual:
			if nVirtual != n {
				c.objects[i] = w.ObjectIndex[iVirtual]
			}
			iVirtual++
		}
		if nInline > 0 {
			c.offsets[i], c.lengths[i] = w.Offsets[iOther], w.Lengths[iOther]
		}
		iOther++
	}
	m.ID, m.NodeID, m.Extents, m.refs = w.ID, w.NodeID, w.Extents, c
	return nil
}

// mixedKinds reports whether the columns of the two forms differ beyond
// the coordinates: when some refs are inline, or when native or virtual
// refs are mixed with refs of another kind.
func mixedKinds(n, nNative, nVirtual, nInline int) bool {
	return nInline > 0 || (nNative > 0 && nNative < n) || (nVirtual > 0 && nVirtual < n)
}

// inlineColumn is the wire column "inline", an array of bin, held in one
// buffer: entry i is data[ends[i-1]:ends[i]] (from 0 for the first). The
// inline chunks of a manifest thus cost one allocation, not one each.
type inlineColumn struct {
	data []byte
	ends []int
}

func (c *inlineColumn) entry(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]]
}

// MarshalMsg implements msgp.Marshaler.
func (c *inlineColumn) MarshalMsg(b []byte) ([]byte, error) {
	b = msgp.AppendArrayHeader(b, uint32(len(c.ends)))
	for i := range c.ends {
		b = msgp.AppendBytes(b, c.entry(i))
	}
	return b, nil
}

// UnmarshalMsg implements msgp.Unmarshaler. The bytes are copied (a decoded
// manifest does not alias its file).
func (c *inlineColumn) UnmarshalMsg(b []byte) ([]byte, error) {
	n, rest, err := msgp.ReadArrayHeaderBytes(b)
	if err != nil {
		return b, err
	}
	// A first pass sizes the buffer, so it is allocated once.
	total, p := 0, rest
	for range n {
		var v []byte
		if v, p, err = msgp.ReadBytesZC(p); err != nil {
			return b, err
		}
		total += len(v)
	}
	c.data, c.ends = make([]byte, 0, total), make([]int, 0, n)
	for range n {
		v, next, _ := msgp.ReadBytesZC(rest)
		c.data = append(c.data, v...)
		c.ends = append(c.ends, len(c.data))
		rest = next
	}
	return rest, nil
}

// Msgsize implements msgp.Sizer: an upper bound of the encoded size.
func (c *inlineColumn) Msgsize() int {
	return msgp.ArrayHeaderSize + len(c.ends)*msgp.BytesPrefixSize + len(c.data)
}
