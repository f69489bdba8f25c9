package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// chunkObject returns the chunk object holding chunk i of "a" in s.
func chunkObject(t *testing.T, s *Session, i int) codec.ChunkID {
	t.Helper()
	ref, err := s.GetChunkRef(context.Background(), "/a", []uint32{uint32(i)})
	mustOK(t, err)
	if ref == nil || ref.Kind != codec.ChunkNative {
		t.Fatalf("chunk %d: not a native chunk: %+v", i, ref)
	}
	return ref.ChunkID
}

// TestRepackChunks writes twenty chunks behind into one object, rewrites
// sixteen of them, and checks that a repack moves the other four out of
// that object (and a chunk larger than a pack into one of its own), that
// the data and the diff do not change, and that expiring the history
// before the repack lets a collection free the old object; a second
// repack finds nothing to do.
func TestRepackChunks(t *testing.T) { onEachStore(t, testRepackChunks) }

func testRepackChunks(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	f := newRepackFixture(t, store)
	repo, big := f.repo, f.big
	want := map[int]int{}
	for i := range 22 {
		want[i] = 2
	}
	for _, i := range []int{16, 17, 18, 19} {
		want[i] = 1
	}
	checkWant := func(s *Session, when string) {
		t.Helper()
		for i, v := range want {
			value := behindValue(i, v)
			if i == 20 {
				value = big
			}
			if got := mustGet(t, s, fmt.Sprintf("a/c/%d", i), storage.From(0)); !bytes.Equal(got, value) {
				t.Fatalf("chunk %d %s: wrong bytes", i, when)
			}
		}
	}

	if _, err := repo.RepackChunks(ctx, MainBranch, "repack", nil, RepackOptions{MaxLiveFraction: 1.5}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a fraction above 1: %v, want ErrInvalidArgument", err)
	}
	// The packed object is a fifth used, the big object all but chunk
	// 21's bytes: neither is at most a tenth used.
	sum, err := repo.RepackChunks(ctx, MainBranch, "repack", nil, RepackOptions{MaxLiveFraction: 0.1})
	mustOK(t, err)
	if sum != (RepackSummary{}) {
		t.Fatalf("nothing is a tenth used, yet: %+v", sum)
	}
	wantSum := RepackSummary{ObjectsRepacked: 1, ChunksMoved: 4, BytesMoved: 4000, BytesFreeable: 16000}
	before := gcObjects(t, store)
	sum, err = repo.RepackChunks(ctx, MainBranch, "dry run", nil, RepackOptions{DryRun: true})
	mustOK(t, err)
	if sum != wantSum {
		t.Fatalf("dry run: %+v, want %+v", sum, wantSum)
	}
	if after := gcObjects(t, store); len(after) != len(before) {
		t.Fatalf("a dry run wrote %d objects", len(after)-len(before))
	}
	if tip, _ := repo.LookupBranch(ctx, MainBranch); tip != f.c2 {
		t.Fatal("a dry run moved main")
	}
	sum, err = repo.RepackChunks(ctx, MainBranch, "repack", map[string]any{"why": "test"}, RepackOptions{})
	mustOK(t, err)
	wantSum.Snapshot = sum.Snapshot
	if sum != wantSum {
		t.Fatalf("repack: %+v, want %+v", sum, wantSum)
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	if tip != sum.Snapshot {
		t.Fatalf("main is at %s, not the repack's commit %s", tip, sum.Snapshot)
	}
	info, err := repo.SnapshotInfo(ctx, tip)
	mustOK(t, err)
	if info.Message != "repack" || info.Metadata["why"] != "test" {
		t.Fatalf("repack commit: message %q, metadata %v", info.Message, info.Metadata)
	}
	ro := committedSession(t, store, tip)
	checkWant(ro, "after the repack")
	for _, i := range []int{16, 17, 18, 19} {
		if id := chunkObject(t, ro, i); id == f.packed {
			t.Fatalf("chunk %d is still in the old object", i)
		}
	}
	if chunkObject(t, ro, 16) != chunkObject(t, ro, 19) {
		t.Fatal("the moved chunks were not packed together")
	}
	diff, err := repo.Diff(ctx, Version{Snapshot: f.c2}, Version{Snapshot: tip})
	mustOK(t, err)
	if !diff.IsEmpty() {
		t.Fatalf("the repack shows as a change: %+v", diff)
	}

	// At fraction 1 every object with any unused byte qualifies: the
	// big chunk moves into an object of its own.
	time.Sleep(storage.ModTimeSlack(store) + 20*time.Millisecond)
	beforeRepack := time.Now()
	time.Sleep(20 * time.Millisecond)
	sum, err = repo.RepackChunks(ctx, MainBranch, "repack the big chunk", nil, RepackOptions{MaxLiveFraction: 1})
	mustOK(t, err)
	wantSum = RepackSummary{Snapshot: sum.Snapshot, ObjectsRepacked: 1, ChunksMoved: 1, BytesMoved: int64(len(big)), BytesFreeable: 1000}
	if sum != wantSum {
		t.Fatalf("at fraction 1: %+v, want %+v (only the big object, which holds a rewritten chunk)", sum, wantSum)
	}
	ro = committedSession(t, store, sum.Snapshot)
	checkWant(ro, "after the second repack")
	if id := chunkObject(t, ro, 20); id == f.bigObject {
		t.Fatal("the big chunk is still in its old object")
	}

	// Expire everything before the last repack, then collect: the old
	// objects go, the data stays.
	_, err = repo.ExpireSnapshots(ctx, ExpireOptions{OlderThan: beforeRepack})
	mustOK(t, err)
	time.Sleep(storage.ModTimeSlack(store) + 20*time.Millisecond)
	_, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now()})
	mustOK(t, err)
	for _, id := range []codec.ChunkID{f.packed, f.bigObject} {
		if _, err := store.Stat(ctx, codec.ChunkKey(id)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("old chunk object %s after expire and collect: %v, want it deleted", id, err)
		}
	}
	checkWant(committedSession(t, store, sum.Snapshot), "after expire and collect")
	if _, err := repo.ReadonlySession(ctx, Version{Snapshot: f.c1}); err == nil {
		t.Fatal("the expired first commit can still be opened")
	}

	// Nothing is left to repack: no commit.
	again, err := repo.RepackChunks(ctx, MainBranch, "again", nil, RepackOptions{})
	mustOK(t, err)
	if again != (RepackSummary{}) {
		t.Fatalf("a second repack: %+v, want nothing", again)
	}
	if now, _ := repo.LookupBranch(ctx, MainBranch); now != sum.Snapshot {
		t.Fatal("a repack with nothing to do moved main")
	}
}

