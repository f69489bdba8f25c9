package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"

	"github.com/icechunk-go/icechunk-go/codec"
)

// RebaseStep is what a ConflictSolver sees when a session is replayed over
// one commit that landed on its branch.
//
// The snapshots on either side of their commit are read only when a solver
// asks for them (Commit, Base): most steps are decided by the transaction
// log alone, and a rebase over many commits then reads no snapshot.
type RebaseStep struct {
	// CommitID is their commit; TxLog is what that commit changed.
	CommitID codec.SnapshotID
	TxLog    *codec.TransactionLog
	// Changes is a copy of the session's change set that the solver may
	// patch and return.
	Changes *ChangeSet

	baseID codec.SnapshotID
	assets *assets
}

// Commit reads their commit's snapshot.
func (st *RebaseStep) Commit(ctx context.Context) (*codec.Snapshot, error) {
	return st.assets.fetchSnapshot(ctx, st.CommitID)
}

// Base reads the session's base before this step: the snapshot their
// commit was made on.
func (st *RebaseStep) Base(ctx context.Context) (*codec.Snapshot, error) {
	return st.assets.fetchSnapshot(ctx, st.baseID)
}

// ConflictSolver decides how a session's changes replay over one commit
// (seed 001's ConflictSolver). It returns the (possibly patched) change set
// when the step can be passed, or the conflicts that stop it. A solver
// written by a user patches RebaseStep.Changes with ChangeSet's exported
// methods.
type ConflictSolver interface {
	Solve(ctx context.Context, step *RebaseStep) (*ChangeSet, []Conflict, error)
}

// ConflictDetector reports every conflict of the step and solves none.
type ConflictDetector struct{}

// Solve implements ConflictSolver.
func (ConflictDetector) Solve(ctx context.Context, step *RebaseStep) (*ChangeSet, []Conflict, error) {
	conflicts, err := detect(ctx, step)
	if err != nil {
		return nil, nil, err
	}
	if len(conflicts) > 0 {
		return nil, conflicts, nil
	}
	return step.Changes, nil, nil
}

// VersionSelection says which side's chunk wins a ChunkDoubleUpdate.
type VersionSelection int

const (
	// UseOurs keeps the session's chunks.
	UseOurs VersionSelection = iota
	// UseTheirs keeps the other commit's chunks.
	UseTheirs
	// Fail makes the conflict unsolvable.
	Fail
)

func (v VersionSelection) String() string {
	switch v {
	case UseOurs:
		return "UseOurs"
	case UseTheirs:
		return "UseTheirs"
	}
	return "Fail"
}

// BasicConflictSolver solves the common conflicts by policy, as the seed's
// does: chunk double updates by OnChunkConflict; deletes of things the other
// side updated are kept (the delete wins) unless the matching Fail flag is
// set; a group we delete under which they created nodes is deleted with
// those nodes too, unless FailOnDeleteOfUpdatedGroup. Every other conflict is
// unsolvable. The zero value is UseOurs with no Fail flags, the seed's
// default.
type BasicConflictSolver struct {
	OnChunkConflict            VersionSelection
	FailOnDeleteOfUpdatedArray bool
	FailOnDeleteOfUpdatedGroup bool
}

// Solve implements ConflictSolver.
func (b BasicConflictSolver) Solve(ctx context.Context, step *RebaseStep) (*ChangeSet, []Conflict, error) {
	conflicts, err := detect(ctx, step)
	if err != nil {
		return nil, nil, err
	}
	var unsolvable []Conflict
	cs := step.Changes
	for _, c := range conflicts {
		switch {
		case c.Kind == ChunkDoubleUpdate && b.OnChunkConflict == UseOurs:
		case c.Kind == ChunkDoubleUpdate && b.OnChunkConflict == UseTheirs:
			cs.DropChunkChanges(c.NodeID, c.Coords)
		case c.Kind == DeleteOfUpdatedArray && !b.FailOnDeleteOfUpdatedArray:
		case c.Kind == DeleteOfUpdatedGroup && !b.FailOnDeleteOfUpdatedGroup:
		case c.Kind == DeleteOfGroupWithNewChildren && !b.FailOnDeleteOfUpdatedGroup:
			for _, list := range [][]codec.NodeChange{step.TxLog.NewGroups, step.TxLog.NewArrays} {
				for _, n := range list {
					if slices.Contains(c.Children, Path(n.Path)) {
						typ := GroupNode
						if step.TxLog.HasNewArray(n.ID) {
							typ = ArrayNode
						}
						cs.deleteNode(Path(n.Path), n.ID, typ)
					}
				}
			}
		default:
			unsolvable = append(unsolvable, c)
		}
	}
	if len(unsolvable) > 0 {
		return nil, unsolvable, nil
	}
	return cs, nil, nil
}

