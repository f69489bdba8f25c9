package codec

import (
	"regexp"
	"strings"

	"github.com/cockroachdb/errors"
)

//go:generate msgp -io=false -tests=false

// RepoConfig is a repository's persistent configuration (config.msgp).
//
// Invariants (checked by Validate, hence by Encode and Decode):
// ManifestBlockChunks is positive; virtual chunk containers have non-empty,
// unique names and non-empty URL prefixes.
type RepoConfig struct {
	// InlineChunkThreshold: chunks of at most this many bytes are stored
	// inline in manifests rather than as chunk objects.
	InlineChunkThreshold uint32 `msg:"inline_chunk_threshold"`
	// SnapshotCacheBytes and ManifestCacheBytes bound the engine's caches of
	// decoded snapshots and manifests.
	SnapshotCacheBytes uint64 `msg:"snapshot_cache_bytes"`
	ManifestCacheBytes uint64 `msg:"manifest_cache_bytes"`
	// DisableTransactionLogs skips writing transaction logs at commit,
	// giving up rebase and diff.
	DisableTransactionLogs bool `msg:"disable_transaction_logs"`
	// ManifestBlockChunks is the number of chunks per manifest block: an
	// array's chunk references are split into manifests of about this many.
	ManifestBlockChunks uint32 `msg:"manifest_block_chunks"`
	// VirtualChunkContainers are the places virtual chunks may be read from.
	VirtualChunkContainers []VirtualChunkContainer `msg:"virtual_chunk_containers"`
	// Storage tunes how a repository handle talks to its storage
	// (upstream Icechunk's storage settings); nil means the defaults.
	Storage *StorageSettings `msg:"storage,omitempty"`
	// CompressionLevel is the zstd level (1 to MaxCompressionLevel) of the
	// snapshots, manifests and transaction logs the repository writes; 0
	// lets the library choose by file (the fastest level, the default one
	// for manifests of virtual references). Readers need not know it.
	CompressionLevel uint32 `msg:"compression_level,omitempty"`
	// Manifest (nil: none) splits arrays' manifests by upstream Icechunk's
	// rules and names the manifests sessions preload. Left out of the file
	// when nil.
	Manifest *ManifestConfig `msg:"manifest,omitempty"`
	// Caching (nil: none) bounds the caches in upstream Icechunk's units,
	// counts of nodes, chunk references and changes, in place of bytes.
	Caching *CachingConfig `msg:"caching,omitempty"`
	// MaxConcurrentRequests (0: no bound of the handle's own) bounds the
	// storage requests a repository handle has in flight at once.
	MaxConcurrentRequests uint32 `msg:"max_concurrent_requests,omitempty"`
	// GetPartialValuesConcurrency (0: the engine's default, 32) bounds the
	// reads one many-key read (zarr's get_partial_values) runs at once.
	GetPartialValuesConcurrency uint32 `msg:"get_partial_values_concurrency,omitempty"`
}

// CachingConfig bounds a handle's caches by what they hold (upstream
// Icechunk's CachingConfig). A field left nil keeps that cache bounded in
// bytes (SnapshotCacheBytes, ManifestCacheBytes).
type CachingConfig struct {
	// NumSnapshotNodes bounds the nodes of the snapshots cached.
	NumSnapshotNodes *uint64 `msg:"num_snapshot_nodes,omitempty" json:"num_snapshot_nodes,omitempty"`
	// NumChunkRefs bounds the chunk references of the manifests cached.
	NumChunkRefs *uint64 `msg:"num_chunk_refs,omitempty" json:"num_chunk_refs,omitempty"`
	// NumTransactionChanges bounds the changes (nodes and chunks) of the
	// transaction logs cached.
	NumTransactionChanges *uint64 `msg:"num_transaction_changes,omitempty" json:"num_transaction_changes,omitempty"`
	// NumBytesAttributes is accepted for upstream's configs and has no
	// effect: attributes live in the snapshots, cached with them.
	NumBytesAttributes *uint64 `msg:"num_bytes_attributes,omitempty" json:"num_bytes_attributes,omitempty"`
	// NumBytesChunks must be nil or 0: chunks are not cached, they are
	// read from storage every time.
	NumBytesChunks *uint64 `msg:"num_bytes_chunks,omitempty" json:"num_bytes_chunks,omitempty"`
}

