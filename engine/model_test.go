package engine

// A property-based state-machine test of sessions and commits against a
// simple in-memory model, in the spirit of the seed's proptest state
// machine (RepositoryStateMachine): random sequences of adds, updates and
// deletes of groups and arrays (group deletes are recursive), chunk writes
// and deletes, commits, discards, re-opens, history expirations and garbage
// collections; after every step the session must show exactly the model's
// state, and a read-only session at each committed snapshot must still
// show that snapshot's state.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/errors"
	"pgregory.net/rapid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// modelNode is a group or an array of the model. chunks holds every chunk
// written to the array, by coordKey, including ones outside the current
// grid: those are hidden, and dropped by the next commit, but come back if
// the array grows again before that commit (as in the engine, where the
// change set and the base manifests still hold them).
type modelNode struct {
	group  bool
	meta   []byte
	array  ArrayMeta
	chunks map[string][]byte
}

type modelState map[Path]*modelNode

func (m modelState) clone() modelState {
	out := make(modelState, len(m))
	for p, n := range m {
		c := *n
		c.meta = slices.Clone(n.meta)
		c.chunks = maps.Clone(n.chunks)
		out[p] = &c
	}
	return out
}

// visibleChunks are the chunks of an array inside its current grid.
func (n *modelNode) visibleChunks() map[string][]byte {
	out := map[string][]byte{}
	a := modelArrayData(n.array)
	for k, v := range n.chunks {
		if validCoords(a, parseCoordKey(k)) {
			out[k] = v
		}
	}
	return out
}

func modelArrayData(am ArrayMeta) *codec.ArrayData {
	return &codec.ArrayData{Shape: am.Shape, ChunkShape: am.ChunkShape}
}

// prune drops hidden chunks, as a commit does.
func (m modelState) prune() {
	for _, n := range m {
		if !n.group {
			n.chunks = n.visibleChunks()
		}
	}
}

// sameVisible reports whether two states look the same to a reader.
func (m modelState) sameVisible(o modelState) bool {
	if len(m) != len(o) {
		return false
	}
	for p, a := range m {
		b, ok := o[p]
		if !ok || a.group != b.group || !bytes.Equal(a.meta, b.meta) {
			return false
		}
		if a.group {
			continue
		}
		if !slices.Equal(a.array.Shape, b.array.Shape) || !slices.Equal(a.array.ChunkShape, b.array.ChunkShape) ||
			!slices.Equal(a.array.DimensionNames, b.array.DimensionNames) || (a.array.DimensionNames == nil) != (b.array.DimensionNames == nil) {
			return false
		}
		if !maps.EqualFunc(a.visibleChunks(), b.visibleChunks(), bytes.Equal) {
			return false
		}
	}
	return true
}

// arrayAncestor returns the nearest proper ancestor of p that is an array.
func (m modelState) arrayAncestor(p Path) (Path, bool) {
	for _, anc := range p.Ancestors() {
		if n, ok := m[anc]; ok && !n.group {
			return anc, true
		}
	}
	return "", false
}

type modelCommit struct {
	id      codec.SnapshotID
	state   modelState
	written time.Time
}

type repoMachine struct {
	ctx   context.Context
	store *memory.Store
	repo  *Repository
	s     *Session
	began time.Time // when s was opened: the cutoff of GarbageCollect

	cur       modelState // what the session must show
	committed modelState // the state of the session's base snapshot
	history   []modelCommit
	paths     []Path
}

