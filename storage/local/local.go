// Package local is a Storage kept in a directory of the local filesystem.
//
// Layout: the object at key "a/b/c" is the regular file <root>/a/b/c.
// Directories are created as writes need them and removed, best effort, when
// a Delete leaves them empty. Writes are staged in <root>/.tmp/, a directory
// no key can name (a key whose first segment is ".tmp" is refused with
// storage.ErrInvalidKey).
//
// The root itself is created by the first write, not by New: a store on a
// directory that does not exist reads as empty and leaves nothing behind, so
// looking for a repository at a mistyped path creates no folders, and a
// store on a read-only filesystem reads without writing anything.
//
// Contract, on top of storage.Storage's:
//
//   - Put writes the data to a new file and only then gives it the key's
//     name: on Linux an unnamed file (O_TMPFILE) linked at the key with
//     linkat(2), or renamed over the key when the key exists; elsewhere, or
//     where the filesystem lacks O_TMPFILE, a named file in the staging
//     directory renamed over the key (rename(2) is atomic). A reader, in
//     this process or another, sees the whole old object or the whole new
//     one, never a torn write. On Linux the value is durable once Sync
//     returns (one syncfs(2) for any number of writes); elsewhere Put
//     fsyncs the file and the key's directory before it returns. PutParts
//     is Put with the file written from each part in turn.
//   - PutPiece (storage.PieceWriter) writes a piece in place at its offset
//     of the named file, created if missing, so that write-behind chunk
//     objects are 4 MiB files built from 1 MiB pieces. It is not atomic: it
//     is only for keys no reader knows until every piece is written.
//   - PutIfAbsent writes and fsyncs a new file the same way, then links it
//     at the key with link(2) or linkat(2), which fail if the name exists.
//     It is therefore create-only and atomic across OS processes sharing the
//     directory, which makes the store safe for concurrent writers (branch
//     refs included). It needs a filesystem with hard links (not FAT, not
//     some FUSE mounts).
//   - Delete unlinks the file and fsyncs its directory, then removes the
//     directories it left empty, never the root. Writers racing with that
//     pruning retry, so neither side fails.
//   - List walks the tree one directory at a time, yielding as it goes, in
//     ascending byte order of the full key. It lists regular files only: it
//     skips the staging directory, symbolic links (it never descends into a
//     symlinked directory), devices, sockets and pipes.
//
// Every key is checked with storage.ValidateKey, and every file is reached
// through an os.Root, so no key can name anything outside the root, not even
// through a symbolic link planted inside it: a link inside the root that
// points inside the root is followed by Get, Stat and Put; one that points
// outside is refused.
//
// Limits of a filesystem layout: a key cannot be both an object and a
// directory of other objects ("a" and "a/b"); writing the second fails with
// an error carrying storage.ErrInvalidKey and storage.ErrDeterminate. On a
// case-insensitive filesystem keys differing only in case collide. Path
// segments longer than the filesystem allows (usually 255 bytes) are refused
// with storage.ErrInvalidKey. A crash in the middle of a write never leaves
// a partial object, except one written by PutPiece (garbage no ref names);
// with named staging files it can leave an orphan file in
// <root>/.tmp/ (unnamed files vanish with the process).
package local

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// tmpDir is the staging directory for writes, directly under the root. No
// key may start with it, and List never shows it.
const tmpDir = ".tmp"

const (
	filePerm = 0o644
	dirPerm  = 0o755
)

// Store is a Storage in a local directory. It is safe for concurrent use by
// many goroutines, and several Stores (in one or many OS processes) may share
// one directory. Create one with New.
type Store struct {
	abs string // absolute path of the root
	// root is the open root directory: nil until it exists (see openRoot
	// and prepare), then fixed until Close.
	root atomic.Pointer[os.Root]
	// mu serialises opening the root and preparing it for writes.
	mu sync.Mutex
	// ready is set once the root and its staging directory exist and
	// unnamed is known: writes may go.
	ready atomic.Bool
	// unnamed: writes create unnamed files and link them into place
	// (Linux, when the filesystem supports it; see unnamed_linux.go).
	unnamed bool
	// namedOnly keeps unnamed off, so that tests cover named staging.
	namedOnly bool
}

var (
	_ storage.Storage                = (*Store)(nil)
	_ storage.RangeReader            = (*Store)(nil)
	_ storage.ConditionalRangeReader = (*Store)(nil)
	_ storage.PartsPutter            = (*Store)(nil)
)

// New returns a Store rooted at the directory root. Nothing is created
// until the first write, which creates the directory and its parents; New
// fails only for a path that cannot be a root (empty, or naming something
// other than a directory).
func New(root string) (*Store, error) {
	if root == "" {
		return nil, storage.Determinate(errors.New("local storage: empty root path"))
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, storage.Determinate(errors.Wrapf(err, "local storage: resolving root %q", root))
	}
	if info, err := os.Stat(abs); err == nil && !info.IsDir() {
		return nil, storage.Determinate(errors.Newf("local storage: root %s is not a directory", abs))
	}
	return &Store{abs: abs}, nil
}

