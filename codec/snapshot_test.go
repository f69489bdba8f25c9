package codec

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSnapshotLookups(t *testing.T) {
	s := fixtureSnapshot()
	for _, p := range []string{"/", "/weather", "/weather/temperature"} {
		n, ok := s.Node(p)
		if !ok || n.Path != p {
			t.Errorf("Node(%q) = %v, %v", p, n, ok)
		}
	}
	for _, p := range []string{"", "/w", "/weather/", "/zzz"} {
		if _, ok := s.Node(p); ok {
			t.Errorf("Node(%q) found a node", p)
		}
	}
	if m, ok := s.ManifestFile(fxManifestID2); !ok || m.NumChunkRefs != 1 {
		t.Errorf("ManifestFile = %v, %v", m, ok)
	}
	if _, ok := s.ManifestFile(ManifestID(fixedObjectID(1))); ok {
		t.Error("ManifestFile found an unknown id")
	}
	if got := s.FlushedTime(); !got.Equal(time.Unix(0, 1700000000123456789)) || got.Location() != time.UTC {
		t.Errorf("FlushedTime = %v", got)
	}
}

func TestSnapshotDescendants(t *testing.T) {
	paths := []string{"/", "/a", "/a-b", "/a/b", "/a/b/c", "/a/c", "/a0", "/b"}
	s := &Snapshot{ID: fxSnapshotID}
	for i, p := range paths {
		s.Nodes = append(s.Nodes, NodeSnapshot{ID: NodeID(fixedObjectID(byte(i + 1))), Path: p, Type: NodeTypeGroup})
	}
	s.Sort()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	names := func(ns []NodeSnapshot) string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Path)
		}
		return strings.Join(out, " ")
	}
	cases := map[string]string{
		"/":      "/a /a-b /a/b /a/b/c /a/c /a0 /b",
		"/a":     "/a/b /a/b/c /a/c",
		"/a/b":   "/a/b/c",
		"/b":     "",
		"/none":  "",
		"/a/b/c": "",
	}
	for p, want := range cases {
		if got := names(s.Descendants(p)); got != want {
			t.Errorf("Descendants(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestSnapshotValidate(t *testing.T) {
	cases := map[string]func(s *Snapshot){
		"zero id":           func(s *Snapshot) { s.ID = SnapshotID{} },
		"own parent":        func(s *Snapshot) { s.ParentID = s.ID },
		"metadata not json": func(s *Snapshot) { s.Metadata = []byte("{nope") },
		"metadata array":    func(s *Snapshot) { s.Metadata = []byte("[1]") },
		"duplicate path":    func(s *Snapshot) { s.Nodes[1].Path = "/" },
		"bad path":          func(s *Snapshot) { s.Nodes[1].Path = "/weather/" },
		"dot path":          func(s *Snapshot) { s.Nodes[1].Path = "/." },
		"relative path":     func(s *Snapshot) { s.Nodes[1].Path = "weather" },
		"zero node id":      func(s *Snapshot) { s.Nodes[1].ID = NodeID{} },
		"bad node type":     func(s *Snapshot) { s.Nodes[1].Type = 9 },
		"group with array":  func(s *Snapshot) { s.Nodes[1].Array = &ArrayData{} },
		"array without":     func(s *Snapshot) { s.Nodes[2].Array = nil },
		"chunk shape dims":  func(s *Snapshot) { s.Nodes[2].Array.ChunkShape = []uint64{1, 2} },
		"zero chunk shape":  func(s *Snapshot) { s.Nodes[2].Array.ChunkShape[0] = 0 },
		"block shape dims":  func(s *Snapshot) { s.Nodes[2].Array.BlockShape = nil },
		"zero block shape":  func(s *Snapshot) { s.Nodes[2].Array.BlockShape[1] = 0 },
		"dim names count":   func(s *Snapshot) { s.Nodes[2].Array.DimensionNames = []string{"x"} },
		"dim names unset":   func(s *Snapshot) { s.Nodes[2].Array.HasDimensionNames = false },
		"manifest extents":  func(s *Snapshot) { s.Nodes[2].Array.Manifests[0].Extents = nil },
		"bad extent":        func(s *Snapshot) { s.Nodes[2].Array.Manifests[0].Extents[0] = Extent{5, 4} },
		"zero manifest":     func(s *Snapshot) { s.Nodes[2].Array.Manifests[0].ID = ManifestID{} },
		"unlisted manifest": func(s *Snapshot) { s.ManifestFiles = s.ManifestFiles[:1] },
		"unsorted files": func(s *Snapshot) {
			s.ManifestFiles[0], s.ManifestFiles[1] = s.ManifestFiles[1], s.ManifestFiles[0]
		},
		"zero file id":       func(s *Snapshot) { s.ManifestFiles[0].ID = ManifestID{} },
		"log slot no branch": func(s *Snapshot) { s.LogSlot = 3 },
		"log branch no slot": func(s *Snapshot) { s.LogBranch = "main" },
	}
	for name, breakIt := range cases {
		s := fixtureSnapshot()
		breakIt(s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
	}
	s := fixtureSnapshot()
	s.ParentID = SnapshotID{}
	s.Metadata = nil
	if err := s.Validate(); err != nil {
		t.Errorf("initial snapshot without metadata: %v", err)
	}
}

func TestSnapshotSort(t *testing.T) {
	s := fixtureSnapshot()
	s.Nodes[0], s.Nodes[2] = s.Nodes[2], s.Nodes[0]
	s.ManifestFiles[0], s.ManifestFiles[1] = s.ManifestFiles[1], s.ManifestFiles[0]
	s.Sort()
	if !equalValues(s, fixtureSnapshot()) {
		t.Fatal("Sort did not restore the order")
	}
}

// A decoded snapshot's zarr metadata shares the decoded file but ends at
// its own last byte: appending to one node's document must not overwrite
// the next node's.
func TestDecodedZarrMetadataIsCapped(t *testing.T) {
	snap := &Snapshot{ID: NewSnapshotID(), FlushedAt: 1, Message: "m", Nodes: []NodeSnapshot{
		{ID: NewNodeID(), Path: "/", Type: NodeTypeGroup, ZarrMetadata: []byte(`{"zarr_format":3,"node_type":"group"}`)},
		{ID: NewNodeID(), Path: "/a", Type: NodeTypeGroup, ZarrMetadata: []byte(`{"zarr_format":3,"node_type":"group","attributes":{"k":1}}`)},
	}}
	data, err := EncodeSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSnapshot("snapshot", data)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got.Nodes {
		if cap(n.ZarrMetadata) != len(n.ZarrMetadata) {
			t.Fatalf("node %d: metadata of %d bytes has capacity %d", i, len(n.ZarrMetadata), cap(n.ZarrMetadata))
		}
	}
	_ = append(got.Nodes[0].ZarrMetadata, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"...)
	for i, n := range got.Nodes {
		if !bytes.Equal(n.ZarrMetadata, snap.Nodes[i].ZarrMetadata) {
			t.Fatalf("node %d after an append to node 0: %q", i, n.ZarrMetadata)
		}
	}
}

// TestSnapshotHistoryCut checks that the expiration mark round-trips, and
// that a snapshot without it encodes exactly as before the field existed
// (no key at all), so that files written earlier keep their bytes.
func TestSnapshotHistoryCut(t *testing.T) {
	plain := fixtureSnapshot()
	plainBytes, err := EncodeWith(FileTypeSnapshot, CompressionNone, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plainBytes, []byte("history_cut")) {
		t.Fatal("a snapshot without the mark encodes the history_cut key")
	}
	cut := fixtureSnapshot()
	cut.HistoryCut = true
	data, err := EncodeSnapshot(cut)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSnapshot("snapshots/x", data)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HistoryCut || !equalValues(got, cut) {
		t.Fatalf("decoded %+v, want %+v", got, cut)
	}
	got, err = DecodeSnapshot("snapshots/x", plainBytes)
	if err != nil || got.HistoryCut {
		t.Fatalf("a snapshot without the mark decodes with HistoryCut %v (%v)", got.HistoryCut, err)
	}
}

// TestSnapshotLogPlace checks that a commit's place in its branch log
// round-trips, and that a snapshot without one encodes no key for it, so
// that snapshots written by flushes, and files written earlier, keep their
// bytes.
func TestSnapshotLogPlace(t *testing.T) {
	plain := fixtureSnapshot()
	plainBytes, err := EncodeWith(FileTypeSnapshot, CompressionNone, plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plainBytes, []byte("log_branch")) || bytes.Contains(plainBytes, []byte("log_slot")) {
		t.Fatal("a snapshot without a log place encodes its keys")
	}
	placed := fixtureSnapshot()
	placed.LogBranch, placed.LogSlot = "dev/2026", 1<<40+7
	data, err := EncodeSnapshot(placed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeSnapshot("snapshots/x", data)
	if err != nil {
		t.Fatal(err)
	}
	if got.LogBranch != "dev/2026" || got.LogSlot != 1<<40+7 || !equalValues(got, placed) {
		t.Fatalf("decoded %+v, want %+v", got, placed)
	}
	got, err = DecodeSnapshot("snapshots/x", plainBytes)
	if err != nil || got.LogBranch != "" || got.LogSlot != 0 {
		t.Fatalf("a snapshot without a log place decodes with %q slot %d (%v)", got.LogBranch, got.LogSlot, err)
	}
}
