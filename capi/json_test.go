package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// A configuration given as JSON replaces the containers it lists whole: a
// key left out of a container is not taken from the container the base
// had at the same place.
func TestApplyConfigReplacesContainersWhole(t *testing.T) {
	base := codec.DefaultRepoConfig()
	base.VirtualChunkContainers = []codec.VirtualChunkContainer{{
		Name: "a", URLPrefix: "s3://a/", Store: &codec.ObjectStoreConfig{Kind: codec.ObjectStoreS3, Region: "eu-west-1"},
	}}
	got, err := applyConfig(base, `{"virtual_chunk_containers": [{"name": "b", "url_prefix": "s3://b/"}]}`, "config")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.VirtualChunkContainers) != 1 || got.VirtualChunkContainers[0].Store != nil {
		t.Fatalf("containers %+v: want b alone, without a store", got.VirtualChunkContainers)
	}
	if base.VirtualChunkContainers[0].Store == nil {
		t.Fatal("the base config was changed")
	}

	got, err = applyConfig(base, `{"inline_chunk_threshold": 7}`, "config")
	if err != nil {
		t.Fatal(err)
	}
	if got.InlineChunkThreshold != 7 || len(got.VirtualChunkContainers) != 1 || got.VirtualChunkContainers[0].Store.Region != "eu-west-1" {
		t.Fatalf("containers not given must be kept: %+v", got.VirtualChunkContainers)
	}

	got, err = applyConfig(base, `{"virtual_chunk_containers": []}`, "config")
	if err != nil || len(got.VirtualChunkContainers) != 0 {
		t.Fatalf("an empty list removes the containers: %+v, %v", got.VirtualChunkContainers, err)
	}
}

