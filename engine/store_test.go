package engine

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

func newStoreSession(t *testing.T) (*Repository, *Session) {
	t.Helper()
	ctx := context.Background()
	repo, err := Create(ctx, memory.New("store-test"), nil, nil)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	s, err := repo.WritableSession(ctx, MainBranch)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	return repo, s
}

func groupJSON(attrs string) []byte {
	return []byte(`{"zarr_format":3,"node_type":"group","attributes":{` + attrs + `}}`)
}

// arrayJSON is a zarr.json of an int8 array; enc is "default" or "v2",
// sep "" (the encoding's default), "/" or ".".
func arrayJSON(shape, chunks []int, enc, sep string) []byte {
	ints := func(v []int) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	conf := ""
	if sep != "" {
		conf = fmt.Sprintf(`,"configuration":{"separator":%q}`, sep)
	}
	return []byte(fmt.Sprintf(`{"zarr_format":3,"node_type":"array","shape":%s,"data_type":"int8",`+
		`"chunk_grid":{"name":"regular","configuration":{"chunk_shape":%s}},`+
		`"chunk_key_encoding":{"name":%q%s},"fill_value":0,"codecs":[{"name":"bytes"}],"attributes":{}}`,
		ints(shape), ints(chunks), enc, conf))
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%+v", err)
	}
}

func mustGet(t *testing.T, s *Session, key string, rng storage.ByteRange) []byte {
	t.Helper()
	data, ok, err := s.StoreGet(context.Background(), key, rng)
	if err != nil {
		t.Fatalf("get %q: %+v", key, err)
	}
	if !ok {
		t.Fatalf("get %q: missing", key)
	}
	return data
}

func mustMissing(t *testing.T, s *Session, key string) {
	t.Helper()
	data, ok, err := s.StoreGet(context.Background(), key, storage.From(0))
	if err != nil || ok {
		t.Fatalf("get %q: want missing, got %q %v %v", key, data, ok, err)
	}
	if ok, err := s.StoreExists(context.Background(), key); err != nil || ok {
		t.Fatalf("exists %q: want false, got %v %v", key, ok, err)
	}
}

