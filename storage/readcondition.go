package storage

import (
	"context"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
)

// ReadCondition pins the version of an object a read accepts: a virtual
// chunk reference records the entity tag or modification time of the
// object it points into, and a read of a replaced object must fail rather
// than return bytes the reference never described. The zero value accepts
// any version.
type ReadCondition struct {
	// ETag, when not empty, is the entity tag the object must have
	// (compared without surrounding quotes). A storage that keeps no
	// entity tags cannot vouch for the object, so the condition fails.
	ETag string
	// NotModifiedAfter, when not zero, is the latest modification time
	// the object may have, to the second (the precision of S3's
	// Last-Modified).
	NotModifiedAfter time.Time
}

// IsZero reports whether c accepts any version.
func (c ReadCondition) IsZero() bool { return c.ETag == "" && c.NotModifiedAfter.IsZero() }

// Holds reports whether an object described by info meets c.
func (c ReadCondition) Holds(info ObjectInfo) bool {
	if c.ETag != "" && (info.ETag == "" || UnquoteETag(info.ETag) != UnquoteETag(c.ETag)) {
		return false
	}
	return c.NotModifiedAfter.IsZero() || info.ModTime.Unix() <= c.NotModifiedAfter.Unix()
}

// UnquoteETag drops the quotes around an entity tag: references written by
// other tools may store it with or without them.
func UnquoteETag(etag string) string {
	return strings.TrimSuffix(strings.TrimPrefix(etag, `"`), `"`)
}

// ConditionalRangeReader is an optional Storage method: RangeReader's read
// into the caller's buffer, done only if the object meets a condition, in
// one step. Without it a caller must Stat and then read, two requests on
// S3 and a window in which the object can be replaced. Callers use the
// ReadRangeIf function, which falls back to that for storages without it.
type ConditionalRangeReader interface {
	// ReadRangeIf is ReadRange of the object's version that meets cond;
	// if the object does not meet it, the error is marked
	// ErrPreconditionFailed and dst's contents are unspecified.
	ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond ReadCondition) error
}

// ReadRangeIf fills dst with len(dst) bytes of key from offset on if the
// object meets cond, with the contract of ConditionalRangeReader. Storages
// without a ConditionalRangeReader are asked for a Stat first, so an
// object replaced between the Stat and the read goes unnoticed there.
func ReadRangeIf(ctx context.Context, s Storage, key string, offset int64, dst []byte, cond ReadCondition) error {
	if offset < 0 {
		return errors.Mark(errors.Newf("%s: read of %q at negative offset %d", s, key, offset), ErrInvalidRange)
	}
	if cr, ok := s.(ConditionalRangeReader); ok {
		return cr.ReadRangeIf(ctx, key, offset, dst, cond)
	}
	if !cond.IsZero() {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return err
		}
		if err := CheckCondition(s, key, info, cond); err != nil {
			return err
		}
	}
	return ReadRange(ctx, s, key, offset, dst)
}

// CheckCondition returns nil if the object described by info meets cond,
// and otherwise the ErrPreconditionFailed error of a read of it. Backends
// that learn the object's version along with its bytes use it.
func CheckCondition(s Storage, key string, info ObjectInfo, cond ReadCondition) error {
	if cond.Holds(info) {
		return nil
	}
	return NotTheVersion(s, key, cond)
}

// NotTheVersion returns the ErrPreconditionFailed error of a read of key
// whose object does not meet cond.
func NotTheVersion(s Storage, key string, cond ReadCondition) error {
	var want []string
	if cond.ETag != "" {
		want = append(want, "ETag "+cond.ETag)
	}
	if !cond.NotModifiedAfter.IsZero() {
		want = append(want, "not modified after "+cond.NotModifiedAfter.UTC().Format(time.RFC3339))
	}
	return errors.Mark(errors.Newf("%s: object at key %q is not the version read (%s)", s, key, strings.Join(want, ", ")), ErrPreconditionFailed)
}
