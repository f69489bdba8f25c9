package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

func TestParseZarrKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		kind keyKind
		path Path
	}{
		{"zarr.json", keyMetadata, Root},
		{"a/zarr.json", keyMetadata, "/a"},
		{"a/b/zarr.json", keyMetadata, "/a/b"},
		{"c/0/1", keyChunk, ""},
		{"a/b/c.0.1", keyChunk, ""},
		{"a/0", keyChunk, ""},
		{".zgroup", keyV2Metadata, ""},
		{"a/.zarray", keyV2Metadata, ""},
		{"a/b/.zattrs", keyV2Metadata, ""},
		{".zmetadata", keyV2Metadata, ""},
	} {
		k, err := parseZarrKey(tc.key)
		if err != nil {
			t.Errorf("%q: %v", tc.key, err)
			continue
		}
		if k.kind != tc.kind || k.path != tc.path {
			t.Errorf("%q: kind %d path %q, want %d %q", tc.key, k.kind, k.path, tc.kind, tc.path)
		}
	}
	for _, key := range []string{
		"", "/zarr.json", "/a/c/0", "a//zarr.json", "a/", "a/../zarr.json", "./zarr.json",
		"a/./c/0", "a\x00/zarr.json", "a\\b/zarr.json", "\xff/zarr.json", "__a/zarr.json", "a/__b/zarr.json",
	} {
		_, err := parseZarrKey(key)
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%q: got %v, want ErrInvalidKey", key, err)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
			t.Errorf("%q: message %q does not name the key", key, err)
		}
	}
}

func TestChunkKeyEncodings(t *testing.T) {
	type enc struct {
		name string
		info zarrArrayInfo
	}
	encs := []enc{
		{"default /", zarrArrayInfo{encoding: encodingDefault, separator: '/'}},
		{"default .", zarrArrayInfo{encoding: encodingDefault, separator: '.'}},
		{"v2 .", zarrArrayInfo{encoding: encodingV2, separator: '.'}},
		{"v2 /", zarrArrayInfo{encoding: encodingV2, separator: '/'}},
	}
	want := map[string][]string{
		"default /": {"c", "c/7", "c/0/12", "c/1/2/3"},
		"default .": {"c", "c.7", "c.0.12", "c.1.2.3"},
		"v2 .":      {"0", "7", "0.12", "1.2.3"},
		"v2 /":      {"0", "7", "0/12", "1/2/3"},
	}
	coords := [][]uint32{{}, {7}, {0, 12}, {1, 2, 3}}
	for _, e := range encs {
		for i, c := range coords {
			key := e.info.encode(c)
			if key != want[e.name][i] {
				t.Errorf("%s: encode(%v) = %q, want %q", e.name, c, key, want[e.name][i])
			}
			back, why := e.info.decode(key, len(c))
			if why != "" || !slices.Equal(back, c) {
				t.Errorf("%s: decode(%q) = %v, %q", e.name, key, back, why)
			}
		}
	}
	bad := map[string][]struct {
		rest string
		rank int
	}{
		"default /": {{"c", 1}, {"c/0", 0}, {"c/0", 2}, {"c/x", 1}, {"c/01", 1}, {"c/-1", 1}, {"c/+1", 1}, {"d/0", 1}, {"c.0", 1}, {"c/4294967296", 1}, {"c/", 1}, {"c/0/", 2}},
		"default .": {{"c/0", 1}, {"c.0.1", 1}, {"c", 2}, {"c.", 1}, {"c.0a", 1}},
		"v2 .":      {{"1", 0}, {"0/1", 2}, {"0.1", 1}, {"c.0", 1}, {"", 1}},
		"v2 /":      {{"0.1", 2}, {"0/1/2", 2}, {"x", 1}, {"00", 1}},
	}
	for _, e := range encs {
		for _, b := range bad[e.name] {
			if got, why := e.info.decode(b.rest, b.rank); why == "" {
				t.Errorf("%s: decode(%q, rank %d) = %v, want failure", e.name, b.rest, b.rank, got)
			}
		}
	}
	if v, ok := parseCoord("4294967295"); !ok || v != 4294967295 {
		t.Errorf("max coordinate: %d %v", v, ok)
	}
}

