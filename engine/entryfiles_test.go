package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs/logstest"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// The files a commit's branch log entry carries (codec.NewCommitRef) stand
// in for the snapshot and manifest objects a writer on the same branch
// reads next: to open a session at the tip, and to commit on top of it.

// objectGets counts the recorded Gets of snapshots and manifests.
func objectGets(calls []storage.Call) (snapshots, manifests int) {
	for _, c := range calls {
		switch {
		case c.Op != storage.OpGet:
		case strings.HasPrefix(c.Key, codec.SnapshotsPrefix):
			snapshots++
		case strings.HasPrefix(c.Key, codec.ManifestsPrefix):
			manifests++
		}
	}
	return snapshots, manifests
}

// recording runs f and returns the storage calls it made.
func recording(t *testing.T, counting *storage.Counting, f func()) []storage.Call {
	t.Helper()
	counting.Reset()
	counting.Record(true)
	defer counting.Record(false)
	f()
	return counting.Calls()
}

// chunkArray commits an array /a of 100 chunks of one element on main.
func chunkArray(t *testing.T, repo *Repository) {
	t.Helper()
	s, err := repo.WritableSession(context.Background(), MainBranch)
	ok(t, err)
	ok(t, s.AddArray(context.Background(), MustPath("/a"), ArrayMeta{Shape: []uint64{100}, ChunkShape: []uint64{1}}, nil))
	commit(t, s, "array")
}

// firstCommit creates a repository on store with the array of chunkArray
// and a commit of its chunk 0 ("first").
func firstCommit(t *testing.T, store storage.Storage) *Repository {
	t.Helper()
	repo, err := Create(context.Background(), store, nil, nil)
	ok(t, err)
	chunkArray(t, repo)
	s, err := repo.WritableSession(context.Background(), MainBranch)
	ok(t, err)
	nativeChunk(t, s, 0, "first")
	commit(t, s, "first")
	return repo
}

// freshSession opens a handle on store, as another process would, and a
// session on main through it; calls are the requests the session's
// opening made.
func freshSession(t *testing.T, store *storage.Counting) (*Repository, *Session, []storage.Call) {
	t.Helper()
	repo, err := Open(context.Background(), store, nil)
	ok(t, err)
	var s *Session
	calls := recording(t, store, func() {
		s, err = repo.WritableSession(context.Background(), MainBranch)
		ok(t, err)
	})
	return repo, s, calls
}

// nativeChunk writes data as chunk coord of /a in its own chunk object, so
// that the manifest holds a reference to read through.
func nativeChunk(t *testing.T, s *Session, coord uint32, data string) {
	t.Helper()
	ok(t, s.SetChunk(context.Background(), MustPath("/a"), []uint32{coord}, []byte(data+strings.Repeat(".", 600))))
}

// wantChunks checks chunks 0, 1, ... of /a at snapshot id, read through
// repo, against the data nativeChunk wrote (want[i] for chunk i; "" skips
// that chunk).
func wantChunks(t *testing.T, repo *Repository, id codec.SnapshotID, want ...string) {
	t.Helper()
	s, err := repo.ReadonlySession(context.Background(), Version{Snapshot: id})
	ok(t, err)
	for coord, w := range want {
		if w == "" {
			continue
		}
		if got := chunkBytes(t, s, "/a", uint32(coord)); !strings.HasPrefix(got, w+".") {
			t.Fatalf("chunk %d at %s: %.20q, want %q", coord, id, got, w)
		}
	}
}

