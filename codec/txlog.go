package codec

import (
	"bytes"
	"slices"

	"github.com/cockroachdb/errors"
)

//go:generate msgp -io=false -tests=false

// TransactionLog is the change set of one commit, expanded: which nodes it
// created, deleted or updated and which chunks it wrote, by node id. It is
// stored under transactions/<ID> with the id of the snapshot the commit
// made, and is what rebase and conflict detection read to learn what a
// concurrent commit did without comparing snapshots; diff and status use it
// too.
//
// Invariants (checked by Validate, hence by Encode and Decode): ID is not
// zero; each list is sorted by node id with no duplicates; every node path is
// valid; the coordinates of each ArrayChunks are sorted (CompareCoords) with
// no duplicates. Sort establishes the orderings.
type TransactionLog struct {
	ID            SnapshotID    `msg:"id"`
	NewGroups     []NodeChange  `msg:"new_groups"`
	NewArrays     []NodeChange  `msg:"new_arrays"`
	DeletedGroups []NodeChange  `msg:"deleted_groups"`
	DeletedArrays []NodeChange  `msg:"deleted_arrays"`
	UpdatedGroups []NodeChange  `msg:"updated_groups"` // zarr metadata changed
	UpdatedArrays []NodeChange  `msg:"updated_arrays"` // zarr metadata changed
	UpdatedChunks []ArrayChunks `msg:"updated_chunks"` // chunks written or deleted
}

// NodeChange names a node touched by a commit. The path is where the node
// was at the commit (for messages); the id is what identifies it.
type NodeChange struct {
	ID   NodeID `msg:"id"`
	Path string `msg:"path"`
}

// ArrayChunks lists the chunks of one array that a commit wrote or deleted,
// with their coordinates sorted.
type ArrayChunks struct {
	ID     NodeID     `msg:"id"`
	Path   string     `msg:"path"`
	Coords [][]uint32 `msg:"coords"`
}

func compareNodeChange(a, b NodeChange) int { return bytes.Compare(a.ID[:], b.ID[:]) }

// hasNode reports whether id is in list (sorted by id) by binary search.
func hasNode(list []NodeChange, id NodeID) bool {
	_, ok := slices.BinarySearchFunc(list, id, func(c NodeChange, id NodeID) int {
		return bytes.Compare(c.ID[:], id[:])
	})
	return ok
}

// HasNewGroup reports whether the commit created group id.
func (t *TransactionLog) HasNewGroup(id NodeID) bool { return hasNode(t.NewGroups, id) }

// HasNewArray reports whether the commit created array id.
func (t *TransactionLog) HasNewArray(id NodeID) bool { return hasNode(t.NewArrays, id) }

// HasDeletedGroup reports whether the commit deleted group id.
func (t *TransactionLog) HasDeletedGroup(id NodeID) bool { return hasNode(t.DeletedGroups, id) }

// HasDeletedArray reports whether the commit deleted array id.
func (t *TransactionLog) HasDeletedArray(id NodeID) bool { return hasNode(t.DeletedArrays, id) }

// HasUpdatedGroup reports whether the commit changed the metadata of group id.
func (t *TransactionLog) HasUpdatedGroup(id NodeID) bool { return hasNode(t.UpdatedGroups, id) }

// HasUpdatedArray reports whether the commit changed the metadata of array id.
func (t *TransactionLog) HasUpdatedArray(id NodeID) bool { return hasNode(t.UpdatedArrays, id) }

// Chunks returns the chunks the commit wrote to array id, if any. The
// pointer aliases t.UpdatedChunks.
func (t *TransactionLog) Chunks(id NodeID) (*ArrayChunks, bool) {
	i, ok := slices.BinarySearchFunc(t.UpdatedChunks, id, func(c ArrayChunks, id NodeID) int {
		return bytes.Compare(c.ID[:], id[:])
	})
	if !ok {
		return nil, false
	}
	return &t.UpdatedChunks[i], true
}

