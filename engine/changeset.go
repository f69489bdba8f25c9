package engine

import (
	"encoding/binary"
	"maps"
	"slices"
	"strings"

	"github.com/icechunk-go/icechunk-go/codec"
)

// ArrayMeta is what the engine keeps of an array's definition besides its
// zarr.json bytes.
type ArrayMeta struct {
	Shape          []uint64
	ChunkShape     []uint64
	DimensionNames []string // nil: no names
}

// NodeType is a node's kind.
type NodeType = codec.NodeType

// Node kinds.
const (
	GroupNode = codec.NodeTypeGroup
	ArrayNode = codec.NodeTypeArray
)

// newNode is a node created in this change set.
type newNode struct {
	id    codec.NodeID
	typ   NodeType
	meta  []byte     // zarr.json
	array *ArrayMeta // arrays only
}

// updatedNode is a new definition of a node that exists in the base
// snapshot.
type updatedNode struct {
	path  Path
	meta  []byte
	array *ArrayMeta
}

// ChangeSet records the writes of a session that are not committed yet:
// nodes added, updated and deleted, and chunk references set or deleted.
// Nodes created in this change set are found by path; nodes of the base
// snapshot by id, so that a node deleted and re-created at one path are two
// different nodes (as in the seed).
//
// A ChangeSet is not safe for concurrent use; the Session guards it.
type ChangeSet struct {
	newNodes      map[Path]*newNode
	updatedNodes  map[codec.NodeID]*updatedNode
	deletedGroups map[codec.NodeID]Path
	deletedArrays map[codec.NodeID]Path
	// chunks holds per array node the chunk refs written (and deleted).
	chunks map[codec.NodeID]*arrayChunks
}

// NewChangeSet returns an empty change set.
func NewChangeSet() *ChangeSet {
	return &ChangeSet{
		newNodes:      map[Path]*newNode{},
		updatedNodes:  map[codec.NodeID]*updatedNode{},
		deletedGroups: map[codec.NodeID]Path{},
		deletedArrays: map[codec.NodeID]Path{},
		chunks:        map[codec.NodeID]*arrayChunks{},
	}
}

// IsEmpty reports whether the change set records nothing.
func (cs *ChangeSet) IsEmpty() bool {
	return len(cs.newNodes) == 0 && len(cs.updatedNodes) == 0 && len(cs.deletedGroups) == 0 &&
		len(cs.deletedArrays) == 0 && len(cs.chunks) == 0
}

func (cs *ChangeSet) addNode(path Path, n *newNode) { cs.newNodes[path] = n }

func (cs *ChangeSet) newNodeAt(path Path) (*newNode, bool) {
	n, ok := cs.newNodes[path]
	return n, ok
}

func (cs *ChangeSet) isNew(path Path, id codec.NodeID) bool {
	n, ok := cs.newNodes[path]
	return ok && n.id == id
}

// update records a new definition of the node at path with id.
func (cs *ChangeSet) update(path Path, id codec.NodeID, meta []byte, array *ArrayMeta) {
	if n, ok := cs.newNodes[path]; ok && n.id == id {
		n.meta, n.array = meta, array
		return
	}
	cs.updatedNodes[id] = &updatedNode{path: path, meta: meta, array: array}
}

func (cs *ChangeSet) updated(id codec.NodeID) (*updatedNode, bool) {
	u, ok := cs.updatedNodes[id]
	return u, ok
}

// deleteNode removes the node; a node new in this change set simply
// disappears, with its chunks.
func (cs *ChangeSet) deleteNode(path Path, id codec.NodeID, typ NodeType) {
	delete(cs.chunks, id)
	delete(cs.updatedNodes, id)
	if cs.isNew(path, id) {
		delete(cs.newNodes, path)
		return
	}
	if typ == ArrayNode {
		cs.deletedArrays[id] = path
	} else {
		cs.deletedGroups[id] = path
	}
}

func (cs *ChangeSet) isDeleted(id codec.NodeID) bool {
	_, a := cs.deletedArrays[id]
	_, g := cs.deletedGroups[id]
	return a || g
}

// setChunk records a chunk ref (nil: delete) for an array node. Neither ref
// nor coords is kept (ref.Coords is ignored), so callers may reuse them.
func (cs *ChangeSet) setChunk(id codec.NodeID, ref *codec.ChunkRef, coords []uint32) {
	a, ok := cs.chunks[id]
	if !ok {
		a = &arrayChunks{}
		cs.chunks[id] = a
	}
	a.set(coords, ref)
}

