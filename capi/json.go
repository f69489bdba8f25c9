package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/internal/jsonkind"
)

// The JSON forms of structured results and inputs, as documented in
// include/icechunk.h. Names are snake_case; lists are never null.

// decodeJSON decodes s into v strictly: unknown fields and trailing data
// are errors, and numbers stay exact (json.Number in maps).
func decodeJSON(s, what string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			if typ.Field == "" {
				return invalidArg("%s %s", what, jsonkind.Mismatch(typ))
			}
			return invalidArg("%s: %s", what, jsonkind.Mismatch(typ))
		}
		return invalidArg("%s is not valid JSON of the expected shape: %v", what, err)
	}
	if dec.More() {
		return invalidArg("%s: trailing data after the JSON value", what)
	}
	return nil
}

// jsonObject decodes a JSON object (for commit metadata).
func jsonObject(s, what string) (map[string]any, error) {
	var m map[string]any
	if err := decodeJSON(s, what, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, invalidArg("%s must be a JSON object, not null", what)
	}
	return m, nil
}

// snapshotInfoJSON is a snapshot description.
type snapshotInfoJSON struct {
	ID                 string         `json:"id"`
	ParentID           *string        `json:"parent_id"`
	WrittenAt          string         `json:"written_at"`
	WrittenAtUnixNanos int64          `json:"written_at_unix_nanos"`
	Message            string         `json:"message"`
	Metadata           map[string]any `json:"metadata"`
	Manifests          []manifestJSON `json:"manifests"`
}

// manifestJSON is one manifest file a snapshot lists.
type manifestJSON struct {
	ID           string `json:"id"`
	SizeBytes    uint64 `json:"size_bytes"`
	NumChunkRefs uint64 `json:"num_chunk_refs"`
}

func snapshotInfo(info engine.SnapshotInfo) snapshotInfoJSON {
	out := snapshotInfoJSON{ID: info.ID.String(), WrittenAt: info.WrittenAt.UTC().Format(time.RFC3339Nano),
		WrittenAtUnixNanos: info.WrittenAt.UnixNano(), Message: info.Message, Metadata: info.Metadata,
		Manifests: make([]manifestJSON, len(info.Manifests))}
	for i, m := range info.Manifests {
		out.Manifests[i] = manifestJSON{ID: m.ID.String(), SizeBytes: m.SizeBytes, NumChunkRefs: m.NumChunkRefs}
	}
	if !info.ParentID.IsZero() {
		p := info.ParentID.String()
		out.ParentID = &p
	}
	if out.Metadata == nil {
		out.Metadata = map[string]any{}
	}
	return out
}

// diffJSON is a diff or a session status.
type diffJSON struct {
	NewGroups     []string              `json:"new_groups"`
	NewArrays     []string              `json:"new_arrays"`
	DeletedGroups []string              `json:"deleted_groups"`
	DeletedArrays []string              `json:"deleted_arrays"`
	UpdatedGroups []string              `json:"updated_groups"`
	UpdatedArrays []string              `json:"updated_arrays"`
	UpdatedChunks map[string][][]uint32 `json:"updated_chunks"`
}

func paths(ps []engine.Path) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

func diff(d *engine.Diff) diffJSON {
	out := diffJSON{NewGroups: paths(d.NewGroups), NewArrays: paths(d.NewArrays), DeletedGroups: paths(d.DeletedGroups),
		DeletedArrays: paths(d.DeletedArrays), UpdatedGroups: paths(d.UpdatedGroups), UpdatedArrays: paths(d.UpdatedArrays),
		UpdatedChunks: make(map[string][][]uint32, len(d.UpdatedChunks))}
	for _, p := range slices.Sorted(maps.Keys(d.UpdatedChunks)) {
		out.UpdatedChunks[string(p)] = d.UpdatedChunks[p]
	}
	return out
}

// groupJSON and arrayJSON describe a node.
type groupJSON struct {
	Path         string          `json:"path"`
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	ZarrMetadata json.RawMessage `json:"zarr_metadata"`
}

type arrayJSON struct {
	groupJSON
	Shape          []uint64 `json:"shape"`
	ChunkShape     []uint64 `json:"chunk_shape"`
	DimensionNames []string `json:"dimension_names"` // null: no names
}

