package storage

import (
	"context"
	"log/slog"
	"time"

	"github.com/cockroachdb/errors"
	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/logs"
)

// ErrUploadGone marks the failure of an upload call whose multipart upload
// no longer exists: it was completed (by an earlier try whose answer was
// lost) or aborted.
var ErrUploadGone = errors.New("multipart upload not found")

// MultipartUploader is implemented by a Storage that can build one object
// from parts uploaded separately and then joined (S3's multipart upload).
// A large object then goes up as several requests at once, each retried on
// its own, instead of one long request that a failure near its end sends
// again whole. Callers use PutMultipart.
type MultipartUploader interface {
	// UploadPartBytes is the size of part the storage wants (every part
	// but the last at least that large); 0 means it takes no multipart
	// uploads.
	UploadPartBytes() int
	// StartUpload begins an upload of the object at key and returns its
	// id. Nothing is visible at key before CompleteUpload.
	StartUpload(ctx context.Context, key string) (uploadID string, err error)
	// UploadPart sends part number n (1 to MaxUploadParts) of the upload:
	// the concatenation of data. A part sent again replaces the earlier
	// one. It returns the tag CompleteUpload needs for the part. Nothing of
	// data is kept once it returns.
	UploadPart(ctx context.Context, key, uploadID string, n int, data [][]byte) (tag string, err error)
	// CompleteUpload joins the parts, tags[i] being part i+1's, into the
	// object at key, which it replaces atomically as Put does. Once
	// completed or aborted, the upload is gone: calls on it fail with
	// ErrUploadGone.
	CompleteUpload(ctx context.Context, key, uploadID string, tags []string) error
	// AbortUpload drops the upload and the parts sent. An upload already
	// gone is not an error.
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// MaxUploadParts is the most parts one multipart upload may have (S3's
// limit).
const MaxUploadParts = 10000

// uploaderOf returns s as a MultipartUploader, or the error of a storage
// that takes no multipart uploads (key names the object refused).
func uploaderOf(s Storage, key string) (MultipartUploader, error) {
	if u, ok := s.(MultipartUploader); ok && u.UploadPartBytes() > 0 {
		return u, nil
	}
	return nil, Determinate(errors.Newf("%s: cannot put %q in parts (no multipart uploads)", s, key))
}

// UploadPartBytes returns the part size s wants for multipart uploads, 0
// if s takes none.
func UploadPartBytes(s Storage) int {
	if u, ok := s.(MultipartUploader); ok {
		return max(u.UploadPartBytes(), 0)
	}
	return 0
}

// PutMultipart stores the concatenation of parts at key as one multipart
// upload through s (whose UploadPartBytes must be positive): parts of
// UploadPartBytes (larger for objects that would need more than
// MaxUploadParts), at most parallel of them in flight at once. Its
// contract is Put's: the object appears whole or not at all, and nothing
// of parts is kept once it returns. A failure aborts the upload, so that
// no parts are left stored; it is determinate unless the completion's
// outcome is unknown. A completion retried after a lost answer finds the
// upload gone: the object is then looked up, and an object of the right
// size at key is the upload's own.
func PutMultipart(ctx context.Context, s Storage, key string, parts [][]byte, parallel int) error {
	u, err := uploaderOf(s, key)
	if err != nil {
		return err
	}
	size := int64(PartsLen(parts))
	partBytes := max(int64(u.UploadPartBytes()), (size+MaxUploadParts-1)/MaxUploadParts)
	count := max(int((size+partBytes-1)/partBytes), 1)

	id, err := u.StartUpload(ctx, key)
	if err != nil {
		return err
	}
	tags := make([]string, count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i := range count {
		lo := int64(i) * partBytes
		body := sliceParts(parts, lo, min(lo+partBytes, size))
		g.Go(func() (err error) {
			tags[i], err = u.UploadPart(gctx, key, id, i+1, body)
			return err
		})
	}
	err = g.Wait()
	if err == nil {
		err = u.CompleteUpload(ctx, key, id, tags)
		if errors.Is(err, ErrUploadGone) {
			if info, serr := s.Stat(ctx, key); serr == nil && info.Size == size {
				return nil
			}
		}
	}
	if err != nil {
		abortUpload(ctx, u, s, key, id)
		return errors.Wrapf(err, "multipart upload of %q (%d bytes in %d parts)", key, size, count)
	}
	return nil
}

// abortUpload drops a failed upload's parts, even when ctx has ended (a
// cancelled put must not leave parts stored). Its own failure is logged:
// the put has failed already, and a bucket's lifecycle rules can drop
// incomplete uploads.
func abortUpload(ctx context.Context, u MultipartUploader, s Storage, key, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	if err := u.AbortUpload(actx, key, id); err != nil {
		logs.Storage.LogAttrs(ctx, slog.LevelWarn, "cannot abort a failed multipart upload; its parts stay stored until the bucket drops incomplete uploads",
			slog.String("store", s.String()), slog.String("key", key), slog.Any("err", err))
	}
}

// abortTimeout bounds the abort of a failed upload.
const abortTimeout = 30 * time.Second

// sliceParts returns the bytes lo to hi of the concatenation of parts, as
// slices of parts' memory.
func sliceParts(parts [][]byte, lo, hi int64) [][]byte {
	var out [][]byte
	var at int64 // offset of p in the concatenation
	for _, p := range parts {
		end := at + int64(len(p))
		if end > lo && at < hi {
			out = append(out, p[max(lo-at, 0):min(hi-at, int64(len(p)))])
		}
		at = end
		if at >= hi {
			break
		}
	}
	return out
}