func collect(t *testing.T, seq func(func(string, error) bool)) []string {
	t.Helper()
	var out []string
	for k, err := range seq {
		if err != nil {
			t.Fatalf("%+v", err)
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestStoreRoundTrip builds a hierarchy through keys only, with every
// chunk key encoding and 0-d arrays, and reads it back before and after a
// commit.
func TestStoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	big := bytes.Repeat([]byte("0123456789"), 100) // above the inline threshold

	docs := map[string][]byte{
		"zarr.json":            groupJSON(`"root":true`),
		"g/zarr.json":          groupJSON(""),
		"g/h/zarr.json":        groupJSON(`"deep":1`),
		"g/ds/zarr.json":       arrayJSON([]int{4, 4}, []int{2, 2}, "default", ""),
		"g/dd/zarr.json":       arrayJSON([]int{4, 4}, []int{2, 2}, "default", "."),
		"g/vd/zarr.json":       arrayJSON([]int{4, 4}, []int{2, 2}, "v2", ""),
		"g/vs/zarr.json":       arrayJSON([]int{4, 4}, []int{2, 2}, "v2", "/"),
		"g/h/scalar/zarr.json": arrayJSON(nil, nil, "default", ""),
		"scalar2/zarr.json":    arrayJSON(nil, nil, "v2", ""),
	}
	for _, key := range slices.Sorted(mapsKeys(docs)) {
		mustOK(t, s.StoreSet(ctx, key, docs[key]))
	}
	chunks := map[string][]byte{
		"g/ds/c/0/1":    []byte("ds01"),
		"g/ds/c/1/1":    big,
		"g/dd/c.1.0":    []byte("dd10"),
		"g/dd/c.0.0":    big,
		"g/vd/1.1":      []byte("vd11"),
		"g/vd/0.1":      big,
		"g/vs/0/0":      []byte("vs00"),
		"g/vs/1/0":      big,
		"g/h/scalar/c":  []byte("scalar"),
		"scalar2/0":     big,
		"g/ds/c/0/0":    []byte("to be deleted"),
		"g/vs/0/1":      []byte("to be deleted"),
		"scalar2/0.bak": nil, // not a key: checked below
	}
	delete(chunks, "scalar2/0.bak")
	for key, v := range chunks {
		mustOK(t, s.StoreSet(ctx, key, v))
	}
	mustOK(t, s.StoreDelete(ctx, "g/ds/c/0/0"))
	mustOK(t, s.StoreDelete(ctx, "g/vs/0/1"))
	delete(chunks, "g/ds/c/0/0")
	delete(chunks, "g/vs/0/1")

	// Keys of one encoding are not chunk keys of another.
	for _, key := range []string{"g/ds/c.0.1", "g/ds/0/1", "g/dd/c/1/0", "g/vd/1/1", "g/vs/0.0", "g/h/scalar/c/0", "scalar2/c"} {
		if _, _, err := s.StoreGet(ctx, key, storage.From(0)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("get %q: got %v, want ErrInvalidKey", key, err)
		}
	}

	check := func(s *Session) {
		t.Helper()
		for key, want := range docs {
			if got := mustGet(t, s, key, storage.From(0)); !bytes.Equal(got, want) {
				t.Errorf("%q: got %s", key, got)
			}
		}
		for key, want := range chunks {
			if got := mustGet(t, s, key, storage.From(0)); !bytes.Equal(got, want) {
				t.Errorf("%q: got %d bytes", key, len(got))
			}
			size, err := s.StoreGetSize(ctx, key)
			if err != nil || size != int64(len(want)) {
				t.Errorf("size %q: %d %v", key, size, err)
			}
		}
		mustMissing(t, s, "g/ds/c/0/0")
		mustMissing(t, s, "g/vs/0/1")
		mustMissing(t, s, "g/ds/c/1/0")
		mustMissing(t, s, "nothing/zarr.json")
		mustMissing(t, s, "g/.zarray")
		mustMissing(t, s, ".zgroup")
		mustMissing(t, s, "g/nothing/c/0")
		mustMissing(t, s, "g/ds/c/9/9") // outside the grid

		// Byte ranges, on an inline chunk and on a chunk object.
		for _, key := range []string{"g/vd/1.1", "g/vd/0.1"} {
			whole := chunks[key]
			for _, tc := range []struct {
				rng  storage.ByteRange
				want []byte
			}{
				{storage.Range(1, 3), whole[1:3]},
				{storage.Range(2, 1<<20), whole[2:]},
				{storage.From(2), whole[2:]},
				{storage.From(1 << 20), []byte{}},
				{storage.Suffix(2), whole[len(whole)-2:]},
				{storage.Suffix(1 << 20), whole},
			} {
				if got := mustGet(t, s, key, tc.rng); !bytes.Equal(got, tc.want) {
					t.Errorf("%q %s: got %q", key, tc.rng, got)
				}
			}
		}
		if got := mustGet(t, s, "zarr.json", storage.Range(0, 13)); string(got) != `{"zarr_format` {
			t.Errorf("metadata range: %q", got)
		}
		if _, _, err := s.StoreGet(ctx, "g/vd/1.1", storage.Range(3, 1)); !errors.Is(err, storage.ErrInvalidRange) {
			t.Errorf("bad range: %v", err)
		}
	}
	check(s)
	id, err := s.Commit(ctx, "through keys", nil)
	mustOK(t, err)
	ro, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	check(ro)
	check(s) // the committed session reads its new snapshot

	// The node API sees what the keys made.
	a, err := ro.GetArray(ctx, MustPath("/g/vs"))
	mustOK(t, err)
	if !slices.Equal(a.Array.Shape, []uint64{4, 4}) || !slices.Equal(a.Array.ChunkShape, []uint64{2, 2}) {
		t.Errorf("array: %+v", a.Array)
	}
	if _, err := ro.GetGroup(ctx, MustPath("/g/h")); err != nil {
		t.Error(err)
	}
	got := collect(t, ro.StoreList(ctx))
	var want []string
	for k := range docs {
		want = append(want, k)
	}
	for k := range chunks {
		want = append(want, k)
	}
	wantKeys(t, "list after commit", got, want...)

	// Batch reads.
	res, err := ro.StoreGetMany(ctx, []string{"g/ds/c/0/1", "g/nope/zarr.json", "g/ds/c/x", "g/dd/c.0.0"},
		[]storage.ByteRange{storage.From(0), storage.From(0), storage.From(0), storage.Range(0, 3)})
	mustOK(t, err)
	if !res[0].Found || string(res[0].Data) != "ds01" || res[1].Found || res[1].Err != nil ||
		!errors.Is(res[2].Err, ErrInvalidKey) || string(res[3].Data) != "012" {
		t.Errorf("get many: %+v", res)
	}
	if _, err := ro.StoreGetMany(ctx, []string{"a"}, []storage.ByteRange{}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("mismatched ranges: %v", err)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestStoreRootArray checks an array at the root: "zarr.json" and "c/0".
func TestStoreRootArray(t *testing.T) {
	ctx := context.Background()
	_, s := newStoreSession(t)
	mustOK(t, s.StoreSet(ctx, "zarr.json", arrayJSON([]int{3}, []int{1}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "c/2", []byte("two")))
	if got := mustGet(t, s, "c/2", storage.From(0)); string(got) != "two" {
		t.Fatalf("%q", got)
	}
	wantKeys(t, "root array list", collect(t, s.StoreList(ctx)), "zarr.json", "c/2")
	wantKeys(t, "root array list dir", collect(t, s.StoreListDir(ctx, "")), "zarr.json", "c")
	wantKeys(t, "root array list c/", collect(t, s.StoreListDir(ctx, "c/")), "2")
	if err := s.StoreSet(ctx, "g/zarr.json", groupJSON("")); !errors.Is(err, ErrNotAGroup) {
		t.Fatalf("group inside the root array: %v", err)
	}
	if err := s.StoreSet(ctx, "c/3", nil); !errors.Is(err, ErrInvalidIndex) {
		t.Fatalf("outside the grid: %v", err)
	}
}

// TestStoreListing checks the listing operations on a small hierarchy.
func TestStoreListing(t *testing.T) {
	ctx := context.Background()
	_, s := newStoreSession(t)
	set := func(key string, v []byte) { t.Helper(); mustOK(t, s.StoreSet(ctx, key, v)) }
	set("zarr.json", groupJSON(""))
	set("a/zarr.json", groupJSON(""))
	set("a/b/zarr.json", arrayJSON([]int{4, 4}, []int{2, 2}, "default", ""))
	set("a/b/c/0/0", []byte("1"))
	set("a/b/c/0/1", []byte("22"))
	set("a/b/c/1/1", []byte("333"))
	set("a/bc/zarr.json", arrayJSON([]int{4, 4}, []int{2, 2}, "default", "."))
	set("a/bc/c.0.0", []byte("4444"))
	set("a/bc/c.1.1", []byte("55555"))
	set("v/zarr.json", arrayJSON([]int{4, 4, 4}, []int{2, 2, 2}, "v2", "/"))
	set("v/0/0/1", []byte("666666"))
	set("v/0/1/1", []byte("7777777"))
	set("v/1/1/1", []byte("88888888"))
	set("w/zarr.json", arrayJSON([]int{4}, []int{2}, "v2", ""))
	set("w/1", []byte("999999999"))
	set("empty/zarr.json", groupJSON(""))
	set("x/y/zarr.json", groupJSON("")) // no x/zarr.json: x is only a prefix

	all := []string{
		"zarr.json", "a/zarr.json", "a/b/zarr.json", "a/b/c/0/0", "a/b/c/0/1", "a/b/c/1/1",
		"a/bc/zarr.json", "a/bc/c.0.0", "a/bc/c.1.1", "v/zarr.json", "v/0/0/1", "v/0/1/1", "v/1/1/1",
		"w/zarr.json", "w/1", "empty/zarr.json", "x/y/zarr.json",
	}
	wantKeys(t, "list", collect(t, s.StoreList(ctx)), all...)
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"a/b", []string{"a/b/zarr.json", "a/b/c/0/0", "a/b/c/0/1", "a/b/c/1/1", "a/bc/zarr.json", "a/bc/c.0.0", "a/bc/c.1.1"}},
		{"a/b/", []string{"a/b/zarr.json", "a/b/c/0/0", "a/b/c/0/1", "a/b/c/1/1"}},
		{"a/b/c/0", []string{"a/b/c/0/0", "a/b/c/0/1"}},
		{"a/bc/c.1", []string{"a/bc/c.1.1"}},
		{"v/0/", []string{"v/0/0/1", "v/0/1/1"}},
		{"zarr", []string{"zarr.json"}},
		{"nothing", nil},
	} {
		wantKeys(t, "list prefix "+tc.prefix, collect(t, s.StoreListPrefix(ctx, tc.prefix)), tc.want...)
	}
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"", []string{"zarr.json", "a", "v", "w", "empty", "x"}},
		{"/", []string{"zarr.json", "a", "v", "w", "empty", "x"}},
		{"a", []string{"zarr.json", "b", "bc"}},
		{"a/", []string{"zarr.json", "b", "bc"}},
		{"a/b/", []string{"zarr.json", "c"}},
		{"a/b/c/", []string{"0", "1"}},
		{"a/b/c/0/", []string{"0", "1"}},
		{"a/b/c/1", []string{"1"}},
		{"a/b/c/0/0/", nil},
		{"a/bc/", []string{"zarr.json", "c.0.0", "c.1.1"}},
		{"a/bc/c.0.0/", nil},
		{"v/", []string{"zarr.json", "0", "1"}},
		{"v/0/", []string{"0", "1"}},
		{"v/0/1/", []string{"1"}},
		{"w/", []string{"zarr.json", "1"}},
		{"x/", []string{"y"}},
		{"empty/", []string{"zarr.json"}},
		{"nothing/", nil},
	} {
		wantKeys(t, "list dir "+tc.dir, collect(t, s.StoreListDir(ctx, tc.dir)), tc.want...)
	}
	for _, bad := range []string{"a//", "../", "a/../"} {
		for _, err := range s.StoreListDir(ctx, bad) {
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("list dir %q: %v", bad, err)
			}
		}
	}

	size := func(prefix string) int64 {
		n, err := s.StoreGetSizePrefix(ctx, prefix)
		mustOK(t, err)
		return n
	}
	if got := size("a/b/c/"); got != 6 {
		t.Errorf("size a/b/c/: %d", got)
	}
	if got, want := size("v/0"), int64(6+7); got != want {
		t.Errorf("size v/0: %d", got)
	}
	var total int64
	for _, k := range all {
		n, err := s.StoreGetSize(ctx, k)
		mustOK(t, err)
		total += n
	}
	if got := size(""); got != total {
		t.Errorf("size of everything %d, sum of sizes %d", got, total)
	}
	if _, err := s.StoreGetSize(ctx, "a/b/c/1/0"); !errors.Is(err, ErrKeyNotFound) || !errors.Is(err, ErrChunkNotFound) {
		t.Errorf("size of a missing chunk: %v", err)
	}
	if _, err := s.StoreGetSize(ctx, "q/zarr.json"); !errors.Is(err, ErrKeyNotFound) || !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("size of a missing node: %v", err)
	}

	for _, tc := range []struct {
		prefix string
		empty  bool
	}{
		{"", false}, {"a", false}, {"a/b/c", false}, {"a/b/c/1/", false}, {"a/b/c/1/0", true},
		{"empty", false}, {"emp", true}, {"x", false}, {"nothing/", true},
	} {
		got, err := s.StoreIsEmpty(ctx, tc.prefix)
		mustOK(t, err)
		if got != tc.empty {
			t.Errorf("is empty %q: %v", tc.prefix, got)
		}
	}

	// DeleteDir inside an array's keys deletes those chunks only.
	mustOK(t, s.StoreDeleteDir(ctx, "a/b/c/0"))
	wantKeys(t, "after delete dir a/b/c/0", collect(t, s.StoreListPrefix(ctx, "a/b/")), "a/b/zarr.json", "a/b/c/1/1")
	mustOK(t, s.StoreDeleteDir(ctx, "v/0/"))
	wantKeys(t, "after delete dir v/0/", collect(t, s.StoreListPrefix(ctx, "v/")), "v/zarr.json", "v/1/1/1")
	// DeleteDir of a group deletes the subtree; "a/b" does not touch "a/bc".
	mustOK(t, s.StoreDeleteDir(ctx, "a/b"))
	wantKeys(t, "after delete dir a/b", collect(t, s.StoreListPrefix(ctx, "a/")), "a/zarr.json", "a/bc/zarr.json", "a/bc/c.0.0", "a/bc/c.1.1")
	mustOK(t, s.StoreDeleteDir(ctx, "x/"))
	mustOK(t, s.StoreDeleteDir(ctx, "nothing/here"))
	wantKeys(t, "list dir after deletes", collect(t, s.StoreListDir(ctx, "")), "zarr.json", "a", "v", "w", "empty")

	// Deleting an array's zarr.json removes its chunks with it; a
	// group's removes the group with everything under it, as upstream's
	// store does, leaving no nodes whose parent is gone.
	mustOK(t, s.StoreDelete(ctx, "a/bc/zarr.json"))
	wantKeys(t, "after delete a/bc/zarr.json", collect(t, s.StoreListPrefix(ctx, "a/")), "a/zarr.json")
	mustOK(t, s.StoreSet(ctx, "a/bc/zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/bc/d/zarr.json", groupJSON("")))
	mustOK(t, s.StoreDelete(ctx, "a/zarr.json"))
	wantKeys(t, "after delete a/zarr.json", collect(t, s.StoreListPrefix(ctx, "a/")))
	if _, err := s.GetNode(ctx, MustPath("/a/bc/d")); !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("a descendant of a deleted group: %v", err)
	}
	mustOK(t, s.StoreDelete(ctx, "a/zarr.json")) // missing: fine
	mustOK(t, s.StoreDelete(ctx, "w/0"))         // never written: fine
	mustOK(t, s.StoreDelete(ctx, "w/5"))         // outside the grid: fine
	mustOK(t, s.StoreDelete(ctx, "gone/c/0"))    // no array: fine
	mustOK(t, s.StoreDelete(ctx, "w/.zattrs"))   // never stored: fine
	if err := s.StoreDelete(ctx, "w/x"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("delete of a bad chunk key: %v", err)
	}

	mustOK(t, s.StoreClear(ctx))
	wantKeys(t, "after clear", collect(t, s.StoreList(ctx)))
	if empty, err := s.StoreIsEmpty(ctx, ""); err != nil || !empty {
		t.Errorf("empty after clear: %v %v", empty, err)
	}
}

