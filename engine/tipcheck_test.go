package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// orderedStore records when a commit reads its branch's log and writes its
// snapshot. While armed, a read of the log waits (up to a second) for a
// snapshot to be written, so that a commit whose tip read runs beside its
// writes is seen doing both at once.
type orderedStore struct {
	storage.Storage
	armed atomic.Bool

	mu      sync.Mutex
	events  []string
	written chan struct{} // closed at the first snapshot written while armed
}

func newOrderedStore() *orderedStore {
	return &orderedStore{Storage: memory.New("ordered"), written: make(chan struct{})}
}

func (o *orderedStore) note(event string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, event)
	if event == "snapshot written" && o.armed.Load() {
		select {
		case <-o.written:
		default:
			close(o.written)
		}
	}
}

// arm starts a recording and returns a function giving what it recorded.
func (o *orderedStore) arm() func() []string {
	o.mu.Lock()
	o.events, o.written = nil, make(chan struct{})
	o.mu.Unlock()
	o.armed.Store(true)
	return func() []string {
		o.armed.Store(false)
		o.mu.Lock()
		defer o.mu.Unlock()
		return slices.Clone(o.events)
	}
}

func (o *orderedStore) Get(ctx context.Context, key string) ([]byte, error) {
	if strings.HasPrefix(key, codec.RefsPrefix+"branch.") && o.armed.Load() {
		o.mu.Lock()
		written := o.written
		o.mu.Unlock()
		select {
		case <-written:
		case <-time.After(time.Second):
		}
		defer o.note("tip read")
	}
	return o.Storage.Get(ctx, key)
}

func (o *orderedStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	err := o.Storage.PutIfAbsent(ctx, key, data)
	if strings.HasPrefix(key, codec.SnapshotsPrefix) {
		o.note("snapshot written")
	}
	return err
}

// commitGroup commits a new group at path through a session opened now.
func commitGroup(t *testing.T, repo *Repository, path string) (*Session, error) {
	t.Helper()
	ctx := context.Background()
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.AddGroup(ctx, MustPath(path), nil))
	_, err = s.Commit(ctx, path, nil)
	return s, err
}

// A commit through a handle whose last commit on the branch landed reads
// the tip beside its writes (on an object store, one round trip less);
// after a commit that found the branch moved, it reads the tip first and
// writes nothing when the branch moved.
func TestCommitReadsTheTipBesideItsWritesUnlessContended(t *testing.T) {
	ctx := context.Background()
	store := newOrderedStore()
	a, err := Create(ctx, store, nil, nil)
	mustOK(t, err)
	b, err := Open(ctx, store, nil)
	mustOK(t, err)
	_, err = commitGroup(t, a, "/a1")
	mustOK(t, err)

	// Uncontended: the snapshot is written while the tip read waits.
	s, err := a.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.AddGroup(ctx, MustPath("/a2"), nil))
	recorded := store.arm()
	_, err = s.Commit(ctx, "a2", nil)
	mustOK(t, err)
	if got := recorded(); len(got) < 2 || got[0] != "snapshot written" || !slices.Contains(got, "tip read") {
		t.Fatalf("an uncontended commit did %v, want its snapshot written while its tip read was held", got)
	}

	// The branch moves under a stale session: the check beside the writes
	// refuses the commit, which leaves the session as it was.
	stale, err := a.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, stale.AddGroup(ctx, MustPath("/a3"), nil))
	_, err = commitGroup(t, b, "/b1")
	mustOK(t, err)
	won, err := b.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	base := stale.SnapshotID()
	_, err = stale.Commit(ctx, "a3", nil)
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.lostRace || ce.ActualParent != won {
		t.Fatalf("a commit on a moved branch: %v, want a conflict found on reading the tip", err)
	}
	if tip, err := a.LookupBranch(ctx, MainBranch); err != nil || tip != won {
		t.Fatalf("the refused commit moved the branch: %v, %v", tip, err)
	}
	if stale.ReadOnly() || stale.SnapshotID() != base || !stale.HasUncommittedChanges() {
		t.Fatal("the refused commit changed the session")
	}

	// Contended now: the tip is read before anything is written, and a
	// commit on a moved branch writes nothing.
	recorded = store.arm()
	_, err = stale.Commit(ctx, "a3", nil)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("the stale session again: %v, want a conflict", err)
	}
	if got := recorded(); len(got) == 0 || slices.Contains(got, "snapshot written") {
		t.Fatalf("a contended commit on a moved branch did %v, want its tip read and nothing written", got)
	}
	mustOK(t, stale.Rebase(ctx, &BasicConflictSolver{}))
	recorded = store.arm()
	_, err = stale.Commit(ctx, "a3", nil)
	mustOK(t, err)
	if got := recorded(); len(got) < 2 || got[0] != "tip read" || !slices.Contains(got, "snapshot written") {
		t.Fatalf("a contended commit did %v, want its tip read before its snapshot written", got)
	}

	// Landed again: beside the writes once more.
	s, err = a.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.AddGroup(ctx, MustPath("/a4"), nil))
	recorded = store.arm()
	_, err = s.Commit(ctx, "a4", nil)
	mustOK(t, err)
	if got := recorded(); len(got) < 2 || got[0] != "snapshot written" {
		t.Fatalf("a commit after one that landed did %v, want its snapshot written while its tip read was held", got)
	}
}
