package local

import (
	"context"
	"crypto/rand"
	"os"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// maxPlaceAttempts bounds how often a write retries after its directory was
// removed under it by a concurrent Delete pruning empty directories.
const maxPlaceAttempts = 100

// BulkWrite implements storage.BulkWriter: files of 1 MiB, five at a
// time. Writes of 2 MiB and more into the page cache measured slower per
// byte (large page-cache folios) than the same bytes in smaller files,
// while each file costs an inode allocation, which ext4 makes slow right
// after a large delete; 1 MiB measured best between the two. Several
// writers keep the disk's queue full.
func (s *Store) BulkWrite() (int, int) { return 1 << 20, 5 }

// Put implements storage.Storage.
//
// The data goes to a new file first, which then takes the key's name (see
// the package comment): readers see the old or the new value, never a torn
// one. On Linux the file and its directory are not fsynced here: the value
// is durable once Sync returns (one syncfs(2) for any number of writes),
// which is what makes bulk chunk writes fast. Elsewhere Put fsyncs the file
// before naming it and the directory after. A failure before the file is
// named is determinate (the key is untouched); a failed fsync after it is
// indeterminate.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, key, [][]byte{data})
}

// PutParts implements storage.PartsPutter. It is Put with the new file
// written from each part in turn, so the parts are never copied into one
// buffer; durability and errors are those of Put.
func (s *Store) PutParts(ctx context.Context, key string, parts [][]byte) error {
	return s.put(ctx, key, parts)
}

// put stores the concatenation of parts at key, as Put describes.
func (s *Store) put(ctx context.Context, key string, parts [][]byte) error {
	if err := s.checkKey(ctx, key); err != nil {
		return err
	}
	if err := s.prepare(); err != nil {
		return err
	}
	if s.unnamed {
		return s.putUnnamed(key, parts, !lazyPut, false)
	}
	tmp, err := s.writeTemp(key, parts, !lazyPut)
	if err != nil {
		return err
	}
	err = s.place(key, "put", func() error { return s.dir().Rename(tmp, key) })
	if err != nil {
		s.removeTemp(tmp)
		return err
	}
	if lazyPut {
		return nil
	}
	return s.syncParent(key, "put")
}

// Sync implements storage.Storage: every write that returned before it is
// durable when it returns. On Linux it is one syncfs(2) of the filesystem
// holding the root.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return storage.Determinate(err)
	}
	root := s.dir()
	if root == nil {
		return nil // nothing was written through this store
	}
	if err := syncFilesystem(root); err != nil {
		return storage.Indeterminate(errors.Wrapf(err, "%s: syncing the filesystem", s))
	}
	return nil
}

// PutIfAbsent implements storage.Storage.
//
// The data goes to a new, fsynced file (unnamed on Linux, else in the
// staging directory), which is then hard-linked to the key: link(2) and
// linkat(2) fail with EEXIST when the key exists, atomically, also across OS
// processes. A staging name is unlinked and the key's directory fsynced
// afterwards.
func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := s.checkKey(ctx, key); err != nil {
		return err
	}
	if err := s.prepare(); err != nil {
		return err
	}
	if s.unnamed {
		return s.putUnnamed(key, [][]byte{data}, true, true)
	}
	tmp, err := s.writeTemp(key, [][]byte{data}, true)
	if err != nil {
		return err
	}
	err = s.place(key, "put-if-absent", func() error { return s.dir().Link(tmp, key) })
	s.removeTemp(tmp)
	if err != nil {
		return err
	}
	return s.syncParent(key, "put-if-absent")
}

// writeTemp writes parts, one after the other, to a new file in the staging
// directory, fsyncs it if durable is set, closes it, and returns its name
// relative to the root. Errors are determinate: nothing is visible under key
// yet.
func (s *Store) writeTemp(key string, parts [][]byte, durable bool) (string, error) {
	name := tmpDir + "/" + rand.Text()
	var f *os.File
	err := s.inStaging(func() (err error) {
		f, err = s.dir().OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		return err
	})
	if err != nil {
		return "", s.wrapErr(errors.Wrapf(err, "creating temporary file %s", s.path(name)), "write", key, false)
	}
	err = writeData(f, parts, durable)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.removeTemp(name)
		return "", s.wrapErr(errors.Wrapf(err, "writing temporary file %s", s.path(name)), "write", key, false)
	}
	return name, nil
}

// inStaging runs op, which creates something in the staging directory, and
// if op finds the directory missing (someone removed it), makes it again
// and runs op once more.
func (s *Store) inStaging(op func() error) error {
	err := op()
	if err != nil && errors.Is(err, os.ErrNotExist) {
		if err := s.ensureTmpDir(); err != nil {
			return err
		}
		err = op()
	}
	return err
}

