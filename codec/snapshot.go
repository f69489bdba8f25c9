package codec

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/errors"
)

//go:generate msgp -io=false -tests=false

// NodeType says whether a node is a group or an array.
type NodeType uint8

// Node types. The values are part of the format and never change.
const (
	NodeTypeGroup NodeType = 1
	NodeTypeArray NodeType = 2
)

// String returns "group", "array" or "unknown node type N".
func (t NodeType) String() string {
	switch t {
	case NodeTypeGroup:
		return "group"
	case NodeTypeArray:
		return "array"
	}
	return "unknown node type " + strconv.Itoa(int(t))
}

// Snapshot is the state of the whole hierarchy at one commit: every node
// with its zarr metadata and, for arrays, the manifests that hold its chunk
// references. Snapshots are immutable once written (snapshots/<ID>), with
// one exception: expiring history rewrites the oldest snapshot a branch or
// tag keeps, giving it the repository's initial snapshot as parent and
// setting HistoryCut.
//
// Invariants (checked by Validate, hence by Encode and Decode): ID is not
// zero; Nodes are sorted by Path with no duplicates and each is valid;
// ManifestFiles are sorted by ID with no duplicates, and every manifest an
// array refers to is listed there; Metadata is empty or a JSON object.
type Snapshot struct {
	ID       SnapshotID `msg:"id"`
	ParentID SnapshotID `msg:"parent_id"` // zero for the repository's initial snapshot
	// FlushedAt is when the snapshot was written, in nanoseconds since the
	// Unix epoch (UTC).
	FlushedAt int64  `msg:"flushed_at"`
	Message   string `msg:"message"`
	// Metadata is the commit's user metadata, a JSON object kept as raw
	// bytes (empty means none).
	Metadata      []byte             `msg:"metadata,allownil"`
	Nodes         []NodeSnapshot     `msg:"nodes"`
	ManifestFiles []ManifestFileInfo `msg:"manifest_files"`
	// HistoryCut is set on a snapshot whose history before it was
	// expired: its parent is now the repository's initial snapshot, while
	// its transaction log still says what it changed from the expired
	// snapshot that was its parent. A diff or rebase cannot span it.
	// Written only when set, so other snapshots encode as before.
	HistoryCut bool `msg:"history_cut,omitempty"`
	// LogBranch and LogSlot are where the commit that wrote the snapshot
	// put its entry in a branch log, when the writer knew: a walk through
	// history that starts at this snapshot reads that entry and the ones
	// before it, which name the ancestors, instead of one snapshot per
	// round trip. A hint, checked against the entry before use: the
	// parents are the truth. Both zero (and not encoded) on snapshots not
	// written by a commit, and on those written before the keys existed.
	LogBranch string `msg:"log_branch,omitempty"`
	LogSlot   uint64 `msg:"log_slot,omitempty"`
}

// NodeSnapshot is one group or array in a snapshot.
type NodeSnapshot struct {
	ID   NodeID   `msg:"id"`
	Path string   `msg:"path"` // "/" for the root, "/a/b" otherwise; see ValidatePath
	Type NodeType `msg:"type"`
	// ZarrMetadata is the node's zarr.json document, stored verbatim. A
	// decoded snapshot shares it with the decoded file (no copy per node):
	// it is never modified in place, and DecodeSnapshot caps its capacity
	// at its length, so an append copies instead of overwriting the next
	// node's bytes.
	ZarrMetadata []byte     `msg:"zarr_metadata,allownil,zerocopy"`
	Array        *ArrayData `msg:"array"` // nil for groups, set for arrays
}

// ArrayData is the part of an array node the engine needs without parsing
// zarr.json: its shape and chunking, and where its chunk references are.
//
// Invariants: Shape, ChunkShape and BlockShape have one entry per dimension;
// ChunkShape and BlockShape entries are positive; DimensionNames has one
// entry per dimension when HasDimensionNames is set and is empty otherwise;
// each manifest ref has one extent per dimension.
type ArrayData struct {
	Shape      []uint64 `msg:"shape"`       // array shape, in elements
	ChunkShape []uint64 `msg:"chunk_shape"` // chunk shape, in elements
	// DimensionNames holds the zarr dimension names ("" for an unnamed
	// dimension) when HasDimensionNames is set.
	DimensionNames    []string `msg:"dimension_names"`
	HasDimensionNames bool     `msg:"has_dimension_names"`
	// BlockShape is the shape of a manifest block, in chunks per
	// dimension: chunk references are split into manifests along it.
	BlockShape []uint32      `msg:"block_shape"`
	Manifests  []ManifestRef `msg:"manifests"`
}