// TestStoreDeleteOfMissingChunkRecordsNothing: zarr deletes chunks that
// are all fill value whether or not they exist; that must not count as a
// change.
func TestStoreDeleteOfMissingChunkRecordsNothing(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4}, []int{2}, "default", "")))
	_, err := s.Commit(ctx, "one", nil)
	mustOK(t, err)
	s, err = repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	mustOK(t, s.StoreDelete(ctx, "a/c/0"))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4}, []int{2}, "default", ""))) // same bytes
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	if s.HasUncommittedChanges() {
		t.Fatalf("changes recorded: %+v", s.Changes())
	}
}

// TestStoreMetadataUpdates covers updates of zarr.json: groups, arrays
// (keeping chunks, changing shape and chunk key encoding) and type
// conflicts.
func TestStoreMetadataUpdates(t *testing.T) {
	ctx := context.Background()
	_, s := newStoreSession(t)
	mustOK(t, s.StoreSet(ctx, "g/zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "g/zarr.json", groupJSON(`"v":2`)))
	if got := mustGet(t, s, "g/zarr.json", storage.From(0)); !bytes.Equal(got, groupJSON(`"v":2`)) {
		t.Errorf("group update: %s", got)
	}
	mustOK(t, s.StoreSet(ctx, "g/a/zarr.json", arrayJSON([]int{4}, []int{2}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "g/a/c/1", []byte("x")))
	mustOK(t, s.StoreSet(ctx, "g/a/c/0", []byte("y")))

	// Grow: chunks stay.
	mustOK(t, s.StoreSet(ctx, "g/a/zarr.json", arrayJSON([]int{8}, []int{2}, "default", "")))
	if got := mustGet(t, s, "g/a/c/1", storage.From(0)); string(got) != "x" {
		t.Errorf("after grow: %q", got)
	}
	mustOK(t, s.StoreSet(ctx, "g/a/c/3", []byte("z")))
	// Shrink: chunks outside the grid disappear.
	mustOK(t, s.StoreSet(ctx, "g/a/zarr.json", arrayJSON([]int{2}, []int{2}, "default", "")))
	mustMissing(t, s, "g/a/c/1")
	wantKeys(t, "after shrink", collect(t, s.StoreListPrefix(ctx, "g/a/")), "g/a/zarr.json", "g/a/c/0")
	// A new chunk key encoding takes effect at once (the cached one is
	// dropped).
	mustOK(t, s.StoreSet(ctx, "g/a/zarr.json", arrayJSON([]int{2}, []int{2}, "v2", "")))
	if got := mustGet(t, s, "g/a/0", storage.From(0)); string(got) != "y" {
		t.Errorf("after encoding change: %q", got)
	}
	if _, _, err := s.StoreGet(ctx, "g/a/c/0", storage.From(0)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("old-encoding key: %v", err)
	}
	wantKeys(t, "after encoding change", collect(t, s.StoreListPrefix(ctx, "g/a/")), "g/a/zarr.json", "g/a/0")

	// The other type at an existing node.
	if err := s.StoreSet(ctx, "g/zarr.json", arrayJSON([]int{2}, []int{2}, "default", "")); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("array over group: %v", err)
	}
	if err := s.StoreSet(ctx, "g/a/zarr.json", groupJSON("")); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("group over array: %v", err)
	}
	// An array above existing nodes, a node inside an array.
	mustOK(t, s.StoreSet(ctx, "p/q/zarr.json", groupJSON("")))
	if err := s.StoreSet(ctx, "p/zarr.json", arrayJSON([]int{2}, []int{2}, "default", "")); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("array above a group: %v", err)
	}
	if err := s.StoreSet(ctx, "g/a/sub/zarr.json", groupJSON("")); !errors.Is(err, ErrNotAGroup) {
		t.Errorf("group inside an array: %v", err)
	}
	// Delete, then replace with the other type, as zarr does.
	mustOK(t, s.StoreDeleteDir(ctx, "g/a"))
	mustOK(t, s.StoreSet(ctx, "g/a/zarr.json", groupJSON("")))
	mustMissing(t, s, "g/a/0")

	// Set if not exists.
	for _, tc := range []struct {
		key  string
		val  []byte
		want bool
	}{
		{"g/zarr.json", groupJSON(`"v":3`), false},
		{"g/a/zarr.json", arrayJSON([]int{2}, []int{2}, "default", ""), false},
		{"n/zarr.json", arrayJSON([]int{2}, []int{1}, "default", ""), true},
		{"n/zarr.json", arrayJSON([]int{2}, []int{1}, "default", ""), false},
		{"n/c/1", []byte("first"), true},
		{"n/c/1", []byte("second"), false},
		{"m/zarr.json", groupJSON(""), true},
	} {
		ok, err := s.StoreSetIfNotExists(ctx, tc.key, tc.val)
		mustOK(t, err)
		if ok != tc.want {
			t.Errorf("set if not exists %q: %v", tc.key, ok)
		}
	}
	if got := mustGet(t, s, "n/c/1", storage.From(0)); string(got) != "first" {
		t.Errorf("set if not exists overwrote: %q", got)
	}
	if got := mustGet(t, s, "g/zarr.json", storage.From(0)); !bytes.Equal(got, groupJSON(`"v":2`)) {
		t.Errorf("set if not exists overwrote metadata: %s", got)
	}

	// Batch set: metadata first, whatever the order.
	keys := []string{"b/c/0", "b/c/1", "b/zarr.json"}
	vals := [][]byte{[]byte("b0"), []byte("b1"), arrayJSON([]int{2}, []int{1}, "default", "")}
	mustOK(t, s.StoreSetMany(ctx, keys, vals))
	wantKeys(t, "after set many", collect(t, s.StoreListPrefix(ctx, "b/")), keys...)
	err := s.StoreSetMany(ctx, []string{"b/c/0", "b/c/7", "b/c/1"}, [][]byte{[]byte("B0"), nil, []byte("B1")})
	if !errors.Is(err, ErrInvalidIndex) {
		t.Errorf("set many with a bad key: %v", err)
	}
	if got := mustGet(t, s, "b/c/1", storage.From(0)); string(got) != "B1" {
		t.Errorf("set many stopped at the error: %q", got)
	}
	if err := s.StoreSetMany(ctx, []string{"x"}, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("set many with missing values: %v", err)
	}
}

