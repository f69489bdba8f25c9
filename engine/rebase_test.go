package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs/logstest"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// conflictRepo builds the seed's get_repo_for_conflict: group /foo/bar and
// array /foo/bar/some-array (5 chunks of 1 element) committed on main.
func conflictRepo(t *testing.T) *Repository {
	t.Helper()
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddGroup(ctx, MustPath("/foo/bar"), nil))
	ok(t, s.AddArray(ctx, MustPath("/foo/bar/some-array"), basicShape(), nil))
	_, err = s.Commit(ctx, "create directory", nil)
	ok(t, err)
	return repo
}

func basicShape() ArrayMeta { return ArrayMeta{Shape: []uint64{5}, ChunkShape: []uint64{1}} }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %+v", err)
	}
}

func twoSessions(t *testing.T, repo *Repository) (*Session, *Session) {
	t.Helper()
	ctx := context.Background()
	a, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	b, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	return a, b
}

func commit(t *testing.T, s *Session, msg string) codec.SnapshotID {
	t.Helper()
	id, err := s.Commit(context.Background(), msg, nil)
	ok(t, err)
	return id
}

func mustConflictOnCommit(t *testing.T, s *Session) {
	t.Helper()
	_, err := s.Commit(context.Background(), "should conflict", nil)
	var ce *ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, ErrConflict) {
		t.Fatalf("want a commit conflict, got %v", err)
	}
}

func inline(s string) *codec.ChunkRef {
	return &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte(s)}
}

func setRef(t *testing.T, s *Session, path string, coord uint32, data string) {
	t.Helper()
	ok(t, s.SetChunkRef(context.Background(), MustPath(path), []uint32{coord}, inline(data)))
}

func chunkBytes(t *testing.T, s *Session, path string, coords ...uint32) string {
	t.Helper()
	data, found, err := s.GetChunk(context.Background(), MustPath(path), coords, storage.From(0))
	ok(t, err)
	if !found {
		return "<none>"
	}
	return string(data)
}

// rebaseFails rebases and returns the failure, which must hold a conflict
// of kind at path.
func rebaseFails(t *testing.T, s *Session, solver ConflictSolver, kind ConflictKind, path string) *RebaseFailedError {
	t.Helper()
	err := s.Rebase(context.Background(), solver)
	var rf *RebaseFailedError
	if !errors.As(err, &rf) || !errors.Is(err, ErrRebaseFailed) {
		t.Fatalf("want a failed rebase, got %v", err)
	}
	for _, c := range rf.Conflicts {
		if c.Kind == kind && c.Path == MustPath(path) {
			return rf
		}
	}
	t.Fatalf("want conflict %s at %s, got %v", kind, path, rf.Conflicts)
	return nil
}

func TestConflictDetectionNodeConflictWithExistingNode(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	ok(t, ds1.AddGroup(ctx, MustPath("/foo/bar/conflict"), nil))
	commit(t, ds1, "create group")
	ok(t, ds2.AddArray(ctx, MustPath("/foo/bar/conflict"), basicShape(), nil))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, ConflictDetector{}, NewNodeConflictsWithExistingNode, "/foo/bar/conflict")
}

func TestConflictDetectionNodeConflictInPath(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	ok(t, ds1.AddArray(ctx, MustPath("/foo/bar/conflict"), basicShape(), nil))
	commit(t, ds1, "create array")
	ok(t, ds2.AddArray(ctx, MustPath("/foo/bar/conflict/inner"), basicShape(), nil))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, ConflictDetector{}, NewNodeInInvalidGroup, "/foo/bar/conflict")
}

// A node created inside a group the other commit deleted would be left
// without its parent: a conflict at the group, however deep the node, for
// the detector and for the basic solver alike. A group deleted and made
// again, or made again by this session, is a parent still.
func TestConflictDetectionNewNodeInDeletedGroup(t *testing.T) {
	ctx := context.Background()
	for _, solver := range []ConflictSolver{ConflictDetector{}, BasicConflictSolver{}} {
		ds1, ds2 := twoSessions(t, conflictRepo(t))
		ok(t, ds1.DeleteGroup(ctx, MustPath("/foo/bar")))
		commit(t, ds1, "delete bar")
		ok(t, ds2.AddGroup(ctx, MustPath("/foo/bar/new"), nil))
		ok(t, ds2.AddArray(ctx, MustPath("/foo/bar/new/deep"), basicShape(), nil))
		mustConflictOnCommit(t, ds2)
		rf := rebaseFails(t, ds2, solver, NewNodeInInvalidGroup, "/foo/bar")
		if len(rf.Conflicts) != 1 || !rf.Conflicts[0].Deleted {
			t.Fatalf("%T: want one conflict, at the deleted group: %v", solver, rf.Conflicts)
		}
		if got := rf.Conflicts[0].Sentence(); !strings.Contains(got, "deleted it") {
			t.Fatalf("the conflict reads %q", got)
		}
	}

	ds1, ds2 := twoSessions(t, conflictRepo(t))
	ok(t, ds1.DeleteGroup(ctx, MustPath("/foo/bar")))
	ok(t, ds1.AddGroup(ctx, MustPath("/foo/bar"), nil))
	commit(t, ds1, "replace bar")
	ok(t, ds2.AddGroup(ctx, MustPath("/foo/bar/new"), nil))
	mustConflictOnCommit(t, ds2)
	ok(t, ds2.Rebase(ctx, ConflictDetector{}))
	commit(t, ds2, "new under the new bar")
}