func newRepoMachine(t *rapid.T) *repoMachine {
	ctx := context.Background()
	store := memory.New("model")
	var cfg *codec.RepoConfig
	if rapid.Bool().Draw(t, "small_blocks") {
		c := codec.DefaultRepoConfig()
		c.ManifestBlockChunks = rapid.Uint32Range(1, 8).Draw(t, "block_chunks")
		c.InlineChunkThreshold = rapid.Uint32Range(0, 16).Draw(t, "inline_threshold")
		cfg = &c
	}
	repo, err := Create(ctx, store, cfg, nil)
	if err != nil {
		t.Fatalf("create: %+v", err)
	}
	initial, err := repo.LookupBranch(ctx, MainBranch)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	m := &repoMachine{ctx: ctx, store: store, repo: repo, cur: modelState{}, committed: modelState{}}
	m.history = []modelCommit{{id: initial, state: modelState{}}}
	// paths over {a, b} up to depth 3, and the root
	m.paths = []Path{Root}
	for _, a := range []string{"a", "b"} {
		m.paths = append(m.paths, MustPath("/"+a))
		for _, b := range []string{"a", "b"} {
			m.paths = append(m.paths, MustPath("/"+a+"/"+b))
			for _, c := range []string{"a", "b"} {
				m.paths = append(m.paths, MustPath("/"+a+"/"+b+"/"+c))
			}
		}
	}
	m.newSession(t)
	return m
}

func (m *repoMachine) newSession(t *rapid.T) {
	s, err := m.repo.WritableSession(m.ctx, MainBranch)
	if err != nil {
		t.Fatalf("writable session: %+v", err)
	}
	m.s, m.began = s, time.Now()
}

func (m *repoMachine) drawPath(t *rapid.T) Path {
	return rapid.SampledFrom(m.paths).Draw(t, "path")
}

func modelArrayMetaGen() *rapid.Generator[ArrayMeta] {
	return rapid.Custom(func(t *rapid.T) ArrayMeta {
		rank := rapid.IntRange(1, 2).Draw(t, "rank")
		am := ArrayMeta{
			Shape:      rapid.SliceOfN(rapid.Uint64Range(0, 6), rank, rank).Draw(t, "shape"),
			ChunkShape: rapid.SliceOfN(rapid.Uint64Range(1, 3), rank, rank).Draw(t, "chunk_shape"),
		}
		if rapid.Bool().Draw(t, "named") {
			am.DimensionNames = rapid.SliceOfN(rapid.SampledFrom([]string{"x", "y", ""}), rank, rank).Draw(t, "names")
		}
		return am
	})
}

func modelMetaGen() *rapid.Generator[[]byte] {
	return rapid.SliceOfN(rapid.Byte(), 0, 12)
}

// expectErr checks err against the model's expectation (nil: success).
func expectErr(t *rapid.T, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %+v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: expected an error matching %q, got %v", what, want, err)
	}
}

func (m *repoMachine) addNode(t *rapid.T, group bool) {
	p := m.drawPath(t)
	meta := modelMetaGen().Draw(t, "meta")
	var am ArrayMeta
	if !group {
		am = modelArrayMetaGen().Draw(t, "array")
	}
	var want error
	hasDescendant := false
	for q := range m.cur {
		hasDescendant = hasDescendant || (q != p && p.Contains(q))
	}
	if _, ok := m.cur[p]; ok {
		want = ErrAlreadyExists
	} else if !group && hasDescendant {
		// An array cannot be created over existing nodes.
		want = ErrAlreadyExists
	} else if _, ok := m.cur.arrayAncestor(p); ok {
		want = ErrNotAGroup
	}
	var err error
	if group {
		err = m.s.AddGroup(m.ctx, p, meta)
	} else {
		err = m.s.AddArray(m.ctx, p, am, meta)
	}
	expectErr(t, fmt.Sprintf("add %s (group %v)", p, group), err, want)
	if want == nil {
		m.cur[p] = &modelNode{group: group, meta: slices.Clone(meta), array: am, chunks: map[string][]byte{}}
	}
}

func (m *repoMachine) AddGroup(t *rapid.T) { m.addNode(t, true) }
func (m *repoMachine) AddArray(t *rapid.T) { m.addNode(t, false) }

