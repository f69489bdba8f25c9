package storage

import (
	"context"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"
)

// Faults configures an Unreliable storage.
type Faults struct {
	// Rate is the fraction of operations that fail, in [0, 1].
	Rate float64
	// IndeterminateShare is the fraction of failures that are
	// indeterminate, in [0, 1]. Half of the indeterminate failures of a
	// write happen after the write took effect: the write landed but the
	// caller is told it timed out.
	IndeterminateShare float64
	// Seed makes the sequence of failures repeatable.
	Seed uint64
}

// ErrInjected marks every failure an Unreliable storage makes up.
var ErrInjected = errors.New("injected fault")

// Unreliable wraps a Storage and makes a chosen fraction of its operations
// fail, like Materialize's "unreliable" blob: determinate failures happen
// before the operation, indeterminate ones before or after it. Every
// injected failure is marked ErrTransient and ErrInjected. Faults can be
// switched off and on, so a test can set up state reliably and then
// misbehave.
type Unreliable struct {
	inner   Storage
	faults  Faults
	enabled atomic.Bool

	mu  sync.Mutex
	rng *rand.Rand

	injected atomic.Int64
}

// NewUnreliable wraps inner. Faults start enabled.
func NewUnreliable(inner Storage, faults Faults) *Unreliable {
	u := &Unreliable{inner: inner, faults: faults, rng: rand.New(rand.NewPCG(faults.Seed, faults.Seed^0x9e3779b97f4a7c15))}
	u.enabled.Store(true)
	return u
}

var (
	_ Storage                = (*Unreliable)(nil)
	_ RangeReader            = (*Unreliable)(nil)
	_ ConditionalRangeReader = (*Unreliable)(nil)
	_ PartsPutter            = (*Unreliable)(nil)
	_ ServerClock            = (*Unreliable)(nil)
)

// SetEnabled switches fault injection on or off.
func (u *Unreliable) SetEnabled(on bool) { u.enabled.Store(on) }

// Injected returns how many failures were injected so far.
func (u *Unreliable) Injected() int64 { return u.injected.Load() }

func (u *Unreliable) String() string { return u.inner.String() }

type fault int

const (
	noFault fault = iota
	failBefore
	failAfter // indeterminate: the operation ran, the caller hears it did not
)

func (u *Unreliable) draw(write bool) (fault, bool) {
	if !u.enabled.Load() {
		return noFault, false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.rng.Float64() >= u.faults.Rate {
		return noFault, false
	}
	u.injected.Add(1)
	if u.rng.Float64() >= u.faults.IndeterminateShare {
		return failBefore, false
	}
	if write && u.rng.IntN(2) == 0 {
		return failAfter, true
	}
	return failBefore, true
}

func (u *Unreliable) fail(op, key string, indeterminate bool) error {
	err := errors.Mark(errors.Newf("%s: %s %q: injected fault", u, op, key), ErrInjected)
	if indeterminate {
		return Transient(Indeterminate(errors.Wrap(err, "timeout")))
	}
	return Transient(Determinate(err))
}

// run applies a drawn fault around op.
func (u *Unreliable) run(name, key string, write bool, op func() error) error {
	f, indeterminate := u.draw(write)
	switch f {
	case failBefore:
		return u.fail(name, key, indeterminate)
	case failAfter:
		if err := op(); err != nil {
			return err
		}
		return u.fail(name, key, true)
	}
	return op()
}

// Get implements Storage.
func (u *Unreliable) Get(ctx context.Context, key string) (data []byte, err error) {
	err = u.run("get", key, false, func() (err error) { data, err = u.inner.Get(ctx, key); return err })
	if err != nil {
		return nil, err
	}
	return data, nil
}

// GetRange implements Storage.
func (u *Unreliable) GetRange(ctx context.Context, key string, r ByteRange) (data []byte, err error) {
	err = u.run("get range", key, false, func() (err error) { data, err = u.inner.GetRange(ctx, key, r); return err })
	if err != nil {
		return nil, err
	}
	return data, nil
}

// ReadRange implements RangeReader.
func (u *Unreliable) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return u.run("get range", key, false, func() error { return ReadRange(ctx, u.inner, key, offset, dst) })
}

// ReadRangeIf implements ConditionalRangeReader; its faults are those of
// ReadRange.
func (u *Unreliable) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond ReadCondition) error {
	return u.run("get range", key, false, func() error { return ReadRangeIf(ctx, u.inner, key, offset, dst, cond) })
}

// BulkWrite implements BulkWriter with the wrapped storage's hint.
func (u *Unreliable) BulkWrite() (int, int) { return BulkWrite(u.inner) }

// ReadAhead implements ReadAheader with the wrapped storage's hint.
func (u *Unreliable) ReadAhead() int { return ReadAhead(u.inner) }

// ServerTime implements ServerClock with the wrapped storage's clock.
func (u *Unreliable) ServerTime() (server, local time.Time, ok bool) { return ServerTime(u.inner) }

// ModTimeSlack implements ModTimeSlacker with the wrapped storage's.
func (u *Unreliable) ModTimeSlack() time.Duration { return ModTimeSlack(u.inner) }

// Put implements Storage.
func (u *Unreliable) Put(ctx context.Context, key string, data []byte) error {
	return u.run("put", key, true, func() error { return u.inner.Put(ctx, key, data) })
}

// PutParts implements PartsPutter; its faults are those of Put.
func (u *Unreliable) PutParts(ctx context.Context, key string, parts [][]byte) error {
	return u.run("put", key, true, func() error { return PutParts(ctx, u.inner, key, parts) })
}

// PutPiece implements PieceWriter; its faults are those of Put.
func (u *Unreliable) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	return u.run("put", key, true, func() error { return PutPiece(ctx, u.inner, key, offset, data) })
}

// ObjectPieces implements PieceWriter with the wrapped storage's hint.
func (u *Unreliable) ObjectPieces() int { return ObjectPieces(u.inner) }

// PutIfAbsent implements Storage.
func (u *Unreliable) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return u.run("put-if-absent", key, true, func() error { return u.inner.PutIfAbsent(ctx, key, data) })
}

// Delete implements Storage.
func (u *Unreliable) Delete(ctx context.Context, keys ...string) error {
	first := ""
	if len(keys) > 0 {
		first = keys[0]
	}
	return u.run("delete", first, true, func() error { return u.inner.Delete(ctx, keys...) })
}

// Sync implements Storage. An indeterminate failure may come after the
// sync happened.
func (u *Unreliable) Sync(ctx context.Context) error {
	return u.run("sync", "", true, func() error { return u.inner.Sync(ctx) })
}

// Stat implements Storage.
func (u *Unreliable) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	err = u.run("stat", key, false, func() (err error) { info, err = u.inner.Stat(ctx, key); return err })
	return info, err
}

// List implements Storage. A fault may end the listing at its start or
// between two keys.
func (u *Unreliable) List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if f, ind := u.draw(false); f != noFault {
			yield(ObjectInfo{}, u.fail("list", prefix, ind))
			return
		}
		for info, err := range u.inner.List(ctx, prefix, opts) {
			if err == nil {
				if f, ind := u.draw(false); f != noFault {
					yield(ObjectInfo{}, u.fail("list", prefix, ind))
					return
				}
			}
			if !yield(info, err) || err != nil {
				return
			}
		}
	}
}