func node(n *engine.Node) any {
	g := groupJSON{Path: n.Path, Type: n.Type.String(), ID: n.ID.String()}
	if len(n.ZarrMetadata) > 0 && json.Valid(n.ZarrMetadata) {
		g.ZarrMetadata = json.RawMessage(n.ZarrMetadata)
	} else {
		g.ZarrMetadata, _ = json.Marshal(string(n.ZarrMetadata)) // invalid UTF-8 becomes U+FFFD
	}
	if n.Array == nil {
		return g
	}
	a := arrayJSON{groupJSON: g, Shape: append([]uint64{}, n.Array.Shape...), ChunkShape: append([]uint64{}, n.Array.ChunkShape...)}
	if n.Array.HasDimensionNames {
		a.DimensionNames = append([]string{}, n.Array.DimensionNames...)
	}
	return a
}

// configJSON is a repository configuration.
type configJSON struct {
	InlineChunkThreshold   uint32           `json:"inline_chunk_threshold"`
	ManifestBlockChunks    uint32           `json:"manifest_block_chunks"`
	SnapshotCacheBytes     uint64           `json:"snapshot_cache_bytes"`
	ManifestCacheBytes     uint64           `json:"manifest_cache_bytes"`
	DisableTransactionLogs bool             `json:"disable_transaction_logs"`
	VirtualChunkContainers []containerJSON  `json:"virtual_chunk_containers"`
	Storage                *storageJSON     `json:"storage,omitempty"`
	Compression            *compressionJSON `json:"compression,omitempty"`
	// Manifest is codec.ManifestConfig as JSON; given, it replaces the
	// base's whole (null: none).
	Manifest json.RawMessage `json:"manifest,omitempty"`
	// Caching overlays field by field (null clears it).
	Caching                     *codec.CachingConfig `json:"caching,omitempty"`
	MaxConcurrentRequests       uint32               `json:"max_concurrent_requests,omitempty"`
	GetPartialValuesConcurrency uint32               `json:"get_partial_values_concurrency,omitempty"`
}

type containerJSON struct {
	Name      string       `json:"name"`
	URLPrefix string       `json:"url_prefix"`
	Store     *storeConfig `json:"store,omitempty"`
}

// compressionJSON is the compression of metadata files in upstream
// Icechunk's shape: zstd is the only algorithm.
type compressionJSON struct {
	Algorithm string `json:"algorithm,omitempty"`
	Level     uint32 `json:"level,omitempty"`
}

func compressionOf(level uint32) *compressionJSON {
	if level == 0 {
		return nil
	}
	return &compressionJSON{Algorithm: "zstd", Level: level}
}

func (c *compressionJSON) level() (uint32, error) {
	if c == nil {
		return 0, nil
	}
	if c.Algorithm != "" && c.Algorithm != "zstd" {
		return 0, invalidArg("compression algorithm %q is not supported (only \"zstd\")", c.Algorithm)
	}
	return c.Level, nil
}

// storageJSON is codec.StorageSettings in upstream Icechunk's shape.
type storageJSON struct {
	Retries              *retriesJSON     `json:"retries,omitempty"`
	StorageClass         string           `json:"storage_class,omitempty"`
	MetadataStorageClass string           `json:"metadata_storage_class,omitempty"`
	ChunksStorageClass   string           `json:"chunks_storage_class,omitempty"`
	Concurrency          *concurrencyJSON `json:"concurrency,omitempty"`
	// false: create-only writes are checked, written and read back, for
	// stores that refuse them (codec.StorageSettings.UnsafeNoConditionalCreate).
	UnsafeUseConditionalCreate *bool `json:"unsafe_use_conditional_create,omitempty"`
	// Objects from this size on are multipart uploads where the storage
	// takes them (S3); 0 is the default, 100 MiB.
	MinimumSizeForMultipartUpload uint64 `json:"minimum_size_for_multipart_upload,omitempty"`
	// Accepted for upstream's configurations, with no effect and not kept:
	// the library never writes conditionally over an object (refs are
	// create-only entries) and never stamps objects with metadata.
	UnsafeUseConditionalUpdate *bool `json:"unsafe_use_conditional_update,omitempty"`
	UnsafeUseMetadata          *bool `json:"unsafe_use_metadata,omitempty"`
}