// writeData writes parts, one after the other, to the new file f, then
// fsyncs it if durable is set, or else starts its writeback (see
// startWriteback).
func writeData(f *os.File, parts [][]byte, durable bool) error {
	size := storage.PartsLen(parts)
	if size > 0 {
		if err := writeParts(f, parts); err != nil {
			return err
		}
	}
	if durable {
		return f.Sync()
	}
	startWriteback(f, size)
	return nil
}

// removeTemp removes a staging file, best effort: a leftover is garbage in
// the staging directory, never an object.
func (s *Store) removeTemp(name string) { _ = s.dir().Remove(name) }

// ensureTmpDir creates the staging directory if needed and checks that it is
// a real directory (not a symbolic link into the key space).
func (s *Store) ensureTmpDir() error {
	err := s.dir().Mkdir(tmpDir, dirPerm)
	if err != nil && !errors.Is(err, os.ErrExist) {
		return storage.Determinate(errors.Wrapf(err, "%s: creating staging directory %s", s, s.path(tmpDir)))
	}
	info, err := s.dir().Lstat(tmpDir)
	if err != nil {
		return storage.Determinate(errors.Wrapf(err, "%s: checking staging directory %s", s, s.path(tmpDir)))
	}
	if !info.IsDir() {
		return storage.Determinate(errors.Newf("%s: staging path %s is not a directory", s, s.path(tmpDir)))
	}
	return nil
}

// place runs op, which renames or links a staging file to key, creating the
// key's parent directories when they are missing. A concurrent Delete may
// remove a directory between its creation and op, so place retries.
//
// When op fails with EEXIST, place reports ErrPreconditionFailed, unless the
// key is a directory (a layout conflict). Other failures of op are
// determinate when the errno says the call did nothing, indeterminate when it
// is unknown.
func (s *Store) place(key, opName string, op func() error) error {
	var err error
	for range maxPlaceAttempts {
		err = op()
		switch {
		case err == nil:
			return nil
		case isErrno(err, errENOENT):
			// A parent directory is missing (never made, or pruned by a
			// concurrent Delete): make it and try again.
			if derr := s.ensureDir(parentDir(key)); derr != nil {
				return s.dirErr(derr, opName, key)
			}
			continue
		case isErrno(err, errENOTDIR):
			return s.conflictErr(err, opName, key)
		case isErrno(err, errEEXIST), isErrno(err, errENOTEMPTY), isErrno(err, errEISDIR):
			if info, lerr := s.dir().Lstat(key); lerr == nil && info.IsDir() {
				return s.conflictErr(err, opName, key)
			}
			return storage.PreconditionFailed(s, key)
		default:
			return s.wrapErr(err, opName, key, !opDidNothing(err))
		}
	}
	return s.wrapErr(errors.Wrapf(err, "parent directory kept vanishing after %d attempts", maxPlaceAttempts), opName, key, false)
}

// dirErr classifies a failure to create the parent directories of key; the
// key is untouched, so it is determinate.
func (s *Store) dirErr(err error, opName, key string) error {
	if isErrno(err, errENOTDIR) || isErrno(err, errEEXIST) {
		return s.conflictErr(err, opName, key)
	}
	return s.wrapErr(errors.Wrap(err, "creating parent directories"), opName, key, false)
}

// ensureDir creates dir (slash-separated, relative to the root) and its
// missing parents, and fsyncs the parent of each directory it creates. It
// tolerates concurrent creators (EEXIST) and concurrent pruning (a parent
// vanishing between two mkdirs restarts the walk).
func (s *Store) ensureDir(dir string) error {
	if dir == "." {
		return nil
	}
	var err error
	for range maxPlaceAttempts {
		var created []string
		err = nil
		for i := 0; i <= len(dir); i++ {
			if i < len(dir) && dir[i] != '/' {
				continue
			}
			p := dir[:i]
			if merr := s.dir().Mkdir(p, dirPerm); merr == nil {
				created = append(created, p)
			} else if !errors.Is(merr, os.ErrExist) {
				err = merr
				break
			}
		}
		if err != nil && isErrno(err, errENOENT) {
			continue // a parent was pruned under us; start over
		}
		if err != nil {
			return err
		}
		for _, p := range created {
			if serr := s.syncDir(parentDir(p)); serr != nil && !isNotExist(serr) {
				return errors.Wrapf(serr, "fsync of the parent of new directory %s", s.path(p))
			}
		}
		return nil
	}
	return errors.Wrapf(err, "directory %s kept vanishing after %d attempts", s.path(dir), maxPlaceAttempts)
}

// syncParent fsyncs the directory holding key after a rename or link into it.
// The object is already visible, so a failure is indeterminate. If the
// directory is gone, a concurrent Delete removed the object after it was
// written, and there is nothing left to make durable.
func (s *Store) syncParent(key, opName string) error {
	err := s.syncDir(parentDir(key))
	if err == nil || isNotExist(err) {
		return nil
	}
	return s.wrapErr(errors.Wrapf(err, "fsync of directory %s", s.path(parentDir(key))), opName, key, true)
}
