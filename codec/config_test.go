package codec

import (
	"testing"

	"github.com/tinylib/msgp/msgp"
)

func TestDefaultRepoConfig(t *testing.T) {
	c := DefaultRepoConfig()
	if c.InlineChunkThreshold != 512 || c.ManifestBlockChunks != 65536 ||
		c.SnapshotCacheBytes != 256<<20 || c.ManifestCacheBytes != 256<<20 || c.DisableTransactionLogs {
		t.Fatalf("defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A config written without some fields (by an older build) decodes with the
// defaults for them.
func TestRepoConfigMissingFieldsKeepDefaults(t *testing.T) {
	payload := msgp.AppendMapHeader(nil, 1)
	payload = msgp.AppendString(payload, "inline_chunk_threshold")
	payload = msgp.AppendUint32(payload, 100)
	c, err := DecodeRepoConfig("config.msgp", wrapRaw(FileTypeRepoConfig, payload))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultRepoConfig()
	want.InlineChunkThreshold = 100
	if !equalValues(c, &want) {
		t.Fatalf("got %+v, want %+v", c, want)
	}
}

func TestRepoConfigContainerFor(t *testing.T) {
	c := fixtureRepoConfig()
	c.VirtualChunkContainers = append(c.VirtualChunkContainers, VirtualChunkContainer{Name: "era5-sub", URLPrefix: "s3://era5-bucket/sub/"})
	cases := map[string]string{
		"s3://era5-bucket/a.nc":     "era5",
		"s3://era5-bucket/sub/a.nc": "era5-sub",
		"file:///data/x":            "local",
		"s3://other/x":              "",
	}
	for loc, want := range cases {
		got, ok := c.ContainerFor(loc)
		if (want == "") == ok || (ok && got.Name != want) {
			t.Errorf("ContainerFor(%q) = %v, %v; want %q", loc, got, ok, want)
		}
	}
}

func TestRepoConfigValidate(t *testing.T) {
	cases := map[string]func(c *RepoConfig){
		"zero block":     func(c *RepoConfig) { c.ManifestBlockChunks = 0 },
		"no name":        func(c *RepoConfig) { c.VirtualChunkContainers[0].Name = "" },
		"duplicate name": func(c *RepoConfig) { c.VirtualChunkContainers[1].Name = "era5" },
		"no prefix":      func(c *RepoConfig) { c.VirtualChunkContainers[1].URLPrefix = "" },
		"s3 store for file://": func(c *RepoConfig) {
			c.VirtualChunkContainers[1].Store = &ObjectStoreConfig{Kind: ObjectStoreS3}
		},
		"local store for s3://": func(c *RepoConfig) {
			c.VirtualChunkContainers[0].Store = &ObjectStoreConfig{Kind: ObjectStoreLocal, Path: "/data"}
		},
		"unknown store kind": func(c *RepoConfig) { c.VirtualChunkContainers[0].Store = &ObjectStoreConfig{Kind: "gcs"} },
		"http store for s3://": func(c *RepoConfig) {
			c.VirtualChunkContainers[0].Store = &ObjectStoreConfig{Kind: ObjectStoreHTTP}
		},
		"client options for an s3 store": func(c *RepoConfig) {
			c.VirtualChunkContainers[0].Store = &ObjectStoreConfig{Kind: ObjectStoreS3, Options: map[string]string{"timeout": "5s"}}
		},
		"negative stream timeout": func(c *RepoConfig) {
			c.VirtualChunkContainers[0].Store = &ObjectStoreConfig{Kind: ObjectStoreS3, NetworkStreamTimeoutSeconds: new(-1)}
		},
		"stream timeout for a local store": func(c *RepoConfig) {
			c.VirtualChunkContainers[1].Store = &ObjectStoreConfig{Kind: ObjectStoreLocal, Path: "/data", NetworkStreamTimeoutSeconds: new(5)}
		},
		"too many requests for one object": func(c *RepoConfig) {
			c.Storage = &StorageSettings{MaxConcurrentRequestsForObject: MaxConcurrentRequestsForObject + 1}
		},
	}
	for name, breakIt := range cases {
		c := fixtureRepoConfig()
		breakIt(c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
	}
	c := fixtureRepoConfig()
	c.VirtualChunkContainers[0].Store = &ObjectStoreConfig{Kind: ObjectStoreS3, Region: "eu-west-1", NetworkStreamTimeoutSeconds: new(0)}
	c.VirtualChunkContainers[1].Store = &ObjectStoreConfig{Kind: ObjectStoreLocal, Path: "/data"}
	c.VirtualChunkContainers = append(c.VirtualChunkContainers,
		VirtualChunkContainer{Name: "web", URLPrefix: "https://data.example.org/", Store: &ObjectStoreConfig{Kind: ObjectStoreHTTP, Options: map[string]string{"timeout": "30s"}}},
		VirtualChunkContainer{Name: "plain-web", URLPrefix: "http://10.0.0.1/", Store: &ObjectStoreConfig{Kind: ObjectStoreHTTP}})
	if err := c.Validate(); err != nil {
		t.Errorf("stores that fit their prefixes: %v", err)
	}
}

// A read is split by the ideal request size, rounded up, up to the maximum
// for one object; nil settings and zero fields are upstream's defaults.
func TestStorageSettingsReadParts(t *testing.T) {
	var none *StorageSettings
	custom := &StorageSettings{IdealConcurrentRequestSize: 100, MaxConcurrentRequestsForObject: 3}
	for _, c := range []struct {
		s    *StorageSettings
		n    int
		want int
	}{
		{none, 0, 1},
		{none, 12 << 20, 1},
		{none, 12<<20 + 1, 2},
		{none, 100 << 20, 9},
		{none, 1 << 30, DefaultConcurrentRequestsForObject},
		{&StorageSettings{StorageClass: "STANDARD"}, 12<<20 + 1, 2},
		{custom, 100, 1},
		{custom, 101, 2},
		{custom, 300, 3},
		{custom, 301, 3},
		{&StorageSettings{IdealConcurrentRequestSize: 100}, 1 << 20, DefaultConcurrentRequestsForObject},
		{&StorageSettings{MaxConcurrentRequestsForObject: 1}, 1 << 30, 1},
	} {
		if got := c.s.ReadParts(c.n); got != c.want {
			t.Errorf("%+v: a read of %d bytes in %d parts, want %d", c.s, c.n, got, c.want)
		}
	}
}
