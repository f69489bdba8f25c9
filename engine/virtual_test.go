package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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

// newVirtualRepo creates a repository in store whose virtual chunk
// containers have the URL prefixes given, and opens a writable session on
// its main branch.
func newVirtualRepo(t *testing.T, store storage.Storage, urlPrefixes ...string) (*Repository, *Session) {
	t.Helper()
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	for i, p := range urlPrefixes {
		cfg.VirtualChunkContainers = append(cfg.VirtualChunkContainers, codec.VirtualChunkContainer{Name: fmt.Sprintf("container%d", i), URLPrefix: p})
	}
	repo, err := Create(ctx, store, &cfg, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	return repo, s
}

// bucketObject is an object store holding f.nc ("xyzw"), and that
// object's version.
func bucketObject(t *testing.T) (storage.Storage, storage.ObjectInfo) {
	t.Helper()
	ctx := context.Background()
	objects := memory.New("bucket")
	ok(t, objects.Put(ctx, "f.nc", []byte("xyzw")))
	info, err := objects.Stat(ctx, "f.nc")
	ok(t, err)
	return objects, info
}

func TestVirtualChunks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data.bin")
	ok(t, os.WriteFile(data, []byte("0123456789abcdefghij"), 0o644))
	outside := filepath.Join(t.TempDir(), "secret.bin")
	ok(t, os.WriteFile(outside, []byte("secret"), 0o644))

	repo, s := newVirtualRepo(t, memory.New(t.Name()), "file://"+dir+"/")
	ok(t, s.AddArray(ctx, MustPath("/v"), ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}, nil))
	loc := "file://" + data
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{0}, Location: loc, Offset: 2, Length: 5}))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{1}, Location: loc, Offset: 10, Length: 4, LastModified: time.Now().Add(time.Hour).Unix()}))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{2}, Location: loc, Length: 4, LastModified: time.Now().Add(-time.Hour).Unix()}))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{3}, Location: loc, Offset: 18, Length: 10}))

	// Locations outside every container are refused when set.
	if err := s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{0}, Location: "file://" + outside, Length: 6}); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("outside a container: %v", err)
	}
	_, err := s.Commit(ctx, "virtual", nil)
	ok(t, err)

	if got := chunkBytes(t, s, "/v", 0); got != "23456" {
		t.Fatalf("virtual chunk 0: %q", got)
	}
	got, _, err := s.GetChunk(ctx, MustPath("/v"), []uint32{0}, storage.Suffix(2))
	ok(t, err)
	if string(got) != "56" {
		t.Fatalf("suffix of a virtual chunk: %q", got)
	}
	if got := chunkBytes(t, s, "/v", 1); got != "abcd" {
		t.Fatalf("virtual chunk 1: %q", got)
	}
	// The file changed after chunk 2's reference was made.
	if _, _, err := s.GetChunk(ctx, MustPath("/v"), []uint32{2}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("modified object: %v", err)
	}
	// The file is too short for chunk 3.
	if _, _, err := s.GetChunk(ctx, MustPath("/v"), []uint32{3}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("short object: %v", err)
	}

	// A reference smuggled past the check (a config narrowed after it was
	// written, or a crafted manifest) is refused at read time, and so is a
	// location that climbs out of its container.
	w, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, w.SetChunkRef(ctx, MustPath("/v"), []uint32{0}, &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: "file://" + outside, Length: 6}))
	ok(t, w.SetChunkRef(ctx, MustPath("/v"), []uint32{1}, &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: "file://" + dir + "/../" + filepath.Base(filepath.Dir(outside)) + "/secret.bin", Length: 6}))
	for _, c := range []uint32{0, 1} {
		if _, _, err := w.GetChunk(ctx, MustPath("/v"), []uint32{c}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
			t.Fatalf("chunk %d outside its container was read: %v", c, err)
		}
	}
	var locs []string
	for l, err := range s.AllVirtualChunkLocations(ctx) {
		ok(t, err)
		locs = append(locs, l)
	}
	if !slices.Equal(locs, []string{loc}) {
		t.Fatalf("virtual locations: %v, want the one location of all four chunks", locs)
	}
}

