package engine

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// virtualResolver reads virtual chunks: byte ranges of objects outside the
// repository. Only locations under a container of the repository config are
// read; everything else is refused, so a repository cannot be used to read
// arbitrary files or buckets of whoever opens it.
//
// file:// containers are read from the local filesystem. Other schemes (such
// as s3://) are read through a Storage the host registers for the
// container's URL prefix (SetVirtualChunkStorage), which carries the
// credentials.
//
// Reads through a registered storage are retried as the repository's own
// requests are (the retry policy of the config in force, and a bound of
// max_concurrent_requests of its own on the requests in flight), and a large
// chunk is split into ranged reads run at once as native chunks are
// (codec.StorageSettings.ReadParts): virtual chunks are often large byte
// ranges of files in public buckets, which throttle.
type virtualResolver struct {
	mu         sync.RWMutex
	containers []codec.VirtualChunkContainer
	stores     map[string]*storage.Retrying // URL prefix -> storage rooted there
	policy     storage.RetryPolicy          // of every store, the repository's
	bound      int                          // requests in flight per store (0: none)
	settings   func() *codec.StorageSettings
}

func (v *virtualResolver) setContainers(c []codec.VirtualChunkContainer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.containers = c
}

func newVirtualResolver(cfg *codec.RepoConfig, settings func() *codec.StorageSettings) *virtualResolver {
	return &virtualResolver{containers: cfg.VirtualChunkContainers, stores: map[string]*storage.Retrying{},
		policy: storage.DefaultRetryPolicy, settings: settings}
}

// follow makes policy the retry policy of every registered storage, and of
// those registered later, and bound the requests each has in flight at
// once (the repository's max_concurrent_requests, each storage its own).
func (v *virtualResolver) follow(policy storage.RetryPolicy, bound int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.policy, v.bound = policy, bound
	for _, s := range v.stores {
		s.SetPolicy(policy)
		s.SetMaxConcurrent(bound)
	}
}

// SetVirtualChunkStorage registers the storage that serves virtual chunks
// whose location starts with urlPrefix; the prefix must be one of the
// config's containers. Keys passed to the storage are the rest of the
// location after the prefix.
func (r *Repository) SetVirtualChunkStorage(urlPrefix string, store storage.Storage) error {
	r.virtual.mu.Lock()
	defer r.virtual.mu.Unlock()
	for _, c := range r.virtual.containers {
		if c.URLPrefix == urlPrefix {
			retrying := storage.NewRetrying(store, r.virtual.policy)
			retrying.SetMaxConcurrent(r.virtual.bound)
			r.virtual.stores[urlPrefix] = retrying
			return nil
		}
	}
	return invalidArgument("no virtual chunk container with URL prefix %q in the repository config", urlPrefix)
}

func (v *virtualResolver) container(location string) (codec.VirtualChunkContainer, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	best := -1
	for i, c := range v.containers {
		if strings.HasPrefix(location, c.URLPrefix) && (best < 0 || len(c.URLPrefix) > len(v.containers[best].URLPrefix)) {
			best = i
		}
	}
	if best < 0 {
		return codec.VirtualChunkContainer{}, false
	}
	return v.containers[best], true
}

func virtualErr(format string, args ...any) error {
	return errors.Mark(errors.Newf(format, args...), ErrVirtualChunk)
}

// fetchInto fills dst with the bytes of the object a virtual ref points at
// from offset start on, checking that the object is the version the ref
// was made against (its modification time or entity tag, where the ref
// pins one).
func (v *virtualResolver) fetchInto(ctx context.Context, ref *codec.ChunkRef, start uint64, dst []byte) error {
	c, ok := v.container(ref.Location)
	if !ok {
		return virtualErr("virtual chunk location %q is outside every virtual chunk container of the repository; add a container for it to the repository config", ref.Location)
	}
	if strings.Contains(strings.TrimPrefix(ref.Location, c.URLPrefix), "..") {
		return virtualErr("virtual chunk location %q escapes container %q", ref.Location, c.Name)
	}
	if start > math.MaxInt64-uint64(len(dst)) {
		return virtualErr("virtual chunk %q: offset %d is out of range", ref.Location, start)
	}
	v.mu.RLock()
	store, registered := v.stores[c.URLPrefix]
	v.mu.RUnlock()
	if registered {
		return fetchFromStorage(ctx, store, v.settings(), strings.TrimPrefix(ref.Location, c.URLPrefix), ref, int64(start), dst)
	}
	if strings.HasPrefix(ref.Location, "file://") {
		return fetchFile(ref, int64(start), dst)
	}
	return virtualErr("no storage registered for virtual chunk container %q (%s)", c.Name, c.URLPrefix)
}

