package engine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// stallingStore calls onWrite before the writes of keys with prefix, and
// then, if stall is set, waits for the caller's context to end, as a
// request to a server that does not answer would.
type stallingStore struct {
	storage.Storage
	prefix  string
	stall   atomic.Bool
	onWrite func()
}

func (s *stallingStore) hold(ctx context.Context, key string) error {
	if !strings.HasPrefix(key, s.prefix) {
		return nil
	}
	if s.onWrite != nil {
		s.onWrite()
	}
	if s.stall.Load() {
		<-ctx.Done()
		return errors.Wrapf(ctx.Err(), "writing %s", key)
	}
	return nil
}

func (s *stallingStore) Put(ctx context.Context, key string, data []byte) error {
	if err := s.hold(ctx, key); err != nil {
		return err
	}
	return s.Storage.Put(ctx, key, data)
}

func (s *stallingStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := s.hold(ctx, key); err != nil {
		return err
	}
	return s.Storage.PutIfAbsent(ctx, key, data)
}

// TestACancelledCommitLeavesTheBranchAndTheSession checks that a commit
// whose context ends while it writes its snapshot fails with the context's
// error, leaves the branch where it was, and keeps the session's changes
// for a commit that then succeeds.
func TestACancelledCommitLeavesTheBranchAndTheSession(t *testing.T) {
	ctx := context.Background()
	store := &stallingStore{Storage: memory.New(t.Name()), prefix: codec.SnapshotKey(codec.SnapshotID{})[:len("snapshots/")]}
	repo := firstCommit(t, store)
	before, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)

	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	nativeChunk(t, s, 1, "second")
	store.stall.Store(true)
	cctx, cancel := context.WithCancel(ctx)
	store.onWrite = cancel // the caller gives up while the snapshot is written
	_, err = s.Commit(cctx, "stopped", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a commit stopped while writing its snapshot: %v, want context.Canceled", err)
	}
	if tip, err := repo.LookupBranch(ctx, MainBranch); err != nil || tip != before {
		t.Fatalf("main after the stopped commit: %s, %v; want %s", tip, err, before)
	}
	if !s.HasUncommittedChanges() {
		t.Fatal("the stopped commit dropped the session's changes")
	}

	store.stall.Store(false)
	store.onWrite = nil
	wantChunks(t, repo, commit(t, s, "again"), "first", "second")
}

// TestACommitWritingItsRefIsNotStopped checks that a context ending once
// the commit writes the branch's entry does not stop it: the commit
// completes, and the branch is at its snapshot.
func TestACommitWritingItsRefIsNotStopped(t *testing.T) {
	ctx := context.Background()
	store := &stallingStore{Storage: memory.New(t.Name()), prefix: codec.RefsPrefix + branchPrefix + MainBranch + "/"}
	repo := firstCommit(t, store)

	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	nativeChunk(t, s, 1, "second")
	cctx, cancel := context.WithCancel(ctx)
	store.onWrite = cancel // the caller gives up as the ref is written
	id, err := s.Commit(cctx, "not stopped", nil)
	if err != nil {
		t.Fatalf("a commit whose caller gave up during its ref write: %v, want it to complete", err)
	}
	if cctx.Err() == nil {
		t.Fatal("the context was not cancelled during the ref write: the test did not test")
	}
	if tip, err := repo.LookupBranch(ctx, MainBranch); err != nil || tip != id {
		t.Fatalf("main after the commit: %s, %v; want %s", tip, err, id)
	}
}

// TestACancelledTagWriteStillLands checks the same of a tag: once written,
// its outcome is known.
func TestACancelledTagWriteStillLands(t *testing.T) {
	ctx := context.Background()
	store := &stallingStore{Storage: memory.New(t.Name()), prefix: codec.RefsPrefix + tagPrefix}
	repo := firstCommit(t, store)
	tip, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	cctx, cancel := context.WithCancel(ctx)
	store.onWrite = cancel
	ok(t, repo.CreateTag(cctx, "v1", tip))
	if got, err := repo.LookupTag(ctx, "v1"); err != nil || got != tip {
		t.Fatalf("tag v1: %s, %v; want %s", got, err, tip)
	}
}
