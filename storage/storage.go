// Package storage defines the contract between the engine and the place its
// objects live: a flat key-value object store (Storage) and, built on top of
// any Storage, a versioned compare-and-set log (Consensus) that branch refs
// use.
//
// The contract is written on the interface so that every backend (memory,
// local filesystem, S3) can be held to it by one conformance suite
// (storage/storagetest).
//
// Keys are slash-separated, relative, UTF-8 strings such as
// "snapshots/1CECHNKREP0F1RSTCMT0". Backends may reject keys that cannot be
// stored safely (ErrInvalidKey); ValidateKey gives the rules every backend
// accepts.
package storage

import (
	"context"
	"iter"
	"time"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key, relative to the storage root.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ModTime is the time the object was last written, by the storage's
	// clock (not the writer's). The engine uses it to check clock skew.
	ModTime time.Time
	// ETag is the object's entity tag as the storage reports it (quotes
	// included), set by Stat on storages that have one (S3, memory) and
	// empty on those that do not (local files). It changes whenever the
	// object's content does; virtual chunk references pin it.
	ETag string
	// StorageClass is the object's storage class, set by Stat on S3 when
	// the server names one (see WithStorageClass); empty elsewhere.
	StorageClass string
}

// ListOptions narrows a List call.
type ListOptions struct {
	// StartAfter, when not empty, resumes a listing after this key
	// (exclusive). It lets a caller page through a huge prefix.
	StartAfter string
}

// Storage is a flat object store.
//
// Contract, for every implementation:
//
//   - Put, PutIfAbsent and Delete are atomic per object: a reader sees either
//     the whole old value or the whole new value (or its absence), never a
//     torn write, and after a call returns successfully every later read,
//     from this process or any other, sees its effect (read-after-write).
//   - Durability: PutIfAbsent and Delete are durable when they return (they
//     carry refs and markers); Put may be held in a volatile cache until
//     Sync returns. A writer calls Sync before publishing what it wrote (a
//     commit, before moving the branch), so a power loss never leaves a
//     published reference to a lost object.
//   - PutIfAbsent is create-only and linearizable: when several writers race
//     to create the same key, exactly one succeeds and the others get
//     ErrPreconditionFailed.
//   - Delete is idempotent: deleting an absent key succeeds.
//   - Put and PutIfAbsent keep no reference to data once they return: the
//     caller may reuse or free it (the C library passes its caller's
//     buffers without copying them).
//   - List yields keys in ascending byte order, in pages fetched as the
//     caller iterates; it never loads a whole huge prefix at once.
//   - Methods are safe for concurrent use by many goroutines.
//
// Errors are classified with markers tested by errors.Is: ErrNotFound,
// ErrPreconditionFailed, ErrInvalidKey, ErrInvalidRange, and for failures of
// the underlying system ErrDeterminate (definitely did not happen) or
// ErrIndeterminate (might have happened). A failure worth retrying also
// carries ErrTransient. Backends do not retry by themselves; wrap them with
// NewRetrying for bounded retries with backoff.
type Storage interface {
	// Get returns the whole object. ErrNotFound if the key is absent.
	Get(ctx context.Context, key string) ([]byte, error)

	// GetRange returns the bytes of r. A range reaching past the end of the
	// object is cut at the end; a range starting past the end returns
	// ErrInvalidRange. ErrNotFound if the key is absent.
	GetRange(ctx context.Context, key string, r ByteRange) ([]byte, error)

	// Put stores data at key, replacing any previous value atomically.
	// Put is idempotent: repeating it with the same data is harmless.
	Put(ctx context.Context, key string, data []byte) error

	// PutIfAbsent stores data at key only if no object is stored there.
	// ErrPreconditionFailed if one is. If the outcome is unknown (for
	// example a timeout after the request was sent) the error carries
	// ErrIndeterminate; the caller resolves it by reading the key back,
	// never by guessing.
	PutIfAbsent(ctx context.Context, key string, data []byte) error

	// Delete removes the given keys. Absent keys are not an error. The
	// deletes are not atomic as a group: on error some keys may be gone.
	Delete(ctx context.Context, keys ...string) error

	// List yields every object whose key starts with prefix, in ascending
	// byte order of key. An error ends the sequence.
	List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[ObjectInfo, error]

	// Stat returns the size and modification time of one object.
	// ErrNotFound if the key is absent.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// Sync makes every Put that returned before it durable. Backends whose
	// writes are durable on return (S3, memory) do nothing.
	Sync(ctx context.Context) error

	// String names the storage for messages, such as "local:/data/repo".
	// It never includes credentials.
	String() string
}
