package engine

import (
	"context"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// TestCreateRacesAndRetries checks repository creation: the first snapshot
// has the fixed initial id; of creates racing on one storage exactly one
// succeeds and the others fail with ErrRepositoryExists; and a create that
// finds the initial snapshot already written (by a create interrupted
// before it moved main) succeeds.
func TestCreateRacesAndRetries(t *testing.T) { onEachStore(t, testCreateRacesAndRetries) }

func testCreateRacesAndRetries(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	const creators = 8
	var wg sync.WaitGroup
	errs := make([]error, creators)
	for i := range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Create(ctx, store, nil, nil)
		}()
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, ErrRepositoryExists):
			t.Fatalf("a losing create: got %v, want ErrRepositoryExists", err)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates succeeded, want 1", created)
	}
	repo, err := Open(ctx, store, nil)
	mustOK(t, err)
	tip, err := repo.LookupBranch(ctx, MainBranch)
	mustOK(t, err)
	if tip != codec.InitialSnapshotID || tip.String() != "1CECHNKREP0F1RSTCMT0" {
		t.Fatalf("main starts at %s, want the initial snapshot id", tip)
	}
}

func TestCreateAfterAnInterruptedCreate(t *testing.T) {
	onEachStore(t, func(t *testing.T, store storage.Storage) {
		ctx := context.Background()
		// An earlier create wrote the initial snapshot and stopped.
		data, err := codec.EncodeSnapshot(&codec.Snapshot{ID: codec.InitialSnapshotID, FlushedAt: 1, Message: "Repository initialized"})
		mustOK(t, err)
		mustOK(t, store.PutIfAbsent(ctx, codec.SnapshotKey(codec.InitialSnapshotID), data))
		repo, err := Create(ctx, store, nil, nil)
		mustOK(t, err)
		s, err := repo.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
		_, err = s.Commit(ctx, "first", nil)
		mustOK(t, err)
		if _, err := Create(ctx, store, nil, nil); !errors.Is(err, ErrRepositoryExists) {
			t.Fatalf("create over a repository: got %v, want ErrRepositoryExists", err)
		}
	})
}
