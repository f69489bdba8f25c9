package engine

import (
	"context"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// newestEntryKey returns the key of the newest entry of a branch's log.
func newestEntryKey(t *testing.T, store storage.Storage, branch string) string {
	t.Helper()
	for info, err := range store.List(context.Background(), codec.RefsPrefix+branchPrefix+branch+"/", storage.ListOptions{}) {
		mustOK(t, err)
		return info.Key
	}
	t.Fatalf("branch %q has no log entries", branch)
	return ""
}

// TestDamagedBranchHeadIsRepaired damages main's head entry (a flipped
// byte: the entry fails its checksum) and dev's (a valid entry whose ref
// does not decode), and checks that every read of them says so, that a
// reset with an expected tip still refuses, and that a reset without one
// repairs main and a delete removes dev, for this handle and a fresh one.
func TestDamagedBranchHeadIsRepaired(t *testing.T) { onEachStore(t, testDamagedBranchHeadIsRepaired) }

func testDamagedBranchHeadIsRepaired(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	repo, s := newBehindSession(t, store)
	gcSetChunks(t, s, 1, 0, 1)
	c1, err := s.Commit(ctx, "c1", nil)
	mustOK(t, err)
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, s, 2, 0)
	c2, err := s.Commit(ctx, "c2", nil)
	mustOK(t, err)
	mustOK(t, repo.CreateBranch(ctx, "dev", c1))

	key := newestEntryKey(t, store, MainBranch)
	orig, err := store.Get(ctx, key)
	mustOK(t, err)
	bad := append([]byte(nil), orig...)
	bad[len(bad)/2] ^= 0x5a
	mustOK(t, store.Put(ctx, key, bad))
	devLog := storage.NewConsensus(store, codec.RefsPrefix)
	res, err := devLog.CompareAndSet(ctx, branchPrefix+"dev", 0, storage.VersionedData{SeqNo: 1, Data: []byte("not a ref")})
	mustOK(t, err)
	if res != storage.Committed {
		t.Fatal("could not write dev's damaged entry")
	}

	// A handle that never read the entries sees the damage (repo may
	// serve main's head from what it remembers).
	fresh, err := Open(ctx, store, nil)
	mustOK(t, err)
	for _, b := range []string{MainBranch, "dev"} {
		if _, err := fresh.LookupBranch(ctx, b); !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("lookup of damaged %s: %v, want ErrCorrupt", b, err)
		}
	}
	if err := fresh.ResetBranch(ctx, MainBranch, c1, c2); !errors.Is(err, codec.ErrCorrupt) {
		t.Fatalf("reset with an expected tip over a damaged head: %v, want ErrCorrupt", err)
	}

	mustOK(t, fresh.ResetBranch(ctx, MainBranch, c1, codec.SnapshotID{}))
	mustOK(t, fresh.DeleteBranch(ctx, "dev"))
	repaired, err := Open(ctx, store, nil)
	mustOK(t, err)
	for _, r := range []*Repository{repo, fresh, repaired} {
		if tip, err := r.LookupBranch(ctx, MainBranch); err != nil || tip != c1 {
			t.Fatalf("main after the repair: %s, %v; want %s", tip, err, c1)
		}
		if _, err := r.LookupBranch(ctx, "dev"); !errors.Is(err, ErrBranchNotFound) {
			t.Fatalf("dev after its delete: %v, want ErrBranchNotFound", err)
		}
		if got := ancestryIDs(t, r, Version{Branch: MainBranch}); len(got) != 2 || got[0] != c1 {
			t.Fatalf("main's ancestry after the repair: %v", got)
		}
	}
	// main takes commits again; the damaged entry stays behind the head.
	s, err = fresh.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	gcSetChunks(t, s, 3, 1)
	c3, err := s.Commit(ctx, "c3", nil)
	mustOK(t, err)
	checkChunks(t, committedSession(t, store, c3), 0, 1, 1, "after the repair")
	checkChunks(t, committedSession(t, store, c3), 1, 2, 3, "after the repair")
	if got, err := store.Get(ctx, key); err != nil || string(got) != string(bad) {
		t.Fatalf("the damaged entry was not kept: %v", err)
	}
}
