package codec

import (
	"math"
	"slices"
	"testing"
)

// A config with manifest rules survives the file, nested conditions and
// bounds included, and a config without them encodes without the key.
func TestManifestConfigRoundTrip(t *testing.T) {
	ten := uint64(10)
	c := DefaultRepoConfig()
	c.Manifest = &ManifestConfig{
		Preload: &ManifestPreload{MaxTotalRefs: &ten, If: &Condition{Op: "or", Of: []Condition{
			{Op: "name_matches", Regex: "^time$"},
			{Op: "and", Of: []Condition{{Op: "path_matches", Regex: "/coords/"}, {Op: "num_refs", From: &ten}}},
		}}},
		Splitting: []ManifestSplit{{If: Condition{Op: "any_array"}, Dims: []DimSplit{
			{Kind: DimName, Regex: "time", Chunks: 24}, {Kind: DimAxis, Axis: 2, Chunks: 3}, {Kind: DimAny, Chunks: 1},
		}}},
	}
	data, err := EncodeRepoConfig(&c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRepoConfig("config.msgp", data)
	if err != nil {
		t.Fatal(err)
	}
	if !equalValues(got, &c) {
		t.Fatalf("got %+v, want %+v", got.Manifest, c.Manifest)
	}
	plain := DefaultRepoConfig()
	withNil, err := EncodeRepoConfig(&plain)
	if err != nil {
		t.Fatal(err)
	}
	plain.Manifest = nil
	if again, _ := EncodeRepoConfig(&plain); !slices.Equal(again, withNil) {
		t.Fatal("a nil manifest config changes the file")
	}
}

// SplitFor takes the first rule matching the array and, per dimension, the
// first entry matching it; unnamed dimensions match no name, and a
// dimension nothing matches is not split.
func TestSplitFor(t *testing.T) {
	m := &ManifestConfig{Splitting: []ManifestSplit{
		{If: Condition{Op: "name_matches", Regex: "^u$"}, Dims: []DimSplit{{Kind: DimAny, Chunks: 7}}},
		{If: Condition{Op: "path_matches", Regex: "^/ocean/"}, Dims: []DimSplit{
			{Kind: DimName, Regex: "^lon", Chunks: 3}, {Kind: DimAxis, Axis: 1, Chunks: 2}, {Kind: DimAxis, Axis: 1, Chunks: 9},
		}},
	}}
	cases := []struct {
		path  string
		names []string
		want  []uint32
		ok    bool
	}{
		{"/ocean/u", []string{"t", "y"}, []uint32{7, 7}, true},
		{"/ocean/temp", []string{"time", "lat", "longitude"}, []uint32{math.MaxUint32, 2, 3}, true},
		{"/ocean/temp", []string{"", "", ""}, []uint32{math.MaxUint32, 2, math.MaxUint32}, true},
		{"/air/temp", []string{"time"}, nil, false},
	}
	for _, c := range cases {
		got, ok := m.SplitFor(c.path, c.names)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("SplitFor(%s, %q) = %v, %v; want %v, %v", c.path, c.names, got, ok, c.want, c.ok)
		}
	}
	var none *ManifestConfig
	if _, ok := none.SplitFor("/a", []string{""}); ok {
		t.Error("a nil config split an array")
	}
}

// Conditions: name_matches sees the last name only, num_refs is from
// inclusive and to exclusive, and empty and/or are true and false.
func TestConditionMatches(t *testing.T) {
	two, five := uint64(2), uint64(5)
	cases := []struct {
		c    Condition
		path string
		refs uint64
		want bool
	}{
		{Condition{Op: "name_matches", Regex: "^b$"}, "/a/b", 0, true},
		{Condition{Op: "name_matches", Regex: "^a"}, "/a/b", 0, false},
		{Condition{Op: "path_matches", Regex: "^/a/"}, "/a/b", 0, true},
		{Condition{Op: "num_refs", From: &two, To: &five}, "/x", 2, true},
		{Condition{Op: "num_refs", From: &two, To: &five}, "/x", 5, false},
		{Condition{Op: "num_refs", To: &five}, "/x", 0, true},
		{Condition{Op: "and"}, "/x", 0, true},
		{Condition{Op: "or"}, "/x", 0, false},
		{Condition{Op: "false"}, "/x", 0, false},
	}
	for _, c := range cases {
		if got := c.c.Matches(c.path, c.refs); got != c.want {
			t.Errorf("%+v on %s with %d refs: %v, want %v", c.c, c.path, c.refs, got, c.want)
		}
	}
}
