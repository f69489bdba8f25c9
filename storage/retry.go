package storage

import (
	"bytes"
	"context"
	"iter"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
)

// RetryPolicy bounds the retries of a Retrying storage.
type RetryPolicy struct {
	// MaxAttempts is the number of tries of one operation, the first
	// included. Values below 1 mean 1.
	MaxAttempts int
	// BaseDelay is the wait before the first retry; it doubles per retry.
	BaseDelay time.Duration
	// MaxDelay caps the wait between two tries.
	MaxDelay time.Duration
}

// DefaultRetryPolicy suits object stores: 6 tries over about 3 seconds.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 6, BaseDelay: 50 * time.Millisecond, MaxDelay: 2 * time.Second}

// SleepBackoff waits before retry number attempt (from 1): a random time up
// to base·2^(attempt-1), capped at maxDelay ("full jitter", so that many
// clients failing together do not retry together). It returns early with
// ctx's error if ctx ends first.
func SleepBackoff(ctx context.Context, attempt int, base, maxDelay time.Duration) error {
	d := base << min(attempt-1, 20)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	t := time.NewTimer(time.Duration(rand.Int64N(int64(d) + 1)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retrying retries the operations of a Storage that fail with ErrTransient,
// waiting with exponential backoff and jitter between tries, at most
// MaxAttempts times in all. Get, GetRange, ReadRange, ReadRangeIf, Put, PutParts, PutPiece, Delete,
// Stat and List are idempotent and simply repeated (List resumes after the
// last key it yielded). A PutIfAbsent whose outcome is unknown (ErrIndeterminate) is
// resolved by reading the key back: the same bytes mean our write landed,
// other bytes mean we lost the race, absence means it did not happen and is
// tried again. Callers that need certainty about who won a race must make
// their payloads unique (the Consensus does, with a write id).
type Retrying struct {
	inner  Storage
	policy atomic.Pointer[RetryPolicy]
}

// NewRetrying wraps inner with the given policy.
func NewRetrying(inner Storage, policy RetryPolicy) *Retrying {
	r := &Retrying{inner: inner}
	r.SetPolicy(policy)
	return r
}

// SetPolicy replaces the policy; requests already waiting to retry finish
// under the old one. Safe for concurrent use.
func (r *Retrying) SetPolicy(policy RetryPolicy) {
	policy.MaxAttempts = max(policy.MaxAttempts, 1)
	r.policy.Store(&policy)
}

// Policy returns the policy in force.
func (r *Retrying) Policy() RetryPolicy { return *r.policy.Load() }

var (
	_ Storage                = (*Retrying)(nil)
	_ RangeReader            = (*Retrying)(nil)
	_ ConditionalRangeReader = (*Retrying)(nil)
	_ PartsPutter            = (*Retrying)(nil)
	_ ServerClock            = (*Retrying)(nil)
)

func (r *Retrying) String() string { return r.inner.String() }

// do runs op until it succeeds, fails for good, or the tries run out.
func (r *Retrying) do(ctx context.Context, op func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = op()
		if err == nil || !IsTransient(err) || attempt >= r.Policy().MaxAttempts {
			return err
		}
		if werr := r.wait(ctx, attempt); werr != nil {
			return err
		}
	}
}

func (r *Retrying) wait(ctx context.Context, attempt int) error {
	p := r.policy.Load()
	return SleepBackoff(ctx, attempt, p.BaseDelay, p.MaxDelay)
}

// Get implements Storage.
func (r *Retrying) Get(ctx context.Context, key string) (data []byte, err error) {
	err = r.do(ctx, func() error {
		data, err = r.inner.Get(ctx, key)
		return err
	})
	return data, err
}

// GetRange implements Storage.
func (r *Retrying) GetRange(ctx context.Context, key string, br ByteRange) (data []byte, err error) {
	err = r.do(ctx, func() error {
		data, err = r.inner.GetRange(ctx, key, br)
		return err
	})
	return data, err
}

// ReadRange implements RangeReader.
func (r *Retrying) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return r.do(ctx, func() error { return ReadRange(ctx, r.inner, key, offset, dst) })
}

// ReadRangeIf implements ConditionalRangeReader. An object that fails the
// condition is an answer, not a failure: it is not retried.
func (r *Retrying) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond ReadCondition) error {
	return r.do(ctx, func() error { return ReadRangeIf(ctx, r.inner, key, offset, dst, cond) })
}