// Virtual chunks of a non-file container are read through the storage the
// host registers for it (for s3:// that is an S3 store with credentials).
func TestVirtualChunksThroughRegisteredStorage(t *testing.T) {
	ctx := context.Background()
	repo, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/data/")
	ok(t, s.AddArray(ctx, MustPath("/v"), ArrayMeta{Shape: []uint64{1}, ChunkShape: []uint64{1}}, nil))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), VirtualChunkSpec{Coords: []uint32{0}, Location: "s3://bucket/data/f.nc", Offset: 1, Length: 3}))
	if _, _, err := s.GetChunk(ctx, MustPath("/v"), []uint32{0}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("no storage registered yet: %v", err)
	}
	if err := repo.SetVirtualChunkStorage("s3://elsewhere/", memory.New("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("registering a prefix that is not a container: %v", err)
	}
	objects := memory.New("bucket")
	ok(t, objects.Put(ctx, "f.nc", []byte("xyzw")))
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", objects))
	if got := chunkBytes(t, s, "/v", 0); got != "yzw" {
		t.Fatalf("virtual chunk: %q", got)
	}
}

// A virtual reference that pins an ETag reads only the object with that
// ETag: a rewritten object, or a storage that cannot tell (local files), is
// an ErrVirtualChunk naming the chunk, never bytes of another version.
func TestVirtualChunkETag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ok(t, os.WriteFile(filepath.Join(dir, "f.bin"), []byte("0123456789"), 0o644))
	repo, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/data/", "file://"+dir+"/")
	objects, info := bucketObject(t)
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", objects))
	if info.ETag == "" {
		t.Fatal("memory storage reports no ETag")
	}
	ok(t, s.AddArray(ctx, MustPath("/v"), ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}, nil))
	set := func(i uint32, location, etag string) {
		ok(t, s.SetChunkRef(ctx, MustPath("/v"), []uint32{i}, &codec.ChunkRef{
			Kind: codec.ChunkVirtual, Location: location, Offset: 1, Length: 3, ETag: etag}))
	}
	set(0, "s3://bucket/data/f.nc", info.ETag)
	set(1, "s3://bucket/data/f.nc", info.ETag[1:len(info.ETag)-1]) // stored without quotes
	set(2, "s3://bucket/data/f.nc", `"0000"`)
	set(3, "file://"+dir+"/f.bin", `"abc"`)
	for _, i := range []uint32{0, 1} {
		if got := chunkBytes(t, s, "/v", i); got != "yzw" {
			t.Fatalf("chunk %d with the object's ETag: %q", i, got)
		}
	}
	for i, want := range map[uint32]string{2: "was modified", 3: "reports no ETags"} {
		_, _, err := s.GetChunk(ctx, MustPath("/v"), []uint32{i}, storage.From(0))
		if !errors.Is(err, ErrVirtualChunk) || !strings.Contains(err.Error(), want) {
			t.Fatalf("chunk %d: want ErrVirtualChunk saying %q, got %v", i, want, err)
		}
	}
	// The object is rewritten: the pinned ETag no longer matches.
	ok(t, objects.Put(ctx, "f.nc", []byte("XYZW")))
	_, _, err := s.GetChunk(ctx, MustPath("/v"), []uint32{0}, storage.From(0))
	if !errors.Is(err, ErrVirtualChunk) || !strings.Contains(err.Error(), "s3://bucket/data/f.nc") {
		t.Fatalf("rewritten object: want ErrVirtualChunk naming it, got %v", err)
	}
}