// chunk returns the ref recorded for coords: (ref, true) if set, (nil,
// true) if deleted, (nil, false) if the change set does not know. The ref
// must not be changed; it may be shared with the change set.
func (cs *ChangeSet) chunk(id codec.NodeID, coords []uint32) (*codec.ChunkRef, bool) {
	a, ok := cs.chunks[id]
	if !ok {
		return nil, false
	}
	return a.get(coords)
}

func (cs *ChangeSet) hasChunkChanges(id codec.NodeID) bool {
	a, ok := cs.chunks[id]
	return ok && a.len() > 0
}

// dropChunk forgets the change of the chunk at coords, if any.
func (cs *ChangeSet) dropChunk(id codec.NodeID, coords []uint32) {
	if a, ok := cs.chunks[id]; ok {
		a.drop(coords)
		if a.len() == 0 {
			delete(cs.chunks, id)
		}
	}
}

// sortedChunks returns the chunk changes of one array in coordinate order;
// deletes have a nil Ref. The coordinates and refs are copies, in a few
// allocations.
func (cs *ChangeSet) sortedChunks(id codec.NodeID) []chunkChange {
	a, ok := cs.chunks[id]
	if !ok {
		return nil
	}
	out := make([]chunkChange, 0, a.len())
	refs := make([]codec.ChunkRef, 0, a.len())
	var arena coordArena
	for coords, ref := range a.sorted() {
		c := arena.copy(coords)
		var r *codec.ChunkRef
		if ref != nil {
			refs = append(refs, *ref)
			r = &refs[len(refs)-1]
			r.Coords = c
		}
		out = append(out, chunkChange{Coords: c, Ref: r})
	}
	return out
}

type chunkChange struct {
	Coords []uint32
	Ref    *codec.ChunkRef
}

// merge folds other into cs, other's changes winning where both touched the
// same thing (cooperative mode: forks write disjoint chunks). It returns
// how many chunk changes of cs it replaced with different ones.
func (cs *ChangeSet) merge(other *ChangeSet) (replaced int) {
	for p, n := range other.newNodes {
		cs.newNodes[p] = n
	}
	for id, u := range other.updatedNodes {
		cs.updatedNodes[id] = u
	}
	for id, p := range other.deletedGroups {
		cs.deleteNode(p, id, GroupNode)
	}
	for id, p := range other.deletedArrays {
		cs.deleteNode(p, id, ArrayNode)
	}
	for id, a := range other.chunks {
		if cs.isDeleted(id) {
			continue
		}
		dst, ok := cs.chunks[id]
		if !ok {
			cs.chunks[id] = a.clone()
			continue
		}
		replaced += dst.merge(a)
	}
	return replaced
}

// clone returns a deep enough copy: maps are copied, immutable values
// (metadata bytes, chunk refs) shared.
func (cs *ChangeSet) clone() *ChangeSet {
	out := NewChangeSet()
	for p, n := range cs.newNodes {
		c := *n
		out.newNodes[p] = &c
	}
	for id, u := range cs.updatedNodes {
		c := *u
		out.updatedNodes[id] = &c
	}
	maps.Copy(out.deletedGroups, cs.deletedGroups)
	maps.Copy(out.deletedArrays, cs.deletedArrays)
	for id, a := range cs.chunks {
		out.chunks[id] = a.clone()
	}
	return out
}

// coordKey encodes chunk coordinates as a string whose byte order is the
// coordinates' lexicographic order, so sorted keys are sorted chunks.
func coordKey(coords []uint32) string {
	var b strings.Builder
	b.Grow(4 * len(coords))
	var buf [4]byte
	for _, c := range coords {
		binary.BigEndian.PutUint32(buf[:], c)
		b.Write(buf[:])
	}
	return b.String()
}

func parseCoordKey(k string) []uint32 {
	out := make([]uint32, len(k)/4)
	for i := range out {
		out[i] = binary.BigEndian.Uint32([]byte(k[4*i : 4*i+4]))
	}
	return out
}

// sortedNewPaths returns the paths of the nodes created in cs, sorted.
func sortedNewPaths(cs *ChangeSet) []Path {
	out := make([]Path, 0, len(cs.newNodes))
	for p := range cs.newNodes {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// sortedIDs returns the keys of a map by node id, in byte order.
func sortedIDs[V any](m map[codec.NodeID]V) []codec.NodeID {
	out := make([]codec.NodeID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b codec.NodeID) int { return strings.Compare(string(a[:]), string(b[:])) })
	return out
}