// TestWritersUseTheFilesATipEntryCarries checks that a handle which did not
// write the tip (another process) opens a session on it, and commits on
// top of it after a rebase, reading neither its snapshot nor its manifest;
// and that a commit whose snapshot is too large for its entry is read from
// its object.
func TestWritersUseTheFilesATipEntryCarries(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	writer := firstCommit(t, counting)

	other, mine, calls := freshSession(t, counting)
	if snaps, _ := objectGets(calls); snaps != 0 {
		t.Fatalf("opening a session at another handle's commit read %d snapshots: %v", snaps, calls)
	}
	nativeChunk(t, mine, 1, "mine")

	// The branch moves on: the session rebases over that commit and
	// commits on top of it without reading its snapshot or manifest.
	s, err := writer.WritableSession(ctx, MainBranch)
	ok(t, err)
	nativeChunk(t, s, 2, "second")
	commit(t, s, "second")
	var id codec.SnapshotID
	calls = recording(t, counting, func() {
		id, err = mine.CommitRebasing(ctx, BasicConflictSolver{}, "mine", nil, RetryOptions{Attempts: 3})
		ok(t, err)
	})
	if snaps, manifests := objectGets(calls); snaps != 0 || manifests != 0 {
		t.Fatalf("a commit with rebase onto another handle's commit read %d snapshots and %d manifests: %v", snaps, manifests, calls)
	}
	check, err := Open(ctx, counting, nil)
	ok(t, err)
	wantChunks(t, check, id, "first", "mine", "second")

	// Groups with random names make a snapshot larger than an entry
	// carries; a session on it reads the snapshot object.
	big, err := writer.WritableSession(ctx, MainBranch)
	ok(t, err)
	for range 600 {
		ok(t, big.AddGroup(ctx, MustPath("/g-"+uuid.NewString()), nil))
	}
	bigID := commit(t, big, "many groups")
	if data, err := counting.Get(ctx, codec.SnapshotKey(bigID)); err != nil || len(data) <= codec.MaxInlineFiles {
		t.Fatalf("the large snapshot: %d bytes, %v; want more than %d", len(data), err, codec.MaxInlineFiles)
	}
	calls = recording(t, counting, func() {
		_, err = other.WritableSession(ctx, MainBranch)
		ok(t, err)
	})
	if snaps, _ := objectGets(calls); snaps != 1 {
		t.Fatalf("a session at a commit whose snapshot its entry cannot carry read %d snapshots, want 1: %v", snaps, calls)
	}
}

// TestEntryCopiesNeverStandInForHistory checks that a snapshot carried by
// the tip's entry does not hide what an expiration rewrote in its object:
// history read through a handle that took the copy shows the cut.
func TestEntryCopiesNeverStandInForHistory(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	writer, err := Create(ctx, store, nil, nil)
	ok(t, err)
	chunkArray(t, writer)
	s, err := writer.WritableSession(ctx, MainBranch)
	ok(t, err)
	nativeChunk(t, s, 0, "old")
	commit(t, s, "old")
	time.Sleep(5 * time.Millisecond)
	cut := time.Now()
	time.Sleep(5 * time.Millisecond)
	s, err = writer.WritableSession(ctx, MainBranch)
	ok(t, err)
	nativeChunk(t, s, 1, "tip")
	tip := commit(t, s, "tip")

	reader, err := Open(ctx, store, nil)
	ok(t, err)
	mine, err := reader.WritableSession(ctx, MainBranch) // takes the tip's copy
	ok(t, err)
	res, err := writer.ExpireSnapshots(ctx, ExpireOptions{OlderThan: cut})
	ok(t, err)
	if len(res.Rewritten) != 1 || res.Rewritten[0] != tip {
		t.Fatalf("expiration rewrote %v, want the tip %s", res.Rewritten, tip)
	}
	var history []SnapshotInfo
	for info, err := range reader.Ancestry(ctx, Version{Branch: MainBranch}) {
		ok(t, err)
		history = append(history, info)
	}
	if len(history) != 2 || history[0].ID != tip || !history[0].HistoryCut || history[1].ParentID != (codec.SnapshotID{}) {
		t.Fatalf("history after the expiration: %+v; want the rewritten tip, then the initial snapshot", history)
	}
	// The session based on the copy still commits.
	nativeChunk(t, mine, 2, "mine")
	id := commit(t, mine, "mine")
	wantChunks(t, reader, id, "", "tip")
}

