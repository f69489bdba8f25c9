//go:build linux

package local

import (
	"crypto/rand"
	"os"
	"path"
	"runtime"
	"strconv"

	"github.com/cockroachdb/errors"
	"golang.org/x/sys/unix"
)

// On Linux a write creates its file without a name (open(2) with
// O_TMPFILE) and names it with one linkat(2) once the data is in. Against a
// named staging file renamed over the key, that is one directory entry
// changed instead of three, no lock held on the staging directory while the
// filesystem allocates the inode, and no cross-directory rename (which
// takes a filesystem-wide lock). Bulk chunk writes cost half the CPU. A
// crash before the link leaves nothing behind: the filesystem frees an
// unnamed file when its last descriptor goes.

// probeUnnamed reports whether the filesystem under root supports unnamed
// files that can be linked into place: O_TMPFILE needs filesystem support,
// and linking one by descriptor needs /proc mounted.
func probeUnnamed(root *os.Root) bool {
	f, err := root.OpenFile(tmpDir, unix.O_TMPFILE|os.O_WRONLY, filePerm)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	dir, err := root.Open(tmpDir)
	if err != nil {
		return false
	}
	defer func() { _ = dir.Close() }()
	name := "probe-" + rand.Text()
	if err := linkUnnamed(f, dir, name); err != nil {
		return false
	}
	_ = root.Remove(tmpDir + "/" + name)
	return true
}

// putUnnamed writes parts, one after the other, as a new unnamed file and
// links it at key. When exclusive is set the link fails if key exists
// (PutIfAbsent); otherwise an existing key is replaced atomically (Put,
// PutParts). With durable set, the file is fsynced before it gets its name
// and the key's directory after.
func (s *Store) putUnnamed(key string, parts [][]byte, durable, exclusive bool) error {
	opName := "put"
	if exclusive {
		opName = "put-if-absent"
	}
	var f *os.File
	err := s.inStaging(func() (err error) {
		f, err = s.dir().OpenFile(tmpDir, unix.O_TMPFILE|os.O_WRONLY, filePerm)
		return err
	})
	if err != nil {
		return s.wrapErr(errors.Wrapf(err, "creating an unnamed file in %s", s.path(tmpDir)), opName, key, false)
	}
	defer func() { _ = f.Close() }()
	if err := writeData(f, parts, durable); err != nil {
		return s.wrapErr(errors.Wrapf(err, "writing an unnamed file in %s", s.path(tmpDir)), opName, key, false)
	}
	err = s.place(key, opName, func() error {
		err := s.linkAt(f, key)
		if exclusive || !isErrno(err, errEEXIST) {
			return err
		}
		return s.replaceWith(f, key)
	})
	if err != nil {
		return err
	}
	if durable {
		return s.syncParent(key, opName)
	}
	return nil
}

// linkAt gives the unnamed file f the name key. The key's directory is
// opened through the root, so the name cannot land outside it, and linkat
// does not follow a symbolic link at the name itself (it fails with EEXIST).
func (s *Store) linkAt(f *os.File, key string) error {
	dir, err := s.dir().Open(parentDir(key))
	if err != nil {
		return err
	}
	defer func() { _ = dir.Close() }()
	return linkUnnamed(f, dir, path.Base(key))
}

// replaceWith puts the unnamed file f over the existing key: it names f in
// the staging directory, then renames that name over the key, which
// replaces the old object atomically.
func (s *Store) replaceWith(f *os.File, key string) error {
	name := tmpDir + "/" + rand.Text()
	if err := s.inStaging(func() error { return s.linkAt(f, name) }); err != nil {
		return err
	}
	if err := s.dir().Rename(name, key); err != nil {
		s.removeTemp(name)
		return err
	}
	return nil
}

// linkUnnamed links the open file f as name in the directory dir, through
// its /proc/self/fd entry (linkat with AT_EMPTY_PATH would need a
// privilege).
func linkUnnamed(f, dir *os.File, name string) error {
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	dirFD := int(dir.Fd())
	var err error
	for {
		err = unix.Linkat(unix.AT_FDCWD, src, dirFD, name, unix.AT_SYMLINK_FOLLOW)
		if err != unix.EINTR {
			break
		}
	}
	runtime.KeepAlive(f)
	runtime.KeepAlive(dir)
	if err != nil {
		return &os.LinkError{Op: "link", Old: src, New: name, Err: err}
	}
	return nil
}