// StorageSettings tune how a repository handle talks to its storage. Zero
// fields mean the library's defaults.
type StorageSettings struct {
	// Retries of transient storage failures: tries of one request in all
	// (the first included), and the bounds of the exponential backoff
	// between them, in milliseconds.
	RetryMaxTries         uint32 `msg:"retry_max_tries,omitempty"`
	RetryInitialBackoffMS uint32 `msg:"retry_initial_backoff_ms,omitempty"`
	RetryMaxBackoffMS     uint32 `msg:"retry_max_backoff_ms,omitempty"`
	// StorageClass is the storage class of every object written to S3;
	// MetadataStorageClass and ChunksStorageClass override it for
	// metadata objects (snapshots, manifests, transaction logs, refs,
	// config) and for chunk objects. Other storages have no classes.
	StorageClass         string `msg:"storage_class,omitempty"`
	MetadataStorageClass string `msg:"metadata_storage_class,omitempty"`
	ChunksStorageClass   string `msg:"chunks_storage_class,omitempty"`
	// MaxConcurrentRequestsForObject and IdealConcurrentRequestSize split
	// a large read of one object into ranged reads that run at once
	// (upstream Icechunk's concurrency settings; see ReadParts). Zero means
	// the default: DefaultConcurrentRequestsForObject and
	// DefaultIdealConcurrentRequestSize.
	MaxConcurrentRequestsForObject uint32 `msg:"max_concurrent_requests_for_object,omitempty"`
	IdealConcurrentRequestSize     uint64 `msg:"ideal_concurrent_request_size,omitempty"`
	// UnsafeNoConditionalCreate (upstream's unsafe_use_conditional_create
	// set to false) is for stores that refuse create-only writes: a
	// create-only write checks that the key is absent, writes it plainly,
	// and reads it back. Two writers racing for one branch can then both
	// believe they committed, one of them wrongly; hence unsafe.
	UnsafeNoConditionalCreate bool `msg:"unsafe_no_conditional_create,omitempty"`
	// MinimumSizeForMultipartUpload (upstream Icechunk's setting of that
	// name) is the size from which an object is written as a multipart
	// upload on storages that take them (S3): parts of 8 MiB, each its
	// own request. Zero means DefaultMinimumSizeForMultipartUpload.
	MinimumSizeForMultipartUpload uint64 `msg:"minimum_size_for_multipart_upload,omitempty"`
}

// DefaultMinimumSizeForMultipartUpload is upstream Icechunk's: 100 MiB.
const DefaultMinimumSizeForMultipartUpload = 100 << 20

// MultipartMin returns the size from which a write is a multipart upload:
// the setting, or its default. s may be nil.
func (s *StorageSettings) MultipartMin() int64 {
	if s == nil || s.MinimumSizeForMultipartUpload == 0 {
		return DefaultMinimumSizeForMultipartUpload
	}
	return int64(min(s.MinimumSizeForMultipartUpload, 1<<62))
}

// The defaults of the read-splitting settings, upstream Icechunk's: 12 MiB
// requests, at most 18 of them at once for one object.
const (
	DefaultConcurrentRequestsForObject = 18
	DefaultIdealConcurrentRequestSize  = 12 << 20
	// MaxConcurrentRequestsForObject bounds the setting of that name
	// (upstream's is a 16-bit count).
	MaxConcurrentRequestsForObject = 1<<16 - 1
)

// ReadParts returns how many ranged reads a read of n bytes of one object
// is split into: n divided by the ideal request size, rounded up, and at
// most the maximum for one object; 1 for a read no larger than the ideal
// size. s may be nil (the defaults).
func (s *StorageSettings) ReadParts(n int) int {
	maxParts, ideal := uint64(s.RequestsForObject()), uint64(DefaultIdealConcurrentRequestSize)
	if s != nil && s.IdealConcurrentRequestSize != 0 {
		ideal = s.IdealConcurrentRequestSize
	}
	if n <= 0 || uint64(n) <= ideal {
		return 1
	}
	return int(min((uint64(n)+ideal-1)/ideal, maxParts))
}

// RequestsForObject returns how many requests for one object may run at
// once (a read's parts, a multipart upload's parts): the setting, or
// DefaultConcurrentRequestsForObject. s may be nil.
func (s *StorageSettings) RequestsForObject() int {
	if s == nil || s.MaxConcurrentRequestsForObject == 0 {
		return DefaultConcurrentRequestsForObject
	}
	return int(s.MaxConcurrentRequestsForObject)
}

// ClassFor returns the storage class objects of that kind are written
// with: the specific class if set, else StorageClass, else "" (the
// store's default). s may be nil.
func (s *StorageSettings) ClassFor(chunks bool) string {
	if s == nil {
		return ""
	}
	if chunks && s.ChunksStorageClass != "" {
		return s.ChunksStorageClass
	}
	if !chunks && s.MetadataStorageClass != "" {
		return s.MetadataStorageClass
	}
	return s.StorageClass
}

