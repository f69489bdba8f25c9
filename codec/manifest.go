package codec

import (
	"slices"
	"strconv"

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
// valid (ChunkRef.Validate); Refs are sorted by Coords (CompareCoords) with
// no duplicates.
//
// On the wire a manifest is stored column by column (see manifest_wire.go
// and docs/format.md), which keeps a million references within a few
// megabytes of their entropy and decodes them with a handful of allocations.
type Manifest struct {
	ID      ManifestID
	NodeID  NodeID
	Extents []Extent
	Refs    []ChunkRef
}

// NewManifest builds a manifest from refs in any order. It takes ownership
// of refs, sorts it by coordinates and validates the result; duplicate
// coordinates, mixed dimensionality or inconsistent refs give an error
// marked ErrInvalid.
func NewManifest(id ManifestID, node NodeID, extents []Extent, refs []ChunkRef) (*Manifest, error) {
	SortChunkRefs(refs)
	m := &Manifest{ID: id, NodeID: node, Extents: extents, Refs: refs}
	if err := m.Validate(); err != nil {
		return nil, errors.Mark(err, ErrInvalid)
	}
	return m, nil
}

// SortChunkRefs sorts refs by coordinates (CompareCoords), as Manifest
// requires. It does not remove duplicates.
func SortChunkRefs(refs []ChunkRef) {
	slices.SortFunc(refs, func(a, b ChunkRef) int { return CompareCoords(a.Coords, b.Coords) })
}

// Lookup returns the reference of the chunk at coords, found by binary
// search. The pointer aliases m.Refs.
func (m *Manifest) Lookup(coords []uint32) (*ChunkRef, bool) {
	// A hand-written search: slices.BinarySearchFunc would copy a ChunkRef
	// per probe.
	lo, hi := 0, len(m.Refs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch CompareCoords(m.Refs[mid].Coords, coords) {
		case -1:
			lo = mid + 1
		case 1:
			hi = mid
		default:
			return &m.Refs[mid], true
		}
	}
	return nil, false
}

// NDim returns the number of dimensions of the manifest's chunk
// coordinates: that of its refs, or of its extents when it has no refs.
func (m *Manifest) NDim() int {
	if len(m.Refs) > 0 {
		return len(m.Refs[0].Coords)
	}
	return len(m.Extents)
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
	for i := range m.Refs {
		r := &m.Refs[i]
		if len(r.Coords) != nd {
			return errors.Newf("manifest %s: chunk %v has %d coordinates, want %d", m.ID, r.Coords, len(r.Coords), nd)
		}
		if i > 0 && CompareCoords(m.Refs[i-1].Coords, r.Coords) >= 0 {
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

// DecodeManifest decodes a manifest file; object names it in errors (its
// storage key). See Decode for the errors.
func DecodeManifest(object string, data []byte) (*Manifest, error) {
	m := new(Manifest)
	if err := Decode(FileTypeManifest, object, data, m); err != nil {
		return nil, err
	}
	return m, nil
}
