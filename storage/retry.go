package storage

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/logs"
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
	// slots (nil: no bound) holds a token per request in flight; see
	// SetMaxConcurrent.
	slots atomic.Pointer[chan struct{}]
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

// SetMaxConcurrent bounds the requests in flight at once to n (0 or less:
// no bound): each try of an operation waits for a slot first, and gives it
// back before waiting to retry. Listings are not counted. Requests already
// in flight finish under the old bound. Safe for concurrent use.
func (r *Retrying) SetMaxConcurrent(n int) {
	if n <= 0 {
		r.slots.Store(nil)
		return
	}
	if old := r.slots.Load(); old != nil && cap(*old) == n {
		return
	}
	ch := make(chan struct{}, n)
	r.slots.Store(&ch)
}

// MaxConcurrent returns the bound SetMaxConcurrent set (0: none).
func (r *Retrying) MaxConcurrent() int {
	if p := r.slots.Load(); p != nil {
		return cap(*p)
	}
	return 0
}

// acquire waits for a request slot (or for ctx to end) and returns the
// function giving it back.
func (r *Retrying) acquire(ctx context.Context) (func(), error) {
	p := r.slots.Load()
	if p == nil {
		return func() {}, nil
	}
	ch := *p
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, errors.Wrapf(ctx.Err(), "%s: waiting for one of the %d request slots", r, cap(ch))
	}
}

var (
	_ Storage                = (*Retrying)(nil)
	_ RangeReader            = (*Retrying)(nil)
	_ ConditionalRangeReader = (*Retrying)(nil)
	_ PartsPutter            = (*Retrying)(nil)
	_ ServerClock            = (*Retrying)(nil)
	_ MultipartUploader      = (*Retrying)(nil)
)

func (r *Retrying) String() string { return r.inner.String() }

// do runs fn, the operation op on key, until it succeeds, fails for good,
// or the tries run out; op and key name it in the log.
func (r *Retrying) do(ctx context.Context, op, key string, fn func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		release, aerr := r.acquire(ctx)
		if aerr != nil {
			return aerr
		}
		start := tryStart(ctx)
		err = fn()
		release()
		r.logTry(ctx, op, key, start, err)
		if err == nil || !IsTransient(err) {
			return err
		}
		if attempt >= r.Policy().MaxAttempts {
			return gaveUp(err, attempt)
		}
		r.logRetry(ctx, op, key, attempt, r.Policy().MaxAttempts, err)
		if werr := r.wait(ctx, attempt); werr != nil {
			return err
		}
	}
}

// tryStart is when a try starts, for its line in the log; the zero time
// when request lines are off, so that a request pays for no clock read.
func tryStart(ctx context.Context) time.Time {
	if logs.Storage.Enabled(ctx, slog.LevelDebug) {
		return time.Now()
	}
	return time.Time{}
}

// logTry writes one request's line at debug level: what, on which key,
// how long it took, and how it failed. start is tryStart's: a try that
// began with request lines off is not written.
func (r *Retrying) logTry(ctx context.Context, op, key string, start time.Time, err error) {
	if start.IsZero() {
		return
	}
	took := time.Since(start)
	if err != nil {
		logs.Storage.DebugContext(ctx, "request", "store", r.String(), "op", op, "key", key, "took", took, "err", err)
		return
	}
	logs.Storage.DebugContext(ctx, "request", "store", r.String(), "op", op, "key", key, "took", took)
}

// logRetry says that a request failed in a way worth trying again, and is
// tried again: at info level, or as a warning when the server stalled (a
// wait of the whole timeout per try, which a user should hear about).
func (r *Retrying) logRetry(ctx context.Context, op, key string, attempt, of int, err error) {
	level := slog.LevelInfo
	if errors.Is(err, ErrStalled) {
		level = slog.LevelWarn
	}
	if logs.Storage.Enabled(ctx, level) {
		logs.Storage.Log(ctx, level, "retrying a request", "store", r.String(), "op", op, "key", key, "try", attempt, "of", of, "err", err)
	}
}

// gaveUp words the last failure of an operation tried tries times, so
// that a caller who waited (a stalled server costs the whole timeout per
// try) learns why it took that long and what bounds it.
func gaveUp(err error, tries int) error {
	if tries < 2 {
		return err
	}
	return errors.Wrapf(err, "gave up after %d tries (the storage settings' retries bound them)", tries)
}