// TestACorruptCopyInAnEntryIsReadFromItsObject checks that a snapshot or
// manifest copy that does not decode is skipped with a warning naming the
// entry, and the objects are read instead.
func TestACorruptCopyInAnEntryIsReadFromItsObject(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	firstCommit(t, counting)

	// Rewrite the head entry with its copies damaged.
	consensus := storage.NewConsensus(counting, codec.RefsPrefix)
	head, found, err := consensus.HeadEntry(ctx, branchPrefix+MainBranch)
	ok(t, err)
	if !found {
		t.Fatal("no head entry")
	}
	ref, err := codec.DecodeRef("head", head.Data)
	ok(t, err)
	if len(ref.SnapshotFile) == 0 || len(ref.ManifestFiles) != 1 {
		t.Fatalf("the commit's entry carries a %d-byte snapshot and %d manifests; want both", len(ref.SnapshotFile), len(ref.ManifestFiles))
	}
	ref.SnapshotFile[len(ref.SnapshotFile)-1] ^= 0xff
	ref.ManifestFiles[0][len(ref.ManifestFiles[0])-1] ^= 0xff
	data, err := codec.EncodeRef(ref)
	ok(t, err)
	ok(t, counting.Delete(ctx, fmt.Sprintf("%s%s%s/%020d", codec.RefsPrefix, branchPrefix, MainBranch, ^head.Slot)))
	res, err := consensus.CompareAndSet(ctx, branchPrefix+MainBranch, head.SeqNo-1, storage.VersionedData{SeqNo: head.SeqNo, Data: data})
	ok(t, err)
	if res != storage.Committed {
		t.Fatalf("rewriting the head entry: %v", res)
	}

	lines := logstest.Capture(t, "engine=warn")
	// A handle that only looks the branch up, again and again, decodes the
	// copies once and warns once.
	lookups, err := Open(ctx, counting, nil)
	ok(t, err)
	for range 3 {
		_, err = lookups.LookupBranch(ctx, MainBranch)
		ok(t, err)
	}
	if got := lines.Matching("carries a file that does not decode", branchEntryName(MainBranch, head.Slot)); len(got) != 1 {
		t.Fatalf("warnings after three lookups: %q; want one naming the entry", lines.All())
	}
	lines = logstest.Capture(t, "engine=warn")
	other, mine, calls := freshSession(t, counting)
	if snaps, _ := objectGets(calls); snaps != 1 {
		t.Fatalf("a session at an entry with a corrupt snapshot copy read %d snapshots, want 1", snaps)
	}
	if got := lines.Matching("carries a file that does not decode", branchEntryName(MainBranch, head.Slot)); len(got) != 1 {
		t.Fatalf("warnings: %q; want one naming the entry", lines.All())
	}
	nativeChunk(t, mine, 1, "mine")
	var id codec.SnapshotID
	calls = recording(t, counting, func() { id = commit(t, mine, "mine") })
	if _, manifests := objectGets(calls); manifests != 1 {
		t.Fatalf("a commit on an entry with a corrupt manifest copy read %d manifests, want 1", manifests)
	}
	wantChunks(t, other, id, "first", "mine")
}

// TestKeptEntriesDropTheirCopies checks that a handle keeps the entries of
// a branch log without the copies they carry, while the entries in storage
// keep them.
func TestKeptEntriesDropTheirCopies(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	chunkArray(t, repo)
	for i := range 3 {
		s, err := repo.WritableSession(ctx, MainBranch)
		ok(t, err)
		nativeChunk(t, s, uint32(i), fmt.Sprint("commit ", i))
		commit(t, s, fmt.Sprint("commit ", i))
	}
	consensus := storage.NewConsensus(store, codec.RefsPrefix)
	key := branchPrefix + MainBranch
	head, _, err := consensus.HeadEntry(ctx, key)
	ok(t, err)
	for slot := head.Slot - 2; slot <= head.Slot; slot++ {
		stored, err := consensus.EntryAt(ctx, key, slot)
		ok(t, err)
		ref, err := codec.DecodeRef("stored", stored.Data)
		ok(t, err)
		if ref.SnapshotFile == nil || len(ref.ManifestFiles) != 1 {
			t.Fatalf("stored entry %d carries no copies", slot)
		}
		repo.refs.mu.Lock()
		e, found := repo.refs.recent[key][slot]
		repo.refs.mu.Unlock()
		if !found || e.err != nil {
			t.Fatalf("entry %d is not kept: %v", slot, e.err)
		}
		kept := e.ref
		if kept.SnapshotFile != nil || kept.ManifestFiles != nil || kept.Snapshot != ref.Snapshot || kept.Parent != ref.Parent || string(kept.TxLog) != string(ref.TxLog) {
			t.Fatalf("kept entry %d: %d-byte snapshot copy, %d manifest copies; want none, and the rest as stored", slot, len(kept.SnapshotFile), len(kept.ManifestFiles))
		}
	}
}