func TestConflictDetectionDoubleZarrMetadataEdit(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := MustPath("/foo/bar/some-array")
	ok(t, ds1.UpdateArray(ctx, p, basicShape(), []byte("a")))
	commit(t, ds1, "update array")
	ok(t, ds2.UpdateArray(ctx, p, basicShape(), []byte("b")))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, ConflictDetector{}, ZarrMetadataDoubleUpdate, string(p))
}

func TestConflictDetectionMetadataEditOfDeleted(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := MustPath("/foo/bar/some-array")
	ok(t, ds1.DeleteArray(ctx, p))
	commit(t, ds1, "delete array")
	ok(t, ds2.UpdateArray(ctx, p, basicShape(), nil))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, ConflictDetector{}, ZarrMetadataUpdateOfDeletedArray, string(p))
}

func TestConflictDetectionDeleteWhenArrayMetadataUpdated(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := MustPath("/foo/bar/some-array")
	ok(t, ds1.UpdateArray(ctx, p, basicShape(), nil))
	commit(t, ds1, "update array")
	node, err := ds2.GetNode(ctx, p)
	ok(t, err)
	ok(t, ds2.DeleteArray(ctx, p))
	mustConflictOnCommit(t, ds2)
	rf := rebaseFails(t, ds2, ConflictDetector{}, DeleteOfUpdatedArray, string(p))
	if rf.Conflicts[0].NodeID != node.ID {
		t.Fatalf("conflict names node %s, want %s", rf.Conflicts[0].NodeID, node.ID)
	}
}

func TestConflictDetectionDeleteWhenChunksUpdated(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := "/foo/bar/some-array"
	setRef(t, ds1, p, 0, "hello")
	commit(t, ds1, "update chunks")
	ok(t, ds2.DeleteArray(ctx, MustPath(p)))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, ConflictDetector{}, DeleteOfUpdatedArray, p)
}

func TestConflictDetectionDeleteWhenGroupUserDataUpdated(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := MustPath("/foo/bar")
	ok(t, ds1.UpdateGroup(ctx, p, []byte(`{"attributes":{"a":1}}`)))
	commit(t, ds1, "update user attributes")
	ok(t, ds2.DeleteGroup(ctx, p))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, ConflictDetector{}, DeleteOfUpdatedGroup, string(p))
}

func TestConflictDetectionMetadataEditOfDeletedGroup(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := MustPath("/foo/bar")
	ok(t, ds1.DeleteGroup(ctx, p))
	commit(t, ds1, "delete group")
	ok(t, ds2.UpdateGroup(ctx, p, []byte("x")))
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, BasicConflictSolver{}, ZarrMetadataUpdateOfDeletedGroup, string(p))
}

func TestConflictChunksInDeletedArray(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := "/foo/bar/some-array"
	ok(t, ds1.DeleteArray(ctx, MustPath(p)))
	commit(t, ds1, "delete array")
	setRef(t, ds2, p, 1, "late")
	mustConflictOnCommit(t, ds2)
	rebaseFails(t, ds2, BasicConflictSolver{}, ChunksUpdatedInDeletedArray, p)
}

func TestConflictChunksInResizedArray(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	p := "/foo/bar/some-array"

	// An attributes-only update on their side is no conflict.
	ds1, ds2 := twoSessions(t, repo)
	ok(t, ds1.UpdateArray(ctx, MustPath(p), basicShape(), []byte(`{"attributes":{"units":"K"}}`)))
	commit(t, ds1, "set units")
	setRef(t, ds2, p, 1, "mine")
	mustConflictOnCommit(t, ds2)
	ok(t, ds2.Rebase(ctx, ConflictDetector{}))
	commit(t, ds2, "write after attrs")

	// A shape change is.
	ds1, ds2 = twoSessions(t, repo)
	ok(t, ds1.UpdateArray(ctx, MustPath(p), ArrayMeta{Shape: []uint64{10}, ChunkShape: []uint64{2}}, nil))
	commit(t, ds1, "rechunk")
	setRef(t, ds2, p, 2, "mine")
	mustConflictOnCommit(t, ds2)
	rf := rebaseFails(t, ds2, BasicConflictSolver{}, ChunksUpdatedInUpdatedArray, p)
	if !strings.Contains(rf.Error(), `"rechunk" changed the array's shape`) {
		t.Fatalf("message does not explain: %s", rf)
	}
}