func (m *repoMachine) UpdateArray(t *rapid.T) {
	p := m.drawPath(t)
	am := modelArrayMetaGen().Draw(t, "array")
	meta := modelMetaGen().Draw(t, "meta")
	n, ok := m.cur[p]
	var want error
	switch {
	case !ok:
		want = ErrNodeNotFound
	case n.group:
		want = ErrNotAnArray
	}
	expectErr(t, "update array "+string(p), m.s.UpdateArray(m.ctx, p, am, meta), want)
	if want == nil {
		n.array, n.meta = am, slices.Clone(meta)
	}
}

func (m *repoMachine) UpdateGroup(t *rapid.T) {
	p := m.drawPath(t)
	meta := modelMetaGen().Draw(t, "meta")
	n, ok := m.cur[p]
	var want error
	switch {
	case !ok:
		want = ErrNodeNotFound
	case !n.group:
		want = ErrNotAGroup
	}
	expectErr(t, "update group "+string(p), m.s.UpdateGroup(m.ctx, p, meta), want)
	if want == nil {
		n.meta = slices.Clone(meta)
	}
}

func (m *repoMachine) DeleteArray(t *rapid.T) {
	p := m.drawPath(t)
	n, ok := m.cur[p]
	var want error
	if ok && n.group {
		want = ErrNotAnArray
	}
	expectErr(t, "delete array "+string(p), m.s.DeleteArray(m.ctx, p), want)
	if want == nil {
		delete(m.cur, p) // only the array: nodes below it stay
	}
}

func (m *repoMachine) deleteSubtree(p Path) {
	for q := range m.cur {
		if p.Contains(q) {
			delete(m.cur, q)
		}
	}
}

func (m *repoMachine) DeleteGroup(t *rapid.T) {
	p := m.drawPath(t)
	n, ok := m.cur[p]
	var want error
	if ok && !n.group {
		want = ErrNotAGroup
	}
	expectErr(t, "delete group "+string(p), m.s.DeleteGroup(m.ctx, p), want)
	if want == nil && ok {
		m.deleteSubtree(p)
	}
}

func (m *repoMachine) DeleteNode(t *rapid.T) {
	p := m.drawPath(t)
	expectErr(t, "delete node "+string(p), m.s.DeleteNode(m.ctx, p), nil)
	m.deleteSubtree(p)
}

// drawChunkTarget draws a path, preferring arrays, and coordinates that are
// usually inside the array's grid; it returns the error the engine must
// give.
func (m *repoMachine) drawChunkTarget(t *rapid.T) (Path, []uint32, error) {
	var arrays []Path
	for p, n := range m.cur {
		if !n.group {
			arrays = append(arrays, p)
		}
	}
	slices.Sort(arrays)
	var p Path
	if len(arrays) > 0 && rapid.IntRange(0, 9).Draw(t, "pick_array") > 0 {
		p = rapid.SampledFrom(arrays).Draw(t, "array")
	} else {
		p = m.drawPath(t)
	}
	n, ok := m.cur[p]
	rank := 1
	var grid []uint32
	if ok && !n.group {
		rank = len(n.array.Shape)
		grid = gridShape(modelArrayData(n.array))
	}
	if rapid.IntRange(0, 19).Draw(t, "wrong_rank") == 0 {
		rank = rapid.IntRange(0, 3).Draw(t, "rank")
	}
	coords := make([]uint32, rank)
	for d := range coords {
		hi := uint32(3)
		if d < len(grid) {
			hi = grid[d] // one past the grid: invalid now and then
		}
		coords[d] = rapid.Uint32Range(0, hi).Draw(t, "coord")
	}
	switch {
	case !ok:
		return p, coords, ErrNodeNotFound
	case n.group:
		return p, coords, ErrNotAnArray
	case !validCoords(modelArrayData(n.array), coords):
		return p, coords, ErrInvalidIndex
	}
	return p, coords, nil
}