// HasChunk reports whether the commit wrote the chunk at coords of array id.
func (t *TransactionLog) HasChunk(id NodeID, coords []uint32) bool {
	c, ok := t.Chunks(id)
	return ok && c.Has(coords)
}

// Has reports whether coords is in the list (binary search).
func (c *ArrayChunks) Has(coords []uint32) bool {
	_, ok := slices.BinarySearchFunc(c.Coords, coords, CompareCoords)
	return ok
}

// IsEmpty reports whether the log records no change at all.
func (t *TransactionLog) IsEmpty() bool {
	return len(t.NewGroups) == 0 && len(t.NewArrays) == 0 &&
		len(t.DeletedGroups) == 0 && len(t.DeletedArrays) == 0 &&
		len(t.UpdatedGroups) == 0 && len(t.UpdatedArrays) == 0 &&
		len(t.UpdatedChunks) == 0
}

// lists returns the node lists with their names, in a fixed order.
func (t *TransactionLog) lists() []struct {
	name string
	list []NodeChange
} {
	return []struct {
		name string
		list []NodeChange
	}{
		{"new groups", t.NewGroups}, {"new arrays", t.NewArrays},
		{"deleted groups", t.DeletedGroups}, {"deleted arrays", t.DeletedArrays},
		{"updated groups", t.UpdatedGroups}, {"updated arrays", t.UpdatedArrays},
	}
}

// Sort puts every list in node id order and each array's coordinates in
// CompareCoords order, as Validate requires. It does not remove duplicates.
func (t *TransactionLog) Sort() {
	for _, l := range t.lists() {
		slices.SortFunc(l.list, compareNodeChange)
	}
	slices.SortFunc(t.UpdatedChunks, func(a, b ArrayChunks) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	for i := range t.UpdatedChunks {
		slices.SortFunc(t.UpdatedChunks[i].Coords, CompareCoords)
	}
}

// Validate checks the transaction log's invariants (see TransactionLog).
func (t *TransactionLog) Validate() error {
	if t.ID.IsZero() {
		return errors.New("transaction log id is zero")
	}
	for _, l := range t.lists() {
		for i := range l.list {
			c := &l.list[i]
			if err := ValidatePath(c.Path); err != nil {
				return errors.Wrapf(err, "%s", l.name)
			}
			if c.ID.IsZero() {
				return errors.Newf("%s: node %q has a zero id", l.name, c.Path)
			}
			if i > 0 && compareNodeChange(l.list[i-1], *c) >= 0 {
				return errors.Newf("%s not sorted by node id or duplicated at %s (%q)", l.name, c.ID, c.Path)
			}
		}
	}
	for i := range t.UpdatedChunks {
		a := &t.UpdatedChunks[i]
		if err := ValidatePath(a.Path); err != nil {
			return errors.Wrap(err, "updated chunks")
		}
		if a.ID.IsZero() {
			return errors.Newf("updated chunks: array %q has a zero id", a.Path)
		}
		if i > 0 && bytes.Compare(t.UpdatedChunks[i-1].ID[:], a.ID[:]) >= 0 {
			return errors.Newf("updated chunks not sorted by node id or duplicated at %s (%q)", a.ID, a.Path)
		}
		for j := 1; j < len(a.Coords); j++ {
			if CompareCoords(a.Coords[j-1], a.Coords[j]) >= 0 {
				return errors.Newf("updated chunks of %q not sorted or duplicated at %v", a.Path, a.Coords[j])
			}
		}
	}
	return nil
}

// EncodeTransactionLog encodes t as a transaction log file
// (zstd-compressed). The error is marked ErrInvalid if t breaks an invariant.
func EncodeTransactionLog(t *TransactionLog) ([]byte, error) {
	return Encode(FileTypeTransactionLog, t)
}

// DecodeTransactionLog decodes a transaction log file; object names it in
// errors (its storage key). See Decode for the errors.
func DecodeTransactionLog(object string, data []byte) (*TransactionLog, error) {
	t := new(TransactionLog)
	if err := Decode(FileTypeTransactionLog, object, data, t); err != nil {
		return nil, err
	}
	return t, nil
}