// openRoot returns the root directory, opening it on first use; nil and no
// error while it does not exist, which reads take for an empty store.
func (s *Store) openRoot() (*os.Root, error) {
	if r := s.root.Load(); r != nil {
		return r, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.root.Load(); r != nil {
		return r, nil
	}
	r, err := sharedRoot(s.abs)
	switch {
	case isNotExist(err):
		return nil, nil
	case err != nil:
		return nil, storage.Determinate(errors.Wrapf(err, "local storage: opening root %s", s.abs))
	}
	s.root.Store(r)
	return r, nil
}

// prepare readies the store for writes once: it creates the root (and its
// parents) and the staging directory if missing, and learns whether the
// filesystem takes unnamed files. A failure is returned to the write, and
// the next write tries again.
func (s *Store) prepare() error {
	if s.ready.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready.Load() {
		return nil
	}
	r := s.root.Load()
	if r == nil {
		if err := os.MkdirAll(s.abs, dirPerm); err != nil {
			return storage.Determinate(errors.Wrapf(err, "local storage: creating root %s", s.abs))
		}
		var err error
		if r, err = sharedRoot(s.abs); err != nil {
			return storage.Determinate(errors.Wrapf(err, "local storage: opening root %s", s.abs))
		}
		s.root.Store(r)
	}
	if err := s.ensureTmpDir(); err != nil {
		return err
	}
	s.unnamed = !s.namedOnly && probeUnnamed(r)
	s.ready.Store(true)
	return nil
}

// dir is the open root, for code that runs after openRoot found it or
// prepare made it.
func (s *Store) dir() *os.Root { return s.root.Load() }

// modTimeSlack bounds how far behind the wall clock a file's modification
// time may be: the kernel stamps files with a coarse clock, updated every
// tick (1 to 10 ms).
const modTimeSlack = 50 * time.Millisecond

// ModTimeSlack implements storage.ModTimeSlacker.
func (s *Store) ModTimeSlack() time.Duration { return modTimeSlack }

// String returns "local:" followed by the absolute root path.
func (s *Store) String() string { return "local:" + s.abs }

// Root returns the absolute path of the store's directory.
func (s *Store) Root() string { return s.abs }

// Close lets go of the root directory. The root's descriptor is shared
// with the process's other Stores on the same directory (see sharedRoot)
// and closed once none of them holds it. A Store used after Close opens
// its root again.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready.Store(false)
	s.root.Store(nil)
	return nil
}

// path returns the filesystem path of key, for messages only: files are
// always reached through the open root.
func (s *Store) path(key string) string {
	return filepath.Join(s.abs, filepath.FromSlash(key))
}

// checkKey refuses a cancelled context and keys that cannot be stored here.
func (s *Store) checkKey(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return storage.Determinate(errors.Wrapf(err, "%s: key %q", s, key))
	}
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if key == tmpDir || strings.HasPrefix(key, tmpDir+"/") {
		return errors.Mark(errors.Newf("invalid storage key %q: first segment %q is reserved by %s", key, tmpDir, s), storage.ErrInvalidKey)
	}
	return nil
}

// parentDir returns the directory part of a slash-separated path, "." for a
// path at the top level.
func parentDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return "."
}

// wrapErr names the operation, key and path in err and classifies it:
// indeterminate when the operation might have taken effect, determinate
// otherwise. Failures likely to pass are also marked transient, and names
// the filesystem cannot hold are marked as invalid keys.
func (s *Store) wrapErr(err error, op, key string, indeterminate bool) error {
	err = errors.Wrapf(err, "%s: %s %q at %s", s, op, key, s.path(key))
	switch {
	case isTransientErrno(err):
		err = storage.Transient(err)
	case isBadNameErrno(err):
		err = errors.Mark(err, storage.ErrInvalidKey)
	}
	if indeterminate {
		return storage.Indeterminate(err)
	}
	return storage.Determinate(err)
}

// conflictErr reports that key cannot be stored because the filesystem layout
// forbids it: the key is a directory holding other objects, or one of its
// parents is an object.
func (s *Store) conflictErr(err error, op, key string) error {
	err = errors.Wrapf(err, "%s: %s %q at %s: the key is a directory of other objects, or a prefix of it is an object; a local store cannot hold both", s, op, key, s.path(key))
	return storage.Determinate(errors.Mark(err, storage.ErrInvalidKey))
}

// notRegular is the error for a key naming something other than a regular
// file: no object is stored there.
func (s *Store) notRegular(key string, mode fs.FileMode) error {
	what := "a directory"
	if !mode.IsDir() {
		what = "a " + mode.Type().String() + " file"
	}
	return errors.Mark(errors.Newf("%s: no object at key %q (%s is %s, not a regular file)", s, key, s.path(key), what), storage.ErrNotFound)
}

// syncDir fsyncs the directory dir (slash-separated, relative to the root),
// making the creation, renaming or removal of its entries durable.
func (s *Store) syncDir(dir string) error {
	d, err := s.dir().Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
