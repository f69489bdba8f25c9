package engine

// History and session-state tests that go with the seed's session tests:
// branches and tags, ancestry, "as of" time travel, diffs and status,
// read-only sessions, empty commits and sessions after a commit.

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// seedHistory makes three commits on main after the initial one:
// c1 adds the root and /g with array /g/a (one chunk), c2 writes a second
// chunk, c3 adds group /h. It returns the ids, oldest (initial) first.
func seedHistory(t testing.TB, repo *Repository) []codec.SnapshotID {
	t.Helper()
	ctx := context.Background()
	initial, err := repo.LookupBranch(ctx, MainBranch)
	seedOK(t, err)
	a := MustPath("/g/a")
	s := seedWritable(t, repo, MainBranch)
	seedOK(t, s.AddGroup(ctx, Root, nil))
	seedOK(t, s.AddGroup(ctx, MustPath("/g"), nil))
	seedOK(t, s.AddArray(ctx, a, ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}, nil))
	seedOK(t, s.SetChunkRef(ctx, a, []uint32{0}, seedInline("zero")))
	c1 := seedCommit(t, s, "c1")
	s = seedWritable(t, repo, MainBranch)
	seedOK(t, s.SetChunkRef(ctx, a, []uint32{1}, seedInline("one")))
	c2 := seedCommit(t, s, "c2")
	s = seedWritable(t, repo, MainBranch)
	seedOK(t, s.AddGroup(ctx, MustPath("/h"), nil))
	c3 := seedCommit(t, s, "c3")
	return []codec.SnapshotID{initial, c1, c2, c3}
}

func seedAncestryIDs(t testing.TB, repo *Repository, v Version) []codec.SnapshotID {
	t.Helper()
	var out []codec.SnapshotID
	for _, info := range seedAncestry(t, repo, v) {
		out = append(out, info.ID)
	}
	return out
}

func TestSeedAncestryOrder(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)
	infos := seedAncestry(t, repo, Version{Branch: MainBranch})
	if len(infos) != 4 {
		t.Fatalf("ancestry of main has %d entries", len(infos))
	}
	msgs := []string{"c3", "c2", "c1", "Repository initialized"}
	for i, info := range infos {
		if info.ID != ids[3-i] || info.Message != msgs[i] {
			t.Fatalf("ancestry[%d] = %s %q, want %s %q", i, info.ID, info.Message, ids[3-i], msgs[i])
		}
		if i+1 < len(infos) {
			if info.ParentID != infos[i+1].ID || !info.WrittenAt.After(infos[i+1].WrittenAt) {
				t.Fatalf("ancestry[%d] is not the child of the next entry, or not newer", i)
			}
		}
	}
	if !infos[3].ParentID.IsZero() {
		t.Fatal("the initial commit has a parent")
	}
	// from a snapshot in the middle
	if got := seedAncestryIDs(t, repo, Version{Snapshot: ids[2]}); !slices.Equal(got, []codec.SnapshotID{ids[2], ids[1], ids[0]}) {
		t.Fatalf("ancestry of c2: %v", got)
	}
	// SnapshotInfo agrees with the ancestry
	info, err := repo.SnapshotInfo(ctx, ids[2])
	seedOK(t, err)
	if info.Message != "c2" || info.ParentID != ids[1] {
		t.Fatalf("snapshot info %+v", info)
	}
	// an early stop is honoured
	n := 0
	for _, err := range repo.Ancestry(ctx, Version{Branch: MainBranch}) {
		seedOK(t, err)
		n++
		if n == 2 {
			break
		}
	}
	// a missing snapshot
	for _, err := range repo.Ancestry(ctx, Version{Snapshot: codec.NewSnapshotID()}) {
		seedIs(t, err, ErrSnapshotNotFound)
	}
	_, err = repo.SnapshotInfo(ctx, codec.NewSnapshotID())
	seedIs(t, err, ErrSnapshotNotFound)
}