func (m *repoMachine) SetChunk(t *rapid.T) {
	p, coords, want := m.drawChunkTarget(t)
	size := rapid.SampledFrom([]int{0, 1, 5, 16, 17, 100, 600}).Draw(t, "size")
	data := rapid.SliceOfN(rapid.Byte(), size, size).Draw(t, "data")
	var err error
	if rapid.Bool().Draw(t, "by_ref") {
		var ref *codec.ChunkRef
		ref, err = m.s.WriteChunk(m.ctx, data)
		if err != nil {
			t.Fatalf("write chunk: %+v", err)
		}
		err = m.s.SetChunkRef(m.ctx, p, coords, ref)
	} else {
		err = m.s.SetChunk(m.ctx, p, coords, data)
	}
	expectErr(t, fmt.Sprintf("set chunk %v of %s", coords, p), err, want)
	if want == nil {
		m.cur[p].chunks[coordKey(coords)] = slices.Clone(data)
	}
}

func (m *repoMachine) DeleteChunk(t *rapid.T) {
	p, coords, want := m.drawChunkTarget(t)
	var err error
	if rapid.Bool().Draw(t, "by_ref") {
		err = m.s.SetChunkRef(m.ctx, p, coords, nil)
	} else {
		err = m.s.DeleteChunks(m.ctx, p, [][]uint32{coords})
	}
	expectErr(t, fmt.Sprintf("delete chunk %v of %s", coords, p), err, want)
	if want == nil {
		delete(m.cur[p].chunks, coordKey(coords))
	}
}

func (m *repoMachine) Commit(t *rapid.T) {
	parent := m.s.SnapshotID()
	status, err := m.s.Status(m.ctx)
	if err != nil {
		t.Fatalf("status: %+v", err)
	}
	id, err := m.s.Commit(m.ctx, fmt.Sprintf("commit %d", len(m.history)), map[string]any{"n": len(m.history)})
	if errors.Is(err, ErrNoChangesToCommit) {
		// legitimate only when nothing visible changed
		if !m.cur.sameVisible(m.committed) {
			t.Fatalf("commit refused with no changes, but the state changed")
		}
		if m.s.HasUncommittedChanges() || !status.IsEmpty() {
			t.Fatalf("commit refused with no changes, but the session reports changes: %+v", status)
		}
		return
	}
	if err != nil {
		t.Fatalf("commit: %+v", err)
	}
	if !m.s.ReadOnly() || m.s.SnapshotID() != id {
		t.Fatalf("after commit the session is not read-only at %s", id)
	}
	tip, err := m.repo.LookupBranch(m.ctx, MainBranch)
	if err != nil || tip != id {
		t.Fatalf("branch at %s (%v), commit %s", tip, err, id)
	}
	// the commit's diff is the status just before it
	d, err := m.repo.Diff(m.ctx, Version{Snapshot: parent}, Version{Snapshot: id})
	if err != nil {
		t.Fatalf("diff: %+v", err)
	}
	if !seedDiffEqual(d, status) {
		t.Fatalf("diff of the commit\n%+v\ndiffers from the status before it\n%+v", d, status)
	}
	m.cur.prune()
	m.committed = m.cur.clone()
	info, err := m.repo.SnapshotInfo(m.ctx, id)
	if err != nil {
		t.Fatalf("snapshot info: %+v", err)
	}
	m.history = append(m.history, modelCommit{id: id, state: m.cur.clone(), written: info.WrittenAt})
	if rapid.Bool().Draw(t, "reopen") {
		// a new handle with cold caches reads everything from storage
		repo, err := Open(m.ctx, m.store, nil)
		if err != nil {
			t.Fatalf("open: %+v", err)
		}
		m.repo = repo
	}
	// the committed session still shows the state
	m.checkSession(t, m.s, m.cur, "committed session")
	m.newSession(t)
}

