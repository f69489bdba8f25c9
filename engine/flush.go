package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/errors"
	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
	"github.com/icechunk-go/icechunk-go/storage"
)

// maxClockSkew is how far the writer's clock may be from the storage's
// before a commit is refused (as in the seed): snapshot times order
// history, so a badly skewed writer would corrupt "as of" reads.
const maxClockSkew = 10 * time.Minute

// manifestWriters bounds the manifests written at once by one commit.
const manifestWriters = 16

// Commit writes the session's changes as a new snapshot on its branch and
// returns the snapshot's id. Afterwards the session is read-only at the new
// snapshot.
//
// Errors: ErrReadOnly; ErrNoChangesToCommit; a *ConflictError (ErrConflict)
// if the branch moved since the session's base (rebase, then commit again);
// ErrInvalidTimestamp if clocks disagree. On any error nothing is committed
// and the session keeps its changes; objects written before a conflict was
// found are named by nothing, for garbage collection to delete.
func (s *Session) Commit(ctx context.Context, message string, meta map[string]any) (codec.SnapshotID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var seq storage.SeqNo
	// The tip is read to learn the log version to compare-and-set from,
	// and to fail if the branch already moved. Where the handle's last
	// commit on the branch landed, nobody is likely to have moved it, and
	// the read runs beside the writes: one round trip less per commit on
	// an object store. Where the last commit found the branch moved, the
	// read comes first, so that a writer behind a busy branch does not
	// write its objects for nothing and load the storage every writer
	// waits on (right after a rebase too: the branch often moved during
	// it).
	checkTip := func() error {
		tip, at, err := s.repo.refs.branchTipToWrite(ctx, s.branch)
		if err == nil && tip != s.snapshotID {
			err = &ConflictError{Branch: s.branch, ExpectedParent: s.snapshotID, ActualParent: tip}
		}
		seq = at
		return err
	}
	// Compare-and-set from the version read above: it still holds our base
	// iff nobody committed in between.
	// The entry names the commit's parent and carries its small files,
	// for the other writers of the branch (branchlog.go).
	moveBranch := func(id codec.SnapshotID, files commitFiles) error {
		ref := codec.NewCommitRef(id, s.snapshotID, files.txlog, files.snapshot, files.manifests)
		err := s.repo.refs.appendRef(ctx, s.branch, seq, ref)
		var ce *ConflictError
		if errors.As(err, &ce) {
			ce.lostRace = true
			ce.ExpectedParent = s.snapshotID
		}
		return err
	}
	start, branch, parent := time.Now(), s.branch, s.snapshotID
	check := tipCheck{check: checkTip, first: s.repo.refs.wasContended(branch)}
	id, err := s.writeSnapshotLocked(ctx, "commit", message, meta, check, moveBranch)
	switch {
	case err == nil:
		s.repo.refs.noteCommit(branch, false)
	case errors.Is(err, ErrConflict):
		s.repo.refs.noteCommit(branch, true)
	}
	logCommit(ctx, branch, parent, id, start, err)
	return id, err
}

// A tipCheck is what a commit checks of its branch before it may move it:
// first, before anything is written, or beside the writes, stopping them
// if it fails.
type tipCheck struct {
	check func() error // nil: nothing to check
	first bool
}

// start runs the check: at once when it must come first (its error is
// returned), else in a goroutine, cancelling ctx if it fails. wait returns
// the check's error once it is done; it must be called before the
// check's results are used, and is safe to call more than once.
func (c tipCheck) start(ctx context.Context, cancel context.CancelFunc) (wait func() error, err error) {
	if c.check == nil {
		return func() error { return nil }, nil
	}
	if c.first {
		err := c.check()
		return func() error { return err }, err
	}
	done := make(chan struct{})
	var checkErr error
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				checkErr = panicError(r)
			}
			if checkErr != nil {
				cancel()
			}
		}()
		checkErr = c.check()
	}()
	return func() error {
		<-done
		return checkErr
	}, nil
}