// TestStoreErrors checks bad keys, bad metadata and read-only sessions.
func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "a/zarr.json", arrayJSON([]int{4, 4}, []int{2, 2}, "default", "")))
	mustOK(t, s.StoreSet(ctx, "a/c/0/0", []byte("x")))

	badKeys := []string{
		"", "/a/c/0/0", "a//c/0/0", "a/c/0/0/", "a/../a/c/0/0", "a/./c/0/0", "a/c/x/0", "a/c/0",
		"a/c/0/0/0", "a/c/00/0", "a/c/-1/0", "a/c.0.0", "a/0/0", "a/c/0/99999999999", "\xff", "a/c/0\x00/0",
	}
	for _, key := range badKeys {
		if _, _, err := s.StoreGet(ctx, key, storage.From(0)); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("get %q: %v", key, err)
		}
		if err := s.StoreSet(ctx, key, []byte("v")); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("set %q: %v", key, err)
		}
		if _, err := s.StoreExists(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("exists %q: %v", key, err)
		}
		if _, err := s.StoreGetSize(ctx, key); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("size %q: %v", key, err)
		}
	}
	// Writes of keys no array owns, and of Zarr v2 metadata.
	for _, key := range []string{"b/c/0", "foo", "zarr.json.bak", "a.zarray", ".zgroup", "a/.zattrs"} {
		err := s.StoreSet(ctx, key, []byte("v"))
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), fmt.Sprintf("%q", key)) {
			t.Errorf("set %q: %v", key, err)
		}
	}
	if err := s.StoreSet(ctx, "a/c/2/0", []byte("v")); !errors.Is(err, ErrInvalidIndex) {
		t.Errorf("outside the grid: %v", err)
	}

	for _, doc := range []string{`{`, `{}`, `{"node_type":"array","shape":[2]}`, `{"zarr_format":2,"node_type":"group"}`} {
		err := s.StoreSet(ctx, "m/zarr.json", []byte(doc))
		if !errors.Is(err, ErrInvalidMetadata) || !strings.Contains(err.Error(), `"m/zarr.json"`) {
			t.Errorf("metadata %s: %v", doc, err)
		}
		if _, err := s.StoreSetIfNotExists(ctx, "m/zarr.json", []byte(doc)); !errors.Is(err, ErrInvalidMetadata) {
			t.Errorf("set if not exists, metadata %s: %v", doc, err)
		}
	}
	mustMissing(t, s, "m/zarr.json")

	id, err := s.Commit(ctx, "c", nil)
	mustOK(t, err)
	ro, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	for name, err := range map[string]error{
		"set":           ro.StoreSet(ctx, "a/c/1/1", []byte("v")),
		"set meta":      ro.StoreSet(ctx, "b/zarr.json", groupJSON("")),
		"set bad key":   ro.StoreSet(ctx, "//", nil),
		"set many":      ro.StoreSetMany(ctx, []string{"a/c/1/1"}, [][]byte{nil}),
		"delete":        ro.StoreDelete(ctx, "a/c/0/0"),
		"delete dir":    ro.StoreDeleteDir(ctx, "a"),
		"clear":         ro.StoreClear(ctx),
		"set if absent": func() error { _, err := ro.StoreSetIfNotExists(ctx, "a/c/1/1", nil); return err }(),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("read-only %s: %v", name, err)
		}
	}
	if got := mustGet(t, ro, "a/c/0/0", storage.From(0)); string(got) != "x" {
		t.Errorf("read-only read: %q", got)
	}
}

