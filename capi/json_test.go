package main

import (
	"testing"

	"github.com/icechunk-go/icechunk-go/codec"
)

// A configuration given as JSON replaces the containers it lists whole: a
// key left out of a container is not taken from the container the base
// had at the same place.
func TestApplyConfigReplacesContainersWhole(t *testing.T) {
	base := codec.DefaultRepoConfig()
	base.VirtualChunkContainers = []codec.VirtualChunkContainer{{
		Name: "a", URLPrefix: "s3://a/", Store: &codec.ObjectStoreConfig{Kind: codec.ObjectStoreS3, Region: "eu-west-1"},
	}}
	got, err := applyConfig(base, `{"virtual_chunk_containers": [{"name": "b", "url_prefix": "s3://b/"}]}`, "config")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.VirtualChunkContainers) != 1 || got.VirtualChunkContainers[0].Store != nil {
		t.Fatalf("containers %+v: want b alone, without a store", got.VirtualChunkContainers)
	}
	if base.VirtualChunkContainers[0].Store == nil {
		t.Fatal("the base config was changed")
	}

	got, err = applyConfig(base, `{"inline_chunk_threshold": 7}`, "config")
	if err != nil {
		t.Fatal(err)
	}
	if got.InlineChunkThreshold != 7 || len(got.VirtualChunkContainers) != 1 || got.VirtualChunkContainers[0].Store.Region != "eu-west-1" {
		t.Fatalf("containers not given must be kept: %+v", got.VirtualChunkContainers)
	}

	got, err = applyConfig(base, `{"virtual_chunk_containers": []}`, "config")
	if err != nil || len(got.VirtualChunkContainers) != 0 {
		t.Fatalf("an empty list removes the containers: %+v, %v", got.VirtualChunkContainers, err)
	}
}