// ManifestRef points at a manifest holding chunk references of an array,
// with the region of chunk space (one extent per dimension) it covers.
type ManifestRef struct {
	ID      ManifestID `msg:"id"`
	Extents []Extent   `msg:"extents"`
}

// ManifestFileInfo describes a manifest file a snapshot refers to.
type ManifestFileInfo struct {
	ID           ManifestID `msg:"id"`
	SizeBytes    uint64     `msg:"size_bytes"`     // size of the encoded file
	NumChunkRefs uint64     `msg:"num_chunk_refs"` // chunk references it holds
}

// Node returns the node at path, found by binary search (Nodes must be
// sorted, as Validate requires). The pointer aliases s.Nodes.
func (s *Snapshot) Node(path string) (*NodeSnapshot, bool) {
	i, ok := slices.BinarySearchFunc(s.Nodes, path, func(n NodeSnapshot, p string) int {
		return strings.Compare(n.Path, p)
	})
	if !ok {
		return nil, false
	}
	return &s.Nodes[i], true
}

// Descendants returns the nodes strictly below path (all of them for "/"),
// in path order. The slice aliases s.Nodes.
func (s *Snapshot) Descendants(path string) []NodeSnapshot {
	prefix := path + "/"
	if path == "/" {
		prefix = "/"
	}
	// Nodes sharing a prefix are contiguous in byte order.
	lo, _ := slices.BinarySearchFunc(s.Nodes, prefix, func(n NodeSnapshot, p string) int {
		return strings.Compare(n.Path, p)
	})
	hi := lo
	for hi < len(s.Nodes) && strings.HasPrefix(s.Nodes[hi].Path, prefix) {
		hi++
	}
	if path == "/" && lo < hi && s.Nodes[lo].Path == "/" {
		lo++
	}
	return s.Nodes[lo:hi]
}

// ManifestFile returns the entry for manifest id, found by binary search
// (ManifestFiles must be sorted, as Validate requires). The pointer aliases
// s.ManifestFiles.
func (s *Snapshot) ManifestFile(id ManifestID) (*ManifestFileInfo, bool) {
	i, ok := slices.BinarySearchFunc(s.ManifestFiles, id, func(m ManifestFileInfo, id ManifestID) int {
		return bytes.Compare(m.ID[:], id[:])
	})
	if !ok {
		return nil, false
	}
	return &s.ManifestFiles[i], true
}

// FlushedTime returns FlushedAt as a time.Time in UTC.
func (s *Snapshot) FlushedTime() time.Time { return time.Unix(0, s.FlushedAt).UTC() }