// Chunks we wrote were encoded for the array's metadata as we saw it: a
// change of data type, codecs or fill value on their side, with the same
// shape, is a conflict naming what changed; a change of attributes alone,
// in a real zarr.json, is not.
func TestConflictChunksUnderChangedEncoding(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	p := MustPath("/foo/bar/some-array")
	doc := func(dtype, codec string, fill int, attrs string) []byte {
		return []byte(fmt.Sprintf(`{"zarr_format":3,"node_type":"array","shape":[5,5,5],"data_type":%q,`+
			`"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[1,1,1]}},`+
			`"codecs":[{"name":"bytes"},{"name":%q}],"fill_value":%d,"attributes":%s}`, dtype, codec, fill, attrs))
	}
	ds, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, ds.UpdateArray(ctx, p, basicShape(), doc("int32", "zstd", 0, `{}`)))
	commit(t, ds, "a real zarr.json")

	for i, tc := range []struct {
		theirs  []byte
		changed string // "" for no conflict
	}{
		{doc("int32", "zstd", 0, `{"units":"K"}`), ""},
		{doc("int32", "gzip", 0, `{}`), "codecs"},
		{doc("float32", "gzip", -1, `{"units":"K"}`), "data_type and fill_value"}, // codecs stay gzip, from case 1
	} {
		ds1, ds2 := twoSessions(t, repo)
		ok(t, ds1.UpdateArray(ctx, p, basicShape(), tc.theirs))
		commit(t, ds1, fmt.Sprintf("their change %d", i))
		setRef(t, ds2, string(p), uint32(i), "mine")
		mustConflictOnCommit(t, ds2)
		if tc.changed == "" {
			ok(t, ds2.Rebase(ctx, ConflictDetector{}))
			commit(t, ds2, "write after attrs")
			continue
		}
		rf := rebaseFails(t, ds2, BasicConflictSolver{}, ChunksUpdatedInUpdatedArray, string(p))
		if got := rf.Conflicts[0].Changed; got != tc.changed {
			t.Errorf("case %d: changed %q, want %q (%s)", i, got, tc.changed, rf)
		}
		if !strings.Contains(rf.Error(), "changed the array's "+tc.changed) {
			t.Errorf("case %d: message does not say what changed: %s", i, rf)
		}
	}
}

// We delete a group while they create a node under it: reported as
// DeleteOfGroupWithNewChildren. The basic solver lets the delete win and
// extends it to their new nodes (so nothing is left orphaned), unless
// FailOnDeleteOfUpdatedGroup.
func TestConflictDeleteOfGroupWithNewChildren(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	for i, fail := range []bool{true, false} {
		child := fmt.Sprintf("/foo/bar/new%d", i)
		ds1, ds2 := twoSessions(t, repo)
		ok(t, ds1.AddArray(ctx, MustPath(child), basicShape(), nil))
		setRef(t, ds1, child, 0, "theirs")
		commit(t, ds1, "add under foo")
		ok(t, ds2.DeleteGroup(ctx, MustPath("/foo/bar")))
		mustConflictOnCommit(t, ds2)
		if fail {
			rf := rebaseFails(t, ds2, BasicConflictSolver{FailOnDeleteOfUpdatedGroup: true}, DeleteOfGroupWithNewChildren, "/foo/bar")
			if !slices.Equal(rf.Conflicts[0].Children, []Path{MustPath(child)}) {
				t.Fatalf("children: %v", rf.Conflicts[0].Children)
			}
			if !strings.Contains(rf.Error(), "created "+child+" inside it") {
				t.Fatalf("explanation: %s", rf)
			}
			continue
		}
		ok(t, ds2.Rebase(ctx, BasicConflictSolver{}))
		commit(t, ds2, "delete foo/bar")
		r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
		ok(t, err)
		nodes, err := r.ListNodes(ctx)
		ok(t, err)
		if len(nodes) != 0 {
			t.Fatalf("nodes left after deleting /foo/bar: %v", nodes[0].Path)
		}
	}
}

func TestRebaseWithoutFastForward(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	ds, _ := twoSessions(t, repo)
	ok(t, ds.AddGroup(ctx, Root, nil))
	ok(t, ds.AddArray(ctx, MustPath("/array"), basicShape(), nil))
	commit(t, ds, "create array")
	ds1, ds2 := twoSessions(t, repo)
	setRef(t, ds1, "/array", 0, "hello")
	setRef(t, ds1, "/array", 1, "hello")
	conflicting := commit(t, ds1, "write two chunks with repo 1")
	setRef(t, ds2, "/array", 0, "hello")
	mustConflictOnCommit(t, ds2)
	rf := rebaseFails(t, ds2, ConflictDetector{}, ChunkDoubleUpdate, "/array")
	if rf.Snapshot != conflicting || len(rf.Conflicts) != 1 || !slices.EqualFunc(rf.Conflicts[0].Coords, [][]uint32{{0}}, slices.Equal) {
		t.Fatalf("failure: %+v", rf)
	}
}