// BulkWrite implements BulkWriter with the wrapped storage's hint.
func (r *Retrying) BulkWrite() (int, int) { return BulkWrite(r.inner) }

// ReadAhead implements ReadAheader with the wrapped storage's hint.
func (r *Retrying) ReadAhead() int { return ReadAhead(r.inner) }

// ServerTime implements ServerClock with the wrapped storage's clock.
func (r *Retrying) ServerTime() (server, local time.Time, ok bool) { return ServerTime(r.inner) }

// Put implements Storage.
func (r *Retrying) Put(ctx context.Context, key string, data []byte) error {
	return r.do(ctx, func() error { return r.inner.Put(ctx, key, data) })
}

// PutParts implements PartsPutter. Like Put it is idempotent, so a failed
// try is simply repeated with the same parts.
func (r *Retrying) PutParts(ctx context.Context, key string, parts [][]byte) error {
	return r.do(ctx, func() error { return PutParts(ctx, r.inner, key, parts) })
}

// PutPiece implements PieceWriter. A piece written again holds the same
// bytes, so a failed try is simply repeated.
func (r *Retrying) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	return r.do(ctx, func() error { return PutPiece(ctx, r.inner, key, offset, data) })
}

// ObjectPieces implements PieceWriter with the wrapped storage's hint.
func (r *Retrying) ObjectPieces() int { return ObjectPieces(r.inner) }

// PutIfAbsent implements Storage.
func (r *Retrying) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	unknown := false // an earlier try might have landed
	var err error
	for attempt := 1; ; attempt++ {
		err = r.inner.PutIfAbsent(ctx, key, data)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrPreconditionFailed) && unknown:
			// Maybe our own earlier try: decide by content.
			return r.readBack(ctx, key, data, err)
		case IsIndeterminate(err):
			unknown = true
			stored, gerr := r.inner.Get(ctx, key)
			switch {
			case gerr == nil && bytes.Equal(stored, data):
				return nil
			case gerr == nil:
				return PreconditionFailed(r, key)
			case !errors.Is(gerr, ErrNotFound) && !IsTransient(gerr):
				return errors.CombineErrors(err, gerr)
			}
		case !IsTransient(err):
			return err
		}
		if attempt >= r.Policy().MaxAttempts {
			return err
		}
		if werr := r.wait(ctx, attempt); werr != nil {
			return err
		}
	}
}

func (r *Retrying) readBack(ctx context.Context, key string, data []byte, lost error) error {
	var stored []byte
	err := r.do(ctx, func() (err error) {
		stored, err = r.inner.Get(ctx, key)
		return err
	})
	switch {
	case err != nil:
		return Indeterminate(errors.Wrapf(err, "%s: cannot tell whether create-only write of %q landed", r, key))
	case bytes.Equal(stored, data):
		return nil
	default:
		return lost
	}
}

// Delete implements Storage.
func (r *Retrying) Delete(ctx context.Context, keys ...string) error {
	return r.do(ctx, func() error { return r.inner.Delete(ctx, keys...) })
}

// Sync implements Storage.
func (r *Retrying) Sync(ctx context.Context) error {
	return r.do(ctx, func() error { return r.inner.Sync(ctx) })
}

// Stat implements Storage.
func (r *Retrying) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	err = r.do(ctx, func() error {
		info, err = r.inner.Stat(ctx, key)
		return err
	})
	return info, err
}

// List implements Storage. A transient failure mid-listing resumes after the
// last key already yielded, so no key is yielded twice; the retry budget
// starts afresh whenever the listing made progress.
func (r *Retrying) List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		after := opts.StartAfter
		for attempt := 1; ; attempt++ {
			var failed error
			for info, err := range r.inner.List(ctx, prefix, ListOptions{StartAfter: after}) {
				if err != nil {
					failed = err
					break
				}
				after = info.Key
				attempt = 1 // progress: the retry budget is per stall, not per listing
				if !yield(info, nil) {
					return
				}
			}
			if failed == nil {
				return
			}
			if !IsTransient(failed) || attempt >= r.Policy().MaxAttempts || r.wait(ctx, attempt) != nil {
				yield(ObjectInfo{}, failed)
				return
			}
		}
	}
}
