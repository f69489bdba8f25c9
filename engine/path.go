package engine

import (
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/errors"
)

// Path is the absolute path of a node in the hierarchy: "/" for the root,
// "/a/b" below it. Build one with NewPath, which validates it.
type Path string

// Root is the root group's path.
const Root Path = "/"

// NewPath validates and normalises p. It accepts "/a/b", "a/b" and "" (the
// root); it rejects empty, "." and ".." segments, NUL, backslashes and
// invalid UTF-8, and segments starting with "__" (reserved by Zarr).
func NewPath(p string) (Path, error) {
	bad := func(why string) (Path, error) {
		return "", errors.Mark(errors.Newf("invalid node path %q: %s", p, why), ErrInvalidPath)
	}
	if !utf8.ValidString(p) {
		return bad("not valid UTF-8")
	}
	if strings.ContainsAny(p, "\x00\\") {
		return bad("contains NUL or backslash")
	}
	trimmed := strings.TrimPrefix(p, "/")
	if trimmed == "" {
		return Root, nil
	}
	for _, seg := range strings.Split(trimmed, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "." || seg == "..":
			return bad("relative segment")
		case strings.HasPrefix(seg, "__"):
			return bad("segments starting with __ are reserved")
		}
	}
	return Path("/" + trimmed), nil
}

// MustPath is NewPath for literals known to be valid; it panics otherwise.
func MustPath(p string) Path {
	path, err := NewPath(p)
	if err != nil {
		panic(err)
	}
	return path
}

func (p Path) String() string { return string(p) }

// Name is the last segment ("" for the root).
func (p Path) Name() string {
	return string(p[strings.LastIndexByte(string(p), '/')+1:])
}

// Parent is the enclosing path (the root is its own parent).
func (p Path) Parent() Path {
	i := strings.LastIndexByte(string(p), '/')
	if i <= 0 {
		return Root
	}
	return p[:i]
}

// Child appends one segment.
func (p Path) Child(name string) Path {
	if p == Root {
		return Path("/" + name)
	}
	return p + "/" + Path(name)
}

// Contains reports whether q is p or lies below p, segment-wise (so "/a"
// contains "/a/b" but not "/ab").
func (p Path) Contains(q Path) bool {
	if p == Root || p == q {
		return true
	}
	return strings.HasPrefix(string(q), string(p)+"/")
}

// Ancestors yields the proper ancestors of p, nearest first, ending at the
// root.
func (p Path) Ancestors() []Path {
	var out []Path
	for q := p; q != Root; {
		q = q.Parent()
		out = append(out, q)
	}
	return out
}

// Key is the path as a store key prefix: "" for the root, "a/b" otherwise.
func (p Path) Key() string { return strings.TrimPrefix(string(p), "/") }
