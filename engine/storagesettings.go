package engine

import (
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// The repository config's storage settings (codec.StorageSettings) act on
// the handle's own layer over its storage: the retry policy of its
// storage.Retrying, and the storage class each write asks for. Both follow
// the config in force, so SaveConfig and UseConfig change them at once.

// classedStore writes every object with the storage class the config in
// force names for its kind (chunk objects or metadata). Embedding the
// Retrying store keeps its optional interfaces (parts, pieces, ranges,
// server clock, hints) visible to the engine.
type classedStore struct {
	*storage.Retrying
	settings func() *codec.StorageSettings
}

// classed returns ctx asking for the class of key's kind. Without storage
// settings (the usual case) ctx is returned as it is: every write passes
// here.
func (s *classedStore) classed(ctx context.Context, key string) context.Context {
	settings := s.settings()
	if settings == nil {
		return ctx
	}
	return storage.WithStorageClass(ctx, settings.ClassFor(strings.HasPrefix(key, codec.ChunksPrefix)))
}

// Put implements storage.Storage. An object of at least the settings'
// multipart size goes up as a multipart upload where the storage takes
// them (see PutParts).
func (s *classedStore) Put(ctx context.Context, key string, data []byte) error {
	if s.multipart(int64(len(data))) {
		return s.putMultipart(ctx, key, [][]byte{data})
	}
	return s.Retrying.Put(s.classed(ctx, key), key, data)
}

// multipart reports whether an object of size bytes is written as a
// multipart upload: the storage takes them (S3) and size reaches
// codec.StorageSettings.MultipartMin.
func (s *classedStore) multipart(size int64) bool {
	return size >= s.settings().MultipartMin() && s.Retrying.UploadPartBytes() > 0
}

// putMultipart writes parts as one multipart upload: each part is its own
// request, retried on its own and counted against the request bound, at
// most max_concurrent_requests_for_object of them at once (the bound on
// one object's reads, ReadParts).
func (s *classedStore) putMultipart(ctx context.Context, key string, parts [][]byte) error {
	return storage.PutMultipart(s.classed(ctx, key), s.Retrying, key, parts, s.settings().RequestsForObject())
}

// PutIfAbsent implements storage.Storage. Under the unsafe setting for
// stores without create-only writes (UnsafeNoConditionalCreate) it checks
// that key is absent, writes it plainly and reads it back, so that a
// writer that lost a race it can see loses with ErrPreconditionFailed; a
// racing write that lands after the read-back goes unnoticed.
func (s *classedStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	ctx = s.classed(ctx, key)
	if settings := s.settings(); settings == nil || !settings.UnsafeNoConditionalCreate {
		return s.Retrying.PutIfAbsent(ctx, key, data)
	}
	if _, err := s.Retrying.Stat(ctx, key); err == nil {
		return storage.PreconditionFailed(s, key)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err := s.Retrying.Put(ctx, key, data); err != nil {
		return err
	}
	stored, err := s.Retrying.Get(ctx, key)
	if err != nil {
		return storage.Indeterminate(errors.Wrapf(err, "%s: cannot tell whether the write of %q won", s, key))
	}
	if !bytes.Equal(stored, data) {
		return storage.PreconditionFailed(s, key)
	}
	return nil
}

// PutParts implements storage.PartsPutter; as Put, a large object is a
// multipart upload where the storage takes them.
func (s *classedStore) PutParts(ctx context.Context, key string, parts [][]byte) error {
	if s.multipart(int64(storage.PartsLen(parts))) {
		return s.putMultipart(ctx, key, parts)
	}
	return s.Retrying.PutParts(s.classed(ctx, key), key, parts)
}

// PutPiece implements storage.PieceWriter.
func (s *classedStore) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	return s.Retrying.PutPiece(s.classed(ctx, key), key, offset, data)
}

// ReadRange implements storage.RangeReader. A read the settings split
// (codec.StorageSettings.ReadParts) runs as that many ranged reads of
// nearly equal size at once, each retried and counted against the
// handle's request bound on its own, so that one large chunk is not held
// to one connection's speed. The first part to fail cancels the rest, and
// its error is the read's.
func (s *classedStore) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return readSplit(ctx, s.settings(), offset, dst, func(ctx context.Context, offset int64, dst []byte) error {
		return s.Retrying.ReadRange(ctx, key, offset, dst)
	})
}

// readSplit fills dst from offset on with read, in the parts settings
// split a read of its size into (codec.StorageSettings.ReadParts): nearly
// equal, all at once. The first part to fail cancels the rest, and its
// error is the read's.
func readSplit(ctx context.Context, settings *codec.StorageSettings, offset int64, dst []byte, read func(ctx context.Context, offset int64, dst []byte) error) error {
	n := settings.ReadParts(len(dst))
	if n <= 1 {
		return read(ctx, offset, dst)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		lo, hi := len(dst)*i/n, len(dst)*(i+1)/n
		g.Go(func() error { return read(gctx, offset+int64(lo), dst[lo:hi]) })
	}
	return g.Wait()
}

// DefaultStorageSettings is what a repository without storage settings
// does, every field filled in: the retry policy of
// storage.DefaultRetryPolicy and the split of large reads of
// codec.StorageSettings.ReadParts. The same for every kind of storage.
func DefaultStorageSettings() codec.StorageSettings {
	p := storage.DefaultRetryPolicy
	return codec.StorageSettings{
		RetryMaxTries:                  uint32(p.MaxAttempts),
		RetryInitialBackoffMS:          uint32(p.BaseDelay / time.Millisecond),
		RetryMaxBackoffMS:              uint32(p.MaxDelay / time.Millisecond),
		MaxConcurrentRequestsForObject: codec.DefaultConcurrentRequestsForObject,
		IdealConcurrentRequestSize:     codec.DefaultIdealConcurrentRequestSize,
		MinimumSizeForMultipartUpload:  codec.DefaultMinimumSizeForMultipartUpload,
	}
}

// retryPolicy is the policy the settings ask for, each field left unset
// taken from storage.DefaultRetryPolicy.
func retryPolicy(s *codec.StorageSettings) storage.RetryPolicy {
	p := storage.DefaultRetryPolicy
	if s == nil {
		return p
	}
	if s.RetryMaxTries > 0 {
		p.MaxAttempts = int(s.RetryMaxTries)
	}
	if s.RetryInitialBackoffMS > 0 {
		p.BaseDelay = time.Duration(s.RetryInitialBackoffMS) * time.Millisecond
		p.MaxDelay = max(p.MaxDelay, p.BaseDelay)
	}
	if s.RetryMaxBackoffMS > 0 {
		p.MaxDelay = time.Duration(s.RetryMaxBackoffMS) * time.Millisecond
		p.BaseDelay = min(p.BaseDelay, p.MaxDelay)
	}
	return p
}