func TestRebaseFastForwardingOverChunkWrites(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	ds, _ := twoSessions(t, repo)
	ok(t, ds.AddGroup(ctx, Root, nil))
	ok(t, ds.AddArray(ctx, MustPath("/array"), basicShape(), nil))
	commit(t, ds, "create array")
	ds1, ds2 := twoSessions(t, repo)
	setRef(t, ds1, "/array", 0, "hello0")
	setRef(t, ds1, "/array", 1, "hello1")
	ok(t, ds1.AddArray(ctx, MustPath("/array_2"), basicShape(), nil))
	setRef(t, ds1, "/array_2", 0, "bye0")
	commit(t, ds1, "write two chunks with repo 1")
	setRef(t, ds2, "/array", 2, "hello2")
	mustConflictOnCommit(t, ds2)
	ok(t, ds2.Rebase(ctx, BasicConflictSolver{}))
	snap := commit(t, ds2, "after conflict")
	for coord, want := range []string{"hello0", "hello1", "hello2"} {
		if got := chunkBytes(t, ds2, "/array", uint32(coord)); got != want {
			t.Fatalf("chunk %d: %q want %q", coord, got, want)
		}
	}
	if got := chunkBytes(t, ds2, "/array_2", 0); got != "bye0" {
		t.Fatalf("array_2: %q", got)
	}
	var msgs []string
	for info, err := range repo.Ancestry(ctx, Version{Snapshot: snap}) {
		ok(t, err)
		msgs = append(msgs, info.Message)
	}
	if msgs[0] != "after conflict" || msgs[1] != "write two chunks with repo 1" {
		t.Fatalf("history: %v", msgs)
	}
}

// Each chunk policy of the basic solver on the same double write (the
// seed's commented-out scenarios).
func TestBasicSolverChunkPolicies(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		policy VersionSelection
		want   string
	}{{UseOurs, "overridden"}, {UseTheirs, "hello1"}, {Fail, ""}}
	for _, c := range cases {
		t.Run(c.policy.String(), func(t *testing.T) {
			repo := conflictRepo(t)
			ds1, ds2 := twoSessions(t, repo)
			p := "/foo/bar/some-array"
			setRef(t, ds1, p, 0, "hello0")
			setRef(t, ds1, p, 1, "hello1")
			commit(t, ds1, "write two chunks with repo 1")
			setRef(t, ds2, p, 1, "overridden")
			setRef(t, ds2, p, 3, "mine")
			mustConflictOnCommit(t, ds2)
			solver := BasicConflictSolver{OnChunkConflict: c.policy}
			if c.policy == Fail {
				rf := rebaseFails(t, ds2, solver, ChunkDoubleUpdate, p)
				if !strings.Contains(rf.Error(), "chunk conflict in /foo/bar/some-array: chunk [1] was also written by commit") ||
					!strings.Contains(rf.Error(), `"write two chunks with repo 1"`) {
					t.Fatalf("explanation: %s", rf)
				}
				return
			}
			ok(t, ds2.Rebase(ctx, solver))
			commit(t, ds2, "after conflict")
			if got := chunkBytes(t, ds2, p, 1); got != c.want {
				t.Fatalf("chunk 1 is %q, want %q", got, c.want)
			}
			if got := chunkBytes(t, ds2, p, 0); got != "hello0" {
				t.Fatalf("chunk 0 is %q", got)
			}
			if got := chunkBytes(t, ds2, p, 3); got != "mine" {
				t.Fatalf("chunk 3 is %q", got)
			}
		})
	}
}

func TestConflictResolutionDeleteOfUpdatedArray(t *testing.T) {
	ctx := context.Background()
	ds1, ds2 := twoSessions(t, conflictRepo(t))
	p := MustPath("/foo/bar/some-array")
	ok(t, ds1.UpdateArray(ctx, p, basicShape(), nil))
	commit(t, ds1, "update array")
	ok(t, ds2.DeleteArray(ctx, p))
	mustConflictOnCommit(t, ds2)
	// The failing flag makes it unsolvable...
	clone, err := ds2.Repository().SessionFromBytes(mustBytes(t, ds2))
	ok(t, err)
	rebaseFails(t, clone, BasicConflictSolver{FailOnDeleteOfUpdatedArray: true}, DeleteOfUpdatedArray, string(p))
	// ...the default lets the delete win.
	ok(t, ds2.Rebase(ctx, BasicConflictSolver{}))
	commit(t, ds2, "after conflict")
	if _, err := ds2.GetNode(ctx, p); !errors.Is(err, ErrNodeNotFound) {
		t.Fatalf("array should be deleted: %v", err)
	}
}

func mustBytes(t *testing.T, s *Session) []byte {
	t.Helper()
	b, err := s.Bytes(context.Background())
	ok(t, err)
	return b
}

