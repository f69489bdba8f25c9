package engine

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
)

// Node is a group or array as a session sees it: the base snapshot's node
// with the session's changes applied. Array.Manifests and BlockShape are
// those of the base snapshot (empty for new arrays).
type Node = codec.NodeSnapshot

// Session reads one snapshot and, when writable, records changes against
// it for one branch. A writable session becomes read-only at its new
// snapshot once it commits, as in the seed.
//
// A Session is safe for concurrent use: many goroutines may read and write
// chunks at once (the Zarr case) and chunk uploads run in parallel, outside
// any lock. Node operations and commit serialise with chunk writes.
type Session struct {
	repo *Repository

	mu         sync.RWMutex
	branch     string // "" for a read-only session
	snapshotID codec.SnapshotID
	changes    *ChangeSet
	fork       bool // a fork records writes for a merge, it cannot commit
	// origin names the repository a session restored from bytes was made
	// in (nil: this one, or unknown); its commit and merges check it.
	origin []byte
	meta   map[string]any
	// superseded is set when a rebase's solver dropped every change the
	// session had (their version won every conflict): the session still
	// commits, as upstream's does, a snapshot recording that its work
	// was superseded, rather than failing with ErrNoChangesToCommit.
	superseded bool
	// rewriteManifests makes the commit rewrite every array's manifests
	// (Repository.RewriteManifests), changes or not.
	rewriteManifests bool
	// unlogged makes the commit's transaction log record no change: the
	// session only moved chunks (Repository.RepackChunks).
	unlogged bool
	// preloaded is closed once the manifests the config preloads for the
	// session's first snapshot are loaded (nil: none were asked for).
	preloaded <-chan struct{}

	zarrInfo sync.Map // codec.NodeID -> *zarrArrayInfo, parsed zarr.json of arrays

	// base pins the decoded base snapshot once read, so that node lookups
	// (every zarr.json read) never go back to storage, even after the
	// repository's cache evicted it. It is stale when its ID is not
	// snapshotID (after a commit or rebase) and is then read again.
	base atomic.Pointer[codec.Snapshot]

	// writes holds the chunks of StoreSetBehind not yet in storage (nil
	// until the first).
	writes atomic.Pointer[writeBehind]

	// ahead holds chunks read ahead of a scan (nil until the first, and on
	// storage that does not ask for read-ahead).
	ahead atomic.Pointer[readAhead]
}

func newSession(repo *Repository, branch string, snap *codec.Snapshot) *Session {
	s := &Session{repo: repo, branch: branch, snapshotID: snap.ID, changes: NewChangeSet(), meta: repo.DefaultCommitMetadata()}
	s.base.Store(snap)
	return s
}

// Branch returns the branch a writable session commits to, or "".
func (s *Session) Branch() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.branch
}

// ReadOnly reports whether the session rejects writes.
func (s *Session) ReadOnly() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.branch == ""
}

// IsFork reports whether the session is a fork (see Fork).
func (s *Session) IsFork() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.fork
}

// SnapshotID returns the snapshot the session reads (its base).
func (s *Session) SnapshotID() codec.SnapshotID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snapshotID
}

// HasUncommittedChanges reports whether the change set records anything.
func (s *Session) HasUncommittedChanges() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.changes.IsEmpty() || s.superseded
}

// Repository returns the repository the session belongs to.
func (s *Session) Repository() *Repository { return s.repo }

func (s *Session) checkWritable(what string) error {
	if s.branch == "" {
		return readOnly(what)
	}
	return nil
}

// LoadBase reads the session's base snapshot into memory if it is not
// there yet. Until a commit or rebase moves the base, node lookups (every
// zarr.json read or write) then never touch storage. Sessions opened from
// a repository hold their base from the start; restored ones read it on
// first use, or here.
func (s *Session) LoadBase(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, err := s.snapshot(ctx)
	return err
}

// snapshot returns the base snapshot (caller holds mu, read or write).
func (s *Session) snapshot(ctx context.Context) (*codec.Snapshot, error) {
	if snap := s.base.Load(); snap != nil && snap.ID == s.snapshotID {
		return snap, nil
	}
	snap, err := s.repo.assets.fetchBase(ctx, s.snapshotID)
	if err != nil {
		return nil, err
	}
	s.base.Store(snap)
	return snap, nil
}

// getNodeLocked finds the node at path (caller holds mu).
func (s *Session) getNodeLocked(ctx context.Context, path Path) (*Node, error) {
	n, ok, err := s.lookupNodeLocked(ctx, path)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, nodeNotFound(path, "no such group or array")
	}
	return n, nil
}