// TestStoreConcurrentChunks has 16 goroutines set and get disjoint chunks
// of one array at once, then commits and checks every chunk.
func TestStoreConcurrentChunks(t *testing.T) {
	ctx := context.Background()
	repo, s := newStoreSession(t)
	const workers, perWorker = 16, 24
	mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
	mustOK(t, s.StoreSet(ctx, "data/zarr.json", arrayJSON([]int{workers, perWorker}, []int{1, 1}, "default", "")))
	value := func(w, i int) []byte {
		v := []byte(fmt.Sprintf("chunk %d/%d ", w, i))
		if i%3 == 0 {
			v = bytes.Repeat(v, 100) // a chunk object rather than inline
		}
		return v
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				key := fmt.Sprintf("data/c/%d/%d", w, i)
				if err := s.StoreSet(ctx, key, value(w, i)); err != nil {
					errs <- err
					return
				}
				got, ok, err := s.StoreGet(ctx, key, storage.From(0))
				if err != nil || !ok || !bytes.Equal(got, value(w, i)) {
					errs <- errors.Newf("read back %q: %v %v", key, ok, err)
					return
				}
				if _, err := s.StoreExists(ctx, fmt.Sprintf("data/c/%d/%d", (w+1)%workers, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("%+v", err)
	}
	id, err := s.Commit(ctx, "parallel", nil)
	mustOK(t, err)
	ro, err := repo.ReadonlySession(ctx, Version{Snapshot: id})
	mustOK(t, err)
	var keys []string
	for w := range workers {
		for i := range perWorker {
			keys = append(keys, fmt.Sprintf("data/c/%d/%d", w, i))
		}
	}
	res, err := ro.StoreGetMany(ctx, keys, nil)
	mustOK(t, err)
	for j, r := range res {
		w, i := j/perWorker, j%perWorker
		if r.Err != nil || !r.Found || !bytes.Equal(r.Data, value(w, i)) {
			t.Fatalf("%q after commit: %v %v", keys[j], r.Found, r.Err)
		}
	}
	got := collect(t, ro.StoreListPrefix(ctx, "data/c/"))
	wantKeys(t, "chunks after commit", got, keys...)
	wantKeys(t, "list dir data/c/", collect(t, ro.StoreListDir(ctx, "data/c")), func() []string {
		var out []string
		for w := range workers {
			out = append(out, fmt.Sprint(w))
		}
		return out
	}()...)
}

// A group's directory lists from the nodes alone, the same names as
// StoreListDir, without reading storage; any other prefix is declined.
func TestStoreListGroupDir(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	mustOK(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	mustOK(t, err)
	set := func(key string, v []byte) { t.Helper(); mustOK(t, s.StoreSet(ctx, key, v)) }
	set("zarr.json", groupJSON(""))
	set("a/zarr.json", groupJSON(""))
	set("a/b/zarr.json", arrayJSON([]int{4, 4}, []int{2, 2}, "default", ""))
	set("a/b/c/0/0", []byte("1"))
	set("a/g/zarr.json", groupJSON(""))
	set("x/y/zarr.json", groupJSON("")) // x is only a prefix
	_, err = s.Commit(ctx, "tree", nil)
	mustOK(t, err)

	// A session restored from bytes reads its base once, in LoadBase.
	b, err := s.Repository().WritableSession(ctx, MainBranch)
	mustOK(t, err)
	raw, err := b.Bytes(ctx)
	mustOK(t, err)
	restored, err := repo.SessionFromBytes(raw)
	mustOK(t, err)
	mustOK(t, restored.LoadBase(ctx))
	counting.Reset()
	for _, prefix := range []string{"", "/", "a", "a/", "a/g/", "x/y"} {
		names, ok, err := restored.StoreListGroupDir(ctx, prefix)
		mustOK(t, err)
		if !ok {
			t.Fatalf("%q: declined, want the group's names", prefix)
		}
		want := prefix
		if want == "/" {
			want = ""
		}
		slices.Sort(names)
		wantKeys(t, "list group dir "+prefix, names, collect(t, restored.StoreListDir(ctx, want))...)
	}
	for _, prefix := range []string{"a/b", "a/b/c", "x", "nope/", "/a", "a//g"} {
		if names, ok, err := restored.StoreListGroupDir(ctx, prefix); ok || err != nil {
			t.Fatalf("%q: got %v %v %v, want it declined", prefix, names, ok, err)
		}
	}
	if ops := counting.Counts().Ops; len(ops) != 0 {
		t.Fatalf("listing group directories read storage: %v", ops)
	}
}