// validStorageClass matches the names S3 gives its storage classes
// (STANDARD, STANDARD_IA, INTELLIGENT_TIERING, ...); which of them a
// server accepts is for the server to say.
var validStorageClass = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

func (s *StorageSettings) validate() error {
	if s == nil {
		return nil
	}
	if s.RetryMaxBackoffMS != 0 && s.RetryInitialBackoffMS > s.RetryMaxBackoffMS {
		return errors.Newf("storage retries: the initial backoff (%d ms) exceeds the maximum backoff (%d ms)", s.RetryInitialBackoffMS, s.RetryMaxBackoffMS)
	}
	if s.MaxConcurrentRequestsForObject > MaxConcurrentRequestsForObject {
		return errors.Newf("storage concurrency: max_concurrent_requests_for_object %d exceeds %d", s.MaxConcurrentRequestsForObject, MaxConcurrentRequestsForObject)
	}
	for _, c := range []struct{ what, name string }{
		{"storage class", s.StorageClass}, {"metadata storage class", s.MetadataStorageClass}, {"chunks storage class", s.ChunksStorageClass},
	} {
		if c.name != "" && !validStorageClass.MatchString(c.name) {
			return errors.Newf("%s %q is not a storage class name (such as STANDARD or STANDARD_IA)", c.what, c.name)
		}
	}
	return nil
}

// VirtualChunkContainer names a place virtual chunks may be read from: a
// virtual chunk whose location starts with URLPrefix belongs to it.
type VirtualChunkContainer struct {
	Name      string `msg:"name"`
	URLPrefix string `msg:"url_prefix"` // such as "s3://bucket/prefix/" or "file:///data/"
	// Store, if set, says how to reach the container's objects, so that a
	// binding can connect to them once the user authorizes access. It
	// never holds credentials, and the engine never connects by itself:
	// opening a repository must not make a process read a bucket.
	Store *ObjectStoreConfig `msg:"store,omitempty"`
}

// Kinds of ObjectStoreConfig.
const (
	ObjectStoreS3    = "s3"
	ObjectStoreLocal = "local_filesystem"
	ObjectStoreHTTP  = "http" // files a web server publishes, read-only
)

// ObjectStoreConfig describes the object store behind a virtual chunk
// container (upstream Icechunk's s3_store, local_filesystem_store and
// http_store).
type ObjectStoreConfig struct {
	Kind           string `msg:"kind"`                       // ObjectStoreS3, ObjectStoreLocal or ObjectStoreHTTP
	Region         string `msg:"region,omitempty"`           // s3
	EndpointURL    string `msg:"endpoint_url,omitempty"`     // s3: an S3-compatible server
	AllowHTTP      bool   `msg:"allow_http,omitempty"`       // s3
	ForcePathStyle bool   `msg:"force_path_style,omitempty"` // s3
	Anonymous      bool   `msg:"anonymous,omitempty"`        // s3: unsigned requests (public buckets)
	// NetworkStreamTimeoutSeconds is an s3 store's stream timeout (see
	// package s3's Config of that name): nil is the default, 0 none.
	NetworkStreamTimeoutSeconds *int   `msg:"network_stream_timeout_seconds,omitempty"`
	Path                        string `msg:"path,omitempty"` // local_filesystem: the folder
	// Options are an http store's client options, as upstream's
	// http_store takes them (package httpstore's ParseOptions reads them
	// when a binding connects the container).
	Options map[string]string `msg:"options,omitempty"`
}

// Default configuration values.
const (
	DefaultInlineChunkThreshold = 512
	DefaultManifestBlockChunks  = 65536
	DefaultSnapshotCacheBytes   = 256 << 20
	DefaultManifestCacheBytes   = 256 << 20
)

// DefaultRepoConfig returns the configuration of a new repository: inline
// chunks up to 512 bytes, manifest blocks of 65536 chunks, 256 MiB for each
// cache, transaction logs on, no virtual chunk containers.
func DefaultRepoConfig() RepoConfig {
	return RepoConfig{
		InlineChunkThreshold: DefaultInlineChunkThreshold,
		SnapshotCacheBytes:   DefaultSnapshotCacheBytes,
		ManifestCacheBytes:   DefaultManifestCacheBytes,
		ManifestBlockChunks:  DefaultManifestBlockChunks,
	}
}

