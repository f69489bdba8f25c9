package local

import (
	"context"
	"io"
	"io/fs"
	"os"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// Get implements storage.Storage. It reads the whole object.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	return s.GetRange(ctx, key, storage.From(0))
}

// GetRange implements storage.Storage. It reads only the bytes of r.
//
// Objects are never modified in place (writes replace the file), so an open
// file keeps the value it had when it was opened even if a writer replaces
// the key meanwhile.
func (s *Store) GetRange(ctx context.Context, key string, r storage.ByteRange) ([]byte, error) {
	if err := s.checkKey(ctx, key); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	f, info, err := s.openObject(key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	start, end, err := r.Resolve(info.Size())
	if err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	buf := make([]byte, end-start)
	if err := s.readAt(f, key, buf, start); err != nil {
		return nil, err
	}
	return buf, nil
}

// readAt fills dst from the open object f (of key) at offset. The file was
// checked to be long enough: a short read means it shrank meanwhile.
func (s *Store) readAt(f *os.File, key string, dst []byte, offset int64) error {
	n, err := f.ReadAt(dst, offset)
	if n == len(dst) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errors.Newf("object shrank while being read: got %d of %d bytes at offset %d", n, len(dst), offset)
	}
	return s.wrapErr(err, "read", key, false)
}

// ReadRange implements storage.RangeReader: one pread(2) into dst.
func (s *Store) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return s.ReadRangeIf(ctx, key, offset, dst, storage.ReadCondition{})
}

// ReadRangeIf implements storage.ConditionalRangeReader. The condition is
// checked on the opened file, which keeps the version it was opened with
// (writes replace files, never change them). Files have no entity tags, so
// a condition on one fails.
func (s *Store) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond storage.ReadCondition) error {
	if err := s.checkKey(ctx, key); err != nil {
		return err
	}
	f, info, err := s.openObject(key)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if !cond.IsZero() {
		if err := storage.CheckCondition(s, key, storage.ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, cond); err != nil {
			return err
		}
	}
	if offset < 0 || offset+int64(len(dst)) > info.Size() {
		return storage.ShortObject(s, key, offset, len(dst), info.Size()-offset)
	}
	return s.readAt(f, key, dst, offset)
}

// Stat implements storage.Storage.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := s.checkKey(ctx, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	root, err := s.openRoot()
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if root == nil {
		return storage.ObjectInfo{}, storage.NotFound(s, key)
	}
	info, err := root.Stat(key)
	if err != nil {
		if isNotExist(err) {
			return storage.ObjectInfo{}, storage.NotFound(s, key)
		}
		return storage.ObjectInfo{}, s.wrapErr(err, "stat", key, false)
	}
	if !info.Mode().IsRegular() {
		return storage.ObjectInfo{}, s.notRegular(key, info.Mode())
	}
	return storage.ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// openObject opens the regular file holding key for reading.
func (s *Store) openObject(key string) (*os.File, fs.FileInfo, error) {
	root, err := s.openRoot()
	if err != nil {
		return nil, nil, err
	}
	if root == nil {
		return nil, nil, storage.NotFound(s, key)
	}
	// openReadFlags keeps a planted named pipe from blocking the open.
	f, err := root.OpenFile(key, os.O_RDONLY|openReadFlags, 0)
	if err != nil {
		if isNotExist(err) {
			return nil, nil, storage.NotFound(s, key)
		}
		return nil, nil, s.wrapErr(err, "open", key, false)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, s.wrapErr(err, "stat", key, false)
	}
	if !info.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, s.notRegular(key, info.Mode())
	}
	return f, info, nil
}
