package storage

import (
	"github.com/cockroachdb/errors"
)

// Error markers. Every error a Storage returns is tested with errors.Is
// against these; a backend marks its errors with errors.Mark (or the helpers
// below) so that the message can name the key and the cause while the class
// stays machine-readable.
var (
	// ErrNotFound: the key holds no object.
	ErrNotFound = errors.New("object not found")

	// ErrPreconditionFailed: a conditional write lost (the key already
	// existed, or the object changed since it was read).
	ErrPreconditionFailed = errors.New("precondition failed")

	// ErrInvalidKey: the key cannot be stored (escapes the root, is empty,
	// holds NUL, ...). Nothing was done.
	ErrInvalidKey = errors.New("invalid storage key")

	// ErrInvalidRange: a byte range that cannot be served (negative, or
	// starting past the end of the object).
	ErrInvalidRange = errors.New("invalid byte range")

	// ErrDeterminate: the underlying system failed and the operation
	// definitely did not take effect (permission denied, bad request).
	ErrDeterminate = errors.New("determinate storage failure")

	// ErrIndeterminate: the underlying system failed and the operation
	// might have taken effect (timeout, connection reset after sending).
	ErrIndeterminate = errors.New("indeterminate storage failure")

	// ErrTransient: the failure is likely to pass; retrying is reasonable.
	// It is carried together with ErrDeterminate or ErrIndeterminate.
	ErrTransient = errors.New("transient storage failure")

	// ErrStalled: the server stopped answering, and the request waited
	// out the client's timeout before failing. It is carried with
	// ErrTransient; a retry of it is logged as a warning, since each try
	// costs the whole timeout.
	ErrStalled = errors.New("server stalled")

	// ErrStaleEntry: a consensus log entry a caller remembered is no
	// longer in its log: the log was replaced or rolled back since (its
	// repository deleted and made again, or restored from a copy).
	ErrStaleEntry = errors.New("remembered log entry no longer in the log")
)

// Determinate marks err as a determinate failure: it did not happen.
func Determinate(err error) error {
	if err == nil {
		return nil
	}
	return errors.Mark(err, ErrDeterminate)
}

// Indeterminate marks err as an indeterminate failure: it might have
// happened.
func Indeterminate(err error) error {
	if err == nil {
		return nil
	}
	return errors.Mark(err, ErrIndeterminate)
}

// Transient marks err as worth retrying.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return errors.Mark(err, ErrTransient)
}

// IsIndeterminate reports whether err says the operation might have taken
// effect.
func IsIndeterminate(err error) bool { return errors.Is(err, ErrIndeterminate) }

// IsTransient reports whether retrying the operation is reasonable.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// NotFound returns an ErrNotFound error naming the key.
func NotFound(store Storage, key string) error {
	return errors.Mark(errors.Newf("%s: no object at key %q", store, key), ErrNotFound)
}

// PreconditionFailed returns an ErrPreconditionFailed error naming the key.
func PreconditionFailed(store Storage, key string) error {
	return errors.Mark(errors.Newf("%s: object at key %q already exists or changed", store, key), ErrPreconditionFailed)
}
