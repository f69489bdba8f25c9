package local

import (
	"context"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// Delete implements storage.Storage.
//
// All keys are validated before anything is removed. Each object is unlinked
// and its directory fsynced; then the directories the unlink left empty are
// removed, bottom up, best effort, never the root. A writer creating a file
// in a directory being removed retries (see Put), so the two never fail each
// other. Keys naming a directory, or nothing, are absent objects: no error.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := s.checkKey(ctx, key); err != nil {
			return err
		}
	}
	if r, err := s.openRoot(); r == nil {
		return err // no root: nothing to delete
	}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return storage.Determinate(errors.Wrapf(err, "%s: delete %q", s, key))
		}
		if err := s.deleteOne(key); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteOne(key string) error {
	info, err := s.dir().Lstat(key)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return s.wrapErr(err, "delete", key, false)
	}
	if info.IsDir() {
		return nil // a prefix of other objects, not an object
	}
	if err := s.dir().Remove(key); err != nil {
		if isNotExist(err) {
			return nil // deleted concurrently
		}
		return s.wrapErr(err, "delete", key, !opDidNothing(err))
	}
	dir := parentDir(key)
	if err := s.syncDir(dir); err != nil && !isNotExist(err) {
		return s.wrapErr(errors.Wrapf(err, "fsync of directory %s", s.path(dir)), "delete", key, true)
	}
	s.prune(dir)
	return nil
}

// prune removes dir and then its parents while they are empty, stopping at
// the root or at the first directory that is not empty. It only ever removes
// empty directories (rmdir), so it cannot remove an object created
// concurrently, and failures are ignored: an empty directory left behind is
// harmless.
func (s *Store) prune(dir string) {
	for dir != "." {
		err := removeEmptyDir(s.dir(), dir)
		switch {
		case err == nil:
			_ = s.syncDir(parentDir(dir))
		case isErrno(err, errENOENT):
			// Pruned concurrently; its parent may be empty now too.
		default:
			return // not empty (or not removable): stop here
		}
		dir = parentDir(dir)
	}
}
