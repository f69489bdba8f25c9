package engine

// Tests of the compact chunk changes behind ChangeSet (chunktable.go),
// against a plain map of refs by coordKey, which is what the change set
// held before.

import (
	"context"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

func TestPackCoords(t *testing.T) {
	for _, c := range []struct {
		coords []uint32
		packs  bool
	}{
		{[]uint32{}, true},
		{[]uint32{math.MaxUint32}, true},
		{[]uint32{math.MaxUint32, 0, math.MaxUint32}, true},
		{[]uint32{1<<30 - 1, 0, 7, 1<<30 - 1}, true},
		{[]uint32{1 << 30, 0, 0, 0}, false},
		{[]uint32{0, 0, 0, 0, 1<<24 - 1}, true},
		{[]uint32{0, 0, 0, 0, 1 << 24}, false},
		{make([]uint32, packedBits), true},
		{append(make([]uint32, packedBits-1), 1), true},
		{append(make([]uint32, packedBits-1), 2), false},
		{make([]uint32, packedBits+1), false},
	} {
		k, ok := packCoords(c.coords)
		if ok != c.packs {
			t.Fatalf("packCoords(rank %d %v): packs %v, want %v", len(c.coords), c.coords, ok, c.packs)
		}
		if ok {
			if got := k.coords(nil); !slices.Equal(got, c.coords) || k.rank() != len(c.coords) {
				t.Fatalf("packCoords(%v) unpacks to %v", c.coords, got)
			}
		}
	}
}

// coordsGen draws coordinates of rank 0 to maxRank, mostly small (so that
// draws collide) and sometimes too large to pack.
func coordsGen(maxRank int) *rapid.Generator[[]uint32] {
	return rapid.Custom(func(t *rapid.T) []uint32 {
		rank := rapid.IntRange(0, maxRank).Draw(t, "rank")
		c := rapid.OneOf(rapid.Uint32Range(0, 3), rapid.Uint32Range(0, 1<<16), rapid.Uint32())
		return rapid.SliceOfN(c, rank, rank).Draw(t, "coords")
	})
}

func TestPackedKeyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := coordsGen(8).Draw(t, "a")
		b := coordsGen(8).Draw(t, "b")
		ka, okA := packCoords(a)
		kb, okB := packCoords(b)
		if !okA || !okB {
			t.Skip("does not pack")
		}
		if got := ka.coords(nil); !slices.Equal(got, a) {
			t.Fatalf("%v unpacks to %v", a, got)
		}
		if got, want := ka.compare(kb), codec.CompareCoords(a, b); got != want {
			t.Fatalf("compare(%v, %v) = %d, want %d", a, b, got, want)
		}
		if (ka == kb) != slices.Equal(a, b) {
			t.Fatalf("keys of %v and %v: equal %v", a, b, ka == kb)
		}
	})
}

// chunkRefGen draws a ref of every shape the table stores differently:
// nil (a delete), compact native refs, and refs it must keep whole.
func chunkRefGen() *rapid.Generator[*codec.ChunkRef] {
	return rapid.Custom(func(t *rapid.T) *codec.ChunkRef {
		id := codec.ChunkID{byte(rapid.IntRange(1, 255).Draw(t, "id"))}
		switch rapid.IntRange(0, 7).Draw(t, "kind") {
		case 0:
			return nil
		case 1:
			return &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Length: rapid.Uint64Range(0, math.MaxUint32).Draw(t, "length")}
		case 2:
			return &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Offset: rapid.Uint64Range(1, 1<<40).Draw(t, "offset"), Length: 10}
		case 3:
			return &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Length: math.MaxUint32 + rapid.Uint64Range(1, 1<<40).Draw(t, "length")}
		case 4:
			return &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte(rapid.StringN(0, 8, -1).Draw(t, "inline"))}
		case 5:
			return &codec.ChunkRef{Kind: codec.ChunkInline} // nil bytes
		case 6:
			return &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: "s3://b/k", ETag: "e", LastModified: 7, Offset: 3, Length: 4}
		default:
			// Not a valid ref, but the change set keeps what it is given.
			return &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Length: 1, ETag: "stray"}
		}
	})
}

// refModel is the reference: a ref per coordKey, nil for a delete, each
// with its coordinates set.
type refModel map[string]*codec.ChunkRef

func (m refModel) set(coords []uint32, ref *codec.ChunkRef) {
	if ref != nil {
		r := *ref
		r.Coords = slices.Clone(coords)
		ref = &r
	}
	m[coordKey(coords)] = ref
}

