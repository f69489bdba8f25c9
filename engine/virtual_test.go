package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

func TestVirtualChunks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data.bin")
	ok(t, os.WriteFile(data, []byte("0123456789abcdefghij"), 0o644))
	outside := filepath.Join(t.TempDir(), "secret.bin")
	ok(t, os.WriteFile(outside, []byte("secret"), 0o644))

	cfg := codec.DefaultRepoConfig()
	cfg.VirtualChunkContainers = []codec.VirtualChunkContainer{{Name: "data", URLPrefix: "file://" + dir + "/"}}
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/v"), ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}, nil))
	loc := "file://" + data
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), []uint32{0}, loc, 2, 5, 0))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), []uint32{1}, loc, 10, 4, time.Now().Add(time.Hour).Unix()))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), []uint32{2}, loc, 0, 4, time.Now().Add(-time.Hour).Unix()))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), []uint32{3}, loc, 18, 10, 0))

	// Locations outside every container are refused when set.
	if err := s.SetVirtualChunkRef(ctx, MustPath("/v"), []uint32{0}, "file://"+outside, 0, 6, 0); !errors.Is(err, ErrVirtualChunk) {
		t.Fatalf("outside a container: %v", err)
	}
	_, err = s.Commit(ctx, "virtual", nil)
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
	if len(locs) != 4 {
		t.Fatalf("virtual locations: %v", locs)
	}
}

// Virtual chunks of a non-file container are read through the storage the
// host registers for it (for s3:// that is an S3 store with credentials).
func TestVirtualChunksThroughRegisteredStorage(t *testing.T) {
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	cfg.VirtualChunkContainers = []codec.VirtualChunkContainer{{Name: "bucket", URLPrefix: "s3://bucket/data/"}}
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/v"), ArrayMeta{Shape: []uint64{1}, ChunkShape: []uint64{1}}, nil))
	ok(t, s.SetVirtualChunkRef(ctx, MustPath("/v"), []uint32{0}, "s3://bucket/data/f.nc", 1, 3, 0))
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
	cfg := codec.DefaultRepoConfig()
	cfg.VirtualChunkContainers = []codec.VirtualChunkContainer{
		{Name: "bucket", URLPrefix: "s3://bucket/data/"},
		{Name: "files", URLPrefix: "file://" + dir + "/"},
	}
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	ok(t, err)
	objects := memory.New("bucket")
	ok(t, objects.Put(ctx, "f.nc", []byte("xyzw")))
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", objects))
	info, err := objects.Stat(ctx, "f.nc")
	ok(t, err)
	if info.ETag == "" {
		t.Fatal("memory storage reports no ETag")
	}
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
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
	_, _, err = s.GetChunk(ctx, MustPath("/v"), []uint32{0}, storage.From(0))
	if !errors.Is(err, ErrVirtualChunk) || !strings.Contains(err.Error(), "s3://bucket/data/f.nc") {
		t.Fatalf("rewritten object: want ErrVirtualChunk naming it, got %v", err)
	}
}

// A virtual chunk pinned to its object's version is read with one
// conditional read, straight into the caller's buffer; the storage is
// asked for the object's version only to explain a refused read.
func TestVirtualChunkPinnedReadIsOneRequest(t *testing.T) {
	ctx := context.Background()
	cfg := codec.DefaultRepoConfig()
	cfg.VirtualChunkContainers = []codec.VirtualChunkContainer{{Name: "bucket", URLPrefix: "s3://bucket/data/"}}
	repo, err := Create(ctx, memory.New(t.Name()), &cfg, nil)
	ok(t, err)
	objects := memory.New("bucket")
	ok(t, objects.Put(ctx, "f.nc", []byte("xyzw")))
	info, err := objects.Stat(ctx, "f.nc")
	ok(t, err)
	counted := storage.NewCounting(objects)
	ok(t, repo.SetVirtualChunkStorage("s3://bucket/data/", counted))

	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
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

	_, _, err = s.StoreGet(ctx, "v/c/2", storage.From(0))
	if !errors.Is(err, ErrVirtualChunk) || !strings.Contains(err.Error(), "was modified at") {
		t.Fatalf("an object modified after its reference: want ErrVirtualChunk saying so, got %v", err)
	}
	if c := counted.Counts().Ops; c[storage.OpStat] != 1 {
		t.Fatalf("a refused read is explained with one stat, got %v", c)
	}
}
