package codec

import (
	"iter"
	"slices"
	"strconv"
	"unsafe"

	"github.com/cockroachdb/errors"
)

// ChunkKind says where a chunk's bytes are.
type ChunkKind uint8

// Chunk kinds. The values are part of the format and never change.
const (
	// ChunkInline: the bytes are in the manifest itself (ChunkRef.Inline).
	ChunkInline ChunkKind = 1
	// ChunkNative: the bytes are Length bytes at Offset of the repository
	// object chunks/<ChunkID>.
	ChunkNative ChunkKind = 2
	// ChunkVirtual: the bytes are Length bytes at Offset of an object
	// outside the repository, named by the URL in Location.
	ChunkVirtual ChunkKind = 3
)

// String returns "inline", "native", "virtual" or "unknown chunk kind N".
func (k ChunkKind) String() string {
	switch k {
	case ChunkInline:
		return "inline"
	case ChunkNative:
		return "native"
	case ChunkVirtual:
		return "virtual"
	}
	return "unknown chunk kind " + strconv.Itoa(int(k))
}

// ChunkRef says where the bytes of one chunk are. Which fields are used
// depends on Kind; the others must be zero (Validate checks this):
//
//   - ChunkInline: Inline.
//   - ChunkNative: ChunkID (not zero), Offset, Length.
//   - ChunkVirtual: Location (not empty; a URL such as s3://bucket/key or
//     file:///path), Offset, Length, and optionally ETag and LastModified,
//     which, when set, must still match the object when it is read.
type ChunkRef struct {
	Coords       []uint32 // chunk coordinates, one per dimension
	Inline       []byte
	Location     string
	ETag         string
	Offset       uint64
	Length       uint64
	LastModified int64 // Unix seconds; 0 means not checked
	ChunkID      ChunkID
	Kind         ChunkKind
}

// Validate checks that the fields set match Kind (see ChunkRef).
func (r *ChunkRef) Validate() error {
	bad := func(what string) error {
		return errors.Newf("chunk %v: %s chunk reference has %s", r.Coords, r.Kind, what)
	}
	switch r.Kind {
	case ChunkInline:
		switch {
		case !r.ChunkID.IsZero():
			return bad("a chunk id")
		case r.Location != "" || r.ETag != "" || r.LastModified != 0:
			return bad("a location, etag or modification time")
		case r.Offset != 0 || r.Length != 0:
			return bad("an offset or length")
		}
	case ChunkNative:
		switch {
		case r.ChunkID.IsZero():
			return bad("a zero chunk id")
		case len(r.Inline) != 0:
			return bad("inline bytes")
		case r.Location != "" || r.ETag != "" || r.LastModified != 0:
			return bad("a location, etag or modification time")
		}
	case ChunkVirtual:
		switch {
		case r.Location == "":
			return bad("no location")
		case !r.ChunkID.IsZero():
			return bad("a chunk id")
		case len(r.Inline) != 0:
			return bad("inline bytes")
		}
	default:
		return errors.Newf("chunk %v: unknown chunk kind %d", r.Coords, r.Kind)
	}
	return nil
}

// Manifest holds the chunk references of one array (NodeID) in one region of
// its chunk space (Extents). Manifests are immutable once written
// (manifests/<ID>).
//
// Invariants (checked by Validate, hence by Encode and Decode): ID and NodeID
// are not zero; Extents, when not empty, has one valid extent per dimension
// and contains every ref; every ref has the same number of coordinates and is
// valid (ChunkRef.Validate); refs are sorted by Coords (CompareCoords) with
// no duplicates.
//
// The refs are held column by column (see refColumns), not as a []ChunkRef:
// a manifest of n refs is a handful of allocations whatever n is, and a
// native ref of a d-dimensional array costs 4d+29 bytes. Read them with Len,
// Coords, Ref, Lookup and All; build a manifest with NewManifest or a
// ManifestBuilder. A Manifest is safe for concurrent reads.
//
// On the wire a manifest is stored column by column too (see
// manifest_wire.go and docs/format.md), which keeps a million references
// within a few megabytes of their entropy.
type Manifest struct {
	ID      ManifestID
	NodeID  NodeID
	Extents []Extent
	refs    refColumns
}

// NewManifest builds a manifest from refs in any order. It sorts refs by
// coordinates (reordering the caller's slice) and validates the result;
// duplicate coordinates, mixed dimensionality or inconsistent refs give an
// error marked ErrInvalid. The manifest keeps no reference to refs, but
// shares the strings of virtual refs.
func NewManifest(id ManifestID, node NodeID, extents []Extent, refs []ChunkRef) (*Manifest, error) {
	SortChunkRefs(refs)
	nd := len(extents)
	if len(refs) > 0 {
		nd = len(refs[0].Coords)
	}
	b := NewManifestBuilder(nd, len(refs))
	for i := range refs {
		b.Append(&refs[i])
	}
	return b.Build(id, node, extents)
}

// SortChunkRefs sorts refs by coordinates (CompareCoords), as Manifest
// requires. It does not remove duplicates.
func SortChunkRefs(refs []ChunkRef) {
	slices.SortFunc(refs, func(a, b ChunkRef) int { return CompareCoords(a.Coords, b.Coords) })
}