func TestSeedBranches(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)

	branches, err := repo.ListBranches(ctx)
	seedOK(t, err)
	if !slices.Equal(branches, []string{MainBranch}) {
		t.Fatalf("branches %v", branches)
	}

	// create, list (sorted), look up
	seedOK(t, repo.CreateBranch(ctx, "feature", ids[1]))
	seedOK(t, repo.CreateBranch(ctx, "dev", ids[2]))
	branches, err = repo.ListBranches(ctx)
	seedOK(t, err)
	if !slices.Equal(branches, []string{"dev", "feature", MainBranch}) {
		t.Fatalf("branches %v", branches)
	}
	tip, err := repo.LookupBranch(ctx, "feature")
	seedOK(t, err)
	if tip != ids[1] {
		t.Fatalf("feature at %s, want %s", tip, ids[1])
	}
	seedIs(t, repo.CreateBranch(ctx, "feature", ids[2]), ErrBranchExists)
	seedIs(t, repo.CreateBranch(ctx, "ghost", codec.NewSnapshotID()), ErrSnapshotNotFound)
	for _, bad := range []string{"", ".hidden", "..", "a/b", `a\b`, "tab\there", "\xff", strings.Repeat("x", 256)} {
		seedIs(t, repo.CreateBranch(ctx, bad, ids[1]), ErrInvalidArgument)
	}
	// Names as people write them: spaces, a semver build, accents.
	for _, good := range []string{"sp ace", "v1.0+build.5", "données", "run@2024-01-01"} {
		seedOK(t, repo.CreateBranch(ctx, good, ids[1]))
		seedOK(t, repo.CreateTag(ctx, good, ids[1]))
		if tip, err := repo.LookupBranch(ctx, good); err != nil || tip != ids[1] {
			t.Fatalf("branch %q: %s, %v", good, tip, err)
		}
		seedOK(t, repo.DeleteBranch(ctx, good))
	}
	tags, err := repo.ListTags(ctx)
	seedOK(t, err)
	if !slices.Equal(tags, []string{"données", "run@2024-01-01", "sp ace", "v1.0+build.5"}) {
		t.Fatalf("tags %q", tags)
	}
	_, err = repo.LookupBranch(ctx, "nope")
	seedIs(t, err, ErrBranchNotFound)
	_, err = repo.WritableSession(ctx, "nope")
	seedIs(t, err, ErrBranchNotFound)

	// commits on a branch move it and leave main alone
	s := seedWritable(t, repo, "feature")
	if s.Branch() != "feature" || s.SnapshotID() != ids[1] {
		t.Fatalf("session on %q at %s", s.Branch(), s.SnapshotID())
	}
	seedOK(t, s.AddGroup(ctx, MustPath("/on-feature"), nil))
	f1 := seedCommit(t, s, "on feature")
	if got := seedAncestryIDs(t, repo, Version{Branch: "feature"}); !slices.Equal(got, []codec.SnapshotID{f1, ids[1], ids[0]}) {
		t.Fatalf("feature's ancestry %v", got)
	}
	mainTip, err := repo.LookupBranch(ctx, MainBranch)
	seedOK(t, err)
	if mainTip != ids[3] {
		t.Fatal("a commit on feature moved main")
	}
	_, err = seedReadonly(t, repo, Version{Branch: MainBranch}).GetNode(ctx, MustPath("/on-feature"))
	seedIs(t, err, ErrNodeNotFound)

	// reset with the expected tip: only if the tip is still that
	err = repo.ResetBranch(ctx, "feature", ids[3], ids[1])
	seedIs(t, err, ErrConflict)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.ExpectedParent != ids[1] || ce.ActualParent != f1 || ce.Branch != "feature" {
		t.Fatalf("reset conflict %+v", err)
	}
	seedOK(t, repo.ResetBranch(ctx, "feature", ids[3], f1))
	tip, err = repo.LookupBranch(ctx, "feature")
	seedOK(t, err)
	if tip != ids[3] {
		t.Fatalf("feature at %s after the reset", tip)
	}
	// a zero expected tip resets unconditionally
	seedOK(t, repo.ResetBranch(ctx, "feature", ids[0], codec.SnapshotID{}))
	if got := seedAncestryIDs(t, repo, Version{Branch: "feature"}); !slices.Equal(got, []codec.SnapshotID{ids[0]}) {
		t.Fatalf("feature's ancestry after a reset to the initial commit %v", got)
	}
	seedIs(t, repo.ResetBranch(ctx, "feature", codec.NewSnapshotID(), codec.SnapshotID{}), ErrSnapshotNotFound)
	seedIs(t, repo.ResetBranch(ctx, "nope", ids[1], codec.SnapshotID{}), ErrBranchNotFound)

	// a session based on the old tip cannot commit after a reset
	s = seedWritable(t, repo, "dev")
	seedOK(t, s.AddGroup(ctx, MustPath("/x"), nil))
	seedOK(t, repo.ResetBranch(ctx, "dev", ids[1], ids[2]))
	_, err = s.Commit(ctx, "stale", nil)
	seedIs(t, err, ErrConflict)

	// delete; main cannot be deleted
	seedOK(t, repo.DeleteBranch(ctx, "dev"))
	_, err = repo.LookupBranch(ctx, "dev")
	seedIs(t, err, ErrBranchNotFound)
	seedIs(t, repo.DeleteBranch(ctx, "dev"), ErrBranchNotFound)
	seedIs(t, repo.DeleteBranch(ctx, MainBranch), ErrInvalidArgument)
	branches, err = repo.ListBranches(ctx)
	seedOK(t, err)
	if !slices.Equal(branches, []string{"feature", MainBranch}) {
		t.Fatalf("branches after a delete %v", branches)
	}
	// a deleted branch's name can be used again
	seedOK(t, repo.CreateBranch(ctx, "dev", ids[3]))
	tip, err = repo.LookupBranch(ctx, "dev")
	seedOK(t, err)
	if tip != ids[3] {
		t.Fatalf("recreated dev at %s", tip)
	}
	if got := seedAncestryIDs(t, repo, Version{Branch: MainBranch}); !slices.Equal(got, []codec.SnapshotID{ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("main's ancestry changed: %v", got)
	}
}

