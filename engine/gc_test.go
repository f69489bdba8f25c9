package engine

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// gcPrefixes are the prefixes of the objects garbage collection may delete.
var gcPrefixes = []string{codec.SnapshotsPrefix, codec.TransactionsPrefix, codec.ManifestsPrefix, codec.ChunksPrefix}

// gcObjects returns the size of every object under gcPrefixes, by key.
func gcObjects(t *testing.T, store storage.Storage) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, p := range gcPrefixes {
		for info, err := range store.List(context.Background(), p, storage.ListOptions{}) {
			mustOK(t, err)
			out[info.Key] = info.Size
		}
	}
	return out
}

// gcHistory records which objects each step of a test wrote.
type gcHistory struct {
	t     *testing.T
	store storage.Storage
	seen  map[string]int64
	kept  map[string]int64 // objects some branch or tag reaches
	trash map[string]int64 // objects nothing reaches
}

// step runs f and files the objects it wrote as kept or as garbage.
func (h *gcHistory) step(garbage bool, f func()) {
	f()
	now := gcObjects(h.t, h.store)
	for k, size := range now {
		if _, ok := h.seen[k]; ok {
			continue
		}
		if garbage {
			h.trash[k] = size
		} else {
			h.kept[k] = size
		}
	}
	h.seen = now
}

func (h *gcHistory) want() GCSummary {
	var sum GCSummary
	for k, size := range h.trash {
		switch {
		case strings.HasPrefix(k, codec.SnapshotsPrefix):
			sum.SnapshotsDeleted++
		case strings.HasPrefix(k, codec.TransactionsPrefix):
			sum.TransactionLogsDeleted++
		case strings.HasPrefix(k, codec.ManifestsPrefix):
			sum.ManifestsDeleted++
		case strings.HasPrefix(k, codec.ChunksPrefix):
			sum.ChunksDeleted++
		}
		sum.BytesDeleted += size
	}
	return sum
}

// gcSetChunks writes version of chunks of array "a" with single sets, one
// chunk object each.
func gcSetChunks(t *testing.T, s *Session, version int, chunks ...int) {
	t.Helper()
	for _, i := range chunks {
		mustOK(t, s.StoreSet(context.Background(), fmt.Sprintf("a/c/%d", i), behindValue(i, version)))
	}
}

// gcCommitted describes one commit a test reads back after collecting:
// chunk index to the version it holds.
type gcCommitted struct {
	id     codec.SnapshotID
	chunks map[int]int
}

// TestGarbageCollect builds a history with every kind of unreachable object
// (a deleted branch's commits, a commit a reset left behind, the flushed
// chunks of a session that never committed) beside reachable ones (a tag
// on a deleted branch, old versions of rewritten chunks), then checks that
// a collection deletes exactly the unreachable objects written before its
// cutoff, that a dry run only counts them, and that every reachable commit
// still reads back whole.
func TestGarbageCollect(t *testing.T) { onEachStore(t, testGarbageCollect) }

// onEachStore runs test as the subtests "memory" and "local", each on a
// new storage of that kind.
func onEachStore(t *testing.T, test func(t *testing.T, store storage.Storage)) {
	t.Run("memory", func(t *testing.T) { test(t, memory.New(t.Name())) })
	t.Run("local", func(t *testing.T) {
		store, err := local.New(t.TempDir())
		mustOK(t, err)
		test(t, store)
	})
}