func TestConflictResolutionSuccessThroughMultipleCommits(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	ds2, _ := twoSessions(t, repo)
	p := "/foo/bar/some-array"
	for coord := range uint32(3) {
		ds1, _ := twoSessions(t, repo)
		setRef(t, ds1, p, coord, "repo 1")
		commit(t, ds1, fmt.Sprintf("update chunk %d", coord))
	}
	for coord := range uint32(3) {
		setRef(t, ds2, p, coord, "repo 2")
	}
	mustConflictOnCommit(t, ds2)
	ok(t, ds2.Rebase(ctx, BasicConflictSolver{OnChunkConflict: UseTheirs}))
	// Every chunk was taken by theirs: nothing of ours is left, and the
	// session still commits (as the seed's does), on top of theirs.
	if !ds2.HasUncommittedChanges() {
		t.Fatal("a session whose changes a rebase superseded should still have something to commit")
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	id, err := ds2.Commit(ctx, "after conflict", nil)
	ok(t, err)
	info, err := repo.SnapshotInfo(ctx, id)
	ok(t, err)
	if info.ParentID != tip || info.Message != "after conflict" {
		t.Fatalf("commit after a superseding rebase: parent %s (tip %s), message %q", info.ParentID, tip, info.Message)
	}
	for coord := range uint32(3) {
		if got := chunkBytes(t, ds2, p, coord); got != "repo 1" {
			t.Fatalf("chunk %d: %q", coord, got)
		}
	}
}

func TestConflictResolutionFailureInMultipleCommits(t *testing.T) {
	repo := conflictRepo(t)
	ds1, ds2 := twoSessions(t, repo)
	p := "/foo/bar/some-array"
	setRef(t, ds1, p, 1, "repo 1")
	nonConflicting := commit(t, ds1, "updated non-conflict chunk")
	ds1, _ = twoSessions(t, repo)
	setRef(t, ds1, p, 0, "repo 1")
	conflicting := commit(t, ds1, "update chunk ref")
	setRef(t, ds2, p, 0, "repo 2")
	mustConflictOnCommit(t, ds2)
	rf := rebaseFails(t, ds2, BasicConflictSolver{OnChunkConflict: Fail}, ChunkDoubleUpdate, p)
	if rf.Snapshot != conflicting || len(rf.Conflicts) != 1 {
		t.Fatalf("failure: %+v", rf)
	}
	if ds2.SnapshotID() != nonConflicting {
		t.Fatalf("session should be based on the last commit it passed")
	}
	// Its change set is untouched by the failing step.
	if got := chunkBytes(t, ds2, p, 0); got != "repo 2" {
		t.Fatalf("our chunk: %q", got)
	}
	if got := chunkBytes(t, ds2, p, 1); got != "repo 1" {
		t.Fatalf("passed commit's chunk: %q", got)
	}
}

func TestCommitRebasingAttempts(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	s, _ := twoSessions(t, repo)
	ok(t, s.AddArray(ctx, MustPath("/array"), basicShape(), nil))
	commit(t, s, "create array")
	session, session2 := twoSessions(t, repo)
	setRef(t, session, "/array", 1, "repo 1")
	setRef(t, session2, "/array", 2, "repo 1")
	commit(t, session2, "conflicting")

	conflictAfter := func(limit int, attempts *int) func(int) {
		return func(attempt int) {
			*attempts++
			if attempt != *attempts {
				t.Errorf("attempt %d reported as %d", *attempts, attempt)
			}
			if attempt <= limit {
				other, _ := twoSessions(t, repo)
				setRef(t, other, "/array", 2, "repo 1")
				commit(t, other, "conflicting")
			}
		}
	}
	fast := RetryOptions{BaseDelay: 1, MaxDelay: 2}
	attempts := 0
	opts := fast
	opts.Attempts, opts.AfterRebase = 3, conflictAfter(1000, &attempts)
	_, err = session.CommitRebasing(ctx, ConflictDetector{}, "updated non-conflict chunk", nil, opts)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("want a conflict after the attempts are spent, got %v", err)
	}
	if attempts != 3 {
		t.Fatalf("rebased %d times, want 3", attempts)
	}
	attempts = 0
	opts = fast
	opts.Attempts, opts.AfterRebase = 42, conflictAfter(2, &attempts)
	before := 0
	opts.BeforeRebase = func(int) { before++ }
	_, err = session.CommitRebasing(ctx, ConflictDetector{}, "updated non-conflict chunk", nil, opts)
	ok(t, err)
	if attempts != 3 || before != 3 {
		t.Fatalf("rebased %d times (hooks before %d), want 3", attempts, before)
	}
}

// The write-conflicts tutorial (seed 004), scenario by scenario.
func TestTutorialMetadataVersusNewArray(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	a, b := twoSessions(t, repo)
	ok(t, a.UpdateGroup(ctx, MustPath("/foo/bar"), []byte(`{"attributes":{"foo":"bar"}}`)))
	commit(t, a, "User A added metadata")
	ok(t, b.AddArray(ctx, MustPath("/foo/bar/new"), basicShape(), nil))
	mustConflictOnCommit(t, b)
	ok(t, b.Rebase(ctx, BasicConflictSolver{}))
	commit(t, b, "User B added an array")
	r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	ok(t, err)
	g, err := r.GetGroup(ctx, MustPath("/foo/bar"))
	ok(t, err)
	if string(g.ZarrMetadata) != `{"attributes":{"foo":"bar"}}` {
		t.Fatalf("group metadata lost: %s", g.ZarrMetadata)
	}
	if _, err := r.GetArray(ctx, MustPath("/foo/bar/new")); err != nil {
		t.Fatal(err)
	}
}