func TestSeedTags(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)

	tags, err := repo.ListTags(ctx)
	seedOK(t, err)
	if len(tags) != 0 {
		t.Fatalf("tags %v", tags)
	}
	seedOK(t, repo.CreateTag(ctx, "v2", ids[2]))
	seedOK(t, repo.CreateTag(ctx, "v1", ids[1]))
	tags, err = repo.ListTags(ctx)
	seedOK(t, err)
	if !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Fatalf("tags %v", tags)
	}
	got, err := repo.LookupTag(ctx, "v1")
	seedOK(t, err)
	if got != ids[1] {
		t.Fatalf("v1 at %s", got)
	}
	// tags never move
	seedIs(t, repo.CreateTag(ctx, "v1", ids[3]), ErrTagExists)
	got, err = repo.LookupTag(ctx, "v1")
	seedOK(t, err)
	if got != ids[1] {
		t.Fatal("a tag moved")
	}
	seedIs(t, repo.CreateTag(ctx, "ghost", codec.NewSnapshotID()), ErrSnapshotNotFound)
	seedIs(t, repo.CreateTag(ctx, "bad/name", ids[1]), ErrInvalidArgument)
	_, err = repo.LookupTag(ctx, "nope")
	seedIs(t, err, ErrTagNotFound)

	// a read-only session at a tag
	rs := seedReadonly(t, repo, Version{Tag: "v1"})
	if rs.SnapshotID() != ids[1] || !rs.ReadOnly() {
		t.Fatal("session at v1 is not read-only at c1")
	}
	seedChunkIs(t, rs, MustPath("/g/a"), []uint32{1}, "", false)
	seedChunkIs(t, seedReadonly(t, repo, Version{Tag: "v2"}), MustPath("/g/a"), []uint32{1}, "one", true)

	// delete: gone from lookups and lists, and its name is never reused
	seedOK(t, repo.DeleteTag(ctx, "v1"))
	_, err = repo.LookupTag(ctx, "v1")
	seedIs(t, err, ErrTagNotFound)
	seedIs(t, repo.DeleteTag(ctx, "v1"), ErrTagNotFound)
	seedIs(t, repo.DeleteTag(ctx, "nope"), ErrTagNotFound)
	tags, err = repo.ListTags(ctx)
	seedOK(t, err)
	if !slices.Equal(tags, []string{"v2"}) {
		t.Fatalf("tags after a delete %v", tags)
	}
	seedIs(t, repo.CreateTag(ctx, "v1", ids[1]), ErrTagExists)
	seedIs(t, repo.CreateTag(ctx, "v1", ids[3]), ErrTagExists)
	_, err = repo.ReadonlySession(ctx, Version{Tag: "v1"})
	seedIs(t, err, ErrTagNotFound)
	// the snapshot itself is still there
	seedReadonly(t, repo, Version{Snapshot: ids[1]})
}