// A virtual chunk pinned to its object's version is read with one
// conditional read, straight into the caller's buffer; the storage is
// asked for the object's version only to explain a refused read.
func TestVirtualChunkPinnedReadIsOneRequest(t *testing.T) {
	ctx := context.Background()
	repo, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/data/")
	objects, info := bucketObject(t)
	counted := storage.NewCounting(objects)
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", counted))

	ok(t, s.StoreSet(ctx, "v/zarr.json", arrayJSON([]int{3}, []int{1}, "default", "")))
	set := func(i uint32, etag string, lastModified int64) {
		ok(t, s.SetChunkRef(ctx, MustPath("/v"), []uint32{i}, &codec.ChunkRef{
			Kind: codec.ChunkVirtual, Location: "s3://bucket/data/f.nc", Offset: 1, Length: 3,
			ETag: etag, LastModified: lastModified}))
	}
	set(0, info.ETag, 0)
	set(1, "", info.ModTime.Unix())
	set(2, "", info.ModTime.Unix()-10)

	counted.Reset()
	for _, key := range []string{"v/c/0", "v/c/1"} {
		buf := make([]byte, 3)
		got, found, err := s.StoreGetInto(ctx, key, storage.From(0), func(n int) ([]byte, error) { return buf[:n], nil })
		ok(t, err)
		if !found || string(got) != "yzw" || &got[0] != &buf[0] {
			t.Fatalf("%s: found %v, %q, read into the caller's buffer: %v", key, found, got, found && &got[0] == &buf[0])
		}
	}
	if c := counted.Counts().Ops; c[storage.OpStat] != 0 || c[storage.OpGetRange] != 2 {
		t.Fatalf("two pinned reads made %v, want 2 reads and no stat", c)
	}

	_, _, err := s.StoreGet(ctx, "v/c/2", storage.From(0))
	if !errors.Is(err, ErrVirtualChunk) || !strings.Contains(err.Error(), "was modified at") {
		t.Fatalf("an object modified after its reference: want ErrVirtualChunk saying so, got %v", err)
	}
	if c := counted.Counts().Ops; c[storage.OpStat] != 1 {
		t.Fatalf("a refused read is explained with one stat, got %v", c)
	}
}