func (m *repoMachine) Discard(t *rapid.T) {
	m.s.DiscardChanges()
	m.cur = m.committed.clone()
	if m.s.HasUncommittedChanges() {
		t.Fatal("changes left after a discard")
	}
}

// GarbageCollect deletes the unreachable objects written before the
// session began: the garbage of earlier sessions (chunks overwritten or
// discarded before a commit). History and Check then show that nothing
// committed, and nothing the open session wrote, went with it.
func (m *repoMachine) GarbageCollect(t *rapid.T) {
	if _, err := m.repo.GarbageCollect(m.ctx, GCOptions{DeleteOlderThan: m.began}); err != nil {
		t.Fatalf("garbage collection: %+v", err)
	}
	m.checkSession(t, m.s, m.cur, "session after garbage collection")
}

// Expire cuts the history of main before a commit drawn from it (never
// the initial one). The commits before it leave the model's history: the
// ancestry History checks goes from the drawn commit straight to the
// initial snapshot, and a later GarbageCollect deletes them.
func (m *repoMachine) Expire(t *rapid.T) {
	if len(m.history) < 3 {
		t.Skip("no history to cut")
	}
	j := rapid.IntRange(2, len(m.history)-1).Draw(t, "keep_from")
	info, err := m.repo.SnapshotInfo(m.ctx, m.history[j].id)
	if err != nil {
		t.Fatalf("snapshot info: %+v", err)
	}
	if !info.WrittenAt.After(m.history[j-1].written) {
		t.Skip("commits written in the same instant")
	}
	res, err := m.repo.ExpireSnapshots(m.ctx, ExpireOptions{OlderThan: info.WrittenAt})
	if err != nil {
		t.Fatalf("expire: %+v", err)
	}
	var want []codec.SnapshotID
	for _, c := range m.history[1:j] {
		want = append(want, c.id)
	}
	slices.SortFunc(want, func(a, b codec.SnapshotID) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(res.Expired, want) || !slices.Equal(res.Rewritten, []codec.SnapshotID{m.history[j].id}) {
		t.Fatalf("expired %v rewrote %v, want %v and %s", res.Expired, res.Rewritten, want, m.history[j].id)
	}
	m.history = append(m.history[:1], m.history[j:]...)
}

// History checks a read-only session at every committed snapshot.
func (m *repoMachine) History(t *rapid.T) {
	for i, c := range m.history {
		rs, err := m.repo.ReadonlySession(m.ctx, Version{Snapshot: c.id})
		if err != nil {
			t.Fatalf("read-only session at %s: %+v", c.id, err)
		}
		m.checkSession(t, rs, c.state, fmt.Sprintf("snapshot %d (%s)", i, c.id))
		if err := rs.AddGroup(m.ctx, MustPath("/x"), nil); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("a read-only session accepted a write: %v", err)
		}
	}
	infos := 0
	for info, err := range m.repo.Ancestry(m.ctx, Version{Branch: MainBranch}) {
		if err != nil {
			t.Fatalf("ancestry: %+v", err)
		}
		if want := m.history[len(m.history)-1-infos].id; info.ID != want {
			t.Fatalf("ancestry entry %d is %s, want %s", infos, info.ID, want)
		}
		infos++
	}
	if infos != len(m.history) {
		t.Fatalf("ancestry has %d entries, history %d", infos, len(m.history))
	}
}

// Check is the invariant: the session shows the model's state.
func (m *repoMachine) Check(t *rapid.T) {
	m.checkSession(t, m.s, m.cur, "session")
}

