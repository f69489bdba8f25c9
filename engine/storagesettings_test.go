package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
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

// sessionWithChunk returns a writable session on main that has written a
// group, an array "a" of four one-element chunks, and chunk as its chunk 0.
func sessionWithChunk(t *testing.T, repo *Repository, chunk string) *Session {
	t.Helper()
	ctx := context.Background()
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4}, []int{1}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "a/c/0", []byte(chunk)))
	return s
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
		s := sessionWithChunk(t, repo, chunk)
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

// rangeRecorder records the ranged reads of chunk objects, can hold each
// until a number of them are in flight at once, and can fail the one at
// a given offset.
type rangeRecorder struct {
	storage.Storage
	mu       sync.Mutex
	reads    map[int64]int // offset -> length
	inFlight int
	peak     int
	gather   int   // > 0: hold each read until this many are in flight (or a second has passed)
	failAt   int64 // >= 0: the read at this offset fails with errPartFailed
	arrived  chan struct{}
}

var errPartFailed = errors.New("this part fails")

func newRangeRecorder(inner storage.Storage) *rangeRecorder {
	return &rangeRecorder{Storage: inner, reads: map[int64]int{}, failAt: -1, arrived: make(chan struct{}, 64)}
}

func (r *rangeRecorder) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	if !strings.HasPrefix(key, codec.ChunksPrefix) {
		return storage.ReadRange(ctx, r.Storage, key, offset, dst)
	}
	r.mu.Lock()
	r.reads[offset] = len(dst)
	r.inFlight++
	r.peak = max(r.peak, r.inFlight)
	gather, failAt := r.gather, r.failAt
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if offset == failAt {
		return storage.Determinate(errPartFailed)
	}
	if gather > 0 {
		deadline := time.After(time.Second)
		for {
			r.mu.Lock()
			enough := r.peak >= gather
			r.mu.Unlock()
			if enough {
				break
			}
			select {
			case <-time.After(time.Millisecond):
			case <-deadline:
				return errors.Newf("only %d reads in flight at once, want %d", r.peak, gather)
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
	}
	return storage.ReadRange(ctx, r.Storage, key, offset, dst)
}

func (r *rangeRecorder) take() (reads map[int64]int, peak int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reads, peak = r.reads, r.peak
	r.reads, r.peak = map[int64]int{}, 0
	return reads, peak
}

// A chunk read larger than the ideal request size runs as ranged reads of
// nearly equal size, as many as its size over the ideal size (rounded up)
// and no more than the maximum for one object, all in flight at once; a
// read no larger than the ideal size is one read. The settings follow the
// config in force, and the first part to fail fails the read.
func TestLargeChunkReadsSplit(t *testing.T) {
	ctx := context.Background()
	rec := newRangeRecorder(memory.New(t.Name()))
	cfg := codec.DefaultRepoConfig()
	cfg.InlineChunkThreshold = 0
	cfg.Storage = &codec.StorageSettings{IdealConcurrentRequestSize: 100 << 10, MaxConcurrentRequestsForObject: 4}
	repo, err := Create(ctx, rec, &cfg, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	chunk := make([]byte, 300<<10+1)
	for i := range chunk {
		chunk[i] = byte(i * 7 / 5)
	}
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{2}, []int{1}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "a/c/0", chunk))
	mustOK(t, s.StoreSet(ctx, "a/c/1", chunk[:100<<10]))
	_, err = s.Commit(ctx, "two chunks", nil)
	mustOK(t, err)

	read := func(key string, want []byte) {
		t.Helper()
		r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
		mustOK(t, err)
		got, ok, err := r.StoreGet(ctx, key, storage.From(0))
		if err != nil || !ok || string(got) != string(want) {
			t.Fatalf("%s: %d bytes, found %v, %v", key, len(got), ok, err)
		}
	}
	// 300 KiB + 1 at 100 KiB: four reads, the maximum, all at once.
	rec.gather = 4
	read("a/c/0", chunk)
	reads, peak := rec.take()
	if len(reads) != 4 || peak != 4 {
		t.Fatalf("reads %v, %d in flight at once; want 4 parts at once", reads, peak)
	}
	var total int
	for off, n := range reads {
		if n < 75<<10 || n > 76<<10 {
			t.Fatalf("part at %d is %d bytes, want a quarter of the chunk", off, n)
		}
		total += n
	}
	if total != len(chunk) {
		t.Fatalf("parts cover %d bytes of %d", total, len(chunk))
	}
	rec.gather = 0
	read("a/c/1", chunk[:100<<10])
	if reads, _ := rec.take(); len(reads) != 1 {
		t.Fatalf("a read of the ideal size ran as %v", reads)
	}

	// A handle's own config: 200 KiB requests, so two parts.
	use := repo.Config()
	use.Storage = &codec.StorageSettings{IdealConcurrentRequestSize: 200 << 10}
	mustOK(t, repo.UseConfig(use))
	read("a/c/0", chunk)
	if reads, _ := rec.take(); len(reads) != 2 {
		t.Fatalf("at 200 KiB requests the read ran as %v, want 2 parts", reads)
	}
	// The defaults (12 MiB requests) leave it whole.
	use.Storage = nil
	mustOK(t, repo.UseConfig(use))
	read("a/c/0", chunk)
	if reads, _ := rec.take(); len(reads) != 1 {
		t.Fatalf("with the defaults the read ran as %v", reads)
	}

	// The second of two parts fails: so does the read, with its error.
	use.Storage = &codec.StorageSettings{IdealConcurrentRequestSize: 200 << 10}
	mustOK(t, repo.UseConfig(use))
	rec.failAt = int64(len(chunk) / 2)
	r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	mustOK(t, err)
	if _, _, err := r.StoreGet(ctx, "a/c/0", storage.From(0)); !errors.Is(err, errPartFailed) {
		t.Fatalf("a read whose part fails: %v", err)
	}
}