func TestParseZarrJSON(t *testing.T) {
	m, err := parseZarrJSON("zarr.json", []byte(`{"zarr_format":3,"node_type":"group","attributes":{"x":1}}`))
	if err != nil || m.typ != GroupNode {
		t.Fatalf("group: %+v %v", m, err)
	}
	m, err = parseZarrJSON("a/zarr.json", []byte(`{"zarr_format":3,"node_type":"array","shape":[10,0],"data_type":"int32",
		"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[3,5]}},
		"chunk_key_encoding":{"name":"v2","configuration":{"separator":"/"}},"dimension_names":["x",null]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.typ != ArrayNode || !slices.Equal(m.array.Shape, []uint64{10, 0}) || !slices.Equal(m.array.ChunkShape, []uint64{3, 5}) ||
		!slices.Equal(m.array.DimensionNames, []string{"x", ""}) || m.info.encoding != encodingV2 || m.info.separator != '/' {
		t.Fatalf("array: %+v", m)
	}
	m, err = parseZarrJSON("a/zarr.json", []byte(`{"node_type":"array","shape":[],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[]}},"chunk_key_encoding":"v2"}`))
	if err != nil || len(m.array.Shape) != 0 || m.array.DimensionNames != nil || m.info.encoding != encodingV2 || m.info.separator != '.' {
		t.Fatalf("0-d array with short-hand encoding: %+v %v", m, err)
	}
	m, err = parseZarrJSON("a/zarr.json", []byte(`{"node_type":"array","shape":[4],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}},"chunk_key_encoding":{"name":"default"},"dimension_names":null}`))
	if err != nil || m.info.encoding != encodingDefault || m.info.separator != '/' || m.array.DimensionNames != nil {
		t.Fatalf("default encoding: %+v %v", m, err)
	}

	grid := `"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}}`
	enc := `"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}}`
	for _, doc := range []string{
		``, `null`, `[]`, `"group"`, `{"node_type":"group"`, `{"node_type":"group"} x`,
		`{}`, `{"node_type":"grup"}`, `{"node_type":3}`, `{"zarr_format":2,"node_type":"group"}`,
		`{"node_type":"array",` + grid + `,` + enc + `}`,
		`{"node_type":"array","shape":[4],` + enc + `}`,
		`{"node_type":"array","shape":[4],` + grid + `}`,
		`{"node_type":"array","shape":[-4],` + grid + `,` + enc + `}`,
		`{"node_type":"array","shape":[4.5],` + grid + `,` + enc + `}`,
		`{"node_type":"array","shape":"4",` + grid + `,` + enc + `}`,
		`{"node_type":"array","shape":[4,4],` + grid + `,` + enc + `}`,
		`{"node_type":"array","shape":[4],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[0]}},` + enc + `}`,
		`{"node_type":"array","shape":[4],"chunk_grid":{"name":"regular"},` + enc + `}`,
		`{"node_type":"array","shape":[4],"chunk_grid":{"name":"rectilinear","configuration":{"chunk_shape":[2]}},` + enc + `}`,
		`{"node_type":"array","shape":[4],"chunk_grid":{"configuration":{"chunk_shape":[2]}},` + enc + `}`,
		`{"node_type":"array","shape":[4],` + grid + `,"chunk_key_encoding":{"name":"default","configuration":{"separator":"-"}}}`,
		`{"node_type":"array","shape":[4],` + grid + `,"chunk_key_encoding":{"name":"fancy"}}`,
		`{"node_type":"array","shape":[4],` + grid + `,` + enc + `,"dimension_names":["x","y"]}`,
		`{"node_type":"array","shape":[4],` + grid + `,` + enc + `,"dimension_names":[1]}`,
		`{"node_type":"array","shape":[18446744073709551615],` + grid + `,` + enc + `}`,
		`{"node_type":"array","shape":[18446744073709551615],"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[1]}},` + enc + `}`,
	} {
		_, err := parseZarrJSON("p/zarr.json", []byte(doc))
		if !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("%s: got %v, want ErrInvalidMetadata", doc, err)
		} else if !strings.Contains(err.Error(), `"p/zarr.json"`) {
			t.Errorf("%s: message %q does not name the key", doc, err)
		}
	}
}

func TestArrayInfoFromMetaIsLenient(t *testing.T) {
	for _, meta := range []string{``, `{}`, `not json`, `{"chunk_key_encoding":{"name":"zz"}}`} {
		info := arrayInfoFromMeta([]byte(meta))
		if info.encoding != encodingDefault || info.separator != '/' {
			t.Errorf("%q: %+v", meta, info)
		}
	}
	meta := []byte(`{"chunk_key_encoding":{"name":"default","configuration":{"separator":"."}}}`)
	info := arrayInfoFromMeta(meta)
	if info.separator != '.' || !info.parsedFrom(meta) || info.parsedFrom(append([]byte(nil), meta...)) {
		t.Errorf("%+v", info)
	}
}

// zarr-python writes non-finite attribute values as the bare words NaN,
// Infinity and -Infinity; a store takes such documents, parses them (the
// same words inside strings untouched), and gives them back byte for byte
// after a commit. Other bad JSON is still refused.
func TestZarrJSONWithNonFiniteAttributes(t *testing.T) {
	ctx := context.Background()
	group := `{"zarr_format":3,"node_type":"group","attributes":{"missing_value":NaN,"r":[Infinity,-Infinity],"s":"NaN \"Infinity\" -Infinity"}}`
	array := `{"zarr_format":3,"node_type":"array","shape":[4],"data_type":"float64","chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2]}},` +
		`"chunk_key_encoding":{"name":"default"},"fill_value":"NaN","codecs":[{"name":"bytes"}],"attributes":{"valid_max":Infinity}}`
	m, err := parseZarrJSON("a/zarr.json", []byte(array))
	mustOK(t, err)
	if m.typ != ArrayNode || len(m.array.Shape) != 1 || m.array.ChunkShape[0] != 2 {
		t.Fatalf("parsed %+v", m)
	}
	if got, changed := nonFiniteAsNull([]byte(group)); !changed || string(got) != `{"zarr_format":3,"node_type":"group","attributes":{"missing_value":null,"r":[null,null],"s":"NaN \"Infinity\" -Infinity"}}` {
		t.Fatalf("standard form: %s", got)
	}
	for _, bad := range []string{`{"node_type":"group","x":NaNa}`, `{"node_type":"group","x":nan}`, `{"node_type":"group","x":Inf}`} {
		if _, err := parseZarrJSON("zarr.json", []byte(bad)); !errors.Is(err, ErrInvalidMetadata) {
			t.Fatalf("%s: %v", bad, err)
		}
	}

	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreSet(ctx, "zarr.json", []byte(group)))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", []byte(array)))
	_, err = s.Commit(ctx, "non-finite attributes", nil)
	mustOK(t, err)
	r, err := repo.ReadonlySession(ctx, Version{Branch: MainBranch})
	mustOK(t, err)
	for key, want := range map[string]string{"zarr.json": group, "a/zarr.json": array} {
		got, found, err := r.StoreGet(ctx, key, storage.From(0))
		mustOK(t, err)
		if !found || string(got) != want {
			t.Fatalf("%s after the commit: %s", key, got)
		}
	}
}