func TestSeedAsOf(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)
	infos := seedAncestry(t, repo, Version{Branch: MainBranch}) // newest first

	for i, info := range infos {
		// exactly at a commit's time: that commit
		got, err := repo.Resolve(ctx, Version{Branch: MainBranch, AsOf: info.WrittenAt})
		seedOK(t, err)
		if got != info.ID {
			t.Fatalf("as of %s: %s, want %s", info.WrittenAt, got, info.ID)
		}
		// just before: its parent, or nothing before the initial commit
		got, err = repo.Resolve(ctx, Version{Branch: MainBranch, AsOf: info.WrittenAt.Add(-time.Nanosecond)})
		if i == len(infos)-1 {
			seedIs(t, err, ErrSnapshotNotFound)
			continue
		}
		seedOK(t, err)
		if got != info.ParentID {
			t.Fatalf("just before %s: %s, want %s", info.WrittenAt, got, info.ParentID)
		}
	}
	// later than everything: the tip
	got, err := repo.Resolve(ctx, Version{Branch: MainBranch, AsOf: time.Now().Add(time.Hour)})
	seedOK(t, err)
	if got != ids[3] {
		t.Fatal("as of the future is not the tip")
	}
	// a session as of c1's time sees c1's state
	c1 := infos[2]
	rs := seedReadonly(t, repo, Version{Branch: MainBranch, AsOf: c1.WrittenAt.Add(time.Nanosecond)})
	if rs.SnapshotID() != ids[1] {
		t.Fatalf("session as of c1 at %s", rs.SnapshotID())
	}
	seedChunkIs(t, rs, MustPath("/g/a"), []uint32{0}, "zero", true)
	seedChunkIs(t, rs, MustPath("/g/a"), []uint32{1}, "", false)
	_, err = rs.GetNode(ctx, MustPath("/h"))
	seedIs(t, err, ErrNodeNotFound)
	// as-of needs a branch; a version needs exactly one of branch, tag, id
	_, err = repo.Resolve(ctx, Version{Tag: "t", AsOf: time.Now()})
	seedIs(t, err, ErrInvalidArgument)
	_, err = repo.Resolve(ctx, Version{Snapshot: ids[1], AsOf: time.Now()})
	seedIs(t, err, ErrInvalidArgument)
	_, err = repo.Resolve(ctx, Version{})
	seedIs(t, err, ErrInvalidArgument)
	_, err = repo.Resolve(ctx, Version{Branch: MainBranch, Snapshot: ids[1]})
	seedIs(t, err, ErrInvalidArgument)
	_, err = repo.ReadonlySession(ctx, Version{Branch: "nope", AsOf: time.Now()})
	seedIs(t, err, ErrBranchNotFound)
}