func (r *Retrying) wait(ctx context.Context, attempt int) error {
	p := r.policy.Load()
	return SleepBackoff(ctx, attempt, p.BaseDelay, p.MaxDelay)
}

// Get implements Storage.
func (r *Retrying) Get(ctx context.Context, key string) (data []byte, err error) {
	err = r.do(ctx, "get", key, func() error {
		data, err = r.inner.Get(ctx, key)
		return err
	})
	return data, err
}

// GetRange implements Storage.
func (r *Retrying) GetRange(ctx context.Context, key string, br ByteRange) (data []byte, err error) {
	err = r.do(ctx, "get range", key, func() error {
		data, err = r.inner.GetRange(ctx, key, br)
		return err
	})
	return data, err
}

// ReadRange implements RangeReader.
func (r *Retrying) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return r.do(ctx, "read range", key, func() error { return ReadRange(ctx, r.inner, key, offset, dst) })
}

// ReadRangeIf implements ConditionalRangeReader. An object that fails the
// condition is an answer, not a failure: it is not retried.
func (r *Retrying) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond ReadCondition) error {
	return r.do(ctx, "read range if", key, func() error { return ReadRangeIf(ctx, r.inner, key, offset, dst, cond) })
}

// BulkWrite implements BulkWriter with the wrapped storage's hint.
func (r *Retrying) BulkWrite() (int, int) { return BulkWrite(r.inner) }

// ReadAhead implements ReadAheader with the wrapped storage's hint.
func (r *Retrying) ReadAhead() int { return ReadAhead(r.inner) }

// ServerTime implements ServerClock with the wrapped storage's clock.
func (r *Retrying) ServerTime() (server, local time.Time, ok bool) { return ServerTime(r.inner) }

// ModTimeSlack implements ModTimeSlacker with the wrapped storage's.
func (r *Retrying) ModTimeSlack() time.Duration { return ModTimeSlack(r.inner) }

// Put implements Storage.
func (r *Retrying) Put(ctx context.Context, key string, data []byte) error {
	return r.do(ctx, "put", key, func() error { return r.inner.Put(ctx, key, data) })
}

// PutParts implements PartsPutter. Like Put it is idempotent, so a failed
// try is simply repeated with the same parts.
func (r *Retrying) PutParts(ctx context.Context, key string, parts [][]byte) error {
	return r.do(ctx, "put parts", key, func() error { return PutParts(ctx, r.inner, key, parts) })
}

// PutPiece implements PieceWriter. A piece written again holds the same
// bytes, so a failed try is simply repeated.
func (r *Retrying) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	return r.do(ctx, "put piece", key, func() error { return PutPiece(ctx, r.inner, key, offset, data) })
}

// ObjectPieces implements PieceWriter with the wrapped storage's hint.
func (r *Retrying) ObjectPieces() int { return ObjectPieces(r.inner) }

// UploadPartBytes implements MultipartUploader with the wrapped storage's
// part size: 0 when it takes no multipart uploads.
func (r *Retrying) UploadPartBytes() int { return UploadPartBytes(r.inner) }

// uploader returns the wrapped storage's MultipartUploader, or the error
// of a storage without one.
func (r *Retrying) uploader(key string) (MultipartUploader, error) { return uploaderOf(r.inner, key) }

// StartUpload implements MultipartUploader. A start whose answer was lost
// and is tried again leaves an empty upload behind, which stores nothing.
func (r *Retrying) StartUpload(ctx context.Context, key string) (id string, err error) {
	u, err := r.uploader(key)
	if err != nil {
		return "", err
	}
	err = r.do(ctx, "start upload", key, func() error {
		id, err = u.StartUpload(ctx, key)
		return err
	})
	return id, err
}

// UploadPart implements MultipartUploader. A part sent again replaces the
// earlier one, so a failed try is simply repeated.
func (r *Retrying) UploadPart(ctx context.Context, key, uploadID string, n int, data [][]byte) (tag string, err error) {
	u, err := r.uploader(key)
	if err != nil {
		return "", err
	}
	err = r.do(ctx, fmt.Sprintf("upload part %d", n), key, func() error {
		tag, err = u.UploadPart(ctx, key, uploadID, n, data)
		return err
	})
	return tag, err
}