func TestTutorialDoubleGroupAttributes(t *testing.T) {
	ctx := context.Background()
	a, b := twoSessions(t, conflictRepo(t))
	ok(t, a.UpdateGroup(ctx, MustPath("/foo/bar"), []byte(`{"attributes":{"a new key":"a new val"}}`)))
	commit(t, a, "User A made a metadata update")
	ok(t, b.UpdateGroup(ctx, MustPath("/foo/bar"), []byte(`{"attributes":{"a new key":"another val"}}`)))
	mustConflictOnCommit(t, b)
	rf := rebaseFails(t, b, BasicConflictSolver{}, ZarrMetadataDoubleUpdate, "/foo/bar")
	if !strings.Contains(rf.Error(), "/foo/bar") {
		t.Fatalf("error does not name the group: %s", rf)
	}
}

func TestTutorialDisjointAndOverlappingChunks(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	p := "/foo/bar/some-array"
	a, b := twoSessions(t, repo)
	setRef(t, a, p, 0, "a0")
	setRef(t, a, p, 1, "a1")
	commit(t, a, "A writes 0:2")
	setRef(t, b, p, 2, "b2")
	mustConflictOnCommit(t, b)
	ok(t, b.Rebase(ctx, BasicConflictSolver{OnChunkConflict: Fail}))
	commit(t, b, "B writes 2:3")
	r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	ok(t, err)
	for coord, want := range []string{"a0", "a1", "b2"} {
		if got := chunkBytes(t, r, p, uint32(coord)); got != want {
			t.Fatalf("chunk %d: %q want %q", coord, got, want)
		}
	}

	// Overlapping writes fail; a fresh session rewrites and commits.
	a, b = twoSessions(t, repo)
	setRef(t, a, p, 2, "a2")
	commit(t, a, "A rewrites 2")
	setRef(t, b, p, 2, "b2 again")
	mustConflictOnCommit(t, b)
	rebaseFails(t, b, BasicConflictSolver{OnChunkConflict: Fail}, ChunkDoubleUpdate, p)
	fresh, _ := twoSessions(t, repo)
	setRef(t, fresh, p, 2, "b2 again")
	commit(t, fresh, "B rewrites 2 on top")
	if got := chunkBytes(t, fresh, p, 2); got != "b2 again" {
		t.Fatalf("chunk 2: %q", got)
	}
}

func TestRebaseNeedsTransactionLogs(t *testing.T) {
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	cfg.DisableTransactionLogs = true
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	ok(t, err)
	a, b := twoSessions(t, repo)
	ok(t, a.AddGroup(ctx, MustPath("/a"), nil))
	commit(t, a, "a")
	ok(t, b.AddGroup(ctx, MustPath("/b"), nil))
	mustConflictOnCommit(t, b)
	if err := b.Rebase(ctx, BasicConflictSolver{}); !errors.Is(err, ErrTxLogsDisabled) {
		t.Fatalf("want ErrTxLogsDisabled, got %v", err)
	}
}

func TestSessionBytesRoundTrip(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	s, _ := twoSessions(t, repo)
	ok(t, s.AddArray(ctx, MustPath("/x"), ArrayMeta{Shape: []uint64{4, 4}, ChunkShape: []uint64{2, 2}, DimensionNames: []string{"y", ""}}, []byte("meta")))
	ok(t, s.SetChunk(ctx, MustPath("/x"), []uint32{1, 1}, []byte("inline")))
	ok(t, s.SetChunk(ctx, MustPath("/x"), []uint32{0, 1}, make([]byte, 1000)))
	ok(t, s.DeleteChunks(ctx, MustPath("/foo/bar/some-array"), [][]uint32{{3}}))
	ok(t, s.UpdateGroup(ctx, MustPath("/foo/bar"), []byte("g")))
	f, err := s.Fork(ctx)
	if err == nil || f != nil {
		t.Fatal("forking a session with changes should be refused")
	}
	// So is forking a fork that holds changes: merging both back would
	// apply them twice.
	clean, _ := twoSessions(t, repo)
	fork, err := clean.Fork(ctx)
	ok(t, err)
	ok(t, fork.UpdateGroup(ctx, MustPath("/foo/bar"), []byte("in the fork")))
	if ff, err := fork.Fork(ctx); !errors.Is(err, ErrInvalidArgument) || ff != nil {
		t.Fatalf("forking a fork with changes: got %v, want ErrInvalidArgument", err)
	}
	restored, err := repo.SessionFromBytes(mustBytes(t, s))
	ok(t, err)
	if restored.Branch() != MainBranch || restored.SnapshotID() != s.SnapshotID() {
		t.Fatal("identity lost")
	}
	d1, err := s.Status(ctx)
	ok(t, err)
	d2, err := restored.Status(ctx)
	ok(t, err)
	if d1.String() != d2.String() {
		t.Fatalf("status differs:\n%s\n%s", d1, d2)
	}
	if got := chunkBytes(t, restored, "/x", 1, 1); got != "inline" {
		t.Fatalf("inline chunk: %q", got)
	}
	commit(t, restored, "from bytes")

	bad := mustBytes(t, restored)
	bad[len(bad)-1] ^= 0xff
	if _, err := repo.SessionFromBytes(bad); !errors.Is(err, ErrInvalidSessionBytes) || !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("corrupt bytes: %v", err)
	}
	if _, err := repo.SessionFromBytes([]byte("nonsense")); !errors.Is(err, ErrInvalidSessionBytes) {
		t.Fatalf("nonsense bytes: %v", err)
	}
}

