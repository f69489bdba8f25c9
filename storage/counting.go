package storage

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// Op names one kind of Storage operation.
type Op string

// The operations a Counting storage tells apart.
const (
	OpGet         Op = "get"
	OpGetRange    Op = "get_range"
	OpPut         Op = "put"
	OpPutIfAbsent Op = "put_if_absent"
	OpDelete      Op = "delete"
	OpList        Op = "list"
	OpStat        Op = "stat"
	OpSync        Op = "sync"
)

// Call is one recorded operation.
type Call struct {
	Op  Op
	Key string // the key, or for List the prefix
}

// Counts is a snapshot of a Counting storage's counters.
type Counts struct {
	Ops          map[Op]int64
	BytesRead    int64
	BytesWritten int64
}

// Counting wraps a Storage and counts its operations and bytes; it can also
// record every call, as the seed's LoggingStorage does, so tests can assert
// what the engine read and wrote.
type Counting struct {
	inner Storage

	ops          sync.Map // Op -> *atomic.Int64
	bytesRead    atomic.Int64
	bytesWritten atomic.Int64

	record atomic.Bool
	mu     sync.Mutex
	calls  []Call
}

// NewCounting wraps inner. Recording of calls starts off.
func NewCounting(inner Storage) *Counting { return &Counting{inner: inner} }

var (
	_ Storage                = (*Counting)(nil)
	_ RangeReader            = (*Counting)(nil)
	_ ConditionalRangeReader = (*Counting)(nil)
	_ PartsPutter            = (*Counting)(nil)
	_ ServerClock            = (*Counting)(nil)
)

// Record switches call recording on or off.
func (c *Counting) Record(on bool) { c.record.Store(on) }

// Calls returns the recorded calls, oldest first.
func (c *Counting) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Counts returns the counters.
func (c *Counting) Counts() Counts {
	out := Counts{Ops: map[Op]int64{}, BytesRead: c.bytesRead.Load(), BytesWritten: c.bytesWritten.Load()}
	c.ops.Range(func(k, v any) bool {
		out.Ops[k.(Op)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Reset zeroes the counters and forgets the recorded calls.
func (c *Counting) Reset() {
	c.ops.Range(func(k, _ any) bool { c.ops.Delete(k); return true })
	c.bytesRead.Store(0)
	c.bytesWritten.Store(0)
	c.mu.Lock()
	c.calls = nil
	c.mu.Unlock()
}

func (c *Counting) count(op Op, key string) {
	v, _ := c.ops.LoadOrStore(op, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if c.record.Load() {
		c.mu.Lock()
		c.calls = append(c.calls, Call{Op: op, Key: key})
		c.mu.Unlock()
	}
}

func (c *Counting) String() string { return c.inner.String() }

// Get implements Storage.
func (c *Counting) Get(ctx context.Context, key string) ([]byte, error) {
	c.count(OpGet, key)
	data, err := c.inner.Get(ctx, key)
	c.bytesRead.Add(int64(len(data)))
	return data, err
}

// GetRange implements Storage.
func (c *Counting) GetRange(ctx context.Context, key string, r ByteRange) ([]byte, error) {
	c.count(OpGetRange, key)
	data, err := c.inner.GetRange(ctx, key, r)
	c.bytesRead.Add(int64(len(data)))
	return data, err
}

// ReadRange implements RangeReader; it counts as a GetRange.
func (c *Counting) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	c.count(OpGetRange, key)
	err := ReadRange(ctx, c.inner, key, offset, dst)
	if err == nil {
		c.bytesRead.Add(int64(len(dst)))
	}
	return err
}

// BulkWrite implements BulkWriter with the wrapped storage's hint.
func (c *Counting) BulkWrite() (int, int) { return BulkWrite(c.inner) }

// ReadAhead implements ReadAheader with the wrapped storage's hint.
func (c *Counting) ReadAhead() int { return ReadAhead(c.inner) }

// ServerTime implements ServerClock with the wrapped storage's clock.
func (c *Counting) ServerTime() (server, local time.Time, ok bool) { return ServerTime(c.inner) }

// ModTimeSlack implements ModTimeSlacker with the wrapped storage's.
func (c *Counting) ModTimeSlack() time.Duration { return ModTimeSlack(c.inner) }

// ReadRangeIf implements ConditionalRangeReader; it counts as a GetRange.
func (c *Counting) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond ReadCondition) error {
	c.count(OpGetRange, key)
	err := ReadRangeIf(ctx, c.inner, key, offset, dst, cond)
	if err == nil {
		c.bytesRead.Add(int64(len(dst)))
	}
	return err
}

// Put implements Storage.
func (c *Counting) Put(ctx context.Context, key string, data []byte) error {
	c.count(OpPut, key)
	c.bytesWritten.Add(int64(len(data)))
	return c.inner.Put(ctx, key, data)
}

// PutParts implements PartsPutter; it counts as a Put of the parts' total
// length.
func (c *Counting) PutParts(ctx context.Context, key string, parts [][]byte) error {
	c.count(OpPut, key)
	c.bytesWritten.Add(int64(PartsLen(parts)))
	return PutParts(ctx, c.inner, key, parts)
}

// PutPiece implements PieceWriter; it counts as a Put of the piece.
func (c *Counting) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	c.count(OpPut, key)
	c.bytesWritten.Add(int64(len(data)))
	return PutPiece(ctx, c.inner, key, offset, data)
}

// ObjectPieces implements PieceWriter with the wrapped storage's hint.
func (c *Counting) ObjectPieces() int { return ObjectPieces(c.inner) }

// PutIfAbsent implements Storage.
func (c *Counting) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	c.count(OpPutIfAbsent, key)
	c.bytesWritten.Add(int64(len(data)))
	return c.inner.PutIfAbsent(ctx, key, data)
}

// Delete implements Storage.
func (c *Counting) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		c.count(OpDelete, k)
	}
	return c.inner.Delete(ctx, keys...)
}

// Sync implements Storage.
func (c *Counting) Sync(ctx context.Context) error {
	c.count(OpSync, "")
	return c.inner.Sync(ctx)
}

// Stat implements Storage.
func (c *Counting) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	c.count(OpStat, key)
	return c.inner.Stat(ctx, key)
}

// List implements Storage.
func (c *Counting) List(ctx context.Context, prefix string, opts ListOptions) iter.Seq2[ObjectInfo, error] {
	c.count(OpList, prefix)
	return c.inner.List(ctx, prefix, opts)
}
