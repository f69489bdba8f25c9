package codec

import (
	"github.com/cockroachdb/errors"
)

//go:generate msgp -io=false -tests=false -unexported

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
	ID           ManifestID `msg:"id"`
	NodeID       NodeID     `msg:"node_id"`
	Extents      []Extent   `msg:"extents"`
	Coords       [][]uint32 `msg:"coords"`
	Kinds        []byte     `msg:"kinds"`
	ChunkIDs     []byte     `msg:"chunk_ids"`
	Offsets      []uint64   `msg:"offsets"`
	Lengths      []uint64   `msg:"lengths"`
	Inline       [][]byte   `msg:"inline"`
	Locations    []string   `msg:"locations"`
	ETags        []string   `msg:"etags"`
	LastModified []int64    `msg:"last_modified"`
	ObjectIndex  []uint32   `msg:"object_index"`
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

func (m *Manifest) toWire() (*manifestWire, error) {
	n := len(m.Refs)
	nd := m.NDim()
	w := &manifestWire{ID: m.ID, NodeID: m.NodeID, Extents: m.Extents}
	w.Coords = make([][]uint32, nd)
	for k := range w.Coords {
		w.Coords[k] = make([]uint32, n)
	}
	w.Kinds = make([]byte, n)
	var nNative, nVirtual, nInline int
	for i := range m.Refs {
		switch m.Refs[i].Kind {
		case ChunkNative:
			nNative++
		case ChunkVirtual:
			nVirtual++
		case ChunkInline:
			nInline++
		default:
			return nil, errors.Newf("chunk %v: unknown chunk kind %d", m.Refs[i].Coords, m.Refs[i].Kind)
		}
	}
	w.ChunkIDs = make([]byte, 0, IDSize*nNative)
	w.Offsets = make([]uint64, 0, nNative+nVirtual)
	w.Lengths = make([]uint64, 0, nNative+nVirtual)
	if nInline > 0 {
		w.Inline = make([][]byte, 0, nInline)
	}
	var objIndex map[virtualObject]uint32
	if nVirtual > 0 {
		objIndex = make(map[virtualObject]uint32)
		w.ObjectIndex = make([]uint32, 0, nVirtual)
	}
	for i := range m.Refs {
		r := &m.Refs[i]
		if len(r.Coords) != nd {
			return nil, errors.Newf("chunk %v has %d coordinates, want %d", r.Coords, len(r.Coords), nd)
		}
		for k, c := range r.Coords {
			w.Coords[k][i] = c
		}
		w.Kinds[i] = byte(r.Kind)
		switch r.Kind {
		case ChunkInline:
			w.Inline = append(w.Inline, r.Inline)
		case ChunkNative:
			w.ChunkIDs = append(w.ChunkIDs, r.ChunkID[:]...)
			w.Offsets = append(w.Offsets, r.Offset)
			w.Lengths = append(w.Lengths, r.Length)
		case ChunkVirtual:
			w.Offsets = append(w.Offsets, r.Offset)
			w.Lengths = append(w.Lengths, r.Length)
			obj := virtualObject{r.Location, r.ETag, r.LastModified}
			idx, ok := objIndex[obj]
			if !ok {
				idx = uint32(len(w.Locations))
				objIndex[obj] = idx
				w.Locations = append(w.Locations, r.Location)
				w.ETags = append(w.ETags, r.ETag)
				w.LastModified = append(w.LastModified, r.LastModified)
			}
			w.ObjectIndex = append(w.ObjectIndex, idx)
		}
	}
	return w, nil
}

// fromWire rebuilds m from its columns, checking that their lengths agree.
// All coordinates share one backing array (each ref's Coords is a capped
// sub-slice of it), so decoding allocates a few large arrays rather than one
// small one per ref.
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
	case len(w.Inline) != nInline:
		return errors.Newf("manifest columns disagree: %d inline chunks for %d inline refs", len(w.Inline), nInline)
	case len(w.ObjectIndex) != nVirtual:
		return errors.Newf("manifest columns disagree: %d object indexes for %d virtual refs", len(w.ObjectIndex), nVirtual)
	case len(w.ETags) != len(w.Locations) || len(w.LastModified) != len(w.Locations):
		return errors.Newf("manifest columns disagree: %d locations, %d etags and %d modification times in the object table",
			len(w.Locations), len(w.ETags), len(w.LastModified))
	}

	m.ID, m.NodeID, m.Extents = w.ID, w.NodeID, w.Extents
	m.Refs = make([]ChunkRef, n)
	coords := make([]uint32, n*nd)
	var iNative, iOther, iVirtual, iInline int
	for i := range m.Refs {
		r := &m.Refs[i]
		c := coords[i*nd : (i+1)*nd : (i+1)*nd]
		for k := range c {
			c[k] = w.Coords[k][i]
		}
		r.Coords = c
		r.Kind = ChunkKind(w.Kinds[i])
		switch r.Kind {
		case ChunkInline:
			r.Inline = w.Inline[iInline]
			iInline++
		case ChunkNative:
			copy(r.ChunkID[:], w.ChunkIDs[iNative*IDSize:])
			iNative++
			r.Offset, r.Length = w.Offsets[iOther], w.Lengths[iOther]
			iOther++
		case ChunkVirtual:
			r.Offset, r.Length = w.Offsets[iOther], w.Lengths[iOther]
			iOther++
			idx := w.ObjectIndex[iVirtual]
			if uint64(idx) >= uint64(len(w.Locations)) {
				return errors.Newf("ref %d: object index %d out of range (%d objects)", i, idx, len(w.Locations))
			}
			r.Location, r.ETag, r.LastModified = w.Locations[idx], w.ETags[idx], w.LastModified[idx]
			iVirtual++
		}
	}
	return nil
}
