package engine

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
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

// TestOpenUsesTheCallersRetryBound checks that the retry settings a caller
// opens or creates with bound the first reads, made before the stored
// config is known: a storage that fails every request is tried that many
// times, not the default's.
func TestOpenUsesTheCallersRetryBound(t *testing.T) {
	ctx := context.Background()
	mem := memory.New(t.Name())
	if _, err := Create(ctx, mem, nil, nil); err != nil {
		t.Fatal(err)
	}
	quick := func(tries uint32) *codec.StorageSettings {
		return &codec.StorageSettings{RetryMaxTries: tries, RetryInitialBackoffMS: 1, RetryMaxBackoffMS: 1}
	}
	down := storage.NewUnreliable(mem, storage.Faults{Rate: 1})
	tries := func(what string, want int64, open func() error) {
		t.Helper()
		before := down.Injected()
		if err := open(); !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("%s: got %v, want the injected failure", what, err)
		}
		if got := down.Injected() - before; got != want {
			t.Fatalf("%s: %d tries, want %d", what, got, want)
		}
	}
	tries("open with 2 tries", 2, func() error {
		_, err := Open(ctx, down, &Options{OpenSettings: quick(2)})
		return err
	})
	tries("open or create with 3 tries", 3, func() error {
		_, err := OpenOrCreate(ctx, down, &codec.RepoConfig{ManifestBlockChunks: 1, Storage: quick(3)}, nil)
		return err
	})
	tries("create with 1 try", 1, func() error {
		_, err := Create(ctx, down, &codec.RepoConfig{ManifestBlockChunks: 1, Storage: quick(1)}, nil)
		return err
	})
	tries("open with the handle's own policy", 4, func() error {
		_, err := Open(ctx, down, &Options{Retry: storage.RetryPolicy{MaxAttempts: 4}, OpenSettings: quick(2)})
		return err
	})
	tries("open with the defaults", int64(storage.DefaultRetryPolicy.MaxAttempts), func() error {
		_, err := Open(ctx, down, nil)
		return err
	})
}

// TestUpstreamRepositoryIsUnsupported: a location holding an upstream
// Icechunk repository (its main branch a ref.json file) is neither opened
// nor created over: ErrUnsupportedVersion naming the file, not corruption.
func TestUpstreamRepositoryIsUnsupported(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	if err := store.Put(ctx, "refs/branch.main/ref.json", []byte(`{"snapshot":"QQQ"}`)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, store, nil)
	if !errors.Is(err, codec.ErrUnsupportedVersion) || errors.Is(err, codec.ErrCorrupt) || !strings.Contains(err.Error(), "upstream Icechunk repository (refs/branch.main/ref.json)") {
		t.Fatalf("open: got %v, want ErrUnsupportedVersion naming the upstream ref", err)
	}
	if _, err := Exists(ctx, store); !errors.Is(err, codec.ErrUnsupportedVersion) {
		t.Fatalf("exists: got %v", err)
	}
	if _, err := Create(ctx, store, nil, nil); !errors.Is(err, codec.ErrUnsupportedVersion) {
		t.Fatalf("create over it: got %v", err)
	}
}

// TestCreateNeedsAnEmptyLocation: a location holding files that are not a
// repository's is refused, naming one, on every kind of store; one holding
// only what an interrupted create leaves, or a repository's leftover
// objects, is not.
func TestCreateNeedsAnEmptyLocation(t *testing.T) { onEachStore(t, testCreateNeedsAnEmptyLocation) }

func testCreateNeedsAnEmptyLocation(t *testing.T, store storage.Storage) {
	ctx := context.Background()
	for _, k := range []string{"chunks/0000000000000000000A", "manifests/0000000000000000000B", "snapshots/0000000000000000000C", "transactions/0000000000000000000C"} {
		mustOK(t, store.Put(ctx, k, []byte("left over")))
	}
	mustOK(t, store.Put(ctx, "data/file.nc", []byte("not ours")))
	_, err := Create(ctx, store, nil, nil)
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `is not empty (it holds "data/file.nc")`) {
		t.Fatalf("create beside another file: got %v", err)
	}
	mustOK(t, store.Delete(ctx, "data/file.nc"))
	mustOK(t, store.Put(ctx, "zzz.txt", []byte("not ours either")))
	if _, err := Create(ctx, store, nil, nil); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), `"zzz.txt"`) {
		t.Fatalf("create beside a file after the namespaces: got %v", err)
	}
	mustOK(t, store.Delete(ctx, "zzz.txt"))
	if _, err := Create(ctx, store, nil, nil); err != nil {
		t.Fatalf("create over a repository's leftovers: %v", err)
	}
}
