package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
)

// A repository handle remembers its branch's last log entry, to commit
// after it without listing. If the repository is deleted and made again,
// or restored from a copy, while the handle is open, that entry is gone:
// a commit through the handle must then fail as the branch having moved,
// not land after the entry it remembered and leave the log with a gap.

// allObjects returns every object of store, by key.
func allObjects(t *testing.T, store storage.Storage) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	for info, err := range store.List(ctx, "", storage.ListOptions{}) {
		mustOK(t, err)
		data, err := store.Get(ctx, info.Key)
		mustOK(t, err)
		out[info.Key] = data
	}
	return out
}

// replaceAll makes store hold exactly objects.
func replaceAll(t *testing.T, store storage.Storage, objects map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for key := range allObjects(t, store) {
		keys = append(keys, key)
	}
	mustOK(t, store.Delete(ctx, keys...))
	for key, data := range objects {
		mustOK(t, store.Put(ctx, key, data))
	}
}

func messages(t *testing.T, repo *Repository) []string {
	t.Helper()
	var out []string
	for info, err := range repo.Ancestry(context.Background(), Version{Branch: MainBranch}) {
		mustOK(t, err)
		out = append(out, info.Message)
	}
	return out
}

func TestCommitAfterRepositoryMadeAgain(t *testing.T) {
	onEachStore(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		old, err := Create(ctx, store, nil, nil)
		mustOK(t, err)
		commitGroups(t, old, MainBranch, 0, 3) // the handle remembers slot 3
		late, err := old.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		mustOK(t, late.StoreSet(ctx, "late/zarr.json", groupJSON("")))

		// Deleted and made again, with as many commits and one fewer.
		for _, n := range []int{3, 2} {
			replaceAll(t, store, nil)
			again, err := Create(ctx, store, nil, nil)
			mustOK(t, err)
			commitGroups(t, again, MainBranch, 10, n)
			want := messages(t, again)

			_, err = late.Commit(ctx, "late commit through the old handle", nil)
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("%d commits: commit into the repository made again: got %v, want ErrConflict", n, err)
			}
			fresh, err := Open(ctx, store, nil)
			mustOK(t, err)
			if got := messages(t, fresh); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%d commits: history of the repository made again: %q, want %q", n, got, want)
			}
			// The old handle reads the new repository now, and commits on it.
			commitGroups(t, old, MainBranch, 20, 1)
			if got := messages(t, fresh); len(got) != len(want)+1 || got[0] != "commit 20" {
				t.Fatalf("%d commits: history after a commit through the old handle: %q", n, got)
			}
		}
	})
}

func TestCommitAfterRepositoryRestored(t *testing.T) {
	onEachStore(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		repo, err := Create(ctx, store, nil, nil)
		mustOK(t, err)
		commitGroups(t, repo, MainBranch, 0, 2)
		backup := allObjects(t, store)
		commitGroups(t, repo, MainBranch, 2, 3)
		s, err := repo.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		mustOK(t, s.StoreSet(ctx, "late/zarr.json", groupJSON("")))

		replaceAll(t, store, backup)
		if _, err := s.Commit(ctx, "late", nil); !errors.Is(err, ErrConflict) {
			t.Fatalf("commit after a restore: got %v, want ErrConflict", err)
		}
		commitGroups(t, repo, MainBranch, 5, 1)
		fresh, err := Open(ctx, store, nil)
		mustOK(t, err)
		want := []string{"commit 5", "commit 1", "commit 0", "Repository initialized"}
		if got := messages(t, fresh); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("history after the restore and a commit: %q, want %q", got, want)
		}
	})
}
