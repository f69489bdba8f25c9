package codec

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// referenceWire builds the wire columns of a manifest straight from its
// sorted refs, one ref at a time, as the format describes them: the
// columnar in-memory form must encode to the same bytes and decode back to
// the same refs.
func referenceWire(id ManifestID, node NodeID, extents []Extent, refs []ChunkRef) *manifestWire {
	nd := len(extents)
	if len(refs) > 0 {
		nd = len(refs[0].Coords)
	}
	w := &manifestWire{ID: id, NodeID: node, Extents: extents, Coords: make([][]uint32, nd)}
	for k := range w.Coords {
		w.Coords[k] = []uint32{}
	}
	objects := map[virtualObject]uint32{}
	for _, r := range refs {
		for k, c := range r.Coords {
			w.Coords[k] = append(w.Coords[k], c)
		}
		w.Kinds = append(w.Kinds, byte(r.Kind))
		switch r.Kind {
		case ChunkInline:
			w.Inline.data = append(w.Inline.data, r.Inline...)
			w.Inline.ends = append(w.Inline.ends, len(w.Inline.data))
		case ChunkNative:
			w.ChunkIDs = append(w.ChunkIDs, r.ChunkID[:]...)
			w.Offsets = append(w.Offsets, r.Offset)
			w.Lengths = append(w.Lengths, r.Length)
		case ChunkVirtual:
			w.Offsets = append(w.Offsets, r.Offset)
			w.Lengths = append(w.Lengths, r.Length)
			o := virtualObject{r.Location, r.ETag, r.LastModified}
			idx, ok := objects[o]
			if !ok {
				idx = uint32(len(w.Locations))
				objects[o] = idx
				w.Locations = append(w.Locations, r.Location)
				w.ETags = append(w.ETags, r.ETag)
				w.LastModified = append(w.LastModified, r.LastModified)
			}
			w.ObjectIndex = append(w.ObjectIndex, idx)
		}
	}
	return w
}

// failer is what checks need of a *testing.T or *rapid.T.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkAgainstWire checks that a manifest of refs (sorted) encodes to the
// reference bytes, that those bytes decode to the same refs, and that every
// ref is found by Lookup and given by Ref and All.
func checkAgainstWire(t failer, extents []Extent, refs []ChunkRef) {
	t.Helper()
	m, err := NewManifest(fxManifestID, fxArrayID, extents, slices.Clone(refs))
	if err != nil {
		t.Fatalf("NewManifest: %v", err)
	}
	want, err := referenceWire(fxManifestID, fxArrayID, extents, refs).MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding differs from the reference:\n got %x\nwant %x", got, want)
	}
	decoded, err := DecodeManifest("k", wrapRaw(FileTypeManifest, want))
	if err != nil {
		t.Fatalf("decoding the reference: %v", err)
	}
	again, err := decoded.MarshalMsg(nil)
	if err != nil || !bytes.Equal(again, want) {
		t.Fatalf("re-encoding the decoded manifest gave different bytes (%v)", err)
	}
	for _, mm := range []*Manifest{m, decoded} {
		if mm.Len() != len(refs) {
			t.Fatalf("%d refs, want %d", mm.Len(), len(refs))
		}
		if !equalValues(manifestRefs(mm), refs) {
			t.Fatalf("refs\n got %+v\nwant %+v", manifestRefs(mm), refs)
		}
		for i, r := range refs {
			got, ok := mm.Lookup(r.Coords)
			if !ok || !equalValues(got, r) || !equalValues(mm.Ref(i), r) || !slices.Equal(mm.Coords(i), r.Coords) {
				t.Fatalf("ref %d at %v: Lookup %+v, %v; Ref %+v; want %+v", i, r.Coords, got, ok, mm.Ref(i), r)
			}
		}
	}
}

var (
	kindNative = func(i int, c []uint32) ChunkRef {
		id := fxChunkID
		id[0] = byte(i)
		return ChunkRef{Coords: c, Kind: ChunkNative, ChunkID: id, Offset: uint64(i % 3), Length: uint64(4096 + i)}
	}
	kindInline = func(i int, c []uint32) ChunkRef {
		return ChunkRef{Coords: c, Kind: ChunkInline, Inline: bytes.Repeat([]byte{byte(i)}, i%5)}
	}
	kindVirtual = func(i int, c []uint32) ChunkRef {
		r := ChunkRef{Coords: c, Kind: ChunkVirtual, Location: fmt.Sprintf("s3://b/file-%d.nc", i/4),
			Offset: uint64(1000 * i), Length: 1000}
		if i%8 < 4 {
			r.ETag, r.LastModified = fmt.Sprintf(`"e%d"`, i/4), 1700000000+int64(i/4)
		}
		return r
	}
	kindMixed = func(i int, c []uint32) ChunkRef {
		return []func(int, []uint32) ChunkRef{kindNative, kindInline, kindVirtual}[i%3](i, c)
	}
	kindNativeInline = func(i int, c []uint32) ChunkRef {
		if i%4 == 0 {
			return kindInline(i, c)
		}
		return kindNative(i, c)
	}
	kindNativeVirtual = func(i int, c []uint32) ChunkRef {
		if i%2 == 0 {
			return kindVirtual(i, c)
		}
		return kindNative(i, c)
	}
)