func TestSeedDiffBetweenVersions(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)
	a := MustPath("/g/a")

	// nothing between a version and itself
	d, err := repo.Diff(ctx, Version{Snapshot: ids[2]}, Version{Snapshot: ids[2]})
	seedOK(t, err)
	if !d.IsEmpty() {
		t.Fatalf("diff of a version with itself: %+v", d)
	}
	// one commit
	d, err = repo.Diff(ctx, Version{Snapshot: ids[1]}, Version{Snapshot: ids[2]})
	seedOK(t, err)
	seedDiffIs(t, d, &Diff{UpdatedChunks: map[Path][][]uint32{a: {{1}}}})
	// a range, with refs on both ends
	seedOK(t, repo.CreateTag(ctx, "start", ids[0]))
	d, err = repo.Diff(ctx, Version{Tag: "start"}, Version{Branch: MainBranch})
	seedOK(t, err)
	seedDiffIs(t, d, &Diff{
		NewGroups:     []Path{Root, MustPath("/g"), MustPath("/h")},
		NewArrays:     []Path{a},
		UpdatedChunks: map[Path][][]uint32{a: {{0}, {1}}},
	})
	if s := d.String(); !strings.Contains(s, "Groups created:\n  /\n  /g\n  /h\n") || !strings.Contains(s, "/g/a: [0], [1]") {
		t.Fatalf("diff rendering:\n%s", s)
	}
	// `from` must be an ancestor of `to`
	_, err = repo.Diff(ctx, Version{Snapshot: ids[3]}, Version{Snapshot: ids[1]})
	seedIs(t, err, ErrBadSnapshotChain)
	seedOK(t, repo.CreateBranch(ctx, "side", ids[1]))
	s := seedWritable(t, repo, "side")
	seedOK(t, s.AddGroup(ctx, MustPath("/side"), nil))
	side := seedCommit(t, s, "side")
	_, err = repo.Diff(ctx, Version{Snapshot: ids[2]}, Version{Snapshot: side})
	seedIs(t, err, ErrBadSnapshotChain)
	d, err = repo.Diff(ctx, Version{Snapshot: ids[1]}, Version{Branch: "side"})
	seedOK(t, err)
	seedDiffIs(t, d, &Diff{NewGroups: []Path{MustPath("/side")}})

	// deletes, updates, chunk deletes; a node created and deleted in the
	// range does not appear
	s = seedWritable(t, repo, MainBranch)
	seedOK(t, s.AddGroup(ctx, MustPath("/tmp"), nil))
	seedOK(t, s.UpdateGroup(ctx, MustPath("/h"), []byte(`{"new":1}`)))
	seedOK(t, s.DeleteChunks(ctx, a, [][]uint32{{0}}))
	c4 := seedCommit(t, s, "c4")
	s = seedWritable(t, repo, MainBranch)
	seedOK(t, s.DeleteGroup(ctx, MustPath("/tmp")))
	seedOK(t, s.DeleteGroup(ctx, MustPath("/g")))
	c5 := seedCommit(t, s, "c5")
	d, err = repo.Diff(ctx, Version{Snapshot: ids[3]}, Version{Snapshot: c5})
	seedOK(t, err)
	seedDiffIs(t, d, &Diff{
		DeletedGroups: []Path{MustPath("/g")},
		DeletedArrays: []Path{a},
		UpdatedGroups: []Path{MustPath("/h")},
	})
	d, err = repo.Diff(ctx, Version{Snapshot: ids[3]}, Version{Snapshot: c4})
	seedOK(t, err)
	seedDiffIs(t, d, &Diff{
		NewGroups:     []Path{MustPath("/tmp")},
		UpdatedGroups: []Path{MustPath("/h")},
		UpdatedChunks: map[Path][][]uint32{a: {{0}}},
	})
}

func TestSeedDiffWithoutTransactionLogs(t *testing.T) {
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	cfg.DisableTransactionLogs = true
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, &cfg, nil)
	seedOK(t, err)
	initial, err := repo.LookupBranch(ctx, MainBranch)
	seedOK(t, err)
	s := seedWritable(t, repo, MainBranch)
	seedOK(t, s.AddGroup(ctx, Root, nil))
	id := seedCommit(t, s, "c")
	if keys := seedKeys(t, store, codec.TransactionsPrefix); len(keys) != 0 {
		t.Fatalf("transaction logs written: %v", keys)
	}
	_, err = repo.Diff(ctx, Version{Snapshot: initial}, Version{Snapshot: id})
	seedIs(t, err, ErrTxLogsDisabled)
	// status does not need transaction logs
	s = seedWritable(t, repo, MainBranch)
	seedOK(t, s.AddGroup(ctx, MustPath("/x"), nil))
	d, err := s.Status(ctx)
	seedOK(t, err)
	seedDiffIs(t, d, &Diff{NewGroups: []Path{MustPath("/x")}})
}

