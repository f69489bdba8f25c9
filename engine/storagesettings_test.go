package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// classRecorder records the storage class each write asked for, by key.
type classRecorder struct {
	storage.Storage
	mu      sync.Mutex
	classes map[string]string
}

func (c *classRecorder) record(ctx context.Context, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.classes[key] = storage.StorageClass(ctx)
}

func (c *classRecorder) Put(ctx context.Context, key string, data []byte) error {
	c.record(ctx, key)
	return c.Storage.Put(ctx, key, data)
}

func (c *classRecorder) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	c.record(ctx, key)
	return c.Storage.PutIfAbsent(ctx, key, data)
}

// byKind splits the recorded classes into those of chunk objects and
// those of everything else.
func (c *classRecorder) byKind() (chunks, metadata map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	chunks, metadata = map[string]bool{}, map[string]bool{}
	for k, class := range c.classes {
		if strings.HasPrefix(k, codec.ChunksPrefix) {
			chunks[class] = true
		} else {
			metadata[class] = true
		}
	}
	clear(c.classes)
	return chunks, metadata
}

// Every write asks for the storage class the config in force names for its
// kind: chunk objects (written behind too) the chunks class, snapshots,
// manifests, transaction logs, refs and the config the metadata class;
// each falls back to storage_class, and none set asks for the default.
func TestStorageClassesFollowTheConfig(t *testing.T) {
	ctx := context.Background()
	rec := &classRecorder{Storage: memory.New(t.Name()), classes: map[string]string{}}
	cfg := codec.DefaultRepoConfig()
	cfg.InlineChunkThreshold = 0
	cfg.Storage = &codec.StorageSettings{StorageClass: "STANDARD_IA", ChunksStorageClass: "INTELLIGENT_TIERING"}
	repo, err := Create(ctx, rec, &cfg, nil)
	mustOK(t, err)
	commit := func(chunk string) {
		t.Helper()
		s, err := repo.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
		mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4}, []int{1}, "default", "")))
		mustOK(t, s.StoreSet(ctx, "a/c/0", []byte(chunk)))
		ok, err := s.StoreSetBehind(ctx, "a/c/1", []byte(chunk+"behind"), true)
		if err != nil || !ok {
			t.Fatalf("set behind: %v %v", ok, err)
		}
		_, err = s.Commit(ctx, chunk, nil)
		mustOK(t, err)
	}
	want := func(what string, chunks, metadata string) {
		t.Helper()
		gotChunks, gotMeta := rec.byKind()
		if len(gotChunks) != 1 || !gotChunks[chunks] || len(gotMeta) != 1 || !gotMeta[metadata] {
			t.Fatalf("%s: chunk objects written with classes %v, metadata with %v; want %q and %q", what, gotChunks, gotMeta, chunks, metadata)
		}
	}
	_, meta := rec.byKind()
	if len(meta) != 1 || !meta["STANDARD_IA"] {
		t.Fatalf("create wrote its objects with classes %v, want STANDARD_IA", meta)
	}
	commit("one")
	want("the config's classes", "INTELLIGENT_TIERING", "STANDARD_IA")

	// UseConfig changes the classes of this handle at once.
	use := repo.Config()
	use.Storage = &codec.StorageSettings{MetadataStorageClass: "STANDARD"}
	mustOK(t, repo.UseConfig(use))
	commit("two")
	want("a handle's own config", "", "STANDARD")

	// SaveConfig stores them, and a handle opened later uses them.
	saved := repo.Config()
	saved.Storage = &codec.StorageSettings{StorageClass: "GLACIER_IR"}
	mustOK(t, repo.SaveConfig(ctx, saved))
	rec.byKind()
	again, err := Open(ctx, rec, nil)
	mustOK(t, err)
	repo = again
	commit("three")
	want("the stored config", "GLACIER_IR", "GLACIER_IR")

	saved.Storage = nil
	mustOK(t, repo.SaveConfig(ctx, saved))
	rec.byKind()
	commit("four")
	want("no settings", "", "")
}

// The retry settings are the policy of the handle's requests, changing
// with the config in force; a policy given in Options wins over them.
func TestRetrySettingsFollowTheConfig(t *testing.T) {
	ctx := context.Background()
	faulty := storage.NewUnreliable(memory.New(t.Name()), storage.Faults{Rate: 1, Seed: 1})
	faulty.SetEnabled(false)
	cfg := codec.DefaultRepoConfig()
	cfg.Storage = &codec.StorageSettings{RetryMaxTries: 3, RetryInitialBackoffMS: 1, RetryMaxBackoffMS: 2}
	repo, err := Create(ctx, faulty, &cfg, nil)
	mustOK(t, err)
	tries := func(r *Repository) int64 {
		t.Helper()
		faulty.SetEnabled(true)
		defer faulty.SetEnabled(false)
		before := faulty.Injected()
		_, err := r.Storage().Get(ctx, "anything")
		if !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("a read from a failing storage: %v", err)
		}
		return faulty.Injected() - before
	}
	if n := tries(repo); n != 3 {
		t.Fatalf("tries with max_tries 3: %d", n)
	}
	one := repo.Config()
	one.Storage = &codec.StorageSettings{RetryMaxTries: 1}
	mustOK(t, repo.UseConfig(one))
	if n := tries(repo); n != 1 {
		t.Fatalf("tries with max_tries 1: %d", n)
	}
	opened, err := Open(ctx, faulty, nil)
	mustOK(t, err)
	if n := tries(opened); n != 3 {
		t.Fatalf("tries of a handle opened with the stored config: %d", n)
	}
	own, err := Open(ctx, faulty, &Options{Retry: storage.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	mustOK(t, err)
	if n := tries(own); n != 2 {
		t.Fatalf("tries with Options.Retry: %d", n)
	}
	mustOK(t, own.UseConfig(one))
	if n := tries(own); n != 2 {
		t.Fatalf("Options.Retry gave way to the config: %d tries", n)
	}
}

// Settings that cannot work are refused when the config is given.
func TestStorageSettingsValidation(t *testing.T) {
	ctx := context.Background()
	for name, s := range map[string]codec.StorageSettings{
		"backoffs reversed": {RetryInitialBackoffMS: 500, RetryMaxBackoffMS: 100},
		"a class name":      {ChunksStorageClass: "standard ia"},
	} {
		cfg := codec.DefaultRepoConfig()
		cfg.Storage = &s
		_, err := Create(ctx, memory.New(t.Name()+name), &cfg, nil)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	p := retryPolicy(&codec.StorageSettings{RetryInitialBackoffMS: 5000})
	if p.BaseDelay != 5*time.Second || p.MaxDelay != 5*time.Second {
		t.Fatalf("an initial backoff above the default maximum: %+v", p)
	}
}