// lookupNode is GetNode with a missing node reported as false, not as an
// error. zarr probes for nodes that do not exist on every create, and an
// error value with its stack costs more than the lookup itself.
func (s *Session) lookupNode(ctx context.Context, path Path) (*Node, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookupNodeLocked(ctx, path)
}

func (s *Session) lookupNodeLocked(ctx context.Context, path Path) (*Node, bool, error) {
	if n, ok := s.changes.newNodeAt(path); ok {
		return materializeNew(path, n), true, nil
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, false, err
	}
	base, ok := snap.Node(string(path))
	if !ok || s.changes.isDeleted(base.ID) {
		return nil, false, nil
	}
	return applyUpdate(base, s.changes), true, nil
}

func materializeNew(path Path, n *newNode) *Node {
	node := &Node{ID: n.id, Path: string(path), Type: n.typ, ZarrMetadata: n.meta}
	if n.typ == ArrayNode {
		node.Array = arrayData(n.array)
	}
	return node
}

func arrayData(m *ArrayMeta) *codec.ArrayData {
	return &codec.ArrayData{Shape: m.Shape, ChunkShape: m.ChunkShape, DimensionNames: m.DimensionNames, HasDimensionNames: m.DimensionNames != nil}
}

// applyUpdate returns base with the change set's new definition, if any.
func applyUpdate(base *Node, cs *ChangeSet) *Node {
	u, ok := cs.updated(base.ID)
	if !ok {
		return base
	}
	node := *base
	node.ZarrMetadata = u.meta
	if base.Array != nil && u.array != nil {
		a := *base.Array
		a.Shape, a.ChunkShape, a.DimensionNames, a.HasDimensionNames = u.array.Shape, u.array.ChunkShape, u.array.DimensionNames, u.array.DimensionNames != nil
		node.Array = &a
	}
	return &node
}

// GetNode returns the node at path (ErrNodeNotFound if there is none).
func (s *Session) GetNode(ctx context.Context, path Path) (*Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.getNodeLocked(ctx, path)
}

// GetArray returns the array at path (ErrNodeNotFound, ErrNotAnArray).
func (s *Session) GetArray(ctx context.Context, path Path) (*Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.getArrayLocked(ctx, path)
}

func (s *Session) getArrayLocked(ctx context.Context, path Path) (*Node, error) {
	n, err := s.getNodeLocked(ctx, path)
	if err != nil {
		return nil, err
	}
	if n.Type != ArrayNode {
		return nil, notAnArray(path, "it is a group")
	}
	return n, nil
}

// GetGroup returns the group at path (ErrNodeNotFound, ErrNotAGroup).
func (s *Session) GetGroup(ctx context.Context, path Path) (*Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.getGroupLocked(ctx, path)
}

func (s *Session) getGroupLocked(ctx context.Context, path Path) (*Node, error) {
	n, err := s.getNodeLocked(ctx, path)
	if err != nil {
		return nil, err
	}
	if n.Type != GroupNode {
		return nil, notAGroup(path, "it is an array")
	}
	return n, nil
}

// checkNewNodeLocked refuses a node where one exists, or below an array.
func (s *Session) checkNewNodeLocked(ctx context.Context, path Path, typ NodeType) error {
	n, found, err := s.lookupNodeLocked(ctx, path)
	switch {
	case err != nil:
		return err
	case found:
		return alreadyExists(path, n.Type, "trying to add "+typ.String())
	}
	if typ == ArrayNode {
		if below, err := s.hasDescendantsLocked(ctx, path); err != nil {
			return err
		} else if below != "" {
			return alreadyExists(path, GroupNode, "cannot create an array where node "+below+" exists below it")
		}
	}
	for _, anc := range path.Ancestors() {
		a, found, err := s.lookupNodeLocked(ctx, anc)
		if err != nil {
			return err
		}
		if found && a.Type == ArrayNode {
			return notAGroup(anc, "cannot create "+string(path)+" inside an array")
		}
	}
	return nil
}

// hasDescendantsLocked returns the path of some node strictly below path,
// or "" if there is none.
func (s *Session) hasDescendantsLocked(ctx context.Context, path Path) (string, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range snap.Descendants(string(path)) {
		if !s.changes.isDeleted(n.ID) {
			return n.Path, nil
		}
	}
	for p := range s.changes.newNodes {
		if p != path && path.Contains(p) {
			return string(p), nil
		}
	}
	return "", nil
}