// TestSeedStatusMatchesCommitDiff: a session's status before a commit is the
// diff between the commit's parent and the commit.
func TestSeedStatusMatchesCommitDiff(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)
	a := MustPath("/g/a")
	s := seedWritable(t, repo, MainBranch)
	seedOK(t, s.AddArray(ctx, MustPath("/h/b"), ArrayMeta{Shape: []uint64{2, 2}, ChunkShape: []uint64{1, 1}}, nil))
	seedOK(t, s.SetChunkRef(ctx, MustPath("/h/b"), []uint32{1, 1}, seedInline("x")))
	seedOK(t, s.UpdateArray(ctx, a, ArrayMeta{Shape: []uint64{8}, ChunkShape: []uint64{1}}, []byte(`{"v":2}`)))
	seedOK(t, s.SetChunkRef(ctx, a, []uint32{7}, seedInline("seven")))
	seedOK(t, s.DeleteChunks(ctx, a, [][]uint32{{0}}))
	seedOK(t, s.UpdateGroup(ctx, Root, []byte(`{"root":true}`)))
	seedOK(t, s.DeleteGroup(ctx, MustPath("/h")))
	seedOK(t, s.AddGroup(ctx, MustPath("/h"), []byte(`{"again":true}`)))
	status, err := s.Status(ctx)
	seedOK(t, err)
	want := &Diff{
		NewGroups:     []Path{MustPath("/h")}, // the new /h
		DeletedGroups: []Path{MustPath("/h")}, // the old /h, a different node
		UpdatedGroups: []Path{Root},
		UpdatedArrays: []Path{a},
		UpdatedChunks: map[Path][][]uint32{a: {{0}, {7}}},
	}
	seedDiffIs(t, status, want)
	id := seedCommit(t, s, "c4")
	d, err := repo.Diff(ctx, Version{Snapshot: ids[3]}, Version{Snapshot: id})
	seedOK(t, err)
	seedDiffIs(t, d, status)
	// the committed session has nothing left to report
	status, err = s.Status(ctx)
	seedOK(t, err)
	if !status.IsEmpty() {
		t.Fatalf("status after commit: %+v", status)
	}
}

// TestSeedReadOnlySessionRejectsWrites: every write of a read-only
// session fails with ErrReadOnly and changes nothing.
func TestSeedReadOnlySessionRejectsWrites(t *testing.T) {
	repo, _ := seedRepo(t)
	ids := seedHistory(t, repo)
	a := MustPath("/g/a")
	for _, v := range []Version{{Branch: MainBranch}, {Snapshot: ids[2]}} {
		rs := seedReadonly(t, repo, v)
		if !rs.ReadOnly() || rs.Branch() != "" {
			t.Fatalf("session at %s is not read-only", v)
		}
		seedRejectsWrites(t, rs)
		if rs.HasUncommittedChanges() {
			t.Fatal("a read-only session recorded changes")
		}
		// reads still work
		seedChunkIs(t, rs, a, []uint32{0}, "zero", true)
	}
}

// seedRejectsWrites checks that every write of s fails with ErrReadOnly.
func seedRejectsWrites(t testing.TB, s *Session) {
	t.Helper()
	ctx := context.Background()
	a := MustPath("/g/a")
	am := ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}
	seedIs(t, s.AddGroup(ctx, MustPath("/new"), nil), ErrReadOnly)
	seedIs(t, s.AddArray(ctx, MustPath("/new"), am, nil), ErrReadOnly)
	seedIs(t, s.UpdateArray(ctx, a, am, nil), ErrReadOnly)
	seedIs(t, s.UpdateGroup(ctx, MustPath("/g"), nil), ErrReadOnly)
	seedIs(t, s.DeleteArray(ctx, a), ErrReadOnly)
	seedIs(t, s.DeleteGroup(ctx, MustPath("/g")), ErrReadOnly)
	seedIs(t, s.DeleteNode(ctx, MustPath("/g")), ErrReadOnly)
	seedIs(t, s.Clear(ctx), ErrReadOnly)
	seedIs(t, s.SetChunkRef(ctx, a, []uint32{2}, seedInline("x")), ErrReadOnly)
	seedIs(t, s.SetChunk(ctx, a, []uint32{2}, []byte("x")), ErrReadOnly)
	seedIs(t, s.DeleteChunks(ctx, a, [][]uint32{{0}}), ErrReadOnly)
	_, err := s.WriteChunk(ctx, make([]byte, 4096))
	seedIs(t, err, ErrReadOnly)
	_, err = s.Commit(ctx, "nope", nil)
	seedIs(t, err, ErrReadOnly)
	seedIs(t, s.MergeChanges(NewChangeSet()), ErrReadOnly)
	_, err = s.Fork(ctx)
	seedIs(t, err, ErrReadOnly)
}