// repackFixture is a repository whose main wrote twenty chunks behind
// into one object (the packed one) and a chunk larger than a pack beside
// chunk 21 (the big object), then rewrote chunks 0-15 and 21, each into an
// object of its own: the tip uses four chunks (16-19) of the packed object.
type repackFixture struct {
	repo              *Repository
	c1, c2            codec.SnapshotID
	packed, bigObject codec.ChunkID
	big               []byte
}

func newRepackFixture(t *testing.T, store storage.Storage) *repackFixture {
	t.Helper()
	ctx := context.Background()
	f := &repackFixture{big: bytes.Repeat([]byte{7}, 3<<20)} // larger than a write-behind pack
	repo, s := newBehindSession(t, store)
	f.repo = repo
	for i := range 20 {
		setBehind(t, s, fmt.Sprintf("a/c/%d", i), behindValue(i, 1), true)
	}
	mustOK(t, s.StoreSetMany(ctx, []string{"a/c/20", "a/c/21"}, [][]byte{f.big, behindValue(21, 1)}))
	var err error
	f.c1, err = s.Commit(ctx, "twenty chunks", nil)
	mustOK(t, err)
	f.packed = chunkObject(t, s, 0)
	if chunkObject(t, s, 19) != f.packed {
		t.Fatal("the twenty chunks were not written into one object")
	}
	f.bigObject = chunkObject(t, s, 20)
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, s, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 21)
	f.c2, err = s.Commit(ctx, "sixteen rewritten", nil)
	mustOK(t, err)
	return f
}

// TestRepackChunksUnderAWriter checks that a writer who set a moved chunk
// while a repack committed rebases over the repack with the default
// detector, and that its value wins.
func TestRepackChunksUnderAWriter(t *testing.T) {
	ctx := context.Background()
	store := memory.New("repack")
	repo := newRepackFixture(t, store).repo
	w, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, w, 3, 17)
	sum, err := repo.RepackChunks(ctx, MainBranch, "repack", nil, RepackOptions{})
	mustOK(t, err)
	if sum.ChunksMoved != 4 {
		t.Fatalf("repack moved %d chunks, want 4", sum.ChunksMoved)
	}
	if _, err := w.Commit(ctx, "over the repack", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit behind the repack: %v, want a conflict", err)
	}
	mustOK(t, w.Rebase(ctx, ConflictDetector{}))
	id, err := w.Commit(ctx, "over the repack", nil)
	mustOK(t, err)
	ro := committedSession(t, store, id)
	checkChunks(t, ro, 17, 18, 3, "written over the repack")
	checkChunks(t, ro, 18, 20, 1, "moved by the repack")
}

