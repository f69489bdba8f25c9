package storagetest

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
)

// testMultipart checks the MultipartUploader contract on backends that
// take multipart uploads, and PutMultipart through a Retrying layer.
func testMultipart(t *testing.T, b Backend) {
	ctx := context.Background()
	s := open(t, b, b.Fresh(t))
	partBytes := storage.UploadPartBytes(s)
	if partBytes == 0 {
		t.Skipf("%s takes no multipart uploads", b.Name)
	}
	u := s.(storage.MultipartUploader)
	data := patterned(2*partBytes + 1000)
	p1, p2, p3 := data[:partBytes], data[partBytes:2*partBytes], data[2*partBytes:]

	t.Run("Parts", func(t *testing.T) {
		id, err := u.StartUpload(ctx, "mp/a")
		must(t, err)
		// Out of order, split across buffers, one part sent twice.
		tag3, err := u.UploadPart(ctx, "mp/a", id, 3, [][]byte{p3[:10], p3[10:]})
		must(t, err)
		_, err = u.UploadPart(ctx, "mp/a", id, 1, [][]byte{bytes.Repeat([]byte{'x'}, partBytes)})
		must(t, err)
		buf := slices.Clone(p1)
		tag1, err := u.UploadPart(ctx, "mp/a", id, 1, [][]byte{buf})
		must(t, err)
		clear(buf) // the part is not read from the caller's memory after it returned
		tag2, err := u.UploadPart(ctx, "mp/a", id, 2, [][]byte{p2})
		must(t, err)
		if _, err := s.Stat(ctx, "mp/a"); err == nil {
			t.Fatalf("an upload's object is visible before it is completed")
		} else {
			wantIs(t, err, storage.ErrNotFound)
		}
		must(t, u.CompleteUpload(ctx, "mp/a", id, []string{tag1, tag2, tag3}))
		wantGet(t, s, "mp/a", data)
		wantIs(t, u.CompleteUpload(ctx, "mp/a", id, []string{tag1, tag2, tag3}), storage.ErrUploadGone)
		must(t, u.AbortUpload(ctx, "mp/a", id)) // gone: not an error
	})

	t.Run("Abort", func(t *testing.T) {
		id, err := u.StartUpload(ctx, "mp/b")
		must(t, err)
		tag, err := u.UploadPart(ctx, "mp/b", id, 1, [][]byte{p3})
		must(t, err)
		must(t, u.AbortUpload(ctx, "mp/b", id))
		wantIs(t, u.CompleteUpload(ctx, "mp/b", id, []string{tag}), storage.ErrUploadGone)
		_, err = s.Stat(ctx, "mp/b")
		wantIs(t, err, storage.ErrNotFound)
	})

	t.Run("PutMultipart", func(t *testing.T) {
		r := storage.NewRetrying(s, storage.DefaultRetryPolicy)
		must(t, r.Put(ctx, "mp/c", []byte("an older value")))
		parts := [][]byte{slices.Clone(data[:100]), slices.Clone(data[100 : partBytes+5]), slices.Clone(data[partBytes+5:])}
		must(t, storage.PutMultipart(ctx, r, "mp/c", parts, 2))
		for _, p := range parts {
			clear(p)
		}
		wantGet(t, s, "mp/c", data)

		// A storage without multipart uploads is refused by name.
		err := storage.PutMultipart(ctx, storage.NewRetrying(storage.Storage(plain{s}), storage.DefaultRetryPolicy), "mp/d", parts, 2)
		wantIs(t, err, storage.ErrDeterminate)
	})
}

// plain hides a storage's optional interfaces.
type plain struct{ storage.Storage }