func testGarbageCollect(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	h := &gcHistory{t: t, store: store, seen: map[string]int64{}, kept: map[string]int64{}, trash: map[string]int64{}}
	h.step(false, func() {})
	writable := func(branch string) *Session {
		s, err := repo.WritableSession(ctx, branch)
		mustOK(t, err)
		return s
	}
	commit := func(s *Session, msg string) codec.SnapshotID {
		id, err := s.Commit(ctx, msg, nil)
		mustOK(t, err)
		return id
	}
	var reachable []gcCommitted

	// main: c1 writes chunks 0-3, c2 rewrites chunk 0 (c1's chunk 0 is
	// still reachable through c2's parent).
	var c1, c2 codec.SnapshotID
	h.step(false, func() {
		s := writable(MainBranch)
		addBehindArray(t, s)
		gcSetChunks(t, s, 1, 0, 1, 2, 3)
		c1 = commit(s, "c1")
		s = writable(MainBranch)
		gcSetChunks(t, s, 2, 0)
		c2 = commit(s, "c2")
	})
	reachable = append(reachable,
		gcCommitted{c1, map[int]int{0: 1, 1: 1, 2: 1, 3: 1}},
		gcCommitted{c2, map[int]int{0: 2, 1: 1, 2: 1, 3: 1}})

	// A branch that is deleted: its commit is garbage.
	var gone codec.SnapshotID
	h.step(true, func() {
		mustOK(t, repo.CreateBranch(ctx, "gone", c2))
		s := writable("gone")
		gcSetChunks(t, s, 3, 1, 6)
		gone = commit(s, "on a branch about to be deleted")
		mustOK(t, repo.DeleteBranch(ctx, "gone"))
	})

	// A deleted branch whose commit a tag keeps.
	var tagged codec.SnapshotID
	h.step(false, func() {
		mustOK(t, repo.CreateBranch(ctx, "tagged", c2))
		s := writable("tagged")
		gcSetChunks(t, s, 4, 7)
		tagged = commit(s, "tagged")
		mustOK(t, repo.CreateTag(ctx, "keep", tagged))
		mustOK(t, repo.DeleteBranch(ctx, "tagged"))
	})
	reachable = append(reachable, gcCommitted{tagged, map[int]int{0: 2, 1: 1, 2: 1, 3: 1, 7: 4}})

	// A commit on main that a reset leaves behind.
	var resetAway codec.SnapshotID
	h.step(true, func() {
		s := writable(MainBranch)
		gcSetChunks(t, s, 5, 2, 8)
		resetAway = commit(s, "reset away")
		mustOK(t, repo.ResetBranch(ctx, MainBranch, c2, resetAway))
	})

	// A deleted tag keeps nothing.
	h.step(true, func() {
		mustOK(t, repo.CreateBranch(ctx, "untagged", c2))
		s := writable("untagged")
		gcSetChunks(t, s, 6, 9)
		id := commit(s, "tag deleted")
		mustOK(t, repo.CreateTag(ctx, "dropped", id))
		mustOK(t, repo.DeleteBranch(ctx, "untagged"))
		mustOK(t, repo.DeleteTag(ctx, "dropped"))
	})

	// Everything so far is older than cutoff, by more than the storage's
	// timestamp slack; the rest is newer.
	time.Sleep(storage.ModTimeSlack(store) + 20*time.Millisecond)
	cutoff := time.Now()
	time.Sleep(20 * time.Millisecond)
	oldTrash := maps.Clone(h.trash)

	// Chunks written behind and flushed by a session that never commits.
	h.step(true, func() {
		s := writable(MainBranch)
		for i := range 10 {
			_, err := s.StoreSetBehind(ctx, fmt.Sprintf("a/c/%d", 20+i), behindValue(20+i, 7), true)
			mustOK(t, err)
		}
		mustOK(t, s.FlushWrites(ctx))
	})

	// A key that is not an object id is never the collector's business.
	foreign := codec.ChunksPrefix + "README"
	mustOK(t, store.Put(ctx, foreign, []byte("not an object")))
	h.seen[foreign] = 0

	if len(h.trash) == len(oldTrash) {
		t.Fatal("the uncommitted session left no objects to collect")
	}
	before := gcObjects(t, store)

	// Nothing is older than a cutoff before the repository existed.
	sum, err := repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(-time.Hour)})
	mustOK(t, err)
	if sum != (GCSummary{}) {
		t.Fatalf("collection before any object was written deleted %+v", sum)
	}
	if _, err := repo.GarbageCollect(ctx, GCOptions{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("collection without a cutoff: got %v, want ErrInvalidArgument", err)
	}

	// A dry run counts and deletes nothing.
	old := &gcHistory{trash: oldTrash}
	sum, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: cutoff, DryRun: true})
	mustOK(t, err)
	if want := old.want(); sum != want {
		t.Fatalf("dry run: got %+v, want %+v", sum, want)
	}
	if after := gcObjects(t, store); !maps.Equal(after, before) {
		t.Fatal("a dry run deleted objects")
	}

	// With the cutoff between the two: only the older garbage goes.
	sum, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: cutoff})
	mustOK(t, err)
	if want := old.want(); sum != want {
		t.Fatalf("collection at the cutoff: got %+v, want %+v", sum, want)
	}
	if sum.SnapshotsDeleted != 3 || sum.TransactionLogsDeleted != 3 || sum.ChunksDeleted == 0 || sum.ManifestsDeleted == 0 {
		t.Fatalf("collection at the cutoff deleted %+v, want the three unreachable commits whole", sum)
	}
	after := gcObjects(t, store)
	for k := range before {
		_, gone := oldTrash[k]
		if _, ok := after[k]; ok == gone {
			t.Errorf("%s: present %v after collecting, want %v", k, ok, !gone)
		}
	}

	// With a cutoff in the future: the uncommitted session's chunks go too.
	sum, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	mustOK(t, err)
	newer := &gcHistory{trash: map[string]int64{}}
	for k, size := range h.trash {
		if _, ok := oldTrash[k]; !ok {
			newer.trash[k] = size
		}
	}
	if want := newer.want(); sum != want || sum.ChunksDeleted == 0 {
		t.Fatalf("collection after the cutoff: got %+v, want %+v", sum, want)
	}
	after = gcObjects(t, store)
	want := maps.Clone(h.kept)
	want[foreign] = int64(len("not an object"))
	if !maps.Equal(after, want) {
		t.Fatalf("objects left:\n got %v\nwant %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(want)))
	}

	// Again: nothing left to collect.
	sum, err = repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	mustOK(t, err)
	if sum != (GCSummary{}) {
		t.Fatalf("second collection deleted %+v", sum)
	}

	// Every reachable commit reads back whole through a fresh handle; the
	// collected ones are gone.
	for _, c := range reachable {
		s := committedSession(t, store, c.id)
		for i := range 30 {
			got, ok, err := s.StoreGet(ctx, fmt.Sprintf("a/c/%d", i), storage.From(0))
			mustOK(t, err)
			v, want := c.chunks[i]
			if ok != want || (ok && !bytes.Equal(got, behindValue(i, v))) {
				t.Fatalf("snapshot %s chunk %d: found %v, want %v with version %d", c.id, i, ok, want, v)
			}
		}
	}
	fresh, err := Open(ctx, store, nil)
	mustOK(t, err)
	for _, id := range []codec.SnapshotID{gone, resetAway} {
		// The handle that collected has forgotten them too.
		for _, handle := range []*Repository{repo, fresh} {
			if _, err := handle.ReadonlySession(ctx, Version{Snapshot: id}); !errors.Is(err, ErrSnapshotNotFound) {
				t.Fatalf("snapshot %s after collecting: got %v, want ErrSnapshotNotFound", id, err)
			}
		}
	}
	if got, err := fresh.LookupTag(ctx, "keep"); err != nil || got != tagged {
		t.Fatalf("tag keep: %s %v", got, err)
	}
}