func (m *repoMachine) checkSession(t *rapid.T, s *Session, want modelState, what string) {
	ctx := m.ctx
	nodes, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatalf("%s: list nodes: %+v", what, err)
	}
	var got []Path
	for _, n := range nodes {
		got = append(got, Path(n.Path))
	}
	if exp := slices.Sorted(maps.Keys(want)); !slices.Equal(got, exp) {
		t.Fatalf("%s: nodes %v, want %v", what, got, exp)
	}
	for _, p := range m.paths {
		mn, ok := want[p]
		n, err := s.GetNode(ctx, p)
		if !ok {
			if !errors.Is(err, ErrNodeNotFound) {
				t.Fatalf("%s: node %s should not exist, got %v %v", what, p, n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: get %s: %+v", what, p, err)
		}
		if (n.Type == GroupNode) != mn.group || !bytes.Equal(n.ZarrMetadata, mn.meta) {
			t.Fatalf("%s: node %s is %+v, want group=%v meta %q", what, p, n, mn.group, mn.meta)
		}
		if mn.group {
			if n.Array != nil {
				t.Fatalf("%s: group %s has array data", what, p)
			}
			continue
		}
		a := n.Array
		if !slices.Equal(a.Shape, mn.array.Shape) || !slices.Equal(a.ChunkShape, mn.array.ChunkShape) ||
			!slices.Equal(a.DimensionNames, mn.array.DimensionNames) || a.HasDimensionNames != (mn.array.DimensionNames != nil) {
			t.Fatalf("%s: array %s is %+v, want %+v", what, p, a, mn.array)
		}
		m.checkChunks(t, s, p, mn, what)
	}
}

func (m *repoMachine) checkChunks(t *rapid.T, s *Session, p Path, mn *modelNode, what string) {
	ctx := m.ctx
	visible := mn.visibleChunks()
	listed := map[string]bool{}
	for info, err := range s.ArrayChunks(ctx, p) {
		if err != nil {
			t.Fatalf("%s: chunks of %s: %+v", what, p, err)
		}
		k := coordKey(info.Coords)
		if listed[k] {
			t.Fatalf("%s: chunk %v of %s listed twice", what, info.Coords, p)
		}
		listed[k] = true
		if _, ok := visible[k]; !ok {
			t.Fatalf("%s: chunk %v of %s should not exist", what, info.Coords, p)
		}
	}
	if len(listed) != len(visible) {
		t.Fatalf("%s: %s lists %d chunks, want %d", what, p, len(listed), len(visible))
	}
	// every coordinate of the grid reads as the model says
	grid := gridShape(modelArrayData(mn.array))
	total := 1
	for _, g := range grid {
		total *= int(g)
	}
	coords := make([]uint32, len(grid))
	for i := range total {
		rest := i
		for d := len(grid) - 1; d >= 0; d-- {
			coords[d] = uint32(rest % int(grid[d]))
			rest /= int(grid[d])
		}
		data, ok, err := s.GetChunk(ctx, p, coords, storage.From(0))
		if err != nil {
			t.Fatalf("%s: read chunk %v of %s: %+v", what, coords, p, err)
		}
		exp, want := visible[coordKey(coords)]
		if ok != want || !bytes.Equal(data, exp) {
			t.Fatalf("%s: chunk %v of %s reads %d bytes (found %v), want %d bytes (found %v)", what, coords, p, len(data), ok, len(exp), want)
		}
	}
}

// TestModelSessions runs the state machine.
func TestModelSessions(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newRepoMachine(t)
		t.Repeat(map[string]func(*rapid.T){
			"AddGroup":    m.AddGroup,
			"AddArray":    m.AddArray,
			"UpdateArray": m.UpdateArray,
			"UpdateGroup": m.UpdateGroup,
			"DeleteArray": m.DeleteArray,
			"DeleteGroup": m.DeleteGroup,
			"DeleteNode":  m.DeleteNode,
			"SetChunk":    m.SetChunk,
			"SetChunk2":   m.SetChunk, // chunk writes twice as often
			"DeleteChunk": m.DeleteChunk,
			"Commit":      m.Commit,
			"Discard":     m.Discard,
			"History":     m.History,
			"Collect":     m.GarbageCollect,
			"Expire":      m.Expire,
			"":            m.Check,
		})
		m.History(t)
	})
}
