package codec

import (
	"bytes"
	"reflect"
	"testing"
)

// Fixed values used by golden files, fuzz seeds and round-trip tests. Change
// them only together with the golden files (go test -run Golden -update).

func fixedObjectID(seed byte) (id ObjectID) {
	for i := range id {
		id[i] = seed + byte(i)
	}
	return id
}

var (
	fxSnapshotID  = SnapshotID(fixedObjectID(0x10))
	fxParentID    = SnapshotID(fixedObjectID(0x20))
	fxRootID      = NodeID(fixedObjectID(0x30))
	fxGroupID     = NodeID(fixedObjectID(0x40))
	fxArrayID     = NodeID(fixedObjectID(0x50))
	fxManifestID  = ManifestID(fixedObjectID(0x60))
	fxManifestID2 = ManifestID(fixedObjectID(0x70))
	fxChunkID     = ChunkID(fixedObjectID(0x80))
	fxChunkID2    = ChunkID(fixedObjectID(0x90))
)

func fixtureSnapshot() *Snapshot {
	return &Snapshot{
		ID:        fxSnapshotID,
		ParentID:  fxParentID,
		FlushedAt: 1700000000123456789,
		Message:   "add temperature",
		Metadata:  []byte(`{"author":"ada","n":1}`),
		Nodes: []NodeSnapshot{
			{ID: fxRootID, Path: "/", Type: NodeTypeGroup, ZarrMetadata: []byte(`{"zarr_format":3,"node_type":"group"}`)},
			{ID: fxGroupID, Path: "/weather", Type: NodeTypeGroup, ZarrMetadata: []byte(`{"zarr_format":3,"node_type":"group","attributes":{"k":"v"}}`)},
			{
				ID: fxArrayID, Path: "/weather/temperature", Type: NodeTypeArray,
				ZarrMetadata: []byte(`{"zarr_format":3,"node_type":"array","shape":[365,720,1440]}`),
				Array: &ArrayData{
					Shape:             []uint64{365, 720, 1440},
					ChunkShape:        []uint64{1, 180, 360},
					DimensionNames:    []string{"time", "lat", ""},
					HasDimensionNames: true,
					BlockShape:        []uint32{64, 4, 4},
					Manifests: []ManifestRef{
						{ID: fxManifestID, Extents: []Extent{{0, 64}, {0, 4}, {0, 4}}},
						{ID: fxManifestID2, Extents: []Extent{{64, 128}, {0, 4}, {0, 4}}},
					},
				},
			},
		},
		ManifestFiles: []ManifestFileInfo{
			{ID: fxManifestID, SizeBytes: 1234, NumChunkRefs: 3},
			{ID: fxManifestID2, SizeBytes: 999, NumChunkRefs: 1},
		},
	}
}

func fixtureManifest() *Manifest {
	return mustManifest(fxManifestID, fxArrayID, []Extent{{0, 64}, {0, 4}, {0, 4}}, fixtureManifestRefs())
}

// fixtureManifestRefs returns the refs of fixtureManifest, in order.
func fixtureManifestRefs() []ChunkRef {
	return []ChunkRef{
		{Coords: []uint32{0, 0, 0}, Kind: ChunkInline, Inline: []byte("tiny chunk")},
		{Coords: []uint32{0, 0, 1}, Kind: ChunkNative, ChunkID: fxChunkID, Length: 518_400},
		{Coords: []uint32{0, 1, 0}, Kind: ChunkVirtual, Location: "s3://bucket/data/file.nc", Offset: 4096, Length: 100_000,
			ETag: `"abc123"`, LastModified: 1700000000},
		{Coords: []uint32{0, 1, 1}, Kind: ChunkVirtual, Location: "s3://bucket/data/file.nc", Offset: 104_096, Length: 100_000},
		{Coords: []uint32{1, 0, 0}, Kind: ChunkNative, ChunkID: fxChunkID2, Offset: 16, Length: 7},
		{Coords: []uint32{63, 3, 3}, Kind: ChunkVirtual, Location: "file:///data/other.bin", Length: 1},
	}
}

// mustManifest is NewManifest for refs known to be valid.
func mustManifest(id ManifestID, node NodeID, extents []Extent, refs []ChunkRef) *Manifest {
	m, err := NewManifest(id, node, extents, refs)
	if err != nil {
		panic(err)
	}
	return m
}