// TestGarbageCollectKeepsEverythingWhenReachableHistoryIsBroken checks that
// a collection that cannot read the reachable history deletes nothing.
func TestGarbageCollectKeepsEverythingWhenReachableHistoryIsBroken(t *testing.T) {
	ctx := context.Background()
	store := memory.New("gc-broken")
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	addBehindArray(t, s)
	gcSetChunks(t, s, 1, 0, 1)
	_, err = s.Commit(ctx, "c1", nil)
	mustOK(t, err)

	// Garbage to collect: a session's flushed chunks, never committed.
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, s, 2, 5)

	// A manifest of the reachable history goes missing.
	var manifest string
	for info, err := range store.List(ctx, codec.ManifestsPrefix, storage.ListOptions{}) {
		mustOK(t, err)
		manifest = info.Key
	}
	mustOK(t, store.Delete(ctx, manifest))
	before := gcObjects(t, store)

	fresh, err := Open(ctx, store, nil)
	mustOK(t, err)
	_, err = fresh.GarbageCollect(ctx, GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "nothing was deleted") || !strings.Contains(err.Error(), strings.TrimPrefix(manifest, codec.ManifestsPrefix)) {
		t.Fatalf("collection with a missing manifest: got %v, want an error naming it", err)
	}
	if after := gcObjects(t, store); !maps.Equal(after, before) {
		t.Fatal("a failed collection deleted objects")
	}
}

// earlyStamps is a storage whose listings show each object's time up to
// lag before its write, as coarse filesystem and S3 timestamps do, and
// which says so (storage.ModTimeSlacker).
type earlyStamps struct {
	storage.Storage
	lag time.Duration
}

func (e *earlyStamps) List(ctx context.Context, prefix string, opts storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		for info, err := range e.Storage.List(ctx, prefix, opts) {
			info.ModTime = info.ModTime.Add(-e.lag)
			if !yield(info, err) {
				return
			}
		}
	}
}

func (e *earlyStamps) ModTimeSlack() time.Duration { return e.lag }

// TestGarbageCollectKeepsObjectsStampedBeforeTheirWrite checks that a chunk
// written after the cutoff, whose storage stamps it as written before, is
// kept, so that the commit of its session names an object that exists.
func TestGarbageCollectKeepsObjectsStampedBeforeTheirWrite(t *testing.T) {
	ctx := context.Background()
	store := &earlyStamps{Storage: memory.New(t.Name()), lag: 300 * time.Millisecond}
	repo, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4}, []int{1}, "default", "")))
	cutoff := time.Now()
	time.Sleep(10 * time.Millisecond)
	data := bytes.Repeat([]byte("after the cutoff "), 100)
	mustOK(t, s.StoreSet(ctx, "a/c/0", data)) // a chunk object of its own
	sum, err := repo.GarbageCollect(ctx, GCOptions{DeleteOlderThan: cutoff})
	mustOK(t, err)
	if sum.ChunksDeleted != 0 {
		t.Fatalf("deleted %d chunk objects written after the cutoff", sum.ChunksDeleted)
	}
	_, err = s.Commit(ctx, "after a collection", nil)
	mustOK(t, err)
	r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	mustOK(t, err)
	got, found, err := r.StoreGet(ctx, "a/c/0", storage.From(0))
	if err != nil || !found || !bytes.Equal(got, data) {
		t.Fatalf("the committed chunk: %v", err)
	}
}
