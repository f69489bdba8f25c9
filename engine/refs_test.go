package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// A repository handle that has read a branch finds its tip and commits to
// it without listing the branch log: one Get of the slot after the
// remembered entry, one conditional Put. Listing is what object stores
// charge most for, and contending writers do it on every attempt.
func TestWarmCommitDoesNotList(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{2}, ChunkShape: []uint64{1}}, nil))
	_, err = s.Commit(ctx, "array", nil)
	ok(t, err)

	counting.Reset()
	s, err = repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.SetChunk(ctx, MustPath("/a"), []uint32{0}, []byte{1, 2, 3, 4}))
	_, err = s.Commit(ctx, "chunk", nil)
	ok(t, err)
	if n := counting.Counts().Ops[storage.OpList]; n != 0 {
		t.Errorf("session and commit on a warm handle listed %d times, want 0", n)
	}

	// Another handle moves the branch twice; the first handle's next
	// session still sees the new tip, and its stale commit is refused.
	other, err := Open(ctx, counting, nil)
	ok(t, err)
	stale, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, stale.SetChunk(ctx, MustPath("/a"), []uint32{1}, []byte{9}))
	var last codec.SnapshotID
	for i := range 2 {
		o, err := other.WritableSession(ctx, MainBranch)
		ok(t, err)
		ok(t, o.SetChunk(ctx, MustPath("/a"), []uint32{0}, []byte{byte(i)}))
		last, err = o.Commit(ctx, "other", nil)
		ok(t, err)
	}
	if _, err := stale.Commit(ctx, "stale", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a moved branch: got %v, want a conflict", err)
	}
	tip, err := repo.LookupBranch(ctx, MainBranch)
	ok(t, err)
	if tip != last {
		t.Fatalf("tip through the first handle is %s, want %s", tip, last)
	}
	fresh, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, fresh.SetChunk(ctx, MustPath("/a"), []uint32{1}, []byte{7}))
	if _, err := fresh.Commit(ctx, "after", nil); err != nil {
		t.Fatalf("commit after catching up: %v", err)
	}
}

// Branches and tags are listed sorted by name, though their objects' keys
// sort "dev-2/..." before "dev/...".
func TestRefsAreListedSortedByName(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	mustOK(t, err)
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	names := []string{"dev-2", "dev", "dev.x", "dev0", "a"}
	for _, n := range names {
		mustOK(t, repo.CreateBranch(ctx, n, tip))
		mustOK(t, repo.CreateTag(ctx, n, tip))
	}
	branches, err := repo.ListBranches(ctx)
	mustOK(t, err)
	if want := []string{"a", "dev", "dev-2", "dev.x", "dev0", "main"}; !slices.Equal(branches, want) {
		t.Fatalf("branches %v, want %v", branches, want)
	}
	tags, err := repo.ListTags(ctx)
	mustOK(t, err)
	if want := []string{"a", "dev", "dev-2", "dev.x", "dev0"}; !slices.Equal(tags, want) {
		t.Fatalf("tags %v, want %v", tags, want)
	}
}