func (m refModel) check(t *rapid.T, a *arrayChunks, absent []uint32) {
	if a.len() != len(m) {
		t.Fatalf("len %d, model %d", a.len(), len(m))
	}
	for k, want := range m {
		got, ok := a.get(parseCoordKey(k))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("get(%v) = %+v, %v; want %+v", parseCoordKey(k), got, ok, want)
		}
	}
	if _, in := m[coordKey(absent)]; !in {
		if got, ok := a.get(absent); ok || got != nil {
			t.Fatalf("get(%v) of an unknown chunk = %+v, %v", absent, got, ok)
		}
	}
	keys := slices.Sorted(maps.Keys(m))
	i := 0
	for coords, ref := range a.sorted() {
		if i == len(keys) {
			t.Fatalf("sorted yields more than the model's %d changes", len(keys))
		}
		if want := parseCoordKey(keys[i]); !slices.Equal(coords, want) {
			t.Fatalf("sorted change %d at %v, want %v", i, coords, want)
		}
		if want := m[keys[i]]; !reflect.DeepEqual(ref, want) {
			t.Fatalf("sorted change %d: %+v, want %+v", i, ref, want)
		}
		i++
	}
	if i != len(keys) {
		t.Fatalf("sorted yields %d changes, model %d", i, len(keys))
	}
	seen := map[string]bool{}
	for c := range a.coords() {
		seen[coordKey(c)] = true
	}
	if !maps.Equal(seen, maps.Collect(func(yield func(string, bool) bool) {
		for k := range m {
			yield(k, true)
		}
	})) {
		t.Fatalf("coords yields %d distinct chunks, model %d", len(seen), len(m))
	}
}

// checkBlocks checks arrayChunks.blocks against the model's changes of one
// rank grouped by block.
func (m refModel) checkBlocks(t *rapid.T, a *arrayChunks, rank int, block []uint32) {
	want := map[string][]string{}
	for k := range m {
		if c := parseCoordKey(k); len(c) == rank {
			bk := blockKey(c, block)
			want[bk] = append(want[bk], k)
		}
	}
	blocks := a.blocks(rank, block)
	if len(blocks) != len(want) {
		t.Fatalf("%d blocks, want %d", len(blocks), len(want))
	}
	for bk, b := range blocks {
		keys := want[bk]
		slices.Sort(keys)
		if b.len() != len(keys) || blockKey(b.first, block) != bk {
			t.Fatalf("block %v: %d changes, want %d; first %v", parseCoordKey(bk), b.len(), len(keys), b.first)
		}
		i := 0
		for coords, ref := range b.cursor(a).all() {
			if !slices.Equal(coords, parseCoordKey(keys[i])) || !reflect.DeepEqual(ref, m[keys[i]]) {
				t.Fatalf("block %v change %d: %v %+v, want %v %+v", parseCoordKey(bk), i, coords, ref, parseCoordKey(keys[i]), m[keys[i]])
			}
			i++
		}
	}
}

func TestArrayChunksModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var a arrayChunks
		m := refModel{}
		var known [][]uint32
		pick := func(t *rapid.T, label string) []uint32 {
			if len(known) > 0 && rapid.Bool().Draw(t, label+" known") {
				return slices.Clone(rapid.SampledFrom(known).Draw(t, label))
			}
			c := coordsGen(9).Draw(t, label)
			known = append(known, slices.Clone(c))
			return c
		}
		t.Repeat(map[string]func(*rapid.T){
			"set": func(t *rapid.T) {
				coords, ref := pick(t, "coords"), chunkRefGen().Draw(t, "ref")
				a.set(coords, ref)
				m.set(coords, ref)
				// The table keeps neither argument.
				if ref != nil {
					ref.Length++
					ref.Location += "x"
					ref.Coords = []uint32{99}
				}
				for i := range coords {
					coords[i]++
				}
			},
			"drop": func(t *rapid.T) {
				coords := pick(t, "coords")
				a.drop(coords)
				delete(m, coordKey(coords))
			},
			"merge": func(t *rapid.T) {
				var o arrayChunks
				om := refModel{}
				for range rapid.IntRange(0, 5).Draw(t, "n") {
					coords, ref := pick(t, "coords"), chunkRefGen().Draw(t, "ref")
					o.set(coords, ref)
					om.set(coords, ref)
				}
				before := a.clone()
				beforeM := maps.Clone(m)
				a.merge(&o)
				maps.Copy(m, om)
				// A clone is not touched by changes to the original.
				beforeM.check(t, before, nil)
				om.check(t, &o, nil)
			},
			"blocks": func(t *rapid.T) {
				rank := rapid.IntRange(0, 9).Draw(t, "rank")
				block := rapid.SliceOfN(rapid.Uint32Range(1, 4), rank, rank).Draw(t, "block")
				m.checkBlocks(t, &a, rank, block)
			},
			"": func(t *rapid.T) {
				m.check(t, &a, coordsGen(9).Draw(t, "absent"))
			},
		})
	})
}