// AddGroup records a new group with its zarr.json bytes. ErrAlreadyExists
// if a node is at path.
func (s *Session) AddGroup(ctx context.Context, path Path, meta []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("add a group"); err != nil {
		return err
	}
	if err := s.checkNewNodeLocked(ctx, path, GroupNode); err != nil {
		return err
	}
	s.changes.addNode(path, &newNode{id: codec.NewNodeID(), typ: GroupNode, meta: slices.Clone(meta)})
	return nil
}

// AddArray records a new array. ErrAlreadyExists if a node is at path.
func (s *Session) AddArray(ctx context.Context, path Path, array ArrayMeta, meta []byte) error {
	if err := validateArrayMeta(path, &array); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("add an array"); err != nil {
		return err
	}
	if err := s.checkNewNodeLocked(ctx, path, ArrayNode); err != nil {
		return err
	}
	s.changes.addNode(path, &newNode{id: codec.NewNodeID(), typ: ArrayNode, meta: slices.Clone(meta), array: &array})
	return nil
}

func validateArrayMeta(path Path, a *ArrayMeta) error {
	if len(a.Shape) != len(a.ChunkShape) {
		return errors.Mark(errors.Newf("array %q: shape %v and chunk shape %v differ in rank", path, a.Shape, a.ChunkShape), ErrInvalidMetadata)
	}
	if a.DimensionNames != nil && len(a.DimensionNames) != len(a.Shape) {
		return errors.Mark(errors.Newf("array %q: %d dimension names for %d dimensions", path, len(a.DimensionNames), len(a.Shape)), ErrInvalidMetadata)
	}
	for _, c := range a.ChunkShape {
		if c == 0 {
			return errors.Mark(errors.Newf("array %q: chunk shape %v has a zero", path, a.ChunkShape), ErrInvalidMetadata)
		}
	}
	return nil
}

// UpdateArray records a new definition of the array at path.
func (s *Session) UpdateArray(ctx context.Context, path Path, array ArrayMeta, meta []byte) error {
	if err := validateArrayMeta(path, &array); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("update an array"); err != nil {
		return err
	}
	n, err := s.getArrayLocked(ctx, path)
	if err != nil {
		return err
	}
	s.changes.update(path, n.ID, slices.Clone(meta), &array)
	s.zarrInfo.Delete(n.ID)
	return nil
}

// UpdateGroup records new zarr.json bytes for the group at path.
func (s *Session) UpdateGroup(ctx context.Context, path Path, meta []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("update a group"); err != nil {
		return err
	}
	n, err := s.getGroupLocked(ctx, path)
	if err != nil {
		return err
	}
	s.changes.update(path, n.ID, slices.Clone(meta), nil)
	return nil
}

// DeleteArray deletes the array at path; deleting a missing array succeeds.
func (s *Session) DeleteArray(ctx context.Context, path Path) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("delete an array"); err != nil {
		return err
	}
	n, err := s.getArrayLocked(ctx, path)
	if errors.Is(err, ErrNodeNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.changes.deleteNode(path, n.ID, ArrayNode)
	return nil
}

// DeleteGroup deletes the group at path and everything below it; deleting
// a missing group succeeds.
func (s *Session) DeleteGroup(ctx context.Context, path Path) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("delete a group"); err != nil {
		return err
	}
	if _, err := s.getGroupLocked(ctx, path); errors.Is(err, ErrNodeNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	return s.deleteSubtreeLocked(ctx, path)
}

// DeleteNode deletes whatever node is at path, with its descendants.
func (s *Session) DeleteNode(ctx context.Context, path Path) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("delete a node"); err != nil {
		return err
	}
	return s.deleteSubtreeLocked(ctx, path)
}

// deleteSubtreeLocked deletes the node at path and its descendants, and
// drops what the session cached about their zarr.json documents.
func (s *Session) deleteSubtreeLocked(ctx context.Context, path Path) error {
	nodes, err := s.listNodesLocked(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if path.Contains(Path(n.Path)) {
			s.changes.deleteNode(Path(n.Path), n.ID, n.Type)
			s.zarrInfo.Delete(n.ID)
		}
	}
	return nil
}

// Clear deletes every node.
func (s *Session) Clear(ctx context.Context) error { return s.DeleteNode(ctx, Root) }

// ListNodes returns every node, sorted by path.
func (s *Session) ListNodes(ctx context.Context) ([]*Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.listNodesLocked(ctx)
}

func (s *Session) listNodesLocked(ctx context.Context) ([]*Node, error) {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Node, 0, len(snap.Nodes)+len(s.changes.newNodes))
	if err := s.eachNodeLocked(ctx, func(n *Node) { out = append(out, n) }); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// eachNodeLocked calls fn for every node of the session, as ListNodes