// gridRefs returns refs at every other point of a grid of side 5 in nd
// dimensions (one ref for nd = 0), sorted, made by kind.
func gridRefs(nd int, kind func(int, []uint32) ChunkRef) []ChunkRef {
	var refs []ChunkRef
	c := make([]uint32, nd)
	for i := 0; ; i++ {
		if i%2 == 0 {
			refs = append(refs, kind(len(refs), slices.Clone(c)))
		}
		if !nextGridPoint(c) {
			return refs
		}
	}
}

// nextGridPoint steps c to the next point of the grid of side 5 in
// row-major order, and reports false (c back at the origin) after the last.
func nextGridPoint(c []uint32) bool {
	for k := len(c) - 1; k >= 0; k-- {
		if c[k]++; c[k] < 5 {
			return true
		}
		c[k] = 0
	}
	return false
}

func TestManifestColumnsAgainstWire(t *testing.T) {
	kinds := map[string]func(int, []uint32) ChunkRef{
		"native": kindNative, "inline": kindInline, "virtual": kindVirtual, "mixed": kindMixed,
		"native+inline": kindNativeInline, "native+virtual": kindNativeVirtual,
	}
	for name, kind := range kinds {
		for nd := 0; nd <= 4; nd++ {
			t.Run(fmt.Sprintf("%s/rank%d", name, nd), func(t *testing.T) {
				refs := gridRefs(nd, kind)
				var extents []Extent
				for range nd {
					extents = append(extents, Extent{0, 5})
				}
				checkAgainstWire(t, extents, refs)
				checkAgainstWire(t, nil, refs)
			})
		}
	}
	t.Run("empty", func(t *testing.T) {
		checkAgainstWire(t, nil, nil)
		checkAgainstWire(t, []Extent{{0, 4}, {0, 4}}, nil)
	})
}

func TestPropertyManifestColumns(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m, refs := genManifestRefs(t)
		checkAgainstWire(t, m.Extents, refs)
		built := mustManifest(m.ID, m.NodeID, m.Extents, slices.Clone(refs))
		// Absent coordinates, of the manifest's rank and of others.
		nd := rapid.IntRange(0, 5).Draw(t, "probe rank")
		for range 20 {
			c := rapid.SliceOfN(rapid.Uint32Range(0, 40), nd, nd).Draw(t, "probe")
			i := slices.IndexFunc(refs, func(r ChunkRef) bool { return slices.Equal(r.Coords, c) })
			got, ok := built.Lookup(c)
			if ok != (i >= 0) || (ok && !equalValues(got, refs[i])) {
				t.Fatalf("Lookup(%v) = %+v, %v; present at %d", c, got, ok, i)
			}
		}
	})
}

func TestManifestLookupRanks(t *testing.T) {
	for nd := 1; nd <= 4; nd++ {
		m := mustManifest(fxManifestID, fxArrayID, nil, gridRefs(nd, kindMixed))
		// gridRefs holds every other grid point, by row-major index.
		c := make([]uint32, nd)
		for i := 0; ; i++ {
			if _, ok := m.Lookup(c); ok != (i%2 == 0) {
				t.Fatalf("rank %d: Lookup(%v) = %v", nd, c, ok)
			}
			if !nextGridPoint(c) {
				break
			}
		}
		for _, c := range [][]uint32{slices.Repeat([]uint32{5}, nd), slices.Repeat([]uint32{^uint32(0)}, nd), slices.Repeat([]uint32{0}, nd+1), nil} {
			if _, ok := m.Lookup(c); ok {
				t.Errorf("rank %d: Lookup(%v) found a ref", nd, c)
			}
		}
	}
}

