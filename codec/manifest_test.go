package codec

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/cockroachdb/errors"
)

func TestManifestLookup(t *testing.T) {
	m := fixtureManifest()
	for i, want := range fixtureManifestRefs() {
		r, ok := m.Lookup(want.Coords)
		if !ok || !equalValues(r, want) || !equalValues(m.Ref(i), want) {
			t.Errorf("Lookup(%v) = %+v, %v; want %+v", want.Coords, r, ok, want)
		}
	}
	for _, c := range [][]uint32{{0, 0, 2}, {63, 3, 4}, {}, {0, 0}, {0, 0, 0, 0}} {
		if _, ok := m.Lookup(c); ok {
			t.Errorf("Lookup(%v) found a ref", c)
		}
	}
}

func TestManifestChunkIDs(t *testing.T) {
	m := fixtureManifest()
	var want []ChunkID
	for _, r := range fixtureManifestRefs() {
		if r.Kind == ChunkNative {
			want = append(want, r.ChunkID)
		}
	}
	var got []ChunkID
	for id := range m.ChunkIDs() {
		got = append(got, id)
	}
	if len(want) == 0 || !equalValues(got, want) {
		t.Fatalf("ChunkIDs = %v, want the native refs' ids %v", got, want)
	}
	for range m.ChunkIDs() {
		break // stopping early must not panic
	}
}

func TestNewManifestSorts(t *testing.T) {
	want := fixtureManifest()
	refs := fixtureManifestRefs()
	rand.Shuffle(len(refs), func(i, j int) { refs[i], refs[j] = refs[j], refs[i] })
	m, err := NewManifest(want.ID, want.NodeID, want.Extents, refs)
	if err != nil {
		t.Fatal(err)
	}
	if !equalValues(m, want) {
		t.Fatal("NewManifest did not sort the refs")
	}
	refs = append(refs, ChunkRef{Coords: []uint32{0, 0, 0}, Kind: ChunkNative, ChunkID: fxChunkID})
	if _, err := NewManifest(want.ID, want.NodeID, want.Extents, refs); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate coords: got %v, want ErrInvalid", err)
	}
}