// Flush writes the session's changes as a new snapshot whose parent is the
// session's base, as Commit does (the same metadata, chunks and durability),
// and returns its id, but moves no branch: the snapshot is anonymous, named
// by its id alone (upstream Icechunk's Session.flush). Afterwards the
// session is read-only at the new snapshot. Open it with ReadonlySession at
// the id, or point a branch or tag at it; until then no ref reaches it and
// a garbage collection may delete it.
//
// Errors: ErrReadOnly; ErrNoChangesToCommit; ErrInvalidArgument for a fork;
// ErrInvalidTimestamp if clocks disagree. On any error the session keeps its
// changes.
func (s *Session) Flush(ctx context.Context, message string, meta map[string]any) (codec.SnapshotID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent := s.snapshotID
	id, err := s.writeSnapshotLocked(ctx, "flush", message, meta, tipCheck{}, nil)
	if err == nil && logOn(ctx, slog.LevelInfo) {
		logs.Engine.InfoContext(ctx, "flushed an anonymous snapshot", "snapshot", id, "parent", parent)
	}
	return id, err
}

// writeSnapshotLocked writes the session's changes as a snapshot whose
// parent is the session's base, and leaves the session read-only at it
// (caller holds s.mu). what names the operation in errors. check runs
// once the session's chunks are on their way to storage, before anything
// else is written or beside those writes (tipCheck); publish (nil: none)
// runs once the snapshot and everything it names are durable and the
// check has passed, with the snapshot's id and the files written. An
// error of either leaves the session as it was (objects written beside a
// failed check are left for garbage collection: nothing names them).
func (s *Session) writeSnapshotLocked(ctx context.Context, what, message string, meta map[string]any, check tipCheck, publish func(codec.SnapshotID, commitFiles) error) (codec.SnapshotID, error) {
	if err := s.checkWritable(what); err != nil {
		return codec.SnapshotID{}, err
	}
	if s.fork {
		return codec.SnapshotID{}, invalidArgument("a fork cannot %s: merge it into the session it was forked from", what)
	}
	if s.changes.IsEmpty() && !s.superseded && !s.rewriteManifests {
		return codec.SnapshotID{}, errors.Mark(errors.Newf("cannot %s, no changes made to the session", what), ErrNoChangesToCommit)
	}
	if err := s.repo.checkOrigin(ctx, s.origin, what); err != nil {
		return codec.SnapshotID{}, err
	}
	merged := maps.Clone(s.meta)
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, meta)
	metaJSON, err := json.Marshal(merged)
	if err != nil {
		return codec.SnapshotID{}, invalidArgument("%s metadata is not JSON-serialisable: %v", what, err)
	}

	// Chunks still being written behind land while the commit reads the
	// tip and writes its manifests, transaction log and snapshot: nothing
	// names those until the ref moves, and the ref moves only once every
	// chunk is in storage and durable. On a storage with latency (S3) that
	// takes a round trip off every commit. A failed chunk write is
	// reported before anything else, as if it had been waited for first.
	chunks := s.flushAsyncLocked(ctx)
	defer chunks() // never leave the flush running past the session's lock

	// The writes stop when a check beside them fails; the chunks keep
	// landing, since the session keeps its changes for a rebase.
	writeCtx, cancelWrites := context.WithCancel(ctx)
	defer cancelWrites()
	checked, err := check.start(ctx, cancelWrites)
	defer func() { _ = checked() }() // never leave the check running past the session's lock
	if err != nil {
		return codec.SnapshotID{}, cmp.Or(chunks(), err)
	}
	nodes, err := s.listNodesLocked(ctx)
	if err != nil {
		return codec.SnapshotID{}, cmp.Or(chunks(), checked(), err)
	}
	var place logPlace
	if publish != nil { // a commit: its snapshot says where its log entry goes
		place.branch = s.branch
		place.slot, _ = s.repo.refs.slotAfter(s.branch, s.snapshotID)
	}
	logged := s.changes
	if s.unlogged {
		logged = NewChangeSet()
	}
	id, files, err := s.repo.flush(writeCtx, s.snapshotID, s.changes, logged, nodes, message, metaJSON, place, chunks, s.rewriteManifests)
	if cerr := checked(); cerr != nil {
		// A failed check explains writes it stopped.
		return codec.SnapshotID{}, cmp.Or(chunks(), cerr)
	}
	if err != nil {
		return codec.SnapshotID{}, cmp.Or(chunks(), err)
	}
	if publish != nil {
		if err := publish(id, files); err != nil {
			return codec.SnapshotID{}, err
		}
	}
	s.snapshotID = id
	s.changes = NewChangeSet()
	s.superseded = false
	s.branch = ""
	s.zarrInfo.Clear()
	return id, nil
}