// racingCommit commits a rewrite of chunk 17 through another handle when
// the first chunk object is stored through it (the repack's copy).
type racingCommit struct {
	storage.Storage
	once sync.Once
	race func()
}

func (r *racingCommit) Put(ctx context.Context, key string, data []byte) error {
	if strings.HasPrefix(key, codec.ChunksPrefix) {
		r.once.Do(r.race)
	}
	return r.Storage.Put(ctx, key, data)
}

// TestRepackChunksLosesARace checks that a repack whose branch moved while
// it copied commits nothing: a rebase could put its old copy of a chunk
// over the newer value.
func TestRepackChunksLosesARace(t *testing.T) {
	ctx := context.Background()
	base := memory.New("repack-race")
	newRepackFixture(t, base)
	racing := &racingCommit{Storage: base}
	var raced codec.SnapshotID
	racing.race = func() {
		other, err := Open(ctx, base, nil)
		mustOK(t, err)
		s, err := other.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		gcSetChunks(t, s, 3, 17)
		raced, err = s.Commit(ctx, "meanwhile", nil)
		mustOK(t, err)
	}
	repo, err := Open(ctx, racing, nil)
	mustOK(t, err)
	_, err = repo.RepackChunks(ctx, MainBranch, "repack", nil, RepackOptions{})
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("repack while main moved: %v, want a *ConflictError", err)
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	if tip != raced {
		t.Fatalf("main is at %s, want the racing commit %s", tip, raced)
	}
	checkChunks(t, committedSession(t, base, tip), 17, 18, 3, "after the lost repack")
}

// TestRepackChunksReadsRuns checks that a repack reads an object's chunks
// in runs: adjacent chunks together, a large gap or the run limit ending
// a run.
func TestRepackChunksReadsRuns(t *testing.T) {
	at := func(offset, length uint64) chunkMove { return chunkMove{offset: offset, length: length} }
	for _, c := range []struct {
		name   string
		chunks []chunkMove
		want   int
	}{
		{"adjacent", []chunkMove{at(0, 10), at(10, 10), at(20, 10)}, 3},
		{"small gap", []chunkMove{at(0, 10), at(10+repackGapBytes, 10)}, 2},
		{"large gap", []chunkMove{at(0, 10), at(11+repackGapBytes, 10)}, 1},
		{"run limit", []chunkMove{at(0, repackRunBytes-10), at(repackRunBytes-10, 11)}, 1},
		{"one large chunk", []chunkMove{at(0, 2*repackRunBytes), at(2*repackRunBytes, 1)}, 1},
		{"overlap", []chunkMove{at(0, 10), at(5, 10)}, 1},
	} {
		if got := runLength(c.chunks); got != c.want {
			t.Errorf("%s: run of %d, want %d", c.name, got, c.want)
		}
	}
}

// TestRepackChunksNamesAMissingObject checks that a tip naming a chunk
// object that is gone fails the repack, naming the object, rather than
// skipping its chunks unnoticed.
func TestRepackChunksNamesAMissingObject(t *testing.T) {
	ctx := context.Background()
	store := memory.New("repack-missing")
	f := newRepackFixture(t, store)
	s, err := f.repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	mustOK(t, err)
	gone := chunkObject(t, s, 3)
	mustOK(t, store.Delete(ctx, codec.ChunkKey(gone)))
	for _, dry := range []bool{true, false} {
		_, err := f.repo.RepackChunks(ctx, MainBranch, "repack", nil, RepackOptions{DryRun: dry})
		if !errors.Is(err, ErrChunkNotFound) || !strings.Contains(err.Error(), gone.String()) {
			t.Fatalf("repack (dry run %v) with chunk object %s gone: %v, want ErrChunkNotFound naming it", dry, gone, err)
		}
	}
	if tip, _ := f.repo.LookupBranch(ctx, MainBranch); tip != f.c2 {
		t.Fatal("a failed repack moved main")
	}
}