// virtualLocations collects AllVirtualChunkLocations, sorted.
func virtualLocations(t *testing.T, s *Session) []string {
	t.Helper()
	var out []string
	for l, err := range s.AllVirtualChunkLocations(context.Background()) {
		ok(t, err)
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// SetVirtualChunkRefs records a batch: with the container check, refs
// outside every container come back as failed and the rest are set (ETags
// kept, and checked when read, after a commit too); without it all are
// set; a ref outside the grid or without a location fails the whole batch
// before anything is set.
func TestSetVirtualChunkRefs(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, s := newVirtualRepo(t, store, "s3://bucket/data/")
	objects, info := bucketObject(t)
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", objects))
	ok(t, s.AddGroup(ctx, Root, nil))
	ok(t, s.AddArray(ctx, MustPath("/v"), ArrayMeta{Shape: []uint64{8}, ChunkShape: []uint64{1}}, nil))
	v := MustPath("/v")
	const f = "s3://bucket/data/f.nc"

	failed, err := s.SetVirtualChunkRefs(ctx, v, []VirtualChunkSpec{
		{Coords: []uint32{0}, Location: f, Offset: 1, Length: 3, ETag: info.ETag},
		{Coords: []uint32{1}, Location: "s3://elsewhere/x", Length: 3},
		{Coords: []uint32{2}, Location: "file:///etc/passwd", Length: 3},
		{Coords: []uint32{3}, Location: f, Length: 2, LastModified: info.ModTime.Unix()},
	}, true)
	ok(t, err)
	if want := [][]uint32{{1}, {2}}; !slices.EqualFunc(failed, want, slices.Equal) {
		t.Fatalf("failed refs: %v, want %v", failed, want)
	}
	kinds := func(when string, want ...codec.ChunkKind) {
		t.Helper()
		for i, k := range want {
			got, err := s.ChunkType(ctx, v, []uint32{uint32(i)})
			ok(t, err)
			if got != k {
				t.Fatalf("%s: chunk %d is %v, want %v", when, i, got, k)
			}
		}
	}
	kinds("validated batch", codec.ChunkVirtual, 0, 0, codec.ChunkVirtual)
	if got := chunkBytes(t, s, "/v", 0); got != "yzw" {
		t.Fatalf("chunk 0: %q", got)
	}
	if got := chunkBytes(t, s, "/v", 3); got != "xy" {
		t.Fatalf("chunk 3: %q", got)
	}

	// Without the check every ref is set; one outside every container is
	// refused when read.
	failed, err = s.SetVirtualChunkRefs(ctx, v, []VirtualChunkSpec{{Coords: []uint32{1}, Location: "s3://elsewhere/x", Length: 3}}, false)
	ok(t, err)
	if len(failed) != 0 {
		t.Fatalf("failed refs without the container check: %v", failed)
	}
	kinds("unvalidated batch", codec.ChunkVirtual, codec.ChunkVirtual, 0, codec.ChunkVirtual)
	if _, _, err := s.GetChunk(ctx, v, []uint32{1}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("reading a ref outside every container: %v", err)
	}

	// A bad ref anywhere in a batch sets nothing.
	for name, bad := range map[string]struct {
		spec VirtualChunkSpec
		kind error
	}{
		"outside the grid": {VirtualChunkSpec{Coords: []uint32{8}, Location: f, Length: 1}, ErrInvalidIndex},
		"wrong rank":       {VirtualChunkSpec{Coords: []uint32{4, 0}, Location: f, Length: 1}, ErrInvalidIndex},
		"no location":      {VirtualChunkSpec{Coords: []uint32{4}, Length: 1}, ErrInvalidArgument},
		"relative path":    {VirtualChunkSpec{Coords: []uint32{4}, Location: "some/relative/url", Length: 1}, ErrInvalidArgument},
		"absolute path":    {VirtualChunkSpec{Coords: []uint32{4}, Location: "/abs/path", Length: 1}, ErrInvalidArgument},
		"scheme alone":     {VirtualChunkSpec{Coords: []uint32{4}, Location: "s3://", Length: 1}, ErrInvalidArgument},
		"opaque":           {VirtualChunkSpec{Coords: []uint32{4}, Location: "mailto:x@y", Length: 1}, ErrInvalidArgument},
	} {
		for _, validate := range []bool{true, false} {
			_, err := s.SetVirtualChunkRefs(ctx, v, []VirtualChunkSpec{{Coords: []uint32{5}, Location: f, Length: 1}, bad.spec}, validate)
			if !errors.Is(err, bad.kind) || !strings.Contains(err.Error(), "nothing was set") {
				t.Fatalf("%s (validate %v): want %v saying nothing was set, got %v", name, validate, bad.kind, err)
			}
			kinds(name, codec.ChunkVirtual, codec.ChunkVirtual, 0, codec.ChunkVirtual, 0, 0)
		}
	}

	// The single-ref call checks the container and keeps an ETag.
	if err := s.SetVirtualChunkRef(ctx, v, VirtualChunkSpec{Coords: []uint32{6}, Location: "s3://elsewhere/y", Length: 1}); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("a single ref outside every container: %v", err)
	}
	ok(t, s.SetVirtualChunkRef(ctx, v, VirtualChunkSpec{Coords: []uint32{6}, Location: f, Offset: 2, Length: 2, ETag: `"0000"`}))
	if _, _, err := s.GetChunk(ctx, v, []uint32{6}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("a single ref pinned to another ETag: %v", err)
	}

	// ETags survive a commit and are checked through a fresh handle.
	id := commit(t, s, "virtual")
	fresh, err := Open(ctx, store, nil)
	ok(t, err)
	ok(t, fresh.SetVirtualChunkStorage("s3://bucket/data/", objects))
	ro, err := fresh.ReadonlySession(ctx, Version{Snapshot: id})
	ok(t, err)
	ref, err := ro.GetChunkRef(ctx, v, []uint32{0})
	ok(t, err)
	if ref.ETag != info.ETag || ref.Offset != 1 || ref.Length != 3 || ref.Location != f {
		t.Fatalf("committed ref: %+v", ref)
	}
	if got := chunkBytes(t, ro, "/v", 0); got != "yzw" {
		t.Fatalf("committed chunk 0: %q", got)
	}
	ok(t, objects.Put(ctx, "f.nc", []byte("XYZW")))
	if _, _, err := ro.GetChunk(ctx, v, []uint32{0}, storage.From(0)); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("an object rewritten after its ETag was pinned: %v", err)
	}

	if _, err := ro.SetVirtualChunkRefs(ctx, v, []VirtualChunkSpec{{Coords: []uint32{0}, Location: f, Length: 1}}, true); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("a batch on a read-only session: %v", err)
	}
	w, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	if _, err := w.SetVirtualChunkRefs(ctx, Root, nil, true); !errors.Is(err, ErrNotAnArray) {
		t.Fatalf("a batch on a group: %v", err)
	}
}