// ContainerFor returns the virtual chunk container whose URL prefix is the
// longest prefix of location, if any. The pointer aliases
// c.VirtualChunkContainers.
func (c *RepoConfig) ContainerFor(location string) (*VirtualChunkContainer, bool) {
	best := -1
	for i := range c.VirtualChunkContainers {
		p := c.VirtualChunkContainers[i].URLPrefix
		if strings.HasPrefix(location, p) && (best < 0 || len(p) > len(c.VirtualChunkContainers[best].URLPrefix)) {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	return &c.VirtualChunkContainers[best], true
}

// Validate checks the configuration's invariants (see RepoConfig).
func (c *RepoConfig) Validate() error {
	if c.ManifestBlockChunks == 0 {
		return errors.New("repo config: manifest block chunks is zero")
	}
	seen := make(map[string]bool, len(c.VirtualChunkContainers))
	for i, vc := range c.VirtualChunkContainers {
		switch {
		case vc.Name == "":
			return errors.Newf("repo config: virtual chunk container %d has no name", i)
		case seen[vc.Name]:
			return errors.Newf("repo config: two virtual chunk containers are named %q", vc.Name)
		case vc.URLPrefix == "":
			return errors.Newf("repo config: virtual chunk container %q has no URL prefix", vc.Name)
		}
		if err := vc.Store.validate(vc.URLPrefix); err != nil {
			return errors.Wrapf(err, "repo config: virtual chunk container %q", vc.Name)
		}
		seen[vc.Name] = true
	}
	if c.CompressionLevel > MaxCompressionLevel {
		return errors.Newf("repo config: compression level %d is not between 1 and %d", c.CompressionLevel, MaxCompressionLevel)
	}
	if c.Caching != nil && c.Caching.NumBytesChunks != nil && *c.Caching.NumBytesChunks > 0 {
		return errors.Newf("repo config: caching %d bytes of chunks is not supported: chunks are read from storage every time (leave num_bytes_chunks unset or 0)", *c.Caching.NumBytesChunks)
	}
	if err := c.Manifest.validate(); err != nil {
		return errors.Wrap(err, "repo config")
	}
	return errors.Wrap(c.Storage.validate(), "repo config")
}

// validate checks that the store (if any) fits the container's URL prefix.
func (o *ObjectStoreConfig) validate(urlPrefix string) error {
	if o == nil {
		return nil
	}
	switch o.Kind {
	case ObjectStoreS3:
		if !strings.HasPrefix(urlPrefix, "s3://") {
			return errors.Newf("an S3 store serves s3:// locations, not %q", urlPrefix)
		}
	case ObjectStoreLocal:
		if !strings.HasPrefix(urlPrefix, "file://") {
			return errors.Newf("a local filesystem store serves file:// locations, not %q", urlPrefix)
		}
	case ObjectStoreHTTP:
		if !strings.HasPrefix(urlPrefix, "http://") && !strings.HasPrefix(urlPrefix, "https://") {
			return errors.Newf("an HTTP store serves http:// and https:// locations, not %q", urlPrefix)
		}
	default:
		return errors.Newf("unknown object store kind %q (want %q, %q or %q)", o.Kind, ObjectStoreS3, ObjectStoreLocal, ObjectStoreHTTP)
	}
	if t := o.NetworkStreamTimeoutSeconds; t != nil {
		if o.Kind != ObjectStoreS3 {
			return errors.Newf("network_stream_timeout_seconds is taken by an %q store, not an %q one", ObjectStoreS3, o.Kind)
		}
		if *t < 0 {
			return errors.Newf("network_stream_timeout_seconds must be 0 (no timeout) or more (got %d)", *t)
		}
	}
	if len(o.Options) > 0 && o.Kind != ObjectStoreHTTP {
		return errors.Newf("client options are taken by an %q store, not an %q one", ObjectStoreHTTP, o.Kind)
	}
	return nil
}

// EncodeRepoConfig encodes c as a repo config file (zstd-compressed). The
// error is marked ErrInvalid if c breaks an invariant.
func EncodeRepoConfig(c *RepoConfig) ([]byte, error) { return Encode(FileTypeRepoConfig, c) }

// DecodeRepoConfig decodes a repo config file; object names it in errors (its
// storage key). Fields absent from the file (written by an older build) keep
// their DefaultRepoConfig values. See Decode for the errors.
func DecodeRepoConfig(object string, data []byte) (*RepoConfig, error) {
	c := DefaultRepoConfig()
	if err := Decode(FileTypeRepoConfig, object, data, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