// concurrencyJSON is how a large read of one object is split (upstream
// Icechunk's StorageConcurrencySettings); zero fields are the defaults.
type concurrencyJSON struct {
	MaxConcurrentRequestsForObject uint32 `json:"max_concurrent_requests_for_object,omitempty"`
	IdealConcurrentRequestSize     uint64 `json:"ideal_concurrent_request_size,omitempty"`
}

type retriesJSON struct {
	MaxTries         uint32 `json:"max_tries,omitempty"`
	InitialBackoffMS uint32 `json:"initial_backoff_ms,omitempty"`
	MaxBackoffMS     uint32 `json:"max_backoff_ms,omitempty"`
}

func storageOf(s *codec.StorageSettings) *storageJSON {
	if s == nil {
		return nil
	}
	out := &storageJSON{StorageClass: s.StorageClass, MetadataStorageClass: s.MetadataStorageClass, ChunksStorageClass: s.ChunksStorageClass,
		MinimumSizeForMultipartUpload: s.MinimumSizeForMultipartUpload}
	if s.RetryMaxTries != 0 || s.RetryInitialBackoffMS != 0 || s.RetryMaxBackoffMS != 0 {
		out.Retries = &retriesJSON{MaxTries: s.RetryMaxTries, InitialBackoffMS: s.RetryInitialBackoffMS, MaxBackoffMS: s.RetryMaxBackoffMS}
	}
	if s.MaxConcurrentRequestsForObject != 0 || s.IdealConcurrentRequestSize != 0 {
		out.Concurrency = &concurrencyJSON{MaxConcurrentRequestsForObject: s.MaxConcurrentRequestsForObject, IdealConcurrentRequestSize: s.IdealConcurrentRequestSize}
	}
	if s.UnsafeNoConditionalCreate {
		out.UnsafeUseConditionalCreate = new(bool)
	}
	return out
}

func (s *storageJSON) settings() *codec.StorageSettings {
	if s == nil {
		return nil
	}
	out := &codec.StorageSettings{StorageClass: s.StorageClass, MetadataStorageClass: s.MetadataStorageClass, ChunksStorageClass: s.ChunksStorageClass,
		MinimumSizeForMultipartUpload: s.MinimumSizeForMultipartUpload}
	if r := s.Retries; r != nil {
		out.RetryMaxTries, out.RetryInitialBackoffMS, out.RetryMaxBackoffMS = r.MaxTries, r.InitialBackoffMS, r.MaxBackoffMS
	}
	if c := s.Concurrency; c != nil {
		out.MaxConcurrentRequestsForObject, out.IdealConcurrentRequestSize = c.MaxConcurrentRequestsForObject, c.IdealConcurrentRequestSize
	}
	out.UnsafeNoConditionalCreate = s.UnsafeUseConditionalCreate != nil && !*s.UnsafeUseConditionalCreate
	if *out == (codec.StorageSettings{}) {
		return nil
	}
	return out
}

// storeConfig is codec.ObjectStoreConfig: how to reach a container's
// objects (never credentials).
type storeConfig struct {
	Kind           string `json:"kind"`
	Region         string `json:"region,omitempty"`
	EndpointURL    string `json:"endpoint_url,omitempty"`
	AllowHTTP      bool   `json:"allow_http,omitempty"`
	ForcePathStyle bool   `json:"force_path_style,omitempty"`
	Anonymous      bool   `json:"anonymous,omitempty"`
	// NetworkStreamTimeoutSeconds: nil is the default, 0 none.
	NetworkStreamTimeoutSeconds *int              `json:"network_stream_timeout_seconds,omitempty"`
	Path                        string            `json:"path,omitempty"`
	Options                     map[string]string `json:"options,omitempty"`
}