func TestSeedNoChangesToCommit(t *testing.T) {
	ctx := context.Background()
	repo, store := seedRepo(t)
	s := seedWritable(t, repo, MainBranch)
	_, err := s.Commit(ctx, "empty", nil)
	seedIs(t, err, ErrNoChangesToCommit)
	// adding and deleting a node leaves nothing to commit either
	seedOK(t, s.AddGroup(ctx, MustPath("/x"), nil))
	seedOK(t, s.DeleteGroup(ctx, MustPath("/x")))
	_, err = s.Commit(ctx, "empty", nil)
	seedIs(t, err, ErrNoChangesToCommit)
	// nothing was written and the session is still usable
	if n := len(seedKeys(t, store, codec.SnapshotsPrefix)); n != 1 {
		t.Fatalf("%d snapshots after empty commits", n)
	}
	if s.ReadOnly() {
		t.Fatal("a refused commit made the session read-only")
	}
	seedOK(t, s.AddGroup(ctx, Root, nil))
	seedCommit(t, s, "real")
}

// TestSeedCommitMakesSessionReadOnly: after a commit the session reads its
// new snapshot and refuses further writes, including a second commit.
func TestSeedCommitMakesSessionReadOnly(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	seedHistory(t, repo)
	s := seedWritable(t, repo, MainBranch)
	seedOK(t, s.SetChunkRef(ctx, MustPath("/g/a"), []uint32{3}, seedInline("three")))
	id := seedCommit(t, s, "c4")
	if !s.ReadOnly() || s.Branch() != "" || s.SnapshotID() != id || s.HasUncommittedChanges() {
		t.Fatalf("after commit: read-only %v, branch %q, at %s (commit %s)", s.ReadOnly(), s.Branch(), s.SnapshotID(), id)
	}
	seedChunkIs(t, s, MustPath("/g/a"), []uint32{3}, "three", true)
	seedRejectsWrites(t, s)
	tip, err := repo.LookupBranch(ctx, MainBranch)
	seedOK(t, err)
	if tip != id {
		t.Fatal("the rejected writes moved the branch")
	}
}

// TestSeedFailedCommitKeepsSession: a commit refused for a conflict leaves
// the session writable with its changes, and nothing on the branch. Once
// the handle has seen the branch contended, a commit checks the tip before
// writing anything, and a refused one writes nothing.
func TestSeedFailedCommitKeepsSession(t *testing.T) {
	ctx := context.Background()
	repo, store := seedRepo(t)
	seedHistory(t, repo)
	s1 := seedWritable(t, repo, MainBranch)
	s2 := seedWritable(t, repo, MainBranch)
	seedOK(t, s1.AddGroup(ctx, MustPath("/one"), nil))
	seedOK(t, s2.AddGroup(ctx, MustPath("/two"), nil))
	won := seedCommit(t, s1, "one")
	base := s2.SnapshotID()
	for try := range 2 {
		before := len(seedKeys(t, store, codec.SnapshotsPrefix))
		_, err := s2.Commit(ctx, "two", nil)
		seedIs(t, err, ErrConflict)
		if s2.ReadOnly() || !s2.HasUncommittedChanges() || s2.SnapshotID() != base {
			t.Fatal("a failed commit changed the session")
		}
		if n := len(seedKeys(t, store, codec.SnapshotsPrefix)); try == 1 && n != before {
			t.Fatalf("a commit refused early wrote %d snapshots", n-before)
		}
		tip, err := repo.LookupBranch(ctx, MainBranch)
		seedOK(t, err)
		if tip != won {
			t.Fatal("the failed commit moved the branch")
		}
		if _, err := s2.GetGroup(ctx, MustPath("/two")); err != nil {
			t.Fatalf("the failed session lost its node: %v", err)
		}
	}
}