// manifestRefs returns every ref of m, in order.
func manifestRefs(m *Manifest) []ChunkRef {
	refs := make([]ChunkRef, 0, m.Len())
	for _, r := range m.All() {
		refs = append(refs, r)
	}
	return refs
}

func fixtureTransactionLog() *TransactionLog {
	return &TransactionLog{
		ID:            fxSnapshotID,
		NewGroups:     []NodeChange{{ID: fxGroupID, Path: "/weather"}},
		NewArrays:     []NodeChange{{ID: fxArrayID, Path: "/weather/temperature"}},
		DeletedGroups: []NodeChange{{ID: NodeID(fixedObjectID(0xA0)), Path: "/old"}},
		DeletedArrays: []NodeChange{{ID: NodeID(fixedObjectID(0xB0)), Path: "/old/a"}},
		UpdatedGroups: []NodeChange{{ID: fxRootID, Path: "/"}},
		UpdatedArrays: []NodeChange{{ID: NodeID(fixedObjectID(0xC0)), Path: "/b"}},
		UpdatedChunks: []ArrayChunks{
			{ID: fxArrayID, Path: "/weather/temperature", Coords: [][]uint32{{0, 0, 0}, {0, 0, 1}, {1, 2, 3}}},
			{ID: NodeID(fixedObjectID(0xC0)), Path: "/b", Coords: [][]uint32{{7}}},
		},
	}
}

func fixtureRef() *Ref { return &Ref{Snapshot: fxSnapshotID} }

// fixtureCommitRef is a branch log entry written by a commit: its parent
// and its (uncompressed, so that the golden bytes are stable) transaction
// log.
func fixtureCommitRef() *Ref {
	txlog, err := EncodeWith(FileTypeTransactionLog, CompressionNone, fixtureTransactionLog())
	if err != nil {
		panic(err)
	}
	return &Ref{Snapshot: fxSnapshotID, Parent: fxParentID, TxLog: txlog}
}

// fixtureCommitRefFiles is fixtureCommitRef carrying the commit's snapshot
// and manifest files as well (uncompressed, as above).
func fixtureCommitRefFiles() *Ref {
	r := fixtureCommitRef()
	snap, err := EncodeWith(FileTypeSnapshot, CompressionNone, fixtureSnapshot())
	if err != nil {
		panic(err)
	}
	manifest, err := EncodeWith(FileTypeManifest, CompressionNone, fixtureManifest())
	if err != nil {
		panic(err)
	}
	r.SnapshotFile, r.ManifestFiles = snap, [][]byte{manifest}
	return r
}

func fixtureRepoConfig() *RepoConfig {
	c := DefaultRepoConfig()
	c.DisableTransactionLogs = true
	c.VirtualChunkContainers = []VirtualChunkContainer{
		{Name: "era5", URLPrefix: "s3://era5-bucket/"},
		{Name: "local", URLPrefix: "file:///data/"},
	}
	return &c
}

// equalValues is reflect.DeepEqual except that nil and empty slices are
// equal: the wire format does not distinguish them.
func equalValues(a, b any) bool {
	return equalValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

// manifestView is what a Manifest holds, with its refs as a slice: two
// manifests are equal when their views are, however their columns are laid
// out.
type manifestView struct {
	ID      ManifestID
	NodeID  NodeID
	Extents []Extent
	Refs    []ChunkRef
}

var manifestType = reflect.TypeFor[Manifest]()

func equalValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	if a.Type() == manifestType && b.Type() == manifestType {
		view := func(v reflect.Value) manifestView {
			m := v.Interface().(Manifest)
			return manifestView{m.ID, m.NodeID, m.Extents, manifestRefs(&m)}
		}
		return equalValue(reflect.ValueOf(view(a)), reflect.ValueOf(view(b)))
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValue(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Equal(a.Bytes(), b.Bytes())
		}
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !equalValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a.Interface(), b.Interface())
	}
}

// manifestRoundTrip encodes m and decodes the result, failing the test on
// either error.
func manifestRoundTrip(t *testing.T, m *Manifest) *Manifest {
	t.Helper()
	data, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest("k", data)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