func configOf(c codec.RepoConfig) configJSON {
	out := configJSON{InlineChunkThreshold: c.InlineChunkThreshold, ManifestBlockChunks: c.ManifestBlockChunks,
		SnapshotCacheBytes: c.SnapshotCacheBytes, ManifestCacheBytes: c.ManifestCacheBytes,
		DisableTransactionLogs: c.DisableTransactionLogs, VirtualChunkContainers: []containerJSON{},
		Storage: storageOf(c.Storage), Compression: compressionOf(c.CompressionLevel),
		MaxConcurrentRequests: c.MaxConcurrentRequests, GetPartialValuesConcurrency: c.GetPartialValuesConcurrency}
	if c.Caching != nil {
		cc := *c.Caching // decoding overlays into it: never the base's own
		out.Caching = &cc
	}
	if c.Manifest != nil {
		out.Manifest, _ = json.Marshal(c.Manifest) // plain values: cannot fail
	}
	for _, vc := range c.VirtualChunkContainers {
		out.VirtualChunkContainers = append(out.VirtualChunkContainers, containerJSON{Name: vc.Name, URLPrefix: vc.URLPrefix, Store: (*storeConfig)(vc.Store)})
	}
	return out
}

// applyConfig decodes s over base: keys left out keep base's values.
func applyConfig(base codec.RepoConfig, s, what string) (codec.RepoConfig, error) {
	c := configOf(base)
	// encoding/json decodes array elements into the slice's existing
	// elements, so a container given without a key would keep that key of
	// the base's container at the same index: decode containers afresh.
	baseContainers := c.VirtualChunkContainers
	c.VirtualChunkContainers = nil
	if err := decodeJSON(s, what, &c); err != nil {
		return codec.RepoConfig{}, err
	}
	if c.VirtualChunkContainers == nil { // not given (or null): keep the base's
		c.VirtualChunkContainers = baseContainers
	}
	out := codec.RepoConfig{InlineChunkThreshold: c.InlineChunkThreshold, ManifestBlockChunks: c.ManifestBlockChunks,
		SnapshotCacheBytes: c.SnapshotCacheBytes, ManifestCacheBytes: c.ManifestCacheBytes,
		DisableTransactionLogs: c.DisableTransactionLogs, Storage: c.Storage.settings(),
		MaxConcurrentRequests: c.MaxConcurrentRequests, GetPartialValuesConcurrency: c.GetPartialValuesConcurrency}
	if c.Caching != nil && *c.Caching != (codec.CachingConfig{}) {
		out.Caching = c.Caching
	}
	var err error
	if out.CompressionLevel, err = c.Compression.level(); err != nil {
		return codec.RepoConfig{}, errors.Wrapf(err, "%s", what)
	}
	if len(c.Manifest) > 0 && string(c.Manifest) != "null" {
		out.Manifest = &codec.ManifestConfig{}
		if err := decodeJSON(string(c.Manifest), what+": manifest", out.Manifest); err != nil {
			return codec.RepoConfig{}, err
		}
		if out.Manifest.Preload == nil && len(out.Manifest.Splitting) == 0 {
			out.Manifest = nil // an empty one is none
		}
	}
	for _, vc := range c.VirtualChunkContainers {
		out.VirtualChunkContainers = append(out.VirtualChunkContainers, codec.VirtualChunkContainer{Name: vc.Name, URLPrefix: vc.URLPrefix, Store: (*codec.ObjectStoreConfig)(vc.Store)})
	}
	if err := out.Validate(); err != nil {
		return codec.RepoConfig{}, errors.Mark(errors.Wrapf(err, "%s", what), errInvalidArgument)
	}
	return out, nil
}

// gcSummaryJSON is what a garbage collection deleted.
type gcSummaryJSON struct {
	SnapshotsDeleted       int   `json:"snapshots_deleted"`
	ManifestsDeleted       int   `json:"manifests_deleted"`
	TransactionLogsDeleted int   `json:"transaction_logs_deleted"`
	ChunksDeleted          int   `json:"chunks_deleted"`
	BytesDeleted           int64 `json:"bytes_deleted"`
	DryRun                 bool  `json:"dry_run"`
}

func gcSummary(s engine.GCSummary, dryRun bool) gcSummaryJSON {
	return gcSummaryJSON{
		SnapshotsDeleted: s.SnapshotsDeleted, ManifestsDeleted: s.ManifestsDeleted,
		TransactionLogsDeleted: s.TransactionLogsDeleted, ChunksDeleted: s.ChunksDeleted,
		BytesDeleted: s.BytesDeleted, DryRun: dryRun,
	}
}