// Len returns the number of refs.
func (m *Manifest) Len() int { return len(m.refs.kinds) }

// Coords returns the coordinates of ref i (0 <= i < Len). The slice is the
// manifest's own memory: callers must not modify it.
func (m *Manifest) Coords(i int) []uint32 { return m.refs.coordsAt(i) }

// Ref returns ref i (0 <= i < Len), in coordinate order. Its Coords and
// Inline are the manifest's own memory (capped, so appending copies):
// callers must not modify their elements.
func (m *Manifest) Ref(i int) ChunkRef { return m.refs.ref(i) }

// Lookup returns the reference of the chunk at coords, found by binary
// search, as Ref returns it.
func (m *Manifest) Lookup(coords []uint32) (ChunkRef, bool) {
	if i, ok := m.refs.search(coords); ok {
		return m.refs.ref(i), true
	}
	return ChunkRef{}, false
}

// All yields each ref's position and the ref (as Ref returns it), in
// coordinate order.
func (m *Manifest) All() iter.Seq2[int, ChunkRef] {
	return func(yield func(int, ChunkRef) bool) {
		for i := range m.Len() {
			if !yield(i, m.refs.ref(i)) {
				return
			}
		}
	}
}

// ChunkIDs yields the chunk id of each native ref, in coordinate order. A
// chunk object holding several chunks is yielded once per ref.
func (m *Manifest) ChunkIDs() iter.Seq[ChunkID] {
	return func(yield func(ChunkID) bool) {
		c := &m.refs
		for i, k := range c.kinds {
			if ChunkKind(k) == ChunkNative && !yield(ChunkID(c.ids[i*IDSize:(i+1)*IDSize])) {
				return
			}
		}
	}
}

// NDim returns the number of dimensions of the manifest's chunk
// coordinates: that of its refs, or of its extents when it has no refs.
func (m *Manifest) NDim() int {
	if m.Len() > 0 {
		return m.refs.nd
	}
	return len(m.Extents)
}

// MemSize returns the bytes of memory m holds (its columns by capacity,
// side tables and strings), for caches bounded in bytes.
func (m *Manifest) MemSize() int64 {
	c := &m.refs
	size := int64(unsafe.Sizeof(*m)) + int64(cap(m.Extents))*int64(unsafe.Sizeof(Extent{})) +
		4*int64(cap(c.coords)) + int64(cap(c.kinds)) + int64(cap(c.ids)) +
		8*int64(cap(c.offsets)) + 8*int64(cap(c.lengths)) + int64(cap(c.inline)) +
		4*int64(cap(c.objects)) + 8*int64(cap(c.lastModified))
	// Decoded strings are allocations of their own; a built manifest's may
	// be shared with its refs' callers, which this overcounts.
	for _, s := range c.locations {
		size += int64(unsafe.Sizeof(s)) + int64(len(s))
	}
	for _, s := range c.etags {
		size += int64(unsafe.Sizeof(s)) + int64(len(s))
	}
	return size
}

// Validate checks the manifest's invariants (see Manifest). The error names
// the offending chunk.
func (m *Manifest) Validate() error {
	if m.ID.IsZero() {
		return errors.New("manifest id is zero")
	}
	if m.NodeID.IsZero() {
		return errors.Newf("manifest %s has a zero node id", m.ID)
	}
	if err := validateExtents(m.Extents); err != nil {
		return errors.Wrapf(err, "manifest %s", m.ID)
	}
	nd := m.NDim()
	if len(m.Extents) != 0 && len(m.Extents) != nd {
		return errors.Newf("manifest %s has %d extents for %d-dimensional chunk coordinates", m.ID, len(m.Extents), nd)
	}
	for i := range m.Len() {
		r := m.refs.ref(i)
		if i > 0 && CompareCoords(m.refs.coordsAt(i-1), r.Coords) >= 0 {
			return errors.Newf("manifest %s: chunk references not sorted or duplicated at %v", m.ID, r.Coords)
		}
		if len(m.Extents) != 0 && !ExtentsContain(m.Extents, r.Coords) {
			return errors.Newf("manifest %s: chunk %v lies outside the manifest's extents %v", m.ID, r.Coords, m.Extents)
		}
		if err := r.Validate(); err != nil {
			return errors.Wrapf(err, "manifest %s", m.ID)
		}
	}
	return nil
}

// EncodeManifest encodes m as a manifest file (zstd-compressed). The error
// is marked ErrInvalid if m breaks an invariant.
func EncodeManifest(m *Manifest) ([]byte, error) { return Encode(FileTypeManifest, m) }

// compressDense reports whether the manifest holds virtual refs, whose
// locations compress better at zstd's default level (see encoders).
func (m *Manifest) compressDense() bool { return m.refs.objects != nil }

// DecodeManifest decodes a manifest file; object names it in errors (its
// storage key). See Decode for the errors.
func DecodeManifest(object string, data []byte) (*Manifest, error) {
	m := new(Manifest)
	if err := Decode(FileTypeManifest, object, data, m); err != nil {
		return nil, err
	}
	return m, nil
}
