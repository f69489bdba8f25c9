package memory

import (
	"context"
	"slices"
	"strconv"

	"github.com/cockroachdb/errors"
	"github.com/google/uuid"

	"github.com/icechunk-go/icechunk-go/storage"
)

// uploadPartBytes is the part size of the store's multipart uploads: S3's
// part size, so that large objects take the same path in memory as on S3.
const uploadPartBytes = 8 << 20

// upload is a multipart upload in progress: its parts by number.
type upload struct {
	key   string
	parts map[int][]byte
}

var _ storage.MultipartUploader = (*Store)(nil)

// UploadPartBytes implements storage.MultipartUploader.
func (s *Store) UploadPartBytes() int { return uploadPartBytes }

// StartUpload implements storage.MultipartUploader.
func (s *Store) StartUpload(ctx context.Context, key string) (string, error) {
	if err := s.check(ctx, key); err != nil {
		return "", err
	}
	id := uuid.NewString()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploads == nil {
		s.uploads = map[string]*upload{}
	}
	s.uploads[id] = &upload{key: key, parts: map[int][]byte{}}
	return id, nil
}

// UploadPart implements storage.MultipartUploader. A part's tag is its
// number and length, which CompleteUpload checks.
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, n int, data [][]byte) (string, error) {
	if err := s.check(ctx, key); err != nil {
		return "", err
	}
	if n < 1 || n > storage.MaxUploadParts {
		return "", storage.Determinate(errors.Newf("%s: upload part of %q: part number %d is not in 1..%d", s, key, n, storage.MaxUploadParts))
	}
	part := slices.Concat(data...)
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.uploadLocked(key, uploadID)
	if err != nil {
		return "", err
	}
	u.parts[n] = part
	return partTag(n, len(part)), nil
}

// CompleteUpload implements storage.MultipartUploader.
func (s *Store) CompleteUpload(ctx context.Context, key, uploadID string, tags []string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.uploadLocked(key, uploadID)
	if err != nil {
		return err
	}
	var data []byte
	for i, tag := range tags {
		part, ok := u.parts[i+1]
		if !ok || tag != partTag(i+1, len(part)) {
			return storage.Determinate(errors.Newf("%s: complete multipart upload of %q: part %d was not uploaded with tag %s", s, key, i+1, tag))
		}
		data = append(data, part...)
	}
	delete(s.uploads, uploadID)
	s.setLocked(key, data)
	return nil
}

// AbortUpload implements storage.MultipartUploader.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.uploads[uploadID]; ok && u.key == key {
		delete(s.uploads, uploadID)
	}
	return nil
}

// Uploads returns how many multipart uploads are in progress (neither
// completed nor aborted), for tests that check none is left behind.
func (s *Store) Uploads() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.uploads)
}

// uploadLocked returns key's upload uploadID; s.mu must be held.
func (s *Store) uploadLocked(key, uploadID string) (*upload, error) {
	u, ok := s.uploads[uploadID]
	if !ok || u.key != key {
		return nil, storage.Determinate(errors.Mark(errors.Newf("%s: no multipart upload %s of %q", s, uploadID, key), storage.ErrUploadGone))
	}
	return u, nil
}

func partTag(n, size int) string { return strconv.Itoa(n) + ":" + strconv.Itoa(size) }