// gives them but in no promised order (caller holds s.mu). A base node the
// change set leaves alone is passed as it is, without a copy, so that a
// walk that keeps few nodes allocates little.
func (s *Session) eachNodeLocked(ctx context.Context, fn func(*Node)) error {
	snap, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	for i := range snap.Nodes {
		base := &snap.Nodes[i]
		if s.changes.isDeleted(base.ID) {
			continue
		}
		if _, replaced := s.changes.newNodes[Path(base.Path)]; replaced {
			continue
		}
		fn(applyUpdate(base, s.changes))
	}
	for p, n := range s.changes.newNodes {
		fn(materializeNew(p, n))
	}
	return nil
}

// DiscardChanges drops the change set and returns it.
func (s *Session) DiscardChanges() *ChangeSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.changes
	s.changes = NewChangeSet()
	s.superseded = false
	s.zarrInfo.Clear()
	if w := s.writes.Load(); w != nil {
		w.discard()
	}
	return cs
}

// Changes returns a copy of the session's change set. Refs of chunks set
// with StoreSetBehind may name objects not in storage yet: call
// FlushWrites first if the copy is to leave the session (Merge and Bytes
// flush by themselves).
func (s *Session) Changes() *ChangeSet {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changes.clone()
}

// MergeChanges folds a change set into the session (ErrReadOnly on a
// read-only session).
func (s *Session) MergeChanges(cs *ChangeSet) error {
	_, err := s.mergeChanges(cs)
	return err
}

// mergeChanges is MergeChanges, which also says how many chunk changes of
// s the merge replaced with different ones.
func (s *Session) mergeChanges(cs *ChangeSet) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("merge changes"); err != nil {
		return 0, err
	}
	replaced := s.changes.merge(cs)
	s.zarrInfo.Clear()
	return replaced, nil
}

// Fork returns a writable copy of the session for cooperative writing
// elsewhere (another goroutine, process or machine, via Bytes). A fork
// cannot commit: its changes come back with Merge. The session, fork or
// not, must have no uncommitted changes (ErrInvalidArgument): forks start
// from a snapshot. Write-behind chunks are flushed first, under ctx.
func (s *Session) Fork(ctx context.Context) (*Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable("fork"); err != nil {
		return nil, err
	}
	if err := s.flushLocked(ctx); err != nil {
		return nil, err
	}
	if !s.changes.IsEmpty() {
		// A fork of a fork with changes would carry them too, and merging
		// both back would apply them twice.
		return nil, invalidArgument("cannot fork a session with uncommitted changes: commit or discard them first (or, in a fork, merge it back first), so forks start from a snapshot")
	}
	f := &Session{repo: s.repo, branch: s.branch, snapshotID: s.snapshotID, fork: true}
	f.base.Store(s.base.Load())
	f.changes = NewChangeSet()
	f.meta = s.meta
	return f, nil
}

// Merge folds the changes of forks into s. The forks must be of the same
// branch and base snapshot. Their write-behind chunks are flushed first,
// under ctx; a cancelled merge may have folded in the forks before the one
// it stopped at.
func (s *Session) Merge(ctx context.Context, forks ...*Session) error {
	for i, f := range forks {
		if f == s {
			return invalidArgument("cannot merge a session into itself")
		}
		snap, branch := s.SnapshotID(), s.Branch() // before f's lock: f's flush holds it
		f.mu.Lock()
		same := f.snapshotID == snap && f.branch == branch
		err := f.flushLocked(ctx)
		cs := f.changes.clone()
		f.mu.Unlock()
		if err != nil {
			return err
		}
		if !same {
			return invalidArgument("cannot merge a session based on snapshot %s of branch %q into one based on %s of %q", f.SnapshotID(), f.Branch(), s.SnapshotID(), s.Branch())
		}
		if err := s.repo.checkOrigin(ctx, f.origin, "merge a fork"); err != nil {
			return err
		}
		replaced, err := s.mergeChanges(cs)
		if err != nil {
			return err
		}
		if replaced > 0 && logOn(ctx, slog.LevelWarn) {
			// Last merged wins, as upstream's merge does; but writes that
			// were not aligned to chunks lose data this way, silently
			// without this line.
			logs.Engine.WarnContext(ctx, "a merged fork replaced chunks that an earlier fork or the session had set; the last merged one's are kept",
				"chunks", replaced, "fork", i+1, "of", len(forks))
		}
	}
	return nil
}