// TestChangeSetWire pins the serialized form of chunk changes: arrays by
// id, chunks by coordinates, every field of the ref, and deletes.
func TestChangeSetWire(t *testing.T) {
	id1, id2 := codec.NodeID{1}, codec.NodeID{2}
	native := &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: codec.ChunkID{9}, Length: 4096}
	offset := &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: codec.ChunkID{8}, Offset: 10, Length: 5 << 30}
	inline := &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte("abc")}
	virtual := &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: "s3://b/k", ETag: "e", LastModified: 5, Offset: 1, Length: 2}
	wide := []uint32{0, 0, 0, 0, 0, 0, 0, 1 << 20}
	cs := NewChangeSet()
	cs.setChunk(id2, native, []uint32{3, 1})
	cs.setChunk(id2, inline, []uint32{0, 2})
	cs.setChunk(id2, nil, []uint32{0, 1})
	cs.setChunk(id2, virtual, []uint32{10, 0})
	cs.setChunk(id1, offset, wide)
	cs.setChunk(id1, native, []uint32{0, 0, 0, 0, 0, 0, 0, 1})
	cs.setChunk(id1, inline, []uint32{0, 0, 0, 0, 0, 0, 1})

	c := func(coords []uint32, ref *codec.ChunkRef) wireChunk {
		if ref == nil {
			return wireChunk{Coords: coords, Deleted: true}
		}
		return wireChunk{Coords: coords, Kind: uint8(ref.Kind), Inline: ref.Inline, ChunkID: ref.ChunkID, Location: ref.Location,
			Offset: ref.Offset, Length: ref.Length, ETag: ref.ETag, LastModified: ref.LastModified}
	}
	want := wireChangeSet{Chunks: []wireArrayChunks{
		{ID: id1, Chunks: []wireChunk{
			c([]uint32{0, 0, 0, 0, 0, 0, 0, 1}, native),
			c(wide, offset),
			c([]uint32{0, 0, 0, 0, 0, 0, 1}, inline),
		}},
		{ID: id2, Chunks: []wireChunk{
			c([]uint32{0, 1}, nil),
			c([]uint32{0, 2}, inline),
			c([]uint32{3, 1}, native),
			c([]uint32{10, 0}, virtual),
		}},
	}}
	got := cs.wire()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wire form:\n%+v\nwant\n%+v", got, want)
	}
	gotBytes, err := got.MarshalMsg(nil)
	ok(t, err)
	wantBytes, err := want.MarshalMsg(nil)
	ok(t, err)
	if string(gotBytes) != string(wantBytes) {
		t.Fatal("encoded wire form differs")
	}

	restored, err := changeSetFromWire(&got)
	ok(t, err)
	if again := restored.wire(); !reflect.DeepEqual(again, want) {
		t.Fatalf("after a round trip:\n%+v\nwant\n%+v", again, want)
	}
	if ref, known := restored.chunk(id1, wide); !known || ref.Offset != 10 || ref.Length != 5<<30 || !slices.Equal(ref.Coords, wide) {
		t.Fatalf("restored wide chunk: %+v %v", ref, known)
	}
	if ref, known := restored.chunk(id2, []uint32{0, 1}); !known || ref != nil {
		t.Fatalf("restored delete: %+v %v", ref, known)
	}
}