// AllVirtualChunkLocations gives every location once, committed and
// uncommitted chunks alike, and forgets one no chunk uses any more.
func TestVirtualChunkLocationsDistinct(t *testing.T) {
	ctx := context.Background()
	repo, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/")
	ok(t, s.AddGroup(ctx, Root, nil))
	for _, p := range []string{"/a", "/b"} {
		ok(t, s.AddArray(ctx, MustPath(p), ArrayMeta{Shape: []uint64{6}, ChunkShape: []uint64{1}}, nil))
	}
	set := func(path string, i uint32, loc string) {
		t.Helper()
		ok(t, s.SetVirtualChunkRef(ctx, MustPath(path), VirtualChunkSpec{Coords: []uint32{i}, Location: loc, Offset: uint64(i), Length: 1}))
	}
	set("/a", 0, "s3://bucket/x")
	set("/a", 1, "s3://bucket/x")
	set("/a", 2, "s3://bucket/y")
	set("/b", 0, "s3://bucket/x")
	ok(t, s.StoreSet(ctx, "a/c/3", []byte("inline")))
	if got := virtualLocations(t, s); !slices.Equal(got, []string{"s3://bucket/x", "s3://bucket/y"}) {
		t.Fatalf("uncommitted: %v", got)
	}
	commit(t, s, "virtual")
	var err error
	s, err = repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	set("/b", 1, "s3://bucket/z")
	set("/b", 2, "s3://bucket/y")
	ok(t, s.DeleteChunks(ctx, MustPath("/a"), [][]uint32{{2}}))
	if got := virtualLocations(t, s); !slices.Equal(got, []string{"s3://bucket/x", "s3://bucket/y", "s3://bucket/z"}) {
		t.Fatalf("committed and uncommitted: %v", got)
	}
	ok(t, s.DeleteChunks(ctx, MustPath("/b"), [][]uint32{{2}}))
	if got := virtualLocations(t, s); !slices.Equal(got, []string{"s3://bucket/x", "s3://bucket/z"}) {
		t.Fatalf("after the last chunk at y was deleted: %v", got)
	}
}

// flakyReads counts the conditional range reads of a storage, failing the
// first ones transiently as a throttling server does.
type flakyReads struct {
	storage.Storage
	fail     atomic.Int32
	slow     time.Duration // each read takes at least this long
	mu       sync.Mutex
	ranges   [][2]int64 // offset and length of every read
	inFlight int
	most     int // the most reads in flight at once
}

func (f *flakyReads) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond storage.ReadCondition) error {
	f.mu.Lock()
	f.ranges = append(f.ranges, [2]int64{offset, int64(len(dst))})
	f.inFlight++
	f.most = max(f.most, f.inFlight)
	f.mu.Unlock()
	time.Sleep(f.slow)
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.fail.Add(-1) >= 0 {
		return storage.Transient(storage.Determinate(errors.New("503 SlowDown (test)")))
	}
	return storage.ReadRangeIf(ctx, f.Storage, key, offset, dst, cond)
}

func (f *flakyReads) reads() [][2]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ranges)
}

// Reads of virtual chunks through a registered storage are retried with
// the policy of the config in force, as the repository's own requests are.
func TestVirtualChunkReadsAreRetried(t *testing.T) {
	ctx := context.Background()
	repo, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/data/")
	objects, info := bucketObject(t)
	flaky := &flakyReads{Storage: objects}
	cfg := repo.Config()
	cfg.Storage = &codec.StorageSettings{RetryMaxTries: 3, RetryInitialBackoffMS: 1, RetryMaxBackoffMS: 2}
	ok(t, repo.UseConfig(cfg))
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", flaky))
	ok(t, s.StoreSet(ctx, "v/zarr.json", arrayJSON([]int{1}, []int{1}, "default", "")))
	ok(t, s.SetChunkRef(ctx, MustPath("/v"), []uint32{0}, &codec.ChunkRef{
		Kind: codec.ChunkVirtual, Location: "s3://bucket/data/f.nc", Offset: 1, Length: 3, ETag: info.ETag}))

	flaky.fail.Store(2)
	got, found, err := s.StoreGet(ctx, "v/c/0", storage.From(0))
	if err != nil || !found || string(got) != "yzw" {
		t.Fatalf("read after two throttled tries: %q, %v, %v", got, found, err)
	}
	if n := len(flaky.reads()); n != 3 {
		t.Fatalf("%d reads, want 3: two throttled, then the one that succeeds", n)
	}

	// The policy follows the config: with two tries, a second failure is
	// the read's.
	cfg.Storage = &codec.StorageSettings{RetryMaxTries: 2, RetryInitialBackoffMS: 1, RetryMaxBackoffMS: 2}
	ok(t, repo.UseConfig(cfg))
	flaky.fail.Store(2)
	if _, _, err := s.StoreGet(ctx, "v/c/0", storage.From(0)); !storage.IsTransient(err) {
		t.Fatalf("read failing twice under a policy of two tries: %v, want the transient failure", err)
	}
}