// commitFiles are the files a commit wrote, as stored, which its branch
// log entry may carry (codec.NewCommitRef).
type commitFiles struct {
	txlog     []byte // nil when transaction logs are disabled
	snapshot  []byte
	manifests [][]byte // the manifests written, not those kept from the parent
}

// logPlace is where a commit expects its branch log entry: the branch and
// the slot after the head it was made on (codec.Snapshot.LogSlot). A zero
// slot: not known.
type logPlace struct {
	branch string
	slot   uint64
}

// flush writes manifests, transaction log and snapshot for changes on top of
// parentID, waits for chunks (the commit's chunks landing in storage), makes
// it all durable, and returns the new snapshot's id and the files written.
// The transaction log records logged: cs itself, or none of it for a
// commit that changes no value (Repository.RepackChunks).
// It does not move any ref; the snapshot records place, if known. With
// reblock set, every array's manifests are rewritten to the block shape the
// config now gives it.
func (r *Repository) flush(ctx context.Context, parentID codec.SnapshotID, cs, logged *ChangeSet, nodes []*Node, message string, metaJSON []byte, place logPlace, chunks func() error, reblock bool) (_ codec.SnapshotID, files commitFiles, _ error) {
	parent, err := r.assets.fetchBase(ctx, parentID)
	if err != nil {
		return codec.SnapshotID{}, files, err
	}
	f := &flusher{repo: r, parent: parent, files: map[codec.ManifestID]codec.ManifestFileInfo{}, reblock: reblock}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestWriters)
	snap := &codec.Snapshot{ID: codec.NewSnapshotID(), ParentID: parentID, Message: message, Metadata: metaJSON}
	if place.slot > 0 && !r.noLogPlaces {
		snap.LogBranch, snap.LogSlot = place.branch, place.slot
	}
	// Manifests, transaction log and snapshot are written side by side:
	// nothing refers to any of them until the branch moves, so only the
	// ref must come after them, and a writer racing others for the branch
	// keeps the window between reading the tip and moving it short. The
	// snapshot needs only the manifests' ids and sizes, known once they
	// are encoded.
	//
	// The storage's clock comes from the responses to these writes where
	// the storage reports it (S3's Date header), else from the first object
	// written (the transaction log, else the snapshot), so that the check
	// costs no round trip of its own while the branch may move.
	var clock clockReading
	txlogs := !r.cfg().DisableTransactionLogs
	if txlogs {
		goRecovering(g, func() error {
			before := time.Now()
			var err error
			if files.txlog, err = r.assets.writeTransactionLog(gctx, transactionLog(snap.ID, logged, nodes, parent)); err != nil {
				return err
			}
			return clock.read(gctx, r.store, codec.TransactionLogKey(snap.ID), before)
		})
	}
	snap.Nodes = make([]codec.NodeSnapshot, len(nodes))
	for i, n := range nodes {
		out := codec.NodeSnapshot{ID: n.ID, Path: n.Path, Type: n.Type, ZarrMetadata: n.ZarrMetadata}
		if n.Type == ArrayNode {
			a := *n.Array
			out.Array = &a
			f.planArray(gctx, g, n, out.Array, cs)
		}
		snap.Nodes[i] = out
	}
	f.encoding.Wait()
	if gctx.Err() != nil { // a write failed, or ctx ended
		return codec.SnapshotID{}, commitFiles{}, cmp.Or(g.Wait(), ctx.Err())
	}
	for i := range snap.Nodes {
		if a := snap.Nodes[i].Array; a != nil {
			a.Manifests = f.result[snap.Nodes[i].ID]
		}
	}
	snap.ManifestFiles = slices.Collect(maps.Values(f.files))
	snap.Sort()

	snap.FlushedAt = time.Now().UnixNano()
	if snap.FlushedAt <= parent.FlushedAt {
		_ = g.Wait()
		return codec.SnapshotID{}, commitFiles{}, errors.Mark(errors.Newf("invalid snapshot timestamp ordering: parent %s, child %s", parent.FlushedTime(), snap.FlushedTime()), ErrInvalidTimestamp)
	}
	goRecovering(g, func() error {
		var err error
		if files.snapshot, err = r.assets.writeSnapshot(gctx, snap); err != nil {
			return err
		}
		if txlogs {
			return nil
		}
		return clock.read(gctx, r.store, codec.SnapshotKey(snap.ID), snap.FlushedTime())
	})
	if err := g.Wait(); err != nil {
		return codec.SnapshotID{}, commitFiles{}, err
	}
	if err := clock.check(); err != nil {
		return codec.SnapshotID{}, commitFiles{}, err
	}
	if err := chunks(); err != nil {
		return codec.SnapshotID{}, commitFiles{}, err
	}
	// Chunks, manifests and the transaction log may sit in a volatile
	// cache (local disk): make them durable before the branch points at
	// them, so a power loss never leaves a commit missing its objects.
	if err := r.store.Sync(ctx); err != nil {
		return codec.SnapshotID{}, commitFiles{}, errors.Wrap(err, "making the commit's objects durable")
	}
	files.manifests = f.written
	return snap.ID, files, nil
}

