package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Key and metadata parsing never panics on any input, and what it accepts
// round-trips. Run long with `make fuzz`; `make test` runs the seeds.

func FuzzNewPath(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b", "a//b", "../x", "/a/./b", "__x", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := NewPath(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("%q: error without ErrInvalidPath: %v", s, err)
			}
			return
		}
		again, err := NewPath(string(p))
		if err != nil || again != p {
			t.Fatalf("%q -> %q does not round-trip: %q %v", s, p, again, err)
		}
	})
}

func FuzzParseZarrJSON(f *testing.F) {
	f.Add([]byte(`{"zarr_format":3,"node_type":"group"}`))
	f.Add([]byte(`{"zarr_format":3,"node_type":"array","shape":[4,8],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,4]}},"chunk_key_encoding":{"name":"v2","configuration":{"separator":"/"}},"dimension_names":["y",null]}`))
	f.Add([]byte(`{"node_type":"array","shape":[],"chunk_grid":"regular"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseZarrJSON("x/zarr.json", data)
	})
}

// FuzzStoreKeys throws arbitrary keys at a session holding arrays of every
// chunk key encoding: reads either find something, find nothing, or fail
// with a typed error; writes of keys the store cannot hold are refused.
func FuzzStoreKeys(f *testing.F) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New("fuzz"), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	s, err := repo.WritableSession(ctx, MainBranch)
	if err != nil {
		f.Fatal(err)
	}
	arrays := map[string]string{
		"d/zarr.json":  `{"zarr_format":3,"node_type":"array","shape":[4,4],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,2]}},"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}}}`,
		"dd/zarr.json": `{"zarr_format":3,"node_type":"array","shape":[4,4],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,2]}},"chunk_key_encoding":{"name":"default","configuration":{"separator":"."}}}`,
		"v/zarr.json":  `{"zarr_format":3,"node_type":"array","shape":[4,4],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,2]}},"chunk_key_encoding":{"name":"v2","configuration":{"separator":"."}}}`,
		"z/zarr.json":  `{"zarr_format":3,"node_type":"array","shape":[],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[]}},"chunk_key_encoding":{"name":"default"}}`,
	}
	if err := s.StoreSet(ctx, "zarr.json", []byte(`{"zarr_format":3,"node_type":"group"}`)); err != nil {
		f.Fatal(err)
	}
	for k, v := range arrays {
		if err := s.StoreSet(ctx, k, []byte(v)); err != nil {
			f.Fatal(err)
		}
	}
	for _, k := range []string{"d/c/0/1", "dd/c.1.1", "v/0.0", "z/c", "d/c/9/9", "d/c/01/1", "../x", "d//c", "/d/c/0/0", "nope/c/0", "d/c/0", "v/0/0", "d/zarr.json", ".zgroup"} {
		f.Add(k)
	}
	valid := []error{ErrInvalidKey, ErrInvalidIndex, ErrInvalidMetadata, ErrAlreadyExists, ErrNotAGroup, ErrNodeNotFound, ErrKeyNotFound, ErrChunkNotFound, storage.ErrInvalidKey, ErrInvalidPath}
	typed := func(err error) bool {
		for _, e := range valid {
			if errors.Is(err, e) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, key string) {
		if _, _, err := s.StoreGet(ctx, key, storage.From(0)); err != nil && !typed(err) {
			t.Fatalf("get %q: untyped error %v", key, err)
		}
		if _, err := s.StoreExists(ctx, key); err != nil && !typed(err) {
			t.Fatalf("exists %q: untyped error %v", key, err)
		}
		if strings.HasSuffix(key, "zarr.json") {
			return // metadata writes would reshape the fixture
		}
		err := s.StoreSet(ctx, key, []byte("v"))
		if err != nil && !typed(err) {
			t.Fatalf("set %q: untyped error %v", key, err)
		}
		if err == nil {
			got, found, err := s.StoreGet(ctx, key, storage.From(0))
			if err != nil || !found || string(got) != "v" {
				t.Fatalf("set %q then get: %q %v %v", key, got, found, err)
			}
		}
	})
}