// Cooperative mode: forks write disjoint chunks, the parent merges them and
// commits once.
func TestForkAndMerge(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	s, _ := twoSessions(t, repo)
	p := "/foo/bar/some-array"
	var forks []*Session
	for i := range uint32(5) {
		f, err := s.Fork(ctx)
		ok(t, err)
		// Forks travel as bytes, as to another process.
		f, err = repo.SessionFromBytes(mustBytes(t, f))
		ok(t, err)
		if !f.IsFork() {
			t.Fatal("fork flag lost")
		}
		setRef(t, f, p, i, fmt.Sprint("worker ", i))
		forks = append(forks, f)
	}
	if _, err := forks[0].Commit(ctx, "no", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a fork must not commit: %v", err)
	}
	ok(t, s.Merge(ctx, forks...))
	commit(t, s, "cooperative write")
	for i := range uint32(5) {
		if got := chunkBytes(t, s, p, i); got != fmt.Sprint("worker ", i) {
			t.Fatalf("chunk %d: %q", i, got)
		}
	}
}

// raceOnSnapshotPut commits to the array through another handle when armed
// and the session it wraps writes a snapshot, so that the session's commit
// loses the compare-and-set after writing its objects.
type raceOnSnapshotPut struct {
	storage.Storage
	t     *testing.T
	other *Repository
	armed atomic.Int32 // races still to start
}

func (r *raceOnSnapshotPut) race(ctx context.Context, key string) {
	if strings.HasPrefix(key, codec.SnapshotsPrefix) && r.armed.Add(-1) >= 0 {
		s, err := r.other.WritableSession(ctx, MainBranch)
		ok(r.t, err)
		setRef(r.t, s, "/array", 3, "racing")
		commit(r.t, s, "racing")
	}
}

func (r *raceOnSnapshotPut) Put(ctx context.Context, key string, data []byte) error {
	r.race(ctx, key)
	return r.Storage.Put(ctx, key, data)
}

func (r *raceOnSnapshotPut) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	r.race(ctx, key)
	return r.Storage.PutIfAbsent(ctx, key, data)
}

// TestCommitRebasingBacksOffAfterLostRaces checks when CommitRebasing
// sleeps: not after a commit that found the branch moved before writing,
// and after each race lost with its objects written, up to n times the
// longer of BaseDelay and the commit's time for the n-th, at most MaxDelay.
func TestCommitRebasingBacksOffAfterLostRaces(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/array"), basicShape(), nil))
	commit(t, s, "create array")

	var delays []time.Duration
	sleepBackoff = func(_ context.Context, attempt int, base, maxDelay time.Duration) error {
		if attempt != 1 || base != maxDelay {
			t.Errorf("backoff asked as attempt %d from %v to %v, want a single bound", attempt, base, maxDelay)
		}
		delays = append(delays, maxDelay)
		return nil
	}
	defer func() { sleepBackoff = storage.SleepBackoff }()
	opts := RetryOptions{Attempts: 10, BaseDelay: time.Hour / 4, MaxDelay: time.Hour}

	// The branch moved before the commit: caught on reading the tip.
	moved, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, moved, "/array", 1, "mine")
	other, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, other, "/array", 2, "theirs")
	commit(t, other, "theirs")
	_, err = moved.CommitRebasing(ctx, BasicConflictSolver{}, "mine", nil, opts)
	ok(t, err)
	if len(delays) != 0 {
		t.Fatalf("slept %v after a conflict found before writing", delays)
	}

	// Two races lost after writing: the second bound is twice the first.
	racing := &raceOnSnapshotPut{Storage: store, t: t, other: repo}
	racing.armed.Store(2)
	handle, err := Open(ctx, racing, nil)
	ok(t, err)
	loser, err := handle.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, loser, "/array", 4, "loser")
	_, err = loser.CommitRebasing(ctx, BasicConflictSolver{}, "loser", nil, opts)
	ok(t, err)
	if len(delays) != 2 || delays[0] != opts.BaseDelay || delays[1] != 2*opts.BaseDelay {
		t.Fatalf("backoff bounds after two lost races: %v, want %v and %v", delays, opts.BaseDelay, 2*opts.BaseDelay)
	}
	after, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	ok(t, err)
	if got := chunkBytes(t, after, "/array", 4); got != "loser" {
		t.Fatalf("the commit that lost two races: chunk %q", got)
	}

	// The bound stops at MaxDelay.
	racing.armed.Store(5)
	opts.MaxDelay = opts.BaseDelay * 3
	delays = nil
	loser, err = handle.WritableSession(ctx, MainBranch)
	ok(t, err)
	setRef(t, loser, "/array", 0, "loser again")
	_, err = loser.CommitRebasing(ctx, BasicConflictSolver{}, "loser again", nil, opts)
	ok(t, err)
	want := []time.Duration{opts.BaseDelay, 2 * opts.BaseDelay, opts.MaxDelay, opts.MaxDelay, opts.MaxDelay}
	if !slices.Equal(delays, want) {
		t.Fatalf("backoff bounds after five lost races: %v, want %v", delays, want)
	}
}