// noCreateOnly is a store that refuses create-only writes, as some S3
// servers refuse If-None-Match. It can let another writer's entry land
// over the next ref entry written, right after it: the same entry with
// another write id (storage.Consensus's layout: the write id at bytes 13
// to 29, a CRC-32C of the rest at the end).
type noCreateOnly struct {
	storage.Storage
	mu        sync.Mutex
	overwrite bool // the next plain write of a ref entry is overwritten at once
}

var errNoCreateOnly = storage.Determinate(errors.New("NotImplemented: If-None-Match"))

func (s *noCreateOnly) PutIfAbsent(context.Context, string, []byte) error { return errNoCreateOnly }

func (s *noCreateOnly) Put(ctx context.Context, key string, data []byte) error {
	if err := s.Storage.Put(ctx, key, data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overwrite && strings.HasPrefix(key, codec.RefsPrefix) {
		s.overwrite = false
		other := append([]byte{}, data...)
		other[13] ^= 0xff
		binary.BigEndian.PutUint32(other[len(other)-4:], crc32.Checksum(other[:len(other)-4], crc32.MakeTable(crc32.Castagnoli)))
		return s.Storage.Put(ctx, key, other)
	}
	return nil
}

// With unsafe_use_conditional_create off, a store without create-only
// writes works: a create-only write is a check, a plain write and a read
// back. A branch that moved is still a conflict, a tag that exists still
// exists, and a racing entry that lands before the read back makes the
// commit a conflict instead of a success.
func TestUnsafeNoConditionalCreate(t *testing.T) {
	ctx := context.Background()
	store := &noCreateOnly{Storage: memory.New(t.Name())}
	if _, err := Create(ctx, store, nil, nil); !errors.Is(err, errNoCreateOnly) {
		t.Fatalf("a store without create-only writes, with them on: %v", err)
	}
	cfg := codec.DefaultRepoConfig()
	cfg.Storage = &codec.StorageSettings{UnsafeNoConditionalCreate: true}
	repo, err := Create(ctx, store, &cfg, nil)
	mustOK(t, err)
	first, second := sessionWithChunk(t, repo, "one"), sessionWithChunk(t, repo, "two")
	id, err := first.Commit(ctx, "first", nil)
	mustOK(t, err)
	if _, err := second.Commit(ctx, "second", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("a commit on a branch that moved: %v", err)
	}
	mustOK(t, repo.CreateTag(ctx, "v1", id))
	if err := repo.CreateTag(ctx, "v1", id); !errors.Is(err, ErrTagExists) {
		t.Fatalf("a tag created twice: %v", err)
	}
	// Another writer's entry lands between this writer's write and its read back.
	store.overwrite = true
	if _, err := sessionWithChunk(t, repo, "three").Commit(ctx, "raced", nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("a commit whose entry was overwritten: %v", err)
	}
	if store.overwrite {
		t.Fatal("no ref entry was written")
	}
	// Reopened, the setting is the stored config's.
	again, err := Open(ctx, store, nil)
	mustOK(t, err)
	if s := again.Config().Storage; s == nil || !s.UnsafeNoConditionalCreate {
		t.Fatalf("stored settings %+v", s)
	}
}

// TestDefaultStorageSettingsChangeNothing checks that the defaults, set
// explicitly, give the policy and the read split of no settings at all.
func TestDefaultStorageSettingsChangeNothing(t *testing.T) {
	d := DefaultStorageSettings()
	if got, want := retryPolicy(&d), retryPolicy(nil); got != want {
		t.Fatalf("retry policy of the defaults %+v, of no settings %+v", got, want)
	}
	for _, n := range []int{1, codec.DefaultIdealConcurrentRequestSize, codec.DefaultIdealConcurrentRequestSize + 1, 1 << 30} {
		if got, want := d.ReadParts(n), (*codec.StorageSettings)(nil).ReadParts(n); got != want {
			t.Fatalf("a read of %d bytes: %d parts with the defaults, %d with no settings", n, got, want)
		}
	}
	if got, want := d.MultipartMin(), (*codec.StorageSettings)(nil).MultipartMin(); got != want {
		t.Fatalf("multipart uploads from %d bytes with the defaults, from %d with no settings", got, want)
	}
	if d.MinimumSizeForMultipartUpload == 0 || d.RetryMaxTries == 0 || d.RetryInitialBackoffMS == 0 || d.RetryMaxBackoffMS == 0 || d.MaxConcurrentRequestsForObject == 0 || d.IdealConcurrentRequestSize == 0 {
		t.Fatalf("defaults with a field left unset: %+v", d)
	}
}

// uploadRecorder records the multipart uploads of a memory store: the
// parts sent and the storage class asked for, by key.
type uploadRecorder struct {
	*memory.Store
	mu      sync.Mutex
	parts   map[string]int
	classes map[string]string
}

func (u *uploadRecorder) StartUpload(ctx context.Context, key string) (string, error) {
	u.mu.Lock()
	u.classes[key] = storage.StorageClass(ctx)
	u.mu.Unlock()
	return u.Store.StartUpload(ctx, key)
}

func (u *uploadRecorder) UploadPart(ctx context.Context, key, id string, n int, data [][]byte) (string, error) {
	u.mu.Lock()
	u.parts[key]++
	u.mu.Unlock()
	return u.Store.UploadPart(ctx, key, id, n, data)
}

// Objects from minimum_size_for_multipart_upload on go up as multipart
// uploads of 8 MiB parts, with the chunks' storage class; smaller ones, and
// every object below the 100 MiB default, as one put.
func TestLargeObjectsAreMultipartUploads(t *testing.T) {
	ctx := context.Background()
	rec := &uploadRecorder{Store: memory.New(t.Name()), parts: map[string]int{}, classes: map[string]string{}}
	cfg := codec.DefaultRepoConfig()
	cfg.InlineChunkThreshold = 0
	cfg.Storage = &codec.StorageSettings{MinimumSizeForMultipartUpload: 10 << 20, ChunksStorageClass: "INTELLIGENT_TIERING"}
	repo, err := Create(ctx, rec, &cfg, nil)
	mustOK(t, err)
	big := make([]byte, 20<<20+3)
	for i := range big {
		big[i] = byte(i * 7)
	}
	small := big[:9<<20]
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{2}, []int{1}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "a/c/0", big))
	mustOK(t, s.StoreSet(ctx, "a/c/1", small))
	snap, err := s.Commit(ctx, "a large chunk", nil)
	mustOK(t, err)

	rec.mu.Lock()
	uploads, parts, class := len(rec.parts), 0, ""
	for key, n := range rec.parts {
		parts, class = n, rec.classes[key]
		if !strings.HasPrefix(key, codec.ChunksPrefix) {
			t.Errorf("a multipart upload of %q; only the large chunk's object should be one", key)
		}
	}
	rec.mu.Unlock()
	if uploads != 1 || parts != 3 || class != "INTELLIGENT_TIERING" {
		t.Fatalf("%d multipart uploads, the last of %d parts with class %q; want one of 3 parts (20 MiB in 8 MiB parts) with the chunks' class", uploads, parts, class)
	}
	ro, err := repo.ReadonlySession(ctx, Version{Snapshot: snap})
	mustOK(t, err)
	for key, want := range map[string][]byte{"a/c/0": big, "a/c/1": small} {
		got, found, err := ro.StoreGet(ctx, key, storage.From(0))
		if err != nil || !found || !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes (found %v, err %v), want the %d written", key, len(got), found, err, len(want))
		}
	}

	// Without the setting, the default 100 MiB applies.
	cfg.Storage = nil
	mustOK(t, repo.UseConfig(cfg))
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "a/c/1", big))
	_, err = s.Commit(ctx, "a large chunk again", nil)
	mustOK(t, err)
	if n := len(rec.parts); n != 1 {
		t.Fatalf("%d multipart uploads after writing 20 MiB with the 100 MiB default, want still 1", n)
	}
	if n := rec.Uploads(); n != 0 {
		t.Fatalf("%d uploads left in progress", n)
	}
}
