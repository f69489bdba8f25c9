package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/tinylib/msgp/msgp"
	"pgregory.net/rapid"
)

// Generators of valid values, for property tests.

func genObjectID(t *rapid.T, label string) ObjectID {
	var id ObjectID
	copy(id[:], rapid.SliceOfN(rapid.Byte(), IDSize, IDSize).Draw(t, label))
	if id.IsZero() {
		id[0] = 1
	}
	return id
}

// genUniqueIDs draws n distinct non-zero ids.
func genUniqueIDs(t *rapid.T, n int, label string) []ObjectID {
	seen := map[ObjectID]bool{}
	var out []ObjectID
	for len(out) < n {
		id := genObjectID(t, label)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

var genName = rapid.StringMatching(`[a-zA-Z0-9_é-][a-zA-Z0-9_.é-]{0,6}`)

func genPaths(t *rapid.T, max int) []string {
	set := map[string]bool{}
	if rapid.Bool().Draw(t, "root") {
		set["/"] = true
	}
	n := rapid.IntRange(0, max).Draw(t, "paths")
	for range n {
		depth := rapid.IntRange(1, 3).Draw(t, "depth")
		var names []string
		for range depth {
			name := genName.Draw(t, "name")
			if name == "." || name == ".." {
				name = "x"
			}
			names = append(names, name)
		}
		set["/"+strings.Join(names, "/")] = true
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

func genBytes(t *rapid.T, label string) []byte {
	return rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, label)
}

func genJSONObject(t *rapid.T) []byte {
	if rapid.Bool().Draw(t, "no metadata") {
		return nil
	}
	m := rapid.MapOfN(rapid.String(), rapid.String(), 0, 3).Draw(t, "metadata")
	b, _ := json.Marshal(m)
	return b
}

func genCoordsSet(t *rapid.T, nd, max int, label string) [][]uint32 {
	n := rapid.IntRange(0, max).Draw(t, label+" count")
	if nd == 0 {
		n = min(n, 1)
	}
	seen := map[string]bool{}
	var out [][]uint32
	for range n {
		c := make([]uint32, nd)
		for k := range c {
			c[k] = rapid.Uint32Range(0, 20).Draw(t, label)
			if rapid.IntRange(0, 20).Draw(t, "big") == 0 {
				c[k] = rapid.Uint32().Draw(t, label)
			}
		}
		key := fmt.Sprint(c)
		if !seen[key] {
			seen[key] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, CompareCoords)
	return out
}

func genSnapshot(t *rapid.T) *Snapshot {
	s := &Snapshot{
		ID:        SnapshotID(genObjectID(t, "id")),
		FlushedAt: rapid.Int64().Draw(t, "flushed"),
		Message:   rapid.String().Draw(t, "message"),
		Metadata:  genJSONObject(t),
	}
	if rapid.Bool().Draw(t, "has parent") {
		s.ParentID = SnapshotID(genObjectID(t, "parent"))
		if s.ParentID == s.ID {
			s.ParentID = SnapshotID{}
		}
	}
	s.HistoryCut = rapid.Bool().Draw(t, "history cut")
	if rapid.Bool().Draw(t, "has log place") {
		s.LogBranch = rapid.StringN(1, 20, -1).Draw(t, "log branch")
		s.LogSlot = rapid.Uint64Range(1, 1<<63-1).Draw(t, "log slot")
	}
	for _, id := range genUniqueIDs(t, rapid.IntRange(0, 4).Draw(t, "manifest files"), "manifest id") {
		s.ManifestFiles = append(s.ManifestFiles, ManifestFileInfo{
			ID: ManifestID(id), SizeBytes: rapid.Uint64().Draw(t, "size"), NumChunkRefs: rapid.Uint64().Draw(t, "refs"),
		})
	}
	slices.SortFunc(s.ManifestFiles, func(a, b ManifestFileInfo) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	paths := genPaths(t, 8)
	ids := genUniqueIDs(t, len(paths), "node id")
	for i, p := range paths {
		n := NodeSnapshot{ID: NodeID(ids[i]), Path: p, Type: NodeTypeGroup, ZarrMetadata: genBytes(t, "zarr")}
		if rapid.Bool().Draw(t, "is array") {
			n.Type = NodeTypeArray
			nd := rapid.IntRange(0, 4).Draw(t, "ndim")
			a := &ArrayData{
				Shape:             rapid.SliceOfN(rapid.Uint64(), nd, nd).Draw(t, "shape"),
				ChunkShape:        rapid.SliceOfN(rapid.Uint64Range(1, 1<<40), nd, nd).Draw(t, "chunk shape"),
				BlockShape:        rapid.SliceOfN(rapid.Uint32Range(1, 1<<20), nd, nd).Draw(t, "block shape"),
				HasDimensionNames: rapid.Bool().Draw(t, "has names"),
			}
			if a.HasDimensionNames {
				a.DimensionNames = rapid.SliceOfN(rapid.String(), nd, nd).Draw(t, "names")
			}
			for _, mf := range s.ManifestFiles {
				if rapid.Bool().Draw(t, "uses manifest") {
					ref := ManifestRef{ID: mf.ID}
					for range nd {
						from := rapid.Uint32().Draw(t, "from")
						to := from + rapid.Uint32Range(0, ^uint32(0)-from).Draw(t, "len")
						ref.Extents = append(ref.Extents, Extent{from, to})
					}
					a.Manifests = append(a.Manifests, ref)
				}
			}
			n.Array = a
		}
		s.Nodes = append(s.Nodes, n)
	}
	return s
}

func genManifest(t *rapid.T) *Manifest {
	m, refs := genManifestRefs(t)
	return mustManifest(m.ID, m.NodeID, m.Extents, refs)
}

// genManifestRefs returns the id, node and extents of a manifest (with no
// refs) and its refs, sorted by coordinates.
func genManifestRefs(t *rapid.T) (*Manifest, []ChunkRef) {
	m := &Manifest{ID: ManifestID(genObjectID(t, "id")), NodeID: NodeID(genObjectID(t, "node"))}
	var refs []ChunkRef
	nd := rapid.IntRange(0, 4).Draw(t, "ndim")
	coords := genCoordsSet(t, nd, 60, "coords")
	locations := rapid.SliceOfN(rapid.StringMatching(`(s3|file|gs)://[a-z]{1,5}/[a-z/]{0,10}`), 1, 4).Draw(t, "locations")
	for _, c := range coords {
		r := ChunkRef{Coords: c, Kind: ChunkKind(rapid.IntRange(1, 3).Draw(t, "kind"))}
		switch r.Kind {
		case ChunkInline:
			r.Inline = genBytes(t, "inline")
		case ChunkNative:
			r.ChunkID = ChunkID(genObjectID(t, "chunk"))
			r.Offset = rapid.Uint64().Draw(t, "offset")
			r.Length = rapid.Uint64().Draw(t, "length")
		case ChunkVirtual:
			r.Location = rapid.SampledFrom(locations).Draw(t, "location")
			r.Offset = rapid.Uint64().Draw(t, "offset")
			r.Length = rapid.Uint64().Draw(t, "length")
			r.ETag = rapid.StringMatching(`("[a-f0-9]{0,8}")?`).Draw(t, "etag")
			r.LastModified = rapid.Int64().Draw(t, "mtime")
		}
		refs = append(refs, r)
	}
	if rapid.Bool().Draw(t, "has extents") {
		// The bounding box of the refs, or any extents when there are none.
		// (A coordinate of 2^32-1 cannot be bounded: then no extents.)
		m.Extents = make([]Extent, nd)
	bound:
		for k := range m.Extents {
			m.Extents[k] = Extent{From: rapid.Uint32Range(0, 10).Draw(t, "from"), To: rapid.Uint32Range(10, 30).Draw(t, "to")}
			for _, c := range coords {
				if c[k] == ^uint32(0) {
					m.Extents = nil
					break bound
				}
				m.Extents[k].From = min(m.Extents[k].From, c[k])
				m.Extents[k].To = max(m.Extents[k].To, c[k]+1)
			}
		}
	}
	return m, refs
}

func genNodeChanges(t *rapid.T, label string) []NodeChange {
	paths := genPaths(t, 4)
	ids := genUniqueIDs(t, len(paths), label)
	var out []NodeChange
	for i, p := range paths {
		out = append(out, NodeChange{ID: NodeID(ids[i]), Path: p})
	}
	slices.SortFunc(out, compareNodeChange)
	return out
}

func genTransactionLog(t *rapid.T) *TransactionLog {
	l := &TransactionLog{
		ID:            SnapshotID(genObjectID(t, "id")),
		NewGroups:     genNodeChanges(t, "new groups"),
		NewArrays:     genNodeChanges(t, "new arrays"),
		DeletedGroups: genNodeChanges(t, "deleted groups"),
		DeletedArrays: genNodeChanges(t, "deleted arrays"),
		UpdatedGroups: genNodeChanges(t, "updated groups"),
		UpdatedArrays: genNodeChanges(t, "updated arrays"),
	}
	for _, c := range genNodeChanges(t, "updated chunks") {
		nd := rapid.IntRange(0, 3).Draw(t, "ndim")
		l.UpdatedChunks = append(l.UpdatedChunks, ArrayChunks{ID: c.ID, Path: c.Path, Coords: genCoordsSet(t, nd, 20, "chunks")})
	}
	return l
}

func genRepoConfig(t *rapid.T) *RepoConfig {
	c := &RepoConfig{
		InlineChunkThreshold:   rapid.Uint32().Draw(t, "threshold"),
		SnapshotCacheBytes:     rapid.Uint64().Draw(t, "snapshot cache"),
		ManifestCacheBytes:     rapid.Uint64().Draw(t, "manifest cache"),
		DisableTransactionLogs: rapid.Bool().Draw(t, "no txlogs"),
		ManifestBlockChunks:    rapid.Uint32Range(1, ^uint32(0)).Draw(t, "block"),
	}
	names := rapid.SliceOfNDistinct(rapid.StringN(1, 10, -1), 0, 3, rapid.ID[string]).Draw(t, "names")
	for _, n := range names {
		vc := VirtualChunkContainer{Name: n, URLPrefix: rapid.StringN(1, 20, -1).Draw(t, "prefix")}
		if rapid.Bool().Draw(t, "with store") {
			vc.URLPrefix = "s3://" + vc.URLPrefix
			vc.Store = &ObjectStoreConfig{
				Kind:           ObjectStoreS3,
				Region:         rapid.StringN(0, 12, -1).Draw(t, "region"),
				EndpointURL:    rapid.StringN(0, 30, -1).Draw(t, "endpoint"),
				AllowHTTP:      rapid.Bool().Draw(t, "http"),
				ForcePathStyle: rapid.Bool().Draw(t, "path style"),
				Anonymous:      rapid.Bool().Draw(t, "anonymous"),
			}
			if rapid.Bool().Draw(t, "with stream timeout") {
				vc.Store.NetworkStreamTimeoutSeconds = new(rapid.IntRange(0, 600).Draw(t, "stream timeout"))
			}
		}
		c.VirtualChunkContainers = append(c.VirtualChunkContainers, vc)
	}
	return c
}

// checkRoundTrip encodes v, decodes it, and checks that the value survives,
// that encoding is deterministic, and that a flipped byte is detected.
func checkRoundTrip(t *rapid.T, ft FileType, v msgp.Marshaler, decode func(string, []byte) (any, error)) {
	comp := rapid.SampledFrom([]Compression{CompressionNone, CompressionZstd}).Draw(t, "compression")
	data, err := EncodeWith(ft, comp, v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, err := decode("obj", data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !equalValues(got, v) {
		t.Fatalf("round trip changed the value:\n got %+v\nwant %+v", got, v)
	}
	again, err := EncodeWith(ft, comp, got.(msgp.Marshaler))
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("re-encoding the decoded value gave different bytes (%v)", err)
	}
	i := rapid.IntRange(0, len(data)-1).Draw(t, "flip at")
	data[i] ^= byte(rapid.IntRange(1, 255).Draw(t, "flip mask"))
	if _, err := decode("obj", data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte %d: got %v, want ErrCorrupt", i, err)
	}
}

func TestPropertySnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, FileTypeSnapshot, genSnapshot(t), func(o string, d []byte) (any, error) { return DecodeSnapshot(o, d) })
	})
}

func TestPropertyManifestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genManifest(t)
		checkRoundTrip(t, FileTypeManifest, m, func(o string, d []byte) (any, error) { return DecodeManifest(o, d) })
		for i, want := range m.All() {
			if r, ok := m.Lookup(want.Coords); !ok || !equalValues(r, want) || !equalValues(m.Ref(i), want) {
				t.Fatalf("Lookup(%v) failed", want.Coords)
			}
		}
	})
}

func TestPropertyTransactionLogRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, FileTypeTransactionLog, genTransactionLog(t), func(o string, d []byte) (any, error) { return DecodeTransactionLog(o, d) })
	})
}

func TestPropertyRefRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, FileTypeRef, &Ref{Snapshot: SnapshotID(genObjectID(t, "snapshot"))}, func(o string, d []byte) (any, error) { return DecodeRef(o, d) })
	})
}

func TestPropertyRepoConfigRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, FileTypeRepoConfig, genRepoConfig(t), func(o string, d []byte) (any, error) { return DecodeRepoConfig(o, d) })
	})
}

func TestPropertyIDText(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id := genObjectID(t, "id")
		back, err := ParseObjectID(id.String())
		if err != nil || back != id {
			t.Fatalf("ParseObjectID(%q) = %v, %v", id, back, err)
		}
	})
}

// Shuffled refs and logs are put back in order by NewManifest and Sort.
func TestPropertySorting(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, refs := genManifestRefs(t)
		perm := rapid.Permutation(refs).Draw(t, "perm")
		got, err := NewManifest(m.ID, m.NodeID, m.Extents, perm)
		if err != nil || !equalValues(manifestRefs(got), refs) {
			t.Fatalf("NewManifest of shuffled refs: %v", err)
		}
		l := genTransactionLog(t)
		want := fixtureCopyLog(l)
		l.NewArrays = rapid.Permutation(l.NewArrays).Draw(t, "perm arrays")
		for i := range l.UpdatedChunks {
			l.UpdatedChunks[i].Coords = rapid.Permutation(l.UpdatedChunks[i].Coords).Draw(t, "perm coords")
		}
		l.Sort()
		if !equalValues(l, want) {
			t.Fatal("Sort did not restore the log")
		}
	})
}

func fixtureCopyLog(l *TransactionLog) *TransactionLog {
	b, err := l.MarshalMsg(nil)
	if err != nil {
		panic(err)
	}
	var c TransactionLog
	if _, err := c.UnmarshalMsg(b); err != nil {
		panic(err)
	}
	return &c
}