func checkModified(location string, ref *codec.ChunkRef, mod time.Time) error {
	if ref.LastModified != 0 && mod.Unix() > ref.LastModified {
		return virtualErr("virtual chunk %q was modified at %s, after its reference was made (%s)", location, mod.UTC().Format(time.RFC3339), time.Unix(ref.LastModified, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// checkETag refuses an object whose entity tag is not the one the reference
// pins (where it pins one). A storage that reports no entity tags cannot
// vouch for the object, so that is refused too rather than read blindly.
func checkETag(location string, ref *codec.ChunkRef, etag string, store fmt.Stringer) error {
	switch {
	case ref.ETag == "":
		return nil
	case etag == "":
		return virtualErr("cannot check virtual chunk %q against its ETag %s: %s reports no ETags", location, ref.ETag, store)
	case storage.UnquoteETag(etag) != storage.UnquoteETag(ref.ETag):
		return virtualErr("virtual chunk %q was modified after its reference was made: its ETag is %s, the reference has %s", location, etag, ref.ETag)
	}
	return nil
}

// localFiles names local files in messages.
type localFiles struct{}

func (localFiles) String() string { return "the local filesystem" }

// fetchFromStorage reads a virtual chunk from a host's storage with
// conditional reads (one request on S3, or, for a reference that pins the
// object's version, the parts the settings split a large chunk into, each
// with the condition, so that all read that version), and only when a
// read is refused asks for the object's
// version, to say what changed.
func fetchFromStorage(ctx context.Context, store storage.Storage, settings *codec.StorageSettings, key string, ref *codec.ChunkRef, offset int64, dst []byte) error {
	cond := storage.ReadCondition{ETag: ref.ETag}
	if ref.LastModified != 0 {
		cond.NotModifiedAfter = time.Unix(ref.LastModified, 0)
	}
	read := func(ctx context.Context, offset int64, dst []byte) error {
		return storage.ReadRangeIf(ctx, store, key, offset, dst, cond)
	}
	var err error
	if cond.IsZero() {
		// Parts of a read that pins no version could each read another
		// version of an object replaced meanwhile: one request.
		err = read(ctx, offset, dst)
	} else {
		err = readSplit(ctx, settings, offset, dst, read)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrPreconditionFailed):
		return explainChanged(ctx, store, key, ref, err)
	case errors.Is(err, storage.ErrInvalidRange):
		return virtualErr("virtual chunk %q: object too short for bytes [%d, %d)", ref.Location, offset, offset+int64(len(dst)))
	}
	return errors.Mark(errors.Wrapf(err, "virtual chunk %q", ref.Location), ErrVirtualChunk)
}

// explainChanged turns a refused conditional read of a virtual chunk into
// an error that says how the object differs from the reference.
func explainChanged(ctx context.Context, store storage.Storage, key string, ref *codec.ChunkRef, refused error) error {
	info, err := store.Stat(ctx, key)
	if err != nil {
		// Replaced, then removed or unreachable: say both.
		return errors.Mark(errors.WithSecondaryError(errors.Wrapf(refused, "virtual chunk %q", ref.Location), err), ErrVirtualChunk)
	}
	if err := checkModified(ref.Location, ref, info.ModTime); err != nil {
		return err
	}
	if err := checkETag(ref.Location, ref, info.ETag, store); err != nil {
		return err
	}
	// It meets the reference again: it was replaced while being read.
	return errors.Mark(errors.Wrapf(refused, "virtual chunk %q changed while it was read", ref.Location), ErrVirtualChunk)
}

func fetchFile(ref *codec.ChunkRef, offset int64, dst []byte) error {
	u, err := url.Parse(ref.Location)
	if err != nil || u.Path == "" {
		return virtualErr("invalid virtual chunk location %q", ref.Location)
	}
	f, err := os.Open(u.Path)
	if err != nil {
		return errors.Mark(errors.Wrapf(err, "virtual chunk %q", ref.Location), ErrVirtualChunk)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return errors.Mark(errors.Wrapf(err, "virtual chunk %q", ref.Location), ErrVirtualChunk)
	}
	if err := checkModified(ref.Location, ref, info.ModTime()); err != nil {
		return err
	}
	if err := checkETag(ref.Location, ref, "", localFiles{}); err != nil {
		return err
	}
	n, err := f.ReadAt(dst, offset)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(dst)) {
		if errors.Is(err, io.EOF) {
			return virtualErr("virtual chunk %q: file too short for bytes [%d, %d)", ref.Location, offset, offset+int64(len(dst)))
		}
		return errors.Mark(errors.Wrapf(err, "virtual chunk %q", ref.Location), ErrVirtualChunk)
	}
	return nil
}

// VirtualChunkSpec is one virtual chunk to record: Length bytes at Offset
// of the object at Location, for the chunk at Coords. ETag (quoted or not)
// and LastModified (Unix seconds), when set, pin the object's version: a
// read of an object that is not that version fails.
type VirtualChunkSpec struct {
	Coords       []uint32
	Location     string
	Offset       uint64
	Length       uint64
	ETag         string
	LastModified int64 // 0 means not checked
}

func (v *VirtualChunkSpec) ref() *codec.ChunkRef {
	return &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: v.Location, Offset: v.Offset, Length: v.Length, ETag: v.ETag, LastModified: v.LastModified}
}

// SetVirtualChunkRef records one virtual chunk of the array at path. The
// location must be under a virtual chunk container of the repository
// config (else ErrVirtualChunk); coordinates outside the array's grid are
// ErrInvalidIndex.
func (s *Session) SetVirtualChunkRef(ctx context.Context, path Path, ref VirtualChunkSpec) error {
	failed, err := s.SetVirtualChunkRefs(ctx, path, []VirtualChunkSpec{ref}, true)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return virtualErr("virtual chunk location %q is outside every virtual chunk container of the repository", ref.Location)
	}
	return nil
}

