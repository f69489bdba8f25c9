package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Commit metadata keeps large integers exactly (a float64 would not).
func TestCommitMetadataKeepsLargeIntegers(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddGroup(ctx, Root, nil))
	id, err := s.Commit(ctx, "m", map[string]any{"run": json.Number("1234567890123456789")})
	ok(t, err)
	info, err := repo.SnapshotInfo(ctx, id)
	ok(t, err)
	if got := info.Metadata["run"]; got != json.Number("1234567890123456789") {
		t.Fatalf("metadata run = %#v", got)
	}
	// A bad tag name is reported as such, even for a missing snapshot.
	if err := repo.CreateTag(ctx, "bad/name", [12]byte{1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("want ErrInvalidArgument, got %v", err)
	}
}

// A saved config is in force on the handle that saved it.
func TestSaveConfigAppliesToThisHandle(t *testing.T) {
	ctx := context.Background()
	repo, err := Create(ctx, memory.New(t.Name()), nil, nil)
	ok(t, err)
	cfg := repo.Config()
	cfg.InlineChunkThreshold = 8
	ok(t, repo.SaveConfig(ctx, cfg))
	if repo.Config().InlineChunkThreshold != 8 {
		t.Fatal("config not in force on this handle")
	}
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ref, err := s.WriteChunk(ctx, make([]byte, 100))
	ok(t, err)
	if ref.Kind == codec.ChunkInline {
		t.Fatal("a 100-byte chunk was inlined with an 8-byte threshold")
	}
}
