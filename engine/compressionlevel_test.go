package engine

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/tinylib/msgp/msgp"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// The config's compression level is the level of the snapshots, manifests
// and transaction logs written from then on (each stored file is its
// value encoded at that level), a handle that knows nothing of the level
// reads them, and manifests, which repeat themselves, get smaller at a
// high level than at the library's own choice.
func TestCompressionLevelFollowsTheConfig(t *testing.T) {
	ctx := context.Background()
	write := func(level uint32) (manifestBytes int) {
		t.Helper()
		store := memory.New(fmt.Sprintf("%s-%d", t.Name(), level))
		repo, err := Create(ctx, store, nil, nil)
		mustOK(t, err)
		// Set on the handle after create: UseConfig takes effect at once.
		use := repo.Config()
		use.CompressionLevel = level
		mustOK(t, repo.UseConfig(use))
		s, err := repo.WritableSession(ctx, MainBranch)
		mustOK(t, err)
		mustOK(t, s.StoreSet(ctx, "zarr.json", groupJSON("")))
		for i := range 200 {
			a := fmt.Sprintf("array_%03d", i)
			mustOK(t, s.StoreSet(ctx, a+"/zarr.json", arrayJSON([]int{4096}, []int{1}, "default", "")))
			for c := range 20 {
				mustOK(t, s.StoreSet(ctx, fmt.Sprintf("%s/c/%d", a, c), []byte(fmt.Sprintf("chunk %d of %s", c, a))))
			}
		}
		id, err := s.Commit(ctx, "many nodes", nil)
		mustOK(t, err)

		// Each file is its value encoded at the level asked for.
		atLevel := func(what, key string, ft codec.FileType, decode func([]byte) (msgp.Marshaler, error)) {
			t.Helper()
			stored, err := store.Get(ctx, key)
			mustOK(t, err)
			v, err := decode(stored)
			mustOK(t, err)
			want, err := codec.EncodeLevel(ft, int(level), v)
			mustOK(t, err)
			if !bytes.Equal(stored, want) {
				t.Fatalf("level %d: the %s is not encoded at that level", level, what)
			}
		}
		atLevel("snapshot", codec.SnapshotKey(id), codec.FileTypeSnapshot, func(b []byte) (msgp.Marshaler, error) {
			return codec.DecodeSnapshot("s", b)
		})
		atLevel("transaction log", codec.TransactionLogKey(id), codec.FileTypeTransactionLog, func(b []byte) (msgp.Marshaler, error) {
			return codec.DecodeTransactionLog("t", b)
		})
		info, err := repo.SnapshotInfo(ctx, id)
		mustOK(t, err)
		for _, m := range info.Manifests {
			atLevel("manifest", codec.ManifestKey(m.ID), codec.FileTypeManifest, func(b []byte) (msgp.Marshaler, error) {
				return codec.DecodeManifest("m", b)
			})
			manifestBytes += int(m.SizeBytes)
		}

		reader, err := Open(ctx, store, nil)
		mustOK(t, err)
		r, err := reader.ReadonlySession(ctx, Version{Snapshot: id})
		mustOK(t, err)
		got, found, err := r.StoreGet(ctx, "array_199/c/19", storage.From(0))
		mustOK(t, err)
		if !found || string(got) != "chunk 19 of array_199" {
			t.Fatalf("level %d: read back %q", level, got)
		}
		return manifestBytes
	}
	auto, dense := write(0), write(19)
	if dense >= auto {
		t.Fatalf("manifests take %d bytes at level 19, %d at the library's choice", dense, auto)
	}
}