func TestManifestValidate(t *testing.T) {
	// Broken refs: building a manifest of them, in the order given, fails.
	refCases := map[string]func(r []ChunkRef){
		"outside extents":  func(r []ChunkRef) { r[5].Coords = []uint32{64, 0, 0} },
		"mixed dims":       func(r []ChunkRef) { r[1].Coords = []uint32{0, 0} },
		"unsorted":         func(r []ChunkRef) { r[0], r[1] = r[1], r[0] },
		"duplicate":        func(r []ChunkRef) { r[1].Coords = []uint32{0, 0, 0} },
		"unknown kind":     func(r []ChunkRef) { r[1].Kind = 0 },
		"inline chunk id":  func(r []ChunkRef) { r[0].ChunkID = fxChunkID },
		"inline location":  func(r []ChunkRef) { r[0].Location = "s3://x" },
		"inline length":    func(r []ChunkRef) { r[0].Length = 3 },
		"native zero id":   func(r []ChunkRef) { r[1].ChunkID = ChunkID{} },
		"native inline":    func(r []ChunkRef) { r[1].Inline = []byte("x") },
		"native location":  func(r []ChunkRef) { r[1].Location = "s3://x" },
		"native etag":      func(r []ChunkRef) { r[1].ETag = "e" },
		"virtual no loc":   func(r []ChunkRef) { r[2].Location = "" },
		"virtual chunk id": func(r []ChunkRef) { r[2].ChunkID = fxChunkID },
		"virtual inline":   func(r []ChunkRef) { r[2].Inline = []byte("x") },
	}
	for name, breakIt := range refCases {
		refs := fixtureManifestRefs()
		breakIt(refs)
		b := NewManifestBuilder(3, len(refs))
		for i := range refs {
			b.Append(&refs[i])
		}
		if _, err := b.Build(fxManifestID, fxArrayID, []Extent{{0, 64}, {0, 4}, {0, 4}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Build: got %v, want ErrInvalid", name, err)
		}
	}
	// A broken manifest: Validate and EncodeManifest fail.
	cases := map[string]func(m *Manifest){
		"zero id":     func(m *Manifest) { m.ID = ManifestID{} },
		"zero node":   func(m *Manifest) { m.NodeID = NodeID{} },
		"bad extent":  func(m *Manifest) { m.Extents[1] = Extent{3, 2} },
		"extent dims": func(m *Manifest) { m.Extents = m.Extents[:2] },
		"outside":     func(m *Manifest) { m.Extents[0] = Extent{0, 63} },
	}
	for name, breakIt := range cases {
		m := fixtureManifest()
		breakIt(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: Validate succeeded", name)
		}
		if _, err := EncodeManifest(m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeManifest: got %v, want ErrInvalid", name, err)
		}
	}
	// No extents means "unspecified", and an empty manifest is fine.
	m := fixtureManifest()
	m.Extents = nil
	if err := m.Validate(); err != nil {
		t.Errorf("no extents: %v", err)
	}
	m = &Manifest{ID: m.ID, NodeID: m.NodeID}
	if err := m.Validate(); err != nil {
		t.Errorf("no refs: %v", err)
	}
}

func TestManifestEdgeShapes(t *testing.T) {
	cases := map[string]*Manifest{
		"empty":  {ID: fxManifestID, NodeID: fxArrayID},
		"scalar": mustManifest(fxManifestID, fxArrayID, nil, []ChunkRef{{Coords: []uint32{}, Kind: ChunkInline, Inline: []byte{42}}}),
		"empty inline": mustManifest(fxManifestID, fxArrayID, []Extent{{0, 10}},
			[]ChunkRef{{Coords: []uint32{3}, Kind: ChunkInline}}),
		"max coords": mustManifest(fxManifestID, fxArrayID, nil,
			[]ChunkRef{{Coords: []uint32{^uint32(0), 0}, Kind: ChunkNative, ChunkID: fxChunkID, Offset: ^uint64(0), Length: ^uint64(0)}}),
	}
	for name, m := range cases {
		data, err := EncodeManifest(m)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := DecodeManifest("k", data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !equalValues(got, m) {
			t.Fatalf("%s: got %+v, want %+v", name, got, m)
		}
	}
}

// The wire columns must agree with each other; a payload whose columns
// disagree (with valid checksums) is corrupt, not a panic.
func TestManifestInconsistentColumns(t *testing.T) {
	good, err := fixtureManifest().toWire()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(w *manifestWire){
		"coord column":   func(w *manifestWire) { w.Coords[1] = w.Coords[1][:2] },
		"kinds":          func(w *manifestWire) { w.Kinds[0] = 7 },
		"chunk ids":      func(w *manifestWire) { w.ChunkIDs = w.ChunkIDs[:13] },
		"offsets":        func(w *manifestWire) { w.Offsets = w.Offsets[1:] },
		"lengths":        func(w *manifestWire) { w.Lengths = append(w.Lengths, 1) },
		"inline":         func(w *manifestWire) { w.Inline = inlineColumn{} },
		"object index":   func(w *manifestWire) { w.ObjectIndex[0] = 99 },
		"object entries": func(w *manifestWire) { w.ObjectIndex = w.ObjectIndex[1:] },
		"etags":          func(w *manifestWire) { w.ETags = nil },
		"last modified":  func(w *manifestWire) { w.LastModified = append(w.LastModified, 0) },
		"kind turns native": func(w *manifestWire) {
			w.Kinds[0] = byte(ChunkNative)
		},
	}
	for name, breakIt := range cases {
		w, _ := fixtureManifest().toWire()
		breakIt(w)
		payload, err := w.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest("k", wrapRaw(FileTypeManifest, payload)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	payload, _ := good.MarshalMsg(nil)
	if _, err := DecodeManifest("k", wrapRaw(FileTypeManifest, payload)); err != nil {
		t.Fatal(err)
	}
}

// Virtual refs into the same object share one entry of the object table,
// and decoded refs share its strings.
func TestManifestSharesVirtualObjects(t *testing.T) {
	refs := fixtureManifestRefs()
	refs[3].ETag, refs[3].LastModified = refs[2].ETag, refs[2].LastModified
	m := mustManifest(fxManifestID, fxArrayID, nil, refs)
	w, err := m.toWire()
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Locations) != 2 || len(w.ObjectIndex) != 3 {
		t.Fatalf("object table %q, index %v: want 2 objects for 3 virtual refs", w.Locations, w.ObjectIndex)
	}
	got := manifestRoundTrip(t, m)
	if a, b := got.Ref(2).Location, got.Ref(3).Location; unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("decoded refs into one object do not share its location")
	}
	// Same location, different ETag: two objects.
	m = fixtureManifest()
	if w, _ = m.toWire(); len(w.Locations) != 3 {
		t.Fatalf("object table %q: want 3 objects", w.Locations)
	}
}