// detect lists the conflicts between the step's change set and commit. It
// reads the snapshots around the commit only where the transaction log
// leaves a question (the type of a node above one of ours, an array's
// grid, a path to name in a conflict).
func detect(ctx context.Context, step *RebaseStep) (_ []Conflict, err error) {
	t, cs := step.TxLog, step.Changes
	var out []Conflict
	add := func(kind ConflictKind, path string, id codec.NodeID) *Conflict {
		out = append(out, Conflict{Kind: kind, Path: Path(path), NodeID: id, Commit: step.CommitID})
		return &out[len(out)-1]
	}
	// The snapshots, each read once if at all; a failed read ends detect
	// with its error.
	var commit, base *codec.Snapshot
	commitSnapshot := func() (*codec.Snapshot, bool) {
		if err == nil && commit == nil {
			commit, err = step.Commit(ctx)
		}
		return commit, err == nil
	}
	baseSnapshot := func() (*codec.Snapshot, bool) {
		if err == nil && base == nil {
			base, err = step.Base(ctx)
		}
		return base, err == nil
	}
	var pathOf map[codec.NodeID]string
	path := func(id codec.NodeID) string {
		if pathOf == nil {
			pathOf = map[codec.NodeID]string{}
			if base, ok := baseSnapshot(); ok {
				for _, n := range base.Nodes {
					pathOf[n.ID] = n.Path
				}
			}
			for p, n := range cs.newNodes {
				pathOf[n.id] = string(p)
			}
		}
		return pathOf[id]
	}

	// Our new nodes.
	theirNew := map[string]codec.NodeID{}
	for _, list := range [][]codec.NodeChange{t.NewGroups, t.NewArrays} {
		for _, n := range list {
			theirNew[n.Path] = n.ID
		}
	}
	theirDeletedGroups := map[string]codec.NodeID{}
	for _, n := range t.DeletedGroups {
		theirDeletedGroups[n.Path] = n.ID
	}
	invalid := map[Path]bool{}
	for _, p := range sortedNewPaths(cs) {
		if id, ok := theirNew[string(p)]; ok {
			add(NewNodeConflictsWithExistingNode, string(p), id)
		}
		commit, ok := commitSnapshot()
		if !ok {
			return nil, err
		}
		for _, a := range p.Ancestors() {
			if invalid[a] {
				continue
			}
			n, exists := commit.Node(string(a))
			if exists && n.Type == ArrayNode {
				invalid[a] = true
				add(NewNodeInInvalidGroup, string(a), n.ID)
				continue
			}
			// A group they deleted, and did not make again, unless we
			// made it: applied as is, our node would have no parent.
			if id, deleted := theirDeletedGroups[string(a)]; deleted && !exists && cs.newNodes[a] == nil {
				invalid[a] = true
				add(NewNodeInInvalidGroup, string(a), id).Deleted = true
			}
		}
	}

	// Our metadata updates.
	for _, id := range sortedIDs(cs.updatedNodes) {
		u := cs.updatedNodes[id]
		switch {
		case t.HasUpdatedArray(id) || t.HasUpdatedGroup(id):
			add(ZarrMetadataDoubleUpdate, string(u.path), id)
		case t.HasDeletedArray(id):
			add(ZarrMetadataUpdateOfDeletedArray, string(u.path), id)
		case t.HasDeletedGroup(id):
			add(ZarrMetadataUpdateOfDeletedGroup, string(u.path), id)
		}
	}

	// Our chunk writes.
	for _, id := range sortedIDs(cs.chunks) {
		if !cs.hasChunkChanges(id) {
			continue
		}
		switch {
		case t.HasDeletedArray(id):
			add(ChunksUpdatedInDeletedArray, path(id), id)
			continue
		case t.HasUpdatedArray(id):
			commit, okC := commitSnapshot()
			base, okB := baseSnapshot()
			if !okC || !okB {
				return nil, err
			}
			if what := encodingChange(base, commit, id, path(id)); what != "" {
				add(ChunksUpdatedInUpdatedArray, path(id), id).Changed = what
			}
		}
		if theirs, ok := t.Chunks(id); ok {
			var both [][]uint32
			for _, c := range theirs.Coords {
				if _, ours := cs.chunk(id, c); ours {
					both = append(both, c)
				}
			}
			if len(both) > 0 {
				add(ChunkDoubleUpdate, path(id), id).Coords = both
			}
		}
	}

	// Our deletes.
	for _, id := range sortedIDs(cs.deletedArrays) {
		if _, chunks := t.Chunks(id); t.HasUpdatedArray(id) || chunks {
			add(DeleteOfUpdatedArray, string(cs.deletedArrays[id]), id)
		}
	}
	deletedGroups := sortedIDs(cs.deletedGroups)
	for _, id := range deletedGroups {
		if t.HasUpdatedGroup(id) {
			add(DeleteOfUpdatedGroup, string(cs.deletedGroups[id]), id)
		}
	}
	// Their new nodes inside groups we delete, reported at the outermost
	// deleted group.
	children := map[codec.NodeID][]Path{}
	for p := range theirNew {
		var outer codec.NodeID
		outerPath := ""
		for _, id := range deletedGroups {
			g := cs.deletedGroups[id]
			if g != Path(p) && g.Contains(Path(p)) && (outerPath == "" || len(g) < len(outerPath)) {
				outer, outerPath = id, string(g)
			}
		}
		if outerPath != "" {
			children[outer] = append(children[outer], Path(p))
		}
	}
	for _, id := range deletedGroups {
		if kids := children[id]; len(kids) > 0 {
			slices.Sort(kids)
			add(DeleteOfGroupWithNewChildren, string(cs.deletedGroups[id]), id).Children = kids
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	// A conflict names their commit's message: read it only now.
	// A failed read of the base (for a path) ends here too.
	commit, ok := commitSnapshot()
	if !ok {
		return nil, err
	}
	for i := range out {
		out[i].CommitMessage = commit.Message
	}
	return out, nil
}

// encodingChange names what differs in the array's metadata between two
// snapshots apart from its attributes ("" if nothing does). Chunks we
// wrote were encoded for the metadata we saw: after their change of shape,
// chunking, data type, codecs or fill value they would be committed under
// metadata they do not fit. Only an attributes-only change leaves them
// valid.
func encodingChange(before, after *codec.Snapshot, id codec.NodeID, path string) string {
	a, okA := before.Node(path)
	b, okB := after.Node(path)
	switch {
	case !okA || !okB || a.ID != id || b.ID != id || a.Array == nil || b.Array == nil:
		return "node"
	case !slices.Equal(a.Array.Shape, b.Array.Shape):
		return "shape"
	case !slices.Equal(a.Array.ChunkShape, b.Array.ChunkShape):
		return "chunk shape"
	}
	ma, errA := metadataFields(a.ZarrMetadata)
	mb, errB := metadataFields(b.ZarrMetadata)
	if errA != nil || errB != nil {
		return "metadata"
	}
	var changed []string
	for k := range ma {
		if _, both := mb[k]; !both {
			changed = append(changed, k)
		}
	}
	for k, v := range mb {
		if w, both := ma[k]; !both || !reflect.DeepEqual(v, w) {
			changed = append(changed, k)
		}
	}
	slices.Sort(changed)
	if len(changed) > 1 {
		return strings.Join(changed[:len(changed)-1], ", ") + " and " + changed[len(changed)-1]
	}
	return strings.Join(changed, "")
}

// metadataFields decodes a zarr.json document without its attributes; an
// empty document (arrays made without one) has no fields.
func metadataFields(doc []byte) (map[string]any, error) {
	m := map[string]any{}
	if len(doc) == 0 {
		return m, nil
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "attributes")
	return m, nil
}

// DropChunkChanges forgets the session's writes of the given chunks of
// node id, so the other side's chunks show through.
func (cs *ChangeSet) DropChunkChanges(id codec.NodeID, coords [][]uint32) {
	for _, c := range coords {
		cs.dropChunk(id, c)
	}
}

// DropNodeUpdate forgets the session's metadata update of node id.
func (cs *ChangeSet) DropNodeUpdate(id codec.NodeID) { delete(cs.updatedNodes, id) }

// DropNewNode forgets a node the session created at path, with its chunks.
func (cs *ChangeSet) DropNewNode(path Path) {
	if n, ok := cs.newNodes[path]; ok {
		delete(cs.chunks, n.id)
		delete(cs.newNodes, path)
	}
}

// DropDelete forgets the session's delete of node id.
func (cs *ChangeSet) DropDelete(id codec.NodeID) {
	delete(cs.deletedArrays, id)
	delete(cs.deletedGroups, id)
}

// DeleteNode records the delete of a node (and its chunks).
func (cs *ChangeSet) DeleteNode(path Path, id codec.NodeID, typ NodeType) {
	cs.deleteNode(path, id, typ)
}
