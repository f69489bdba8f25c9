package storage

import (
	"fmt"

	"github.com/cockroachdb/errors"
)

// ByteRangeKind says how a ByteRange is to be read.
type ByteRangeKind uint8

const (
	// RangeBounded is [Start, End).
	RangeBounded ByteRangeKind = iota
	// RangeFrom is [Start, end of object).
	RangeFrom
	// RangeSuffix is the last N bytes (N in Start).
	RangeSuffix
)

// ByteRange selects bytes of an object. Build one with Range, From or Suffix.
type ByteRange struct {
	Kind  ByteRangeKind
	Start int64
	End   int64
}

// Range selects [start, end).
func Range(start, end int64) ByteRange { return ByteRange{Kind: RangeBounded, Start: start, End: end} }

// From selects everything from offset on.
func From(offset int64) ByteRange { return ByteRange{Kind: RangeFrom, Start: offset} }

// Suffix selects the last n bytes (the whole object if it is shorter).
func Suffix(n int64) ByteRange { return ByteRange{Kind: RangeSuffix, Start: n} }

func (r ByteRange) String() string {
	switch r.Kind {
	case RangeBounded:
		return fmt.Sprintf("bytes [%d, %d)", r.Start, r.End)
	case RangeFrom:
		return fmt.Sprintf("bytes [%d, end)", r.Start)
	default:
		return fmt.Sprintf("last %d bytes", r.Start)
	}
}

// HTTPRange is r as the value of an HTTP Range header (RFC 9110): [a, b)
// as "bytes=a-(b-1)", From(a) as "bytes=a-", Suffix(n) as "bytes=-n". It
// is "" for a range that selects no bytes whatever the object holds
// (Range(a, a), Suffix(0)), which no header can ask for.
func (r ByteRange) HTTPRange() string {
	switch {
	case r.Kind == RangeBounded && r.End > r.Start:
		return fmt.Sprintf("bytes=%d-%d", r.Start, r.End-1)
	case r.Kind == RangeFrom:
		return fmt.Sprintf("bytes=%d-", r.Start)
	case r.Kind == RangeSuffix && r.Start > 0:
		return fmt.Sprintf("bytes=-%d", r.Start)
	}
	return ""
}

// Validate rejects ranges no object could satisfy (negative bounds, end
// before start, unknown kind).
func (r ByteRange) Validate() error {
	switch {
	case r.Kind > RangeSuffix:
		return errors.Mark(errors.Newf("unknown byte range kind %d", r.Kind), ErrInvalidRange)
	case r.Start < 0:
		return errors.Mark(errors.Newf("invalid %s: negative", r), ErrInvalidRange)
	case r.Kind == RangeBounded && r.End < r.Start:
		return errors.Mark(errors.Newf("invalid %s: end before start", r), ErrInvalidRange)
	}
	return nil
}

// Resolve turns r into absolute [start, end) bounds for an object of the
// given size, cutting at the end of the object. A bounded or from-range that
// starts past the end is ErrInvalidRange; one starting exactly at the end is
// empty.
func (r ByteRange) Resolve(size int64) (start, end int64, err error) {
	if err := r.Validate(); err != nil {
		return 0, 0, err
	}
	switch r.Kind {
	case RangeSuffix:
		start = max(size-r.Start, 0)
		return start, size, nil
	case RangeFrom:
		start, end = r.Start, size
	default:
		start, end = r.Start, min(r.End, size)
	}
	if start > size {
		return 0, 0, errors.Mark(errors.Newf("%s starts past the end of a %d-byte object", r, size), ErrInvalidRange)
	}
	return start, max(end, start), nil
}

// NoBytes answers r when a server sent no bytes of an object of size bytes:
// r selects nothing whatever the object holds (Range(a, a), Suffix(0)), or
// the server refused it as unsatisfiable (416) and the size comes from the
// refusal or a HEAD. A range starting at or before the end is empty, one
// starting past it ErrInvalidRange. A range that selects bytes of an object
// that size means the object changed between the two answers: a transient,
// determinate error, for the caller's retries.
func (r ByteRange) NoBytes(size int64) ([]byte, error) {
	start, end, err := r.Resolve(size)
	switch {
	case err != nil:
		return nil, err
	case start != end:
		return nil, Transient(Determinate(errors.Newf("%s selects bytes of the object, which changed while it was read (now %d bytes)", r, size)))
	}
	return []byte{}, nil
}