// Storage settings in JSON have upstream Icechunk's shape, overlay the
// base's field by field like the rest of the configuration, are cleared
// by null, and refuse what the library does not have.
func TestApplyConfigStorageSettings(t *testing.T) {
	base := codec.DefaultRepoConfig()
	if configOf(base).Storage != nil {
		t.Fatal("a config without storage settings shows some")
	}
	base.Storage = &codec.StorageSettings{RetryMaxTries: 4, RetryMaxBackoffMS: 900, StorageClass: "STANDARD_IA"}
	got, err := applyConfig(base, `{"storage": {"chunks_storage_class": "INTELLIGENT_TIERING", "retries": {"initial_backoff_ms": 20}}}`, "config")
	if err != nil {
		t.Fatal(err)
	}
	want := codec.StorageSettings{RetryMaxTries: 4, RetryInitialBackoffMS: 20, RetryMaxBackoffMS: 900, StorageClass: "STANDARD_IA", ChunksStorageClass: "INTELLIGENT_TIERING"}
	if got.Storage == nil || *got.Storage != want {
		t.Fatalf("overlaid settings %+v, want %+v", got.Storage, want)
	}
	if *base.Storage != (codec.StorageSettings{RetryMaxTries: 4, RetryMaxBackoffMS: 900, StorageClass: "STANDARD_IA"}) {
		t.Fatalf("the base config was changed: %+v", base.Storage)
	}
	shown := configOf(got).Storage
	if shown == nil || shown.Retries == nil || shown.Retries.InitialBackoffMS != 20 || shown.ChunksStorageClass != "INTELLIGENT_TIERING" {
		t.Fatalf("settings shown as %+v", shown)
	}
	if got, err = applyConfig(base, `{"storage": null}`, "config"); err != nil || got.Storage != nil {
		t.Fatalf("null clears the settings: %+v, %v", got.Storage, err)
	}
	if got, err = applyConfig(base, `{"storage": {"storage_class": ""}, "inline_chunk_threshold": 3}`, "config"); err != nil || got.Storage == nil || got.Storage.StorageClass != "" || got.Storage.RetryMaxTries != 4 {
		t.Fatalf("an emptied class: %+v, %v", got.Storage, err)
	}
	got, err = applyConfig(base, `{"storage": {"concurrency": {"ideal_concurrent_request_size": 4096}}}`, "config")
	if err != nil || got.Storage == nil || got.Storage.IdealConcurrentRequestSize != 4096 || got.Storage.MaxConcurrentRequestsForObject != 0 || got.Storage.RetryMaxTries != 4 {
		t.Fatalf("a request size: %+v, %v", got.Storage, err)
	}
	got, err = applyConfig(got, `{"storage": {"concurrency": {"max_concurrent_requests_for_object": 3}}}`, "config")
	if err != nil || got.Storage.IdealConcurrentRequestSize != 4096 || got.Storage.MaxConcurrentRequestsForObject != 3 {
		t.Fatalf("a request count over a request size: %+v, %v", got.Storage, err)
	}
	if c := configOf(got).Storage.Concurrency; c == nil || *c != (concurrencyJSON{MaxConcurrentRequestsForObject: 3, IdealConcurrentRequestSize: 4096}) {
		t.Fatalf("concurrency shown as %+v", c)
	}
	if configOf(base).Storage.Concurrency != nil {
		t.Fatal("settings without concurrency show some")
	}
	// Conditional creates off is kept and shown; the two upstream settings
	// that change nothing here are accepted and not kept.
	got, err = applyConfig(base, `{"storage": {"unsafe_use_conditional_create": false, "unsafe_use_conditional_update": false, "unsafe_use_metadata": true}}`, "config")
	if err != nil || !got.Storage.UnsafeNoConditionalCreate {
		t.Fatalf("conditional creates off: %+v, %v", got.Storage, err)
	}
	if shown := configOf(got).Storage; shown.UnsafeUseConditionalCreate == nil || *shown.UnsafeUseConditionalCreate || shown.UnsafeUseConditionalUpdate != nil || shown.UnsafeUseMetadata != nil {
		t.Fatalf("shown as %+v", shown)
	}
	if got, err = applyConfig(got, `{"storage": {"retries": {"max_tries": 2}}}`, "config"); err != nil || !got.Storage.UnsafeNoConditionalCreate {
		t.Fatalf("an overlay without it keeps it: %+v, %v", got.Storage, err)
	}
	if got, err = applyConfig(got, `{"storage": {"unsafe_use_conditional_create": true}}`, "config"); err != nil || got.Storage.UnsafeNoConditionalCreate {
		t.Fatalf("turned back on: %+v, %v", got.Storage, err)
	}
	// The multipart size is kept and shown.
	if got, err = applyConfig(base, `{"storage": {"minimum_size_for_multipart_upload": 16777216}}`, "config"); err != nil || got.Storage.MinimumSizeForMultipartUpload != 16<<20 {
		t.Fatalf("multipart size: %+v, %v", got.Storage, err)
	}
	if shown := configOf(got).Storage; shown.MinimumSizeForMultipartUpload != 16<<20 {
		t.Fatalf("multipart size shown as %+v", shown)
	}
	for _, bad := range []string{
		`{"storage": {"concurrency": {"max_concurrent_requests_for_object": 70000}}}`,
		`{"storage": {"concurrency": {"ideal_concurrent_request_size": -1}}}`,
		`{"storage": {"minimum_size_for_multipart_upload": -1}}`,
		`{"storage": {"unsafe_use_conditional_create": "no"}}`,
		`{"storage": {"retries": {"max_tries": -1}}}`,
		`{"storage": {"retries": {"initial_backoff_ms": 10, "max_backoff_ms": 5}}}`,
		`{"storage": {"storage_class": "glacier"}}`,
	} {
		if _, err := applyConfig(base, bad, "config"); !errors.Is(err, errInvalidArgument) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
}

// The compression of metadata files in JSON has upstream Icechunk's shape:
// zstd only, a level from 1 to 22, shown only when set, cleared by null.
func TestApplyConfigCompression(t *testing.T) {
	base := codec.DefaultRepoConfig()
	if configOf(base).Compression != nil {
		t.Fatal("a config without a compression level shows one")
	}
	got, err := applyConfig(base, `{"compression": {"algorithm": "zstd", "level": 9}}`, "config")
	if err != nil || got.CompressionLevel != 9 {
		t.Fatalf("level 9: %d, %v", got.CompressionLevel, err)
	}
	if c := configOf(got).Compression; c == nil || *c != (compressionJSON{Algorithm: "zstd", Level: 9}) {
		t.Fatalf("shown as %+v", c)
	}
	if kept, err := applyConfig(got, `{"inline_chunk_threshold": 3}`, "config"); err != nil || kept.CompressionLevel != 9 {
		t.Fatalf("a config without compression keeps the level: %d, %v", kept.CompressionLevel, err)
	}
	if cleared, err := applyConfig(got, `{"compression": null}`, "config"); err != nil || cleared.CompressionLevel != 0 {
		t.Fatalf("null clears the level: %d, %v", cleared.CompressionLevel, err)
	}
	for _, bad := range []string{
		`{"compression": {"algorithm": "lz4", "level": 1}}`,
		`{"compression": {"level": 23}}`,
		`{"compression": {"level": -1}}`,
	} {
		if _, err := applyConfig(base, bad, "config"); !errors.Is(err, errInvalidArgument) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
}

// The manifest config in JSON is codec.ManifestConfig's: given, it replaces
// the base's whole; left out, the base's stays; null clears it. Bad rules
// are refused naming what is wrong.
func TestApplyConfigManifest(t *testing.T) {
	base := codec.DefaultRepoConfig()
	if configOf(base).Manifest != nil {
		t.Fatal("a config without manifest rules shows some")
	}
	in := `{"manifest": {"preload": {"max_total_refs": 50, "if": {"op": "name_matches", "regex": "^time$"}},
		"splitting": [{"if": {"op": "any_array"}, "dims": [{"kind": "dimension_name", "regex": "time", "chunks": 24}, {"kind": "any", "chunks": 1}]}]}}`
	got, err := applyConfig(base, in, "config")
	if err != nil {
		t.Fatal(err)
	}
	m := got.Manifest
	if m == nil || *m.Preload.MaxTotalRefs != 50 || m.Preload.If.Regex != "^time$" || len(m.Splitting) != 1 || m.Splitting[0].Dims[0].Chunks != 24 {
		t.Fatalf("decoded as %+v", m)
	}
	// Shown as it was given, and read back to the same config.
	again, err := applyConfig(codec.DefaultRepoConfig(), `{"manifest": `+string(configOf(got).Manifest)+`}`, "config")
	if err != nil || !reflect.DeepEqual(again.Manifest, got.Manifest) {
		t.Fatalf("round trip: %+v, %v", again.Manifest, err)
	}
	if kept, err := applyConfig(got, `{"inline_chunk_threshold": 3}`, "config"); err != nil || !reflect.DeepEqual(kept.Manifest, got.Manifest) {
		t.Fatalf("left out, the rules stay: %+v, %v", kept.Manifest, err)
	}
	replaced, err := applyConfig(got, `{"manifest": {"splitting": [{"if": {"op": "any_array"}, "dims": [{"kind": "axis", "axis": 1, "chunks": 2}]}]}}`, "config")
	if err != nil || replaced.Manifest.Preload != nil || replaced.Manifest.Splitting[0].Dims[0] != (codec.DimSplit{Kind: "axis", Axis: 1, Chunks: 2}) {
		t.Fatalf("given, the rules replace the base's whole: %+v, %v", replaced.Manifest, err)
	}
	for _, none := range []string{`{"manifest": null}`, `{"manifest": {}}`, `{"manifest": {"splitting": []}}`} {
		if cleared, err := applyConfig(got, none, "config"); err != nil || cleared.Manifest != nil {
			t.Fatalf("%s clears the rules: %+v, %v", none, cleared.Manifest, err)
		}
	}
	for bad, want := range map[string]string{
		`{"manifest": {"splitting": [{"if": {"op": "name_matches", "regex": "("}, "dims": []}]}}`:            "regex",
		`{"manifest": {"preload": {"if": {"op": "any_array"}}}}`:                                             "not manifests to preload",
		`{"manifest": {"splitting": [{"if": {"op": "any_array"}, "dims": [{"kind": "any", "chunks": 0}]}]}}`: "split of 0",
		`{"manifest": {"preloads": {}}}`:                                                                     "unknown field",
	} {
		_, err := applyConfig(base, bad, "config")
		if !errors.Is(err, errInvalidArgument) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an invalid argument naming %q", bad, err, want)
		}
	}
}

// Upstream's caching settings overlay field by field and null clears them;
// max_concurrent_requests and get_partial_values_concurrency are plain
// numbers, 0 for the default; caching chunks is refused.
func TestApplyConfigCachingAndConcurrency(t *testing.T) {
	base := codec.DefaultRepoConfig()
	if c := configOf(base); c.Caching != nil || c.MaxConcurrentRequests != 0 || c.GetPartialValuesConcurrency != 0 {
		t.Fatalf("a default config shows caching %+v, max_concurrent_requests %d, get_partial_values_concurrency %d",
			c.Caching, c.MaxConcurrentRequests, c.GetPartialValuesConcurrency)
	}
	got, err := applyConfig(base, `{"caching": {"num_chunk_refs": 1000}, "max_concurrent_requests": 16, "get_partial_values_concurrency": 4}`, "config")
	if err != nil || *got.Caching.NumChunkRefs != 1000 || got.MaxConcurrentRequests != 16 || got.GetPartialValuesConcurrency != 4 {
		t.Fatalf("set: %+v, %d, %d, %v", got.Caching, got.MaxConcurrentRequests, got.GetPartialValuesConcurrency, err)
	}
	if c := configOf(got); c.GetPartialValuesConcurrency != 4 || c.MaxConcurrentRequests != 16 {
		t.Fatalf("shown as %d, %d", c.GetPartialValuesConcurrency, c.MaxConcurrentRequests)
	}
	over, err := applyConfig(got, `{"caching": {"num_snapshot_nodes": 50}}`, "config")
	if err != nil || *over.Caching.NumChunkRefs != 1000 || *over.Caching.NumSnapshotNodes != 50 || over.MaxConcurrentRequests != 16 {
		t.Fatalf("overlaid: %+v, %d, %v", over.Caching, over.MaxConcurrentRequests, err)
	}
	if got.Caching.NumSnapshotNodes != nil {
		t.Fatal("overlaying changed the base's caching settings")
	}
	cleared, err := applyConfig(over, `{"caching": null, "max_concurrent_requests": 0, "get_partial_values_concurrency": 0}`, "config")
	if err != nil || cleared.Caching != nil || cleared.MaxConcurrentRequests != 0 || cleared.GetPartialValuesConcurrency != 0 {
		t.Fatalf("cleared: %+v, %d, %v", cleared.Caching, cleared.MaxConcurrentRequests, err)
	}
	_, err = applyConfig(base, `{"caching": {"num_bytes_chunks": 1024}}`, "config")
	if !errors.Is(err, errInvalidArgument) || !strings.Contains(err.Error(), "num_bytes_chunks") {
		t.Fatalf("caching chunks: %v", err)
	}
}

// TestConfigTypeErrorsNameTheField: a value of the wrong kind is refused
// with the field and the values it takes, not Go's type names.
func TestConfigTypeErrorsNameTheField(t *testing.T) {
	base := codec.DefaultRepoConfig()
	for in, want := range map[string]string{
		`{"inline_chunk_threshold": -1}`:              `config: "inline_chunk_threshold" must be a whole number from 0 to 4294967295, not number -1`,
		`{"snapshot_cache_bytes": -5}`:                `config: "snapshot_cache_bytes" must be a whole number from 0 to 18446744073709551615, not number -5`,
		`{"disable_transaction_logs": "yes"}`:         `config: "disable_transaction_logs" must be true or false, not string`,
		`{"storage": {"retries": {"max_tries": -2}}}`: `config: "storage.retries.max_tries" must be a whole number from 0 to 4294967295, not number -2`,
		`[1, 2]`:                           `config must be an object, not array`,
		`"text"`:                           `config must be an object, not string`,
		`{"virtual_chunk_containers": {}}`: `config: "virtual_chunk_containers" must be an array, not object`,
	} {
		_, err := applyConfig(base, in, "config")
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