// A clockReading compares this machine's clock with the storage's: the
// modification time the storage gives an object just written against the
// local time before the write.
type clockReading struct {
	object       string
	local, store time.Time
}

// read takes the storage's time from its latest response if it has a clock
// (storage.ServerClock) and that response came after local time before;
// otherwise it stats object, written after before.
func (c *clockReading) read(ctx context.Context, store storage.Storage, object string, before time.Time) error {
	if server, local, ok := storage.ServerTime(store); ok && !local.Before(before) {
		c.object, c.local, c.store = "the storage's latest response", local, server
		return nil
	}
	info, err := store.Stat(ctx, object)
	if err != nil {
		return errors.Wrapf(err, "reading back the time of %s", object)
	}
	c.object, c.local, c.store = object, before, info.ModTime
	return nil
}

// check refuses a commit from a machine whose clock is more than
// maxClockSkew away from the storage's.
func (c *clockReading) check() error {
	if d := c.store.Sub(c.local); d > maxClockSkew || d < -maxClockSkew {
		return errors.Mark(errors.Newf("snapshot timestamp is invalid: this machine's clock says %s, the object store's %s (%s); fix this machine's clock",
			c.local.UTC(), c.store.UTC(), c.object), ErrInvalidTimestamp)
	}
	return nil
}

// flusher plans and writes the manifests of one commit.
type flusher struct {
	repo    *Repository
	parent  *codec.Snapshot
	reblock bool // rewrite every array's manifests (Repository.RewriteManifests)

	// encoding counts the manifest writes scheduled whose manifest is not
	// encoded yet: the snapshot can be built once it is zero.
	encoding sync.WaitGroup

	mu      sync.Mutex
	files   map[codec.ManifestID]codec.ManifestFileInfo
	result  map[codec.NodeID][]codec.ManifestRef
	written [][]byte // the manifest files this flush wrote
}

// schedule runs a manifest write on g. write calls encoded once its
// manifest is encoded (and recorded), before storing it; if it returns
// first, it is called then.
func (f *flusher) schedule(g *errgroup.Group, write func(encoded func()) error) {
	f.encoding.Add(1)
	goRecovering(g, func() error {
		encoded := sync.OnceFunc(f.encoding.Done)
		defer encoded()
		return write(encoded)
	})
}

func (f *flusher) keep(node codec.NodeID, ref codec.ManifestRef) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if info, ok := f.parent.ManifestFile(ref.ID); ok {
		f.files[ref.ID] = *info
	}
	f.addRefLocked(node, ref)
}

func (f *flusher) addRefLocked(node codec.NodeID, ref codec.ManifestRef) {
	if f.result == nil {
		f.result = map[codec.NodeID][]codec.ManifestRef{}
	}
	f.result[node] = append(f.result[node], ref)
}