// TestSessionBytesKeepToTheirRepository checks that session bytes restored
// into another repository (every repository's first snapshot has the same
// id, so the base matches) cannot commit or be merged there, since their
// chunks are not in its storage; in their own repository, through another
// handle, they can; and bytes without a repository name pass.
func TestSessionBytesKeepToTheirRepository(t *testing.T) {
	ctx := context.Background()
	a, err := Create(ctx, memory.New(t.Name()+"-a"), nil, nil)
	ok(t, err)
	b, err := Create(ctx, memory.New(t.Name()+"-b"), nil, nil)
	ok(t, err)
	write := func(repo *Repository) *Session {
		s, err := repo.WritableSession(ctx, MainBranch)
		ok(t, err)
		ok(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
		ok(t, s.StoreSet(ctx, "x/zarr.json", arrayJSON([]int{4}, []int{1}, "default", "")))
		ok(t, s.StoreSet(ctx, "x/c/0", make([]byte, 2000))) // a chunk object in a's storage
		return s
	}
	data := mustBytes(t, write(a))

	stray, err := b.SessionFromBytes(data)
	ok(t, err)
	if _, err := stray.Commit(ctx, "in the wrong repository", nil); !errors.Is(err, ErrInvalidSessionBytes) || !strings.Contains(err.Error(), "serialized in another repository") {
		t.Fatalf("commit of another repository's session: got %v, want ErrInvalidSessionBytes", err)
	}
	// A fork made in a and merged into a session of b.
	clean, err := a.WritableSession(ctx, MainBranch)
	ok(t, err)
	fork, err := clean.Fork(ctx)
	ok(t, err)
	ok(t, fork.StoreSet(ctx, "zarr.json", groupJSON("")))
	forkInB, err := b.SessionFromBytes(mustBytes(t, fork))
	ok(t, err)
	host, err := b.WritableSession(ctx, MainBranch)
	ok(t, err)
	if err := host.Merge(ctx, forkInB); !errors.Is(err, ErrInvalidSessionBytes) {
		t.Fatalf("merge of another repository's fork: got %v, want ErrInvalidSessionBytes", err)
	}

	// Its own repository, through a fresh handle, takes it.
	again, err := Open(ctx, a.Storage(), nil)
	ok(t, err)
	home, err := again.SessionFromBytes(data)
	ok(t, err)
	_, err = home.Commit(ctx, "at home", nil)
	ok(t, err)

	// Bytes that name no repository (written before the name was kept)
	// are not checked.
	var w wireSession
	ok(t, codec.Decode(codec.FileTypeSession, "session", mustBytes(t, write(b)), &w))
	w.Repository = nil
	old, err := codec.Encode(codec.FileTypeSession, &w)
	ok(t, err)
	s, err := b.SessionFromBytes(old)
	ok(t, err)
	_, err = s.Commit(ctx, "unnamed bytes", nil)
	ok(t, err)
}

// TestMergeWarnsOfOverlappingForks: forks that set the same chunk to
// different values merge with the last one winning, as upstream's do, and
// the merge warns, since writes not aligned to chunks lose data that way;
// disjoint forks, and forks that set the same value, merge silently.
func TestMergeWarnsOfOverlappingForks(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	p := "/foo/bar/some-array"
	forks := func(values ...string) (*Session, []*Session) {
		s, _ := twoSessions(t, repo)
		var out []*Session
		for i, v := range values {
			f, err := s.Fork(ctx)
			ok(t, err)
			setRef(t, f, p, uint32(i%2), v) // forks 0 and 2 share chunk 0
			out = append(out, f)
		}
		return s, out
	}

	lines := logstest.Capture(t, "engine=warn")
	s, fs := forks("a", "b", "c")
	ok(t, s.Merge(ctx, fs...))
	if got := chunkBytes(t, s, p, 0); got != "c" {
		t.Fatalf("chunk 0 after the merge: %q, want the last fork's", got)
	}
	if got := lines.Matching("level=WARN", "a merged fork replaced chunks", "chunks=1", "fork=3", "of=3"); len(got) != 1 {
		t.Fatalf("warnings: %q", lines.All())
	}

	lines = logstest.Capture(t, "engine=warn")
	s, fs = forks("a", "b", "a")
	ok(t, s.Merge(ctx, fs...))
	s, fs = forks("a", "b")
	ok(t, s.Merge(ctx, fs...))
	if all := lines.All(); len(all) != 0 {
		t.Fatalf("warnings for merges that lose nothing: %q", all)
	}
}