// SetVirtualChunkRefs records many virtual chunks of the array at path at
// once. With validateContainers, a ref whose location is under no virtual
// chunk container of the repository config is not recorded and its
// coordinates are returned in failed, in the order of refs; the others are
// recorded (upstream Icechunk's set_virtual_refs). Without it every ref is
// recorded: a location outside every container is refused when it is read.
//
// Every ref is checked before any is recorded: coordinates outside the
// array's grid or of the wrong rank (ErrInvalidIndex) and a location that
// is empty or not an absolute URL (ErrInvalidArgument) fail the whole
// call, and nothing is recorded.
// ErrReadOnly, ErrNodeNotFound and ErrNotAnArray as for SetChunkRef.
func (s *Session) SetVirtualChunkRefs(ctx context.Context, path Path, refs []VirtualChunkSpec, validateContainers bool) (failed [][]uint32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.writableArrayLocked(ctx, "set virtual chunks", path)
	if err != nil {
		return nil, err
	}
	for i := range refs {
		switch r := &refs[i]; {
		case !validCoords(n.Array, r.Coords):
			return nil, errors.Wrapf(invalidIndex(path, n.Array, r.Coords), "virtual chunk %d of %d (nothing was set)", i, len(refs))
		case r.Location == "":
			return nil, invalidArgument("virtual chunk %d of %d (coordinates %v of %q) has no location (nothing was set)", i, len(refs), r.Coords, path)
		case !isAbsoluteURL(r.Location):
			return nil, invalidArgument("virtual chunk %d of %d (coordinates %v of %q): location %q is not an absolute URL such as s3://bucket/key or file:///path (nothing was set)", i, len(refs), r.Coords, path, r.Location)
		}
	}
	for i := range refs {
		r := &refs[i]
		if validateContainers {
			if _, ok := s.repo.virtual.container(r.Location); !ok {
				failed = append(failed, slices.Clone(r.Coords))
				continue
			}
		}
		s.changes.setChunk(n.ID, r.ref(), r.Coords)
	}
	return failed, nil
}

// isAbsoluteURL reports whether location is a URL with a scheme and a
// host or path ("s3://bucket/key", "file:///data/x.nc"), as a virtual
// chunk's location must be; relative paths and bare words are not.
func isAbsoluteURL(location string) bool {
	u, err := url.Parse(location)
	return err == nil && u.Scheme != "" && u.Opaque == "" && (u.Host != "" || u.Path != "")
}