// planArray decides, block by block, which manifests of the array are kept
// and which are rewritten, and schedules the rewrites on g. A commit that
// changes k chunks rewrites only the blocks holding them.
func (f *flusher) planArray(ctx context.Context, g *errgroup.Group, n *Node, a *codec.ArrayData, cs *ChangeSet) {
	if f.reblock {
		f.planReblock(ctx, g, n, a, cs)
		return
	}
	if len(a.BlockShape) != len(a.Shape) {
		a.BlockShape = f.repo.newBlockShape(n.Path, a)
	}
	grid := gridShape(a)
	shrunk := false
	if base, ok := f.parent.Node(n.Path); ok && base.ID == n.ID && base.Array != nil {
		for d, g := range gridShape(base.Array) {
			shrunk = shrunk || (d < len(grid) && grid[d] < g)
		}
	}
	// Changes written before a change of rank are left out: they are no
	// chunks of the array now. Blocks hold keys only; each block's refs are
	// built when its manifest is written, so a commit never holds a second
	// copy of all the changes.
	changes := map[string]*chunkBlock{}
	chunks := cs.chunks[n.ID]
	if chunks != nil {
		changes = chunks.blocks(len(a.Shape), a.BlockShape)
	}
	for _, mref := range a.Manifests {
		if len(mref.Extents) != len(a.Shape) {
			continue // a manifest of the array's former rank: its chunks are gone
		}
		k := blockKey(extentStarts(mref.Extents), a.BlockShape)
		pending, touched := changes[k]
		delete(changes, k)
		if !touched && !(shrunk && extentsBeyond(mref.Extents, grid)) {
			f.keep(n.ID, mref)
			continue
		}
		f.schedule(g, func(encoded func()) error {
			old, err := f.repo.assets.baseManifest(ctx, mref.ID)
			if err != nil {
				return err
			}
			return f.write(ctx, n.ID, a, mref.Extents, mergeRefs(old, chunks, pending, a), encoded)
		})
	}
	for _, pending := range changes {
		extents := blockExtents(pending.first, a.BlockShape)
		f.schedule(g, func(encoded func()) error {
			return f.write(ctx, n.ID, a, extents, mergeRefs(nil, chunks, pending, a), encoded)
		})
	}
	a.Manifests = nil
}

// goRecovering runs fn on g, turning a panic into an error: the engine runs
// inside host processes (through the C ABI), which a panic on one of our
// goroutines would kill.
func goRecovering(g *errgroup.Group, fn func() error) {
	g.Go(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicError(r)
			}
		}()
		return fn()
	})
}

// write stores the manifest refs builds for one block (nothing if refs is
// empty: the block has no chunks left), calling encoded once the manifest
// is encoded and recorded for the snapshot.
func (f *flusher) write(ctx context.Context, node codec.NodeID, a *codec.ArrayData, extents []codec.Extent, refs *codec.ManifestBuilder, encoded func()) error {
	if refs.Len() == 0 {
		return nil
	}
	m, err := refs.Build(codec.NewManifestID(), node, extents)
	if err != nil {
		return err
	}
	data, err := f.repo.assets.encodeManifest(m)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.files[m.ID] = codec.ManifestFileInfo{ID: m.ID, SizeBytes: uint64(len(data)), NumChunkRefs: uint64(m.Len())}
	f.addRefLocked(node, codec.ManifestRef{ID: m.ID, Extents: extents})
	f.written = append(f.written, data)
	f.mu.Unlock()
	encoded()
	return f.repo.assets.putManifest(ctx, m, data)
}

// mergeRefs applies the changes of one block (nil: none) of chunks to the
// block's old manifest (nil: none), dropping deletes and chunks outside
// the array's grid (after a shrink), in one pass over both: the refs come
// out sorted, straight into the new manifest's columns.
func mergeRefs(old *codec.Manifest, chunks *arrayChunks, block *chunkBlock, a *codec.ArrayData) *codec.ManifestBuilder {
	nOld, nNew := 0, 0
	if old != nil {
		nOld = old.Len()
	}
	if block != nil {
		nNew = block.len()
	}
	out := codec.NewManifestBuilder(len(a.Shape), nOld+nNew)
	keep := func(j int) {
		if validCoords(a, old.Coords(j)) {
			r := old.Ref(j)
			out.Append(&r)
		}
	}
	i := 0 // the next old ref
	if block != nil {
		changes := block.cursor(chunks)
		for {
			c, ref, ok := changes.next()
			if !ok {
				break
			}
			for ; i < nOld; i++ {
				order := codec.CompareCoords(old.Coords(i), c)
				if order == 0 {
					i++ // replaced or deleted
				}
				if order >= 0 {
					break
				}
				keep(i)
			}
			if ref != nil && validCoords(a, c) {
				r := *ref
				r.Coords = c // copied by Append
				out.Append(&r)
			}
		}
	}
	for ; i < nOld; i++ {
		keep(i)
	}
	return out
}