// A virtual chunk larger than the ideal request size is read as that many
// conditional ranged reads at once, each pinned to the reference's ETag,
// as a native chunk is.
func TestLargeVirtualChunksAreReadInParts(t *testing.T) {
	ctx := context.Background()
	repo, s := newVirtualRepo(t, memory.New(t.Name()), "s3://bucket/data/")
	objects := memory.New("bucket")
	data := make([]byte, 512<<10+10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	ok(t, objects.Put(ctx, "big.nc", data))
	info, err := objects.Stat(ctx, "big.nc")
	ok(t, err)
	flaky := &flakyReads{Storage: objects, slow: 5 * time.Millisecond}
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", flaky))
	cfg := repo.Config()
	cfg.Storage = &codec.StorageSettings{MaxConcurrentRequestsForObject: 8, IdealConcurrentRequestSize: 64 << 10}
	cfg.MaxConcurrentRequests = 3
	ok(t, repo.UseConfig(cfg))
	ok(t, s.StoreSet(ctx, "v/zarr.json", arrayJSON([]int{1}, []int{1}, "default", "")))
	ok(t, s.SetChunkRef(ctx, MustPath("/v"), []uint32{0}, &codec.ChunkRef{
		Kind: codec.ChunkVirtual, Location: "s3://bucket/data/big.nc", Offset: 10, Length: 512 << 10, ETag: info.ETag}))

	got, found, err := s.StoreGet(ctx, "v/c/0", storage.From(0))
	if err != nil || !found || !bytes.Equal(got, data[10:]) {
		t.Fatalf("read %d bytes (found %v, err %v), want the object's last %d", len(got), found, err, len(data)-10)
	}
	reads := flaky.reads()
	slices.SortFunc(reads, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	at := int64(10)
	for _, r := range reads {
		if r[0] != at || r[1] != 64<<10 {
			t.Fatalf("reads %v: want 8 of 64 KiB, one after the other from offset 10", reads)
		}
		at += r[1]
	}
	if len(reads) != 8 {
		t.Fatalf("%d reads, want 8", len(reads))
	}
	if flaky.most != 3 {
		t.Fatalf("at most %d reads in flight, want 3 (max_concurrent_requests)", flaky.most)
	}

	// A reference that pins no version is read in one request: parts
	// could each read another version of an object replaced meanwhile.
	ok(t, s.SetChunkRef(ctx, MustPath("/v"), []uint32{0}, &codec.ChunkRef{
		Kind: codec.ChunkVirtual, Location: "s3://bucket/data/big.nc", Offset: 10, Length: 512 << 10}))
	before := len(flaky.reads())
	got, found, err = s.StoreGet(ctx, "v/c/0", storage.From(0))
	if err != nil || !found || !bytes.Equal(got, data[10:]) {
		t.Fatalf("unpinned read: %d bytes (found %v, err %v)", len(got), found, err)
	}
	if n := len(flaky.reads()) - before; n != 1 {
		t.Fatalf("an unpinned read made %d requests, want 1", n)
	}
	ok(t, s.SetChunkRef(ctx, MustPath("/v"), []uint32{0}, &codec.ChunkRef{
		Kind: codec.ChunkVirtual, Location: "s3://bucket/data/big.nc", Offset: 10, Length: 512 << 10, ETag: info.ETag}))

	// Replaced meanwhile: every part is refused, and the error says why.
	ok(t, objects.Put(ctx, "big.nc", data[:len(data)-1]))
	if _, _, err := s.StoreGet(ctx, "v/c/0", storage.From(0)); !errors.Is(err, ErrVirtualChunk) || !strings.Contains(err.Error(), "ETag") {
		t.Fatalf("read of a replaced object: %v, want ErrVirtualChunk naming the ETag", err)
	}
}