// repackSummaryJSON is what a repack did.
type repackSummaryJSON struct {
	Snapshot        *string `json:"snapshot_id"` // null: nothing committed
	ObjectsRepacked int     `json:"objects_repacked"`
	ChunksMoved     int     `json:"chunks_moved"`
	BytesMoved      int64   `json:"bytes_moved"`
	BytesFreeable   int64   `json:"bytes_freeable"`
	DryRun          bool    `json:"dry_run"`
}

func repackSummary(s engine.RepackSummary, dryRun bool) repackSummaryJSON {
	out := repackSummaryJSON{ObjectsRepacked: s.ObjectsRepacked, ChunksMoved: s.ChunksMoved, BytesMoved: s.BytesMoved, BytesFreeable: s.BytesFreeable, DryRun: dryRun}
	if !s.Snapshot.IsZero() {
		id := s.Snapshot.String()
		out.Snapshot = &id
	}
	return out
}

// expireResultJSON is what an expiration did.
type expireResultJSON struct {
	Expired         []string `json:"expired_snapshots"`
	Rewritten       []string `json:"rewritten_snapshots"`
	DeletedBranches []string `json:"deleted_branches"`
	DeletedTags     []string `json:"deleted_tags"`
}

func expireResult(r engine.ExpireResult) expireResultJSON {
	ids := func(in []codec.SnapshotID) []string {
		out := make([]string, len(in))
		for i, id := range in {
			out[i] = id.String()
		}
		return out
	}
	names := func(in []string) []string { return append([]string{}, in...) } // [] rather than null
	return expireResultJSON{
		Expired: ids(r.Expired), Rewritten: ids(r.Rewritten),
		DeletedBranches: names(r.DeletedBranches), DeletedTags: names(r.DeletedTags),
	}
}

// chunkStorageStatsJSON is the bytes of the chunks a repository's history
// refers to.
type chunkStorageStatsJSON struct {
	NativeBytes  uint64 `json:"native_bytes"`
	VirtualBytes uint64 `json:"virtual_bytes"`
	InlinedBytes uint64 `json:"inlined_bytes"`
}

func chunkStorageStats(s engine.ChunkStorageStats) chunkStorageStatsJSON {
	return chunkStorageStatsJSON{NativeBytes: s.NativeBytes, VirtualBytes: s.VirtualBytes, InlinedBytes: s.InlineBytes}
}

// virtualRefJSON is one virtual chunk of ic_session_set_virtual_refs.
// The pointer fields are required: nil means the key was left out.
type virtualRefJSON struct {
	Coords       *[]uint32 `json:"coords"`
	Location     *string   `json:"location"`
	Offset       *uint64   `json:"offset"`
	Length       *uint64   `json:"length"`
	ETag         string    `json:"etag"`
	LastModified int64     `json:"last_modified"` // Unix seconds; 0 = not checked
}

// virtualRefs checks and converts the decoded JSON array of virtual
// chunks what.
func virtualRefs(in []*virtualRefJSON, what string) ([]engine.VirtualChunkSpec, error) {
	if in == nil {
		return nil, invalidArg("%s must be a JSON array of virtual chunks, not null", what)
	}
	out := make([]engine.VirtualChunkSpec, len(in))
	for i, r := range in {
		if r == nil {
			return nil, invalidArg("%s[%d] is null, not a virtual chunk", what, i)
		}
		for _, f := range []struct {
			name    string
			missing bool
		}{{"coords", r.Coords == nil}, {"location", r.Location == nil}, {"offset", r.Offset == nil}, {"length", r.Length == nil}} {
			if f.missing {
				return nil, invalidArg("%s[%d] has no %q (coords, location, offset and length are required)", what, i, f.name)
			}
		}
		out[i] = engine.VirtualChunkSpec{Coords: *r.Coords, Location: *r.Location, Offset: *r.Offset,
			Length: *r.Length, ETag: r.ETag, LastModified: r.LastModified}
	}
	return out, nil
}