// TestSeedChunkByteRanges checks reads of parts of a chunk, inline and
// native. By design a range starting at or past the end of the chunk reads
// nothing, where the seed's construct_valid_byte_range returns the last
// byte.
func TestSeedChunkByteRanges(t *testing.T) {
	ctx := context.Background()
	repo, _ := seedRepo(t)
	s := seedWritable(t, repo, MainBranch)
	a := MustPath("/a")
	seedOK(t, s.AddArray(ctx, a, ArrayMeta{Shape: []uint64{2}, ChunkShape: []uint64{1}}, nil))
	small := []byte("0123456789")
	big := []byte(strings.Repeat("abcdefghij", 100))
	seedOK(t, s.SetChunk(ctx, a, []uint32{0}, small))
	seedOK(t, s.SetChunk(ctx, a, []uint32{1}, big))
	id := seedCommit(t, s, "chunks")
	rs := seedReadonly(t, repo, Version{Snapshot: id})
	for i, data := range [][]byte{small, big} {
		n := int64(len(data))
		cases := []struct {
			rng  storage.ByteRange
			want []byte
		}{
			{storage.From(0), data},
			{storage.Range(2, 5), data[2:5]},
			{storage.Range(3, 3), []byte{}},
			{storage.Range(n-2, n+10), data[n-2:]},
			{storage.From(4), data[4:]},
			{storage.From(n), []byte{}},
			{storage.From(n + 5), []byte{}},
			{storage.Range(n+1, n+5), []byte{}},
			{storage.Suffix(3), data[n-3:]},
			{storage.Suffix(n + 100), data},
			{storage.Suffix(0), []byte{}},
		}
		for _, c := range cases {
			got, ok, err := rs.GetChunk(ctx, a, []uint32{uint32(i)}, c.rng)
			seedOK(t, err)
			if !ok || string(got) != string(c.want) {
				t.Fatalf("chunk %d, %s: got %q (found %v), want %q", i, c.rng, got, ok, c.want)
			}
		}
		_, _, err := rs.GetChunk(ctx, a, []uint32{uint32(i)}, storage.Range(5, 2))
		seedIs(t, err, storage.ErrInvalidRange)
	}
}

// TestSeedConcurrentResets: a reset with an expected tip is a
// compare-and-set. Of two racing resets expecting the same tip exactly one
// wins; the other gets a *ConflictError naming the tip it expected and the
// one it found.
func TestSeedConcurrentResets(t *testing.T) {
	ctx := context.Background()
	for round := range 30 {
		repo, _ := seedRepo(t)
		ids := seedHistory(t, repo)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, 2)
		targets := []codec.SnapshotID{ids[1], ids[2]}
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = repo.ResetBranch(ctx, MainBranch, targets[i], ids[3])
			}()
		}
		close(start)
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: want exactly one winner, got %v and %v", round, errs[0], errs[1])
		}
		winner, loser := 0, 1
		if errs[0] != nil {
			winner, loser = 1, 0
		}
		var ce *ConflictError
		if !errors.As(errs[loser], &ce) || ce.ExpectedParent != ids[3] || ce.ActualParent != targets[winner] {
			t.Fatalf("round %d: loser's error %+v, want expected %s actual %s", round, errs[loser], ids[3], targets[winner])
		}
		tip, err := repo.LookupBranch(ctx, MainBranch)
		seedOK(t, err)
		if tip != targets[winner] {
			t.Fatalf("round %d: main at %s, winner reset it to %s", round, tip, targets[winner])
		}
	}
}