// Every kind of ref, deletes and overwrites through a session: before and
// after a serialization round trip, across forks merged back, and after the
// commit.
func TestChunkRefKindsThroughSession(t *testing.T) {
	ctx := context.Background()
	repo := conflictRepo(t)
	setup, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	flat, deep := MustPath("/flat"), MustPath("/deep")
	ok(t, setup.AddArray(ctx, flat, ArrayMeta{Shape: []uint64{100}, ChunkShape: []uint64{1}}, nil))
	ok(t, setup.AddArray(ctx, deep, ArrayMeta{Shape: []uint64{1, 1, 1, 1, 1, 1, 2, 1 << 20}, ChunkShape: []uint64{1, 1, 1, 1, 1, 1, 1, 1}}, nil))
	// A committed chunk that a later session overwrites, and one it deletes.
	ok(t, setup.SetChunkRef(ctx, flat, []uint32{20}, inline("committed")))
	ok(t, setup.SetChunkRef(ctx, flat, []uint32{21}, inline("deleted later")))
	ok(t, setup.SetChunkRef(ctx, flat, []uint32{22}, inline("kept")))
	commit(t, setup, "base")

	native := func(b byte, offset, length uint64) *codec.ChunkRef {
		return &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: codec.ChunkID{b}, Offset: offset, Length: length}
	}
	virtual := &codec.ChunkRef{Kind: codec.ChunkVirtual, Location: "s3://bucket/key", ETag: "tag", LastModified: 3, Offset: 8, Length: 16}
	type write struct {
		path   Path
		coords []uint32
		ref    *codec.ChunkRef
	}
	wide := []uint32{0, 0, 0, 0, 0, 0, 1, 1 << 19}
	// Two forks, each writing its part; later writes win.
	parts := [][]write{{
		{flat, []uint32{0}, native(1, 0, 4096)},
		{flat, []uint32{1}, native(2, 100, 50)},
		{flat, []uint32{2}, native(3, 0, 5<<30)},
		{flat, []uint32{3}, inline("in")},
		{flat, []uint32{4}, virtual},
		{flat, []uint32{5}, native(4, 0, 1)},
		{flat, []uint32{5}, nil}, // set, then deleted
		{flat, []uint32{6}, native(5, 0, 1)},
		{flat, []uint32{6}, inline("over native")},
		{flat, []uint32{7}, inline("x")},
		{flat, []uint32{7}, native(6, 0, 7)},
	}, {
		{flat, []uint32{20}, native(7, 0, 20)},
		{flat, []uint32{21}, nil},
		{deep, wide, native(8, 0, 4096)},
		{deep, []uint32{0, 0, 0, 0, 0, 0, 1, 1}, inline("deep")},
	}}
	want := map[string]*codec.ChunkRef{}
	for _, part := range parts {
		for _, w := range part {
			var r *codec.ChunkRef
			if w.ref != nil {
				c := *w.ref
				c.Coords = w.coords
				r = &c
			}
			want[string(w.path)+fmt.Sprint(w.coords)] = r
		}
	}
	want["/flat[22]"] = &codec.ChunkRef{Kind: codec.ChunkInline, Inline: []byte("kept"), Coords: []uint32{22}}
	check := func(s *Session, what string) {
		t.Helper()
		for _, ws := range parts {
			for _, w := range ws {
				got, err := s.GetChunkRef(ctx, w.path, w.coords)
				ok(t, err)
				if exp := want[string(w.path)+fmt.Sprint(w.coords)]; !reflect.DeepEqual(got, exp) {
					t.Fatalf("%s: %s %v: %+v, want %+v", what, w.path, w.coords, got, exp)
				}
			}
		}
		n := 0
		for info, err := range s.ArrayChunks(ctx, flat) {
			ok(t, err)
			if exp := want[string(flat)+fmt.Sprint(info.Coords)]; !reflect.DeepEqual(info.Ref, exp) {
				t.Fatalf("%s: listed %v: %+v, want %+v", what, info.Coords, info.Ref, exp)
			}
			n++
		}
		if n != 9 {
			t.Fatalf("%s: %d chunks listed, want 9", what, n)
		}
	}

	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	var forks []*Session
	for _, part := range parts {
		f, err := s.Fork(ctx)
		ok(t, err)
		for _, w := range part {
			ok(t, f.SetChunkRef(ctx, w.path, w.coords, w.ref))
		}
		f, err = repo.SessionFromBytes(mustBytes(t, f))
		ok(t, err)
		forks = append(forks, f)
	}
	ok(t, s.Merge(ctx, forks...))
	check(s, "merged")
	restored, err := repo.SessionFromBytes(mustBytes(t, s))
	ok(t, err)
	check(restored, "restored")
	id := commit(t, restored, "all kinds")
	check(restored, "committed")
	ro, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
	ok(t, err)
	check(ro, "read back")
	if got := chunkBytes(t, ro, string(flat), 3); got != "in" {
		t.Fatalf("inline chunk reads %q", got)
	}
	if _, found, err := ro.GetChunk(ctx, flat, []uint32{21}, storage.From(0)); err != nil || found {
		t.Fatalf("deleted chunk: found %v, %v", found, err)
	}
}

// A packed chunk (a native ref at an offset in its object, as
// StoreSetMany writes them) takes a slot of its own, as a chunk alone in
// its object does; only refs beyond 4 GiB go to the side table.
func TestPackedRefTakesASlot(t *testing.T) {
	id := codec.ChunkID{7}
	for _, off := range []uint64{0, 1 << 20, math.MaxUint32} {
		ref := &codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Offset: off, Length: 4096}
		s := slotOf(ref)
		if s == sideSlot || s == deletedSlot {
			t.Fatalf("native ref at offset %d: slot %+v", off, s)
		}
		var got codec.ChunkRef
		var tbl chunkTable[wideKey]
		if !tbl.load("k", s, &got) || !reflect.DeepEqual(&got, ref) {
			t.Fatalf("offset %d: slot loads as %+v, want %+v", off, got, ref)
		}
	}
	if s := slotOf(&codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Offset: math.MaxUint32 + 1, Length: 1}); s != sideSlot {
		t.Fatalf("a ref past 4 GiB got slot %+v, want the side table", s)
	}
}
