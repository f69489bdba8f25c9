package codec

import (
	"fmt"

	"github.com/cockroachdb/errors"
)

// Sentinel errors. Errors returned by this package are marked with one of
// these (test with errors.Is) and carry a message naming the object and what
// was wrong.
var (
	// ErrCorrupt marks a file that cannot be decoded: bad magic, a checksum
	// mismatch, a truncated file, trailing bytes, a decompression failure, a
	// malformed payload, or a payload that breaks an invariant of its type.
	ErrCorrupt = errors.New("corrupt file")

	// ErrWrongFileType marks a well-formed file of another type than the one
	// asked for (a manifest read where a snapshot was expected, say).
	ErrWrongFileType = errors.New("wrong file type")

	// ErrUnsupportedVersion marks a well-formed file written in a newer
	// format version than this build reads.
	ErrUnsupportedVersion = errors.New("unsupported format version")

	// ErrInvalid marks a value that cannot be encoded because it breaks an
	// invariant of its type (unsorted nodes, duplicate chunk coordinates,
	// inconsistent shapes, a payload over MaxPayloadSize, ...).
	ErrInvalid = errors.New("invalid value")

	// ErrInvalidID marks a string that is not a valid object id.
	ErrInvalidID = errors.New("invalid object id")
)

// describe names an object in error messages: the file type, then the object
// name (usually its storage key) when one is given.
func describe(ft FileType, object string) string {
	kind := "file"
	if ft != 0 {
		kind = ft.String() + " file"
	}
	if object == "" {
		return kind
	}
	return fmt.Sprintf("%s %q", kind, object)
}

// corruptf returns an ErrCorrupt error about the named object.
func corruptf(ft FileType, object, format string, args ...any) error {
	return errors.Mark(
		errors.Newf("%s is corrupt: %s", describe(ft, object), fmt.Sprintf(format, args...)),
		ErrCorrupt)
}

// invalidf returns an ErrInvalid error.
func invalidf(format string, args ...any) error {
	return errors.Mark(errors.Newf(format, args...), ErrInvalid)
}