// CompleteUpload implements MultipartUploader. A try after one whose
// outcome is unknown may find the upload gone (ErrUploadGone), because the
// earlier try completed it; PutMultipart resolves that.
func (r *Retrying) CompleteUpload(ctx context.Context, key, uploadID string, tags []string) error {
	u, err := r.uploader(key)
	if err != nil {
		return err
	}
	return r.do(ctx, "complete upload", key, func() error { return u.CompleteUpload(ctx, key, uploadID, tags) })
}

// AbortUpload implements MultipartUploader.
func (r *Retrying) AbortUpload(ctx context.Context, key, uploadID string) error {
	u, err := r.uploader(key)
	if err != nil {
		return err
	}
	return r.do(ctx, "abort upload", key, func() error { return u.AbortUpload(ctx, key, uploadID) })
}

// PutIfAbsent implements Storage.
func (r *Retrying) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	unknown := false // an earlier try might have landed
	var err error
	for attempt := 1; ; attempt++ {
		release, aerr := r.acquire(ctx)
		if aerr != nil {
			return aerr
		}
		start := tryStart(ctx)
		err = r.inner.PutIfAbsent(ctx, key, data)
		r.logTry(ctx, "put if absent", key, start, err)
		if IsIndeterminate(err) && ctx.Err() != nil {
			// The caller gave up: nothing can be read under its context to
			// learn the outcome, which stays unknown, as the error says.
			release()
			return err
		}
		var stored []byte
		var gerr error
		if IsIndeterminate(err) {
			logs.Storage.InfoContext(ctx, "reading back a create-only write whose outcome is unknown", "store", r.String(), "key", key, "err", err)
			start = tryStart(ctx)
			stored, gerr = r.inner.Get(ctx, key)
			r.logTry(ctx, "get", key, start, gerr)
		}
		release() // before readBack, which takes a slot of its own
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrPreconditionFailed) && unknown:
			// Maybe our own earlier try: decide by content.
			logs.Storage.InfoContext(ctx, "reading back a create-only write that an earlier try may have made", "store", r.String(), "key", key)
			return r.readBack(ctx, key, data, err)
		case IsIndeterminate(err):
			unknown = true
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
		r.logRetry(ctx, "put if absent", key, attempt, r.Policy().MaxAttempts, err)
		if werr := r.wait(ctx, attempt); werr != nil {
			return err
		}
	}
}

// deletedKeys names the keys of a Delete in the log: the key itself, or
// the first and how many there are; nothing when the log would not show
// it, so a Delete formats no name for nobody.
func deletedKeys(ctx context.Context, keys []string) string {
	switch {
	case !logs.Storage.Enabled(ctx, slog.LevelInfo):
		return ""
	case len(keys) == 0:
		return ""
	case len(keys) == 1:
		return keys[0]
	default:
		return fmt.Sprintf("%s and %d more", keys[0], len(keys)-1)
	}
}

func (r *Retrying) readBack(ctx context.Context, key string, data []byte, lost error) error {
	var stored []byte
	err := r.do(ctx, "get", key, func() (err error) {
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
	return r.do(ctx, "delete", deletedKeys(ctx, keys), func() error { return r.inner.Delete(ctx, keys...) })
}

// Sync implements Storage.
func (r *Retrying) Sync(ctx context.Context) error {
	return r.do(ctx, "sync", "", func() error { return r.inner.Sync(ctx) })
}

// Stat implements Storage.
func (r *Retrying) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	err = r.do(ctx, "stat", key, func() error {
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
			start := tryStart(ctx)
			for info, err := range r.inner.List(ctx, prefix, ListOptions{StartAfter: after}) {
				if err != nil {
					failed = err
					break
				}
				after = info.Key
				attempt = 1 // progress: the retry budget is per stall, not per listing
				if !yield(info, nil) {
					r.logTry(ctx, "list", prefix, start, nil)
					return
				}
			}
			r.logTry(ctx, "list", prefix, start, failed)
			if failed == nil {
				return
			}
			if !IsTransient(failed) {
				yield(ObjectInfo{}, failed)
				return
			}
			if attempt >= r.Policy().MaxAttempts {
				yield(ObjectInfo{}, gaveUp(failed, attempt))
				return
			}
			r.logRetry(ctx, "list", prefix, attempt, r.Policy().MaxAttempts, failed)
			if r.wait(ctx, attempt) != nil {
				yield(ObjectInfo{}, failed)
				return
			}
		}
	}
}