// newBlockShape is the manifest block shape of an array getting its first
// manifests (or a new rank): the one the config's first matching splitting
// rule gives it, else ManifestBlockChunks chunks per block. An array keeps
// its shape afterwards, whatever the config says later, until its
// manifests are rewritten (Repository.RewriteManifests): a commit rewrites
// only the blocks it touches.
func (r *Repository) newBlockShape(path string, a *codec.ArrayData) []uint32 {
	cfg := r.cfg()
	names := make([]string, len(a.Shape))
	if a.HasDimensionNames {
		copy(names, a.DimensionNames)
	}
	if shape, ok := cfg.Manifest.SplitFor(path, names); ok {
		return shape
	}
	return blockShape(gridShape(a), cfg.ManifestBlockChunks)
}

// blockShape chooses how many chunks per dimension one manifest covers:
// at most budget chunks in all, filling the fastest-varying dimensions
// first, and giving what is left to the first dimension so that arrays
// growing along it (appends in time) fill blocks before opening new ones.
func blockShape(grid []uint32, budget uint32) []uint32 {
	out := make([]uint32, len(grid))
	rem := uint64(max(budget, 1))
	for d := len(grid) - 1; d >= 1; d-- {
		b := max(min(uint64(max(grid[d], 1)), rem), 1)
		out[d] = uint32(b)
		rem = max(rem/b, 1)
	}
	if len(grid) > 0 {
		out[0] = uint32(min(rem, math.MaxUint32))
	}
	return out
}

func blockKey(coords []uint32, block []uint32) string {
	idx := make([]uint32, len(coords))
	for d, c := range coords {
		idx[d] = c / block[d]
	}
	return coordKey(idx)
}

func blockExtents(coords []uint32, block []uint32) []codec.Extent {
	out := make([]codec.Extent, len(coords))
	for d, c := range coords {
		from := uint64(c/block[d]) * uint64(block[d])
		out[d] = codec.Extent{From: uint32(from), To: uint32(min(from+uint64(block[d]), math.MaxUint32))}
	}
	return out
}

func extentStarts(extents []codec.Extent) []uint32 {
	out := make([]uint32, len(extents))
	for d, e := range extents {
		out[d] = e.From
	}
	return out
}

// extentsBeyond reports whether a block reaches past the array's grid: after
// a shrink, such a block may hold chunks that must be dropped.
func extentsBeyond(extents []codec.Extent, grid []uint32) bool {
	for d, e := range extents {
		if d < len(grid) && e.To > grid[d] {
			return true
		}
	}
	return false
}

// transactionLog expands a change set into the record of one commit.
func transactionLog(id codec.SnapshotID, cs *ChangeSet, nodes []*Node, parent *codec.Snapshot) *codec.TransactionLog {
	t := &codec.TransactionLog{ID: id}
	paths := map[codec.NodeID]string{}
	for _, n := range nodes {
		paths[n.ID] = n.Path
	}
	for p, n := range cs.newNodes {
		c := codec.NodeChange{ID: n.id, Path: string(p)}
		if n.typ == ArrayNode {
			t.NewArrays = append(t.NewArrays, c)
		} else {
			t.NewGroups = append(t.NewGroups, c)
		}
	}
	for id, u := range cs.updatedNodes {
		c := codec.NodeChange{ID: id, Path: string(u.path)}
		if u.array != nil {
			t.UpdatedArrays = append(t.UpdatedArrays, c)
		} else {
			t.UpdatedGroups = append(t.UpdatedGroups, c)
		}
	}
	for id, p := range cs.deletedGroups {
		t.DeletedGroups = append(t.DeletedGroups, codec.NodeChange{ID: id, Path: string(p)})
	}
	for id, p := range cs.deletedArrays {
		t.DeletedArrays = append(t.DeletedArrays, codec.NodeChange{ID: id, Path: string(p)})
	}
	var arena coordArena
	for id, chunks := range cs.chunks {
		path, ok := paths[id]
		if !ok || chunks.len() == 0 {
			continue
		}
		ac := codec.ArrayChunks{ID: id, Path: path, Coords: make([][]uint32, 0, chunks.len())}
		for c := range chunks.coords() { // in no order: t.Sort sorts them
			ac.Coords = append(ac.Coords, arena.copy(c))
		}
		t.UpdatedChunks = append(t.UpdatedChunks, ac)
	}
	t.Sort()
	return t
}

// sortPaths sorts and returns paths.
func sortPaths(paths []string) []string {
	slices.SortFunc(paths, strings.Compare)
	return paths
}
