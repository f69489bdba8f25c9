package local

import (
	"context"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// readDirBatch is how many directory entries List reads per system call.
const readDirBatch = 1024

// List implements storage.Storage.
//
// It walks the tree depth first, one directory at a time: it reads one
// directory's names, sorts them, and yields its objects and those of its
// subdirectories before reading the next directory. Only the directories
// on the current path are held open. Entries are sorted by name, with a
// directory compared as its name followed by "/": that order, applied at
// every level, is the byte order of full keys ("a.b" < "a/b" < "a0").
//
// Subdirectories that sort entirely at or before opts.StartAfter are not
// read at all. Symbolic links, the staging directory and anything that is
// not a regular file or a directory are skipped, as are names that are not
// valid keys (written by another program). Objects written or deleted during
// the walk may or may not be seen.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		if err := storage.ValidatePrefix(prefix); err != nil {
			yield(storage.ObjectInfo{}, errors.Wrapf(err, "%s: list", s))
			return
		}
		if err := ctx.Err(); err != nil {
			yield(storage.ObjectInfo{}, storage.Determinate(errors.Wrapf(err, "%s: list %q", s, prefix)))
			return
		}
		// The prefix names a directory (all but its last segment) and a
		// prefix of names in it (the last segment, maybe empty).
		dirPart, namePrefix := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dirPart, namePrefix = prefix[:i], prefix[i+1:]
		}
		if dirPart == tmpDir || strings.HasPrefix(dirPart, tmpDir+"/") {
			return // no key lives there
		}
		root, err := s.openRoot()
		if err != nil {
			yield(storage.ObjectInfo{}, err)
			return
		}
		if root == nil {
			return // no root yet: nothing to list
		}
		w := walker{s: s, ctx: ctx, yield: yield, after: opts.StartAfter}
		dir, keyPrefix := root, ""
		if dirPart != "" {
			keyPrefix = dirPart + "/"
			if w.after != "" && keyPrefix < w.after && !strings.HasPrefix(w.after, keyPrefix) {
				return // every key under the prefix is at or before StartAfter
			}
			d, err := s.openDirPath(dirPart)
			if err != nil {
				yield(storage.ObjectInfo{}, s.wrapErr(err, "list", prefix, false))
				return
			}
			if d == nil {
				return // no such directory: nothing to list
			}
			defer func() { _ = d.Close() }()
			dir = d
		}
		w.walk(dir, keyPrefix, namePrefix)
	}
}

// walker carries the state of one List call through the recursion.
type walker struct {
	s     *Store
	ctx   context.Context
	yield func(storage.ObjectInfo, error) bool
	after string // StartAfter: yield only keys greater than this
}

// dirEntry is a directory entry kept between reading and yielding. sortKey is
// the name, followed by "/" for a directory.
type dirEntry struct {
	sortKey string
	isDir   bool
}

func (e dirEntry) name() string {
	if e.isDir {
		return e.sortKey[:len(e.sortKey)-1]
	}
	return e.sortKey
}

// fail yields err and reports that the walk must stop.
func (w *walker) fail(err error, key string) bool {
	w.yield(storage.ObjectInfo{}, w.s.wrapErr(err, "list", key, false))
	return false
}

// walk yields the objects in dir (whose keys start with keyPrefix) whose
// names start with namePrefix, recursing into subdirectories. It returns
// false when the caller stopped or an error was yielded.
func (w *walker) walk(dir *os.Root, keyPrefix, namePrefix string) bool {
	entries, err := w.readDir(dir, keyPrefix, namePrefix)
	if err != nil {
		if isNotExist(err) {
			return true // removed while we walked
		}
		return w.fail(err, keyPrefix)
	}
	for _, e := range entries {
		if err := w.ctx.Err(); err != nil {
			w.yield(storage.ObjectInfo{}, storage.Determinate(errors.Wrapf(err, "%s: list", w.s)))
			return false
		}
		name := e.name()
		if e.isDir {
			sub, err := openSubdir(dir, name)
			if err != nil {
				return w.fail(err, keyPrefix+name)
			}
			if sub == nil {
				continue // gone or replaced meanwhile
			}
			ok := w.walk(sub, keyPrefix+e.sortKey, "")
			_ = sub.Close()
			if !ok {
				return false
			}
			continue
		}
		info, err := dir.Lstat(name)
		if err != nil {
			if isNotExist(err) {
				continue // deleted meanwhile
			}
			return w.fail(err, keyPrefix+name)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if !w.yield(storage.ObjectInfo{Key: keyPrefix + name, Size: info.Size(), ModTime: info.ModTime()}, nil) {
			return false
		}
	}
	return true
}

// readDir reads the entries of dir worth visiting, sorted in key order.
func (w *walker) readDir(dir *os.Root, keyPrefix, namePrefix string) ([]dirEntry, error) {
	f, err := dir.Open(".")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []dirEntry
	for {
		batch, err := f.ReadDir(readDirBatch)
		for _, de := range batch {
			name := de.Name()
			if !strings.HasPrefix(name, namePrefix) || !validName(name) {
				continue
			}
			if keyPrefix == "" && name == tmpDir {
				continue
			}
			var e dirEntry
			switch typ := de.Type(); {
			case typ.IsDir():
				e = dirEntry{sortKey: name + "/", isDir: true}
			case typ.IsRegular():
				e = dirEntry{sortKey: name}
			default:
				continue // symbolic link, device, pipe, socket
			}
			if !w.wanted(keyPrefix, e) {
				continue
			}
			out = append(out, e)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b dirEntry) int { return strings.Compare(a.sortKey, b.sortKey) })
	return out, nil
}

// wanted reports whether an entry can hold keys after StartAfter that are
// short enough to be valid.
func (w *walker) wanted(keyPrefix string, e dirEntry) bool {
	full := keyPrefix + e.sortKey
	if e.isDir {
		if len(full) >= storage.MaxKeyLength {
			return false
		}
		// Every key below starts with full; if full sorts before
		// StartAfter without being a prefix of it, so do they all.
		return w.after == "" || full > w.after || strings.HasPrefix(w.after, full)
	}
	return len(full) <= storage.MaxKeyLength && full > w.after
}

// validName reports whether a file name can be a key segment.
func validName(name string) bool {
	return utf8.ValidString(name) && !strings.ContainsRune(name, '\\')
}

// openSubdir opens the directory name inside parent without following a
// symbolic link: it checks with Lstat that name is a directory, opens it, and
// checks that what it opened is that same directory (not a link swapped in
// meanwhile). It returns nil, nil if name is missing or not a directory.
func openSubdir(parent *os.Root, name string) (*os.Root, error) {
	info, err := parent.Lstat(name)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	if !info.IsDir() {
		return nil, nil
	}
	sub, err := parent.OpenRoot(name)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	opened, err := sub.Stat(".")
	if err != nil {
		_ = sub.Close()
		return nil, err
	}
	if !os.SameFile(info, opened) {
		_ = sub.Close()
		return nil, nil
	}
	return sub, nil
}

// openDirPath opens the directory at the slash-separated path dir (relative
// to the root) one segment at a time, following no symbolic link. It returns
// nil, nil if some segment is missing or not a directory.
func (s *Store) openDirPath(dir string) (*os.Root, error) {
	root := s.dir()
	cur := root
	for seg := range strings.SplitSeq(dir, "/") {
		next, err := openSubdir(cur, seg)
		if cur != root {
			_ = cur.Close()
		}
		if err != nil || next == nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}