// Sort puts Nodes in path order and ManifestFiles in id order, as Validate
// requires. It does not remove duplicates.
func (s *Snapshot) Sort() {
	slices.SortFunc(s.Nodes, func(a, b NodeSnapshot) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(s.ManifestFiles, func(a, b ManifestFileInfo) int { return bytes.Compare(a.ID[:], b.ID[:]) })
}

// Validate checks the snapshot's invariants (see Snapshot). The error names
// the offending node or manifest.
func (s *Snapshot) Validate() error {
	if s.ID.IsZero() {
		return errors.New("snapshot id is zero")
	}
	if s.ParentID == s.ID {
		return errors.Newf("snapshot %s is its own parent", s.ID)
	}
	if err := validateJSONObject(s.Metadata); err != nil {
		return errors.Wrap(err, "snapshot metadata")
	}
	if (s.LogBranch == "") != (s.LogSlot == 0) {
		// Slot 0 of a log is a branch's creation, never a commit.
		return errors.Newf("snapshot %s names log place branch %q slot %d: want both or neither, slot from 1", s.ID, s.LogBranch, s.LogSlot)
	}
	for i := range s.ManifestFiles {
		if s.ManifestFiles[i].ID.IsZero() {
			return errors.Newf("manifest file %d has a zero id", i)
		}
		if i > 0 && bytes.Compare(s.ManifestFiles[i-1].ID[:], s.ManifestFiles[i].ID[:]) >= 0 {
			return errors.Newf("manifest files not sorted by id or duplicated at %s", s.ManifestFiles[i].ID)
		}
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if i > 0 && s.Nodes[i-1].Path >= n.Path {
			return errors.Newf("nodes not sorted by path or duplicated at %q", n.Path)
		}
		if err := n.Validate(); err != nil {
			return err
		}
		if n.Array != nil {
			for _, m := range n.Array.Manifests {
				if _, ok := s.ManifestFile(m.ID); !ok {
					return errors.Newf("array %q refers to manifest %s, which is not in the snapshot's manifest files", n.Path, m.ID)
				}
			}
		}
	}
	return nil
}

// Validate checks the node's invariants: a valid path, a non-zero id, a
// known type, and array data present exactly for arrays and consistent.
func (n *NodeSnapshot) Validate() error {
	if err := ValidatePath(n.Path); err != nil {
		return err
	}
	if n.ID.IsZero() {
		return errors.Newf("node %q has a zero id", n.Path)
	}
	switch n.Type {
	case NodeTypeGroup:
		if n.Array != nil {
			return errors.Newf("group %q has array data", n.Path)
		}
	case NodeTypeArray:
		if n.Array == nil {
			return errors.Newf("array %q has no array data", n.Path)
		}
		if err := n.Array.Validate(); err != nil {
			return errors.Wrapf(err, "array %q", n.Path)
		}
	default:
		return errors.Newf("node %q has unknown type %d", n.Path, n.Type)
	}
	return nil
}

// NDim returns the number of dimensions.
func (a *ArrayData) NDim() int { return len(a.Shape) }

// Validate checks the array data's invariants (see ArrayData).
func (a *ArrayData) Validate() error {
	nd := len(a.Shape)
	if len(a.ChunkShape) != nd {
		return errors.Newf("chunk shape has %d dimensions, shape has %d", len(a.ChunkShape), nd)
	}
	if slices.Contains(a.ChunkShape, 0) {
		return errors.Newf("chunk shape %v has a zero entry", a.ChunkShape)
	}
	if len(a.BlockShape) != nd {
		return errors.Newf("block shape has %d dimensions, shape has %d", len(a.BlockShape), nd)
	}
	if slices.Contains(a.BlockShape, 0) {
		return errors.Newf("block shape %v has a zero entry", a.BlockShape)
	}
	if a.HasDimensionNames && len(a.DimensionNames) != nd {
		return errors.Newf("%d dimension names for %d dimensions", len(a.DimensionNames), nd)
	}
	if !a.HasDimensionNames && len(a.DimensionNames) != 0 {
		return errors.New("dimension names set but HasDimensionNames is false")
	}
	for i, m := range a.Manifests {
		if m.ID.IsZero() {
			return errors.Newf("manifest ref %d has a zero id", i)
		}
		if len(m.Extents) != nd {
			return errors.Newf("manifest %s has %d extents for %d dimensions", m.ID, len(m.Extents), nd)
		}
		if err := validateExtents(m.Extents); err != nil {
			return errors.Wrapf(err, "manifest %s", m.ID)
		}
	}
	return nil
}

// ValidatePath checks a node path: "/" for the root, otherwise "/" followed
// by names joined with "/", each name non-empty, not "." or "..", and the
// whole path valid UTF-8 without NUL.
func ValidatePath(path string) error {
	if path == "/" {
		return nil
	}
	if !strings.HasPrefix(path, "/") {
		return errors.Newf("node path %q does not start with /", path)
	}
	if !utf8.ValidString(path) || strings.ContainsRune(path, 0) {
		return errors.Newf("node path %q is not valid UTF-8 or contains NUL", path)
	}
	for _, name := range strings.Split(path[1:], "/") {
		switch name {
		case "":
			return errors.Newf("node path %q has an empty name", path)
		case ".", "..":
			return errors.Newf("node path %q has the name %q", path, name)
		}
	}
	return nil
}

// validateJSONObject checks that b is empty or a JSON object.
func validateJSONObject(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(b) {
		return errors.New("not a JSON object")
	}
	return nil
}

// EncodeSnapshot encodes s as a snapshot file (zstd-compressed). The error
// is marked ErrInvalid if s breaks an invariant.
func EncodeSnapshot(s *Snapshot) ([]byte, error) { return Encode(FileTypeSnapshot, s) }

// DecodeSnapshot decodes a snapshot file; object names it in errors (its
// storage key). See Decode for the errors.
func DecodeSnapshot(object string, data []byte) (*Snapshot, error) {
	s := new(Snapshot)
	if err := Decode(FileTypeSnapshot, object, data, s); err != nil {
		return nil, err
	}
	for i := range s.Nodes {
		m := s.Nodes[i].ZarrMetadata
		s.Nodes[i].ZarrMetadata = m[:len(m):len(m)]
	}
	return s, nil
}