func TestManifestEmpty(t *testing.T) {
	for _, m := range []*Manifest{
		{ID: fxManifestID, NodeID: fxArrayID, Extents: []Extent{{0, 3}, {0, 3}}},
		mustManifest(fxManifestID, fxArrayID, []Extent{{0, 3}, {0, 3}}, nil),
	} {
		if m.Len() != 0 || m.NDim() != 2 {
			t.Fatalf("Len %d, NDim %d", m.Len(), m.NDim())
		}
		if _, ok := m.Lookup([]uint32{0, 0}); ok {
			t.Fatal("Lookup found a ref")
		}
		for range m.All() {
			t.Fatal("All yielded a ref")
		}
		data, err := EncodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeManifest("k", data)
		if err != nil || got.Len() != 0 || got.NDim() != 2 {
			t.Fatalf("decoded %+v, %v", got, err)
		}
	}
}

// Refs hand out the manifest's memory capped: appending to a ref's slices
// leaves its neighbours alone. Rank-0 coordinates are empty, not nil.
func TestManifestRefSlicesCapped(t *testing.T) {
	m := mustManifest(fxManifestID, fxArrayID, nil, gridRefs(2, kindInline))
	r := m.Ref(1)
	_ = append(r.Coords, 99)
	_ = append(r.Inline, 99)
	if !equalValues(m.Ref(2), gridRefs(2, kindInline)[2]) {
		t.Fatal("appending to a ref changed the next one")
	}
	scalar := mustManifest(fxManifestID, fxArrayID, nil, []ChunkRef{{Coords: []uint32{}, Kind: ChunkInline}})
	data, _ := EncodeManifest(scalar)
	decoded, err := DecodeManifest("k", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Manifest{scalar, decoded} {
		if m.Ref(0).Coords == nil || m.Coords(0) == nil {
			t.Fatal("rank-0 coordinates are nil")
		}
	}
}

// A manifest holds a number of heap objects that does not grow with its
// refs, and a native ref of a 1-D array costs 33 bytes.
func TestManifestCompact(t *testing.T) {
	build := func(n int, kind func(int, []uint32) ChunkRef) []byte {
		b := NewManifestBuilder(1, n)
		for i := range n {
			r := kind(i, []uint32{uint32(i)})
			if r.Kind == ChunkVirtual {
				// One object, however many refs.
				r.Location, r.ETag, r.LastModified = "s3://b/one-file.nc", `"e"`, 1700000000
			}
			b.Append(&r)
		}
		m, err := b.Build(fxManifestID, fxArrayID, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := EncodeWith(FileTypeManifest, CompressionNone, m)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for name, kind := range map[string]func(int, []uint32) ChunkRef{"native": kindNative, "inline": kindInline, "virtual": kindVirtual, "mixed": kindMixed} {
		small, large := build(100, kind), build(20_000, kind)
		allocs := func(data []byte) float64 {
			return testing.AllocsPerRun(5, func() {
				if _, err := DecodeManifest("k", data); err != nil {
					t.Fatal(err)
				}
			})
		}
		// A collection running meanwhile may add an object or two.
		if a, b := allocs(small), allocs(large); b > a+2 {
			t.Errorf("%s: decoding 100 refs allocates %v objects, 20,000 refs %v", name, a, b)
		}
	}
	m, err := DecodeManifest("k", build(100_000, kindNative))
	if err != nil {
		t.Fatal(err)
	}
	if per := float64(m.MemSize()) / 100_000; per < 33 || per > 34 {
		t.Errorf("a native 1-D ref costs %.1f bytes, want 33", per)
	}
	// MemSize is what the decoded manifest keeps alive.
	for name, kind := range map[string]func(int, []uint32) ChunkRef{"native": kindNative, "inline": kindInline, "mixed": kindMixed} {
		data := build(100_000, kind)
		heap := func() int64 {
			// Twice: the first collection leaves pools' victim caches.
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			return int64(ms.HeapAlloc)
		}
		before := heap()
		m, err := DecodeManifest("k", data)
		if err != nil {
			t.Fatal(err)
		}
		held := heap() - before
		if size := m.MemSize(); held < size*9/10 || held > size*11/10 {
			t.Errorf("%s: a decoded manifest holds %d bytes, MemSize says %d", name, held, size)
		}
		runtime.KeepAlive(m)
		runtime.KeepAlive(data)
	}
}

// Build drops the spare room of columns sized for more refs than came.
func TestManifestBuilderTrims(t *testing.T) {
	b := NewManifestBuilder(2, 1000)
	for _, r := range gridRefs(2, kindNative)[:10] {
		b.Append(&r)
	}
	m, err := b.Build(fxManifestID, fxArrayID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.MemSize() > 1000 {
		t.Errorf("10 refs built with room for 1000 take %d bytes", m.MemSize())
	}
}
