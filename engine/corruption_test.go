package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// Every kind of metadata file the engine stores, with a byte flipped at
// several places, fails its read with codec.ErrCorrupt and a message naming
// the object; nothing panics and nothing reads silently wrong.
func TestCorruptionIsDetected(t *testing.T) {
	ctx := context.Background()
	store := memory.New(t.Name())
	repo, err := Create(ctx, store, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddGroup(ctx, Root, []byte(`{"zarr_format":3,"node_type":"group"}`)))
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{4}, ChunkShape: []uint64{1}}, []byte(`{}`)))
	ok(t, s.SetChunk(ctx, MustPath("/a"), []uint32{0}, make([]byte, 2000)))
	first, err := s.Commit(ctx, "one", nil)
	ok(t, err)
	ok(t, repo.CreateTag(ctx, "v1", first))

	// read exercises the object from a fresh handle, with cold caches.
	reads := map[string]func() error{
		codec.SnapshotsPrefix: func() error {
			r, err := Open(ctx, store, nil)
			if err != nil {
				return err
			}
			_, err = r.ReadonlySession(ctx, Version{Snapshot: first})
			return err
		},
		codec.ManifestsPrefix: func() error {
			r, err := Open(ctx, store, nil)
			if err != nil {
				return err
			}
			rs, err := r.ReadonlySession(ctx, Version{Snapshot: first})
			if err != nil {
				return err
			}
			_, _, err = rs.GetChunk(ctx, MustPath("/a"), []uint32{0}, storage.From(0))
			return err
		},
		codec.TransactionsPrefix: func() error {
			r, err := Open(ctx, store, nil)
			if err != nil {
				return err
			}
			info, err := r.SnapshotInfo(ctx, first)
			if err != nil {
				return err
			}
			_, err = r.Diff(ctx, Version{Snapshot: info.ParentID}, Version{Snapshot: first})
			return err
		},
		codec.ConfigKey: func() error {
			_, err := Open(ctx, store, nil)
			return err
		},
		"refs/branch.": func() error {
			// A damaged main still opens (its tags and other branches
			// read); using main reports the damage.
			r, err := Open(ctx, store, nil)
			if err != nil {
				return err
			}
			_, err = r.LookupBranch(ctx, MainBranch)
			return err
		},
		"refs/tag.": func() error {
			r, err := Open(ctx, store, nil)
			if err != nil {
				return err
			}
			_, err = r.LookupTag(ctx, "v1")
			return err
		},
	}
	var keys []string
	for info, err := range store.List(ctx, "", storage.ListOptions{}) {
		ok(t, err)
		keys = append(keys, info.Key)
	}
	tested := map[string]bool{}
	for _, key := range keys {
		var kind string
		for prefix := range reads {
			if strings.HasPrefix(key, prefix) {
				kind = prefix
			}
		}
		if kind == "" || strings.HasSuffix(key, "/deleted") {
			continue
		}
		// Only objects on the read path: the tested commit's snapshot and
		// transaction log, and the branch's head entry (listed first).
		switch {
		case kind == codec.SnapshotsPrefix && key != codec.SnapshotKey(first),
			kind == codec.TransactionsPrefix && key != codec.TransactionLogKey(first),
			kind == "refs/branch." && tested[kind]:
			continue
		}
		orig, err := store.Get(ctx, key)
		ok(t, err)
		ok(t, reads[kind]())
		tested[kind] = true
		for _, pos := range []int{0, 9, len(orig) / 3, len(orig) / 2, len(orig) - 1} {
			bad := append([]byte(nil), orig...)
			bad[pos] ^= 0x5a
			ok(t, store.Put(ctx, key, bad))
			err := reads[kind]()
			if !errors.Is(err, codec.ErrCorrupt) {
				t.Fatalf("%s: byte %d flipped: want ErrCorrupt, got %v", key, pos, err)
			}
			if !strings.Contains(err.Error(), key) && !strings.Contains(err.Error(), strings.TrimPrefix(key, kind)) {
				t.Fatalf("%s: the error does not name the object: %v", key, err)
			}
		}
		// Truncated too.
		ok(t, store.Put(ctx, key, orig[:len(orig)/2]))
		if err := reads[kind](); !errors.Is(err, codec.ErrCorrupt) {
			t.Fatalf("%s truncated: want ErrCorrupt, got %v", key, err)
		}
		ok(t, store.Put(ctx, key, orig))
	}
	for kind := range reads {
		if !tested[kind] {
			t.Errorf("no object of kind %s was tested", kind)
		}
	}
}
