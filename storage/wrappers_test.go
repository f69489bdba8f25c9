package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

var fastRetry = storage.RetryPolicy{MaxAttempts: 20, BaseDelay: time.Microsecond, MaxDelay: time.Millisecond}

// Every injected failure, determinate or not, is absorbed by the retrying
// wrapper, and the store ends up exactly as if nothing had failed.
func TestRetryingAbsorbsFaults(t *testing.T) {
	ctx := context.Background()
	base := memory.New("faults")
	faulty := storage.NewUnreliable(base, storage.Faults{Rate: 0.3, IndeterminateShare: 0.5, Seed: 1})
	s := storage.NewRetrying(faulty, fastRetry)
	for i := range 300 {
		key := fmt.Sprintf("k/%03d", i)
		if err := s.Put(ctx, key, []byte(key)); err != nil {
			t.Fatalf("put %s: %+v", key, err)
		}
		if err := s.PutIfAbsent(ctx, "once/"+key, []byte(key)); err != nil {
			t.Fatalf("put-if-absent %s: %+v", key, err)
		}
		// A second create of the same key with other bytes must lose, even
		// when the first one's outcome was reported as unknown.
		err := s.PutIfAbsent(ctx, "once/"+key, []byte("other"))
		if !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Fatalf("second put-if-absent %s: %v", key, err)
		}
		got, err := s.Get(ctx, "once/"+key)
		if err != nil || string(got) != key {
			t.Fatalf("get %s: %q %v", key, got, err)
		}
	}
	n := 0
	for _, err := range s.List(ctx, "k/", storage.ListOptions{}) {
		if err != nil {
			t.Fatalf("list: %+v", err)
		}
		n++
	}
	if n != 300 {
		t.Fatalf("listed %d keys, want 300", n)
	}
	if faulty.Injected() < 100 {
		t.Fatalf("only %d faults injected", faulty.Injected())
	}
}

// wantIndeterminateWrites writes 50 keys with write through faulty, which
// fails every call indeterminately: each must fail as an indeterminate
// transient injected fault, and at least one must have landed anyway.
func wantIndeterminateWrites(t *testing.T, faulty *storage.Unreliable, what string, write func(key string) error) {
	t.Helper()
	ctx := context.Background()
	landed := false
	for i := range 50 {
		key := fmt.Sprintf("k%d", i)
		err := write(key)
		if !storage.IsIndeterminate(err) || !storage.IsTransient(err) || !errors.Is(err, storage.ErrInjected) {
			t.Fatalf("%s: want indeterminate transient injected fault, got %v", what, err)
		}
		faulty.SetEnabled(false)
		if _, err := faulty.Get(ctx, key); err == nil {
			landed = true
		}
		faulty.SetEnabled(true)
	}
	if !landed {
		t.Fatalf("no indeterminate failure of %s ever let the write land", what)
	}
}

// Without retries, faults surface with the right classes.
func TestUnreliableClassifiesFaults(t *testing.T) {
	ctx := context.Background()
	faulty := storage.NewUnreliable(memory.New("classes"), storage.Faults{Rate: 1, IndeterminateShare: 1, Seed: 2})
	wantIndeterminateWrites(t, faulty, "Put", func(key string) error { return faulty.Put(ctx, key, []byte("x")) })
	det := storage.NewUnreliable(memory.New("det"), storage.Faults{Rate: 1, IndeterminateShare: 0, Seed: 3})
	err := det.Put(ctx, "k", nil)
	if !errors.Is(err, storage.ErrDeterminate) || storage.IsIndeterminate(err) {
		t.Fatalf("want determinate fault, got %v", err)
	}
	det.SetEnabled(false)
	if _, err := det.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a determinate failure must not write: %v", err)
	}
}

// Consensus on a storage that fails 30% of operations, half of them
// indeterminately, still never lets two writers win the same round: every
// compare-and-set either reports the truth or returns an error.
func TestConsensusUnderFaults(t *testing.T) {
	t.Run("retrying", func(t *testing.T) {
		testConsensusUnderFaults(t, func(s storage.Storage) storage.Storage { return storage.NewRetrying(s, fastRetry) })
	})
	// The consensus's own tries, with no retrying wrapper: a create-only
	// write refused after a try of its own that may have landed is read
	// back, one refused at the first try is another writer's.
	t.Run("bare", func(t *testing.T) {
		testConsensusUnderFaults(t, func(s storage.Storage) storage.Storage { return s })
	})
}

func testConsensusUnderFaults(t *testing.T, wrap func(storage.Storage) storage.Storage) {
	ctx := context.Background()
	base := memory.New("consensus-faults")
	faulty := storage.NewUnreliable(base, storage.Faults{Rate: 0.3, IndeterminateShare: 0.5, Seed: 4})
	c := storage.NewConsensus(wrap(faulty), "refs/")
	truth := storage.NewConsensus(base, "refs/")
	faulty.SetEnabled(false)
	if _, err := c.CompareAndSet(ctx, "b", storage.NoSeqNo, storage.VersionedData{SeqNo: 0, Data: []byte("init")}); err != nil {
		t.Fatal(err)
	}
	faulty.SetEnabled(true)
	const workers, rounds = 4, 40
	type claim struct {
		round  int
		worker int
	}
	var mu sync.Mutex
	var claims []claim
	told := map[string]storage.CaSResult{} // each call's payload -> its answer, when it had one
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round, try := 0, 0; round < rounds; try++ {
				data := fmt.Sprintf("%d/%d", w, try) // unique per call
				res, err := c.CompareAndSet(ctx, "b", storage.SeqNo(round), storage.VersionedData{SeqNo: storage.SeqNo(round + 1), Data: []byte(data)})
				if err != nil {
					continue // outcome unknown: ask again, the log tells
				}
				mu.Lock()
				told[data] = res
				if res == storage.Committed {
					claims = append(claims, claim{round, w})
				}
				mu.Unlock()
				round++
			}
		}()
	}
	wg.Wait()
	log, err := truth.Scan(ctx, "b", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range claims {
		e := log[cl.round+1]
		if w, _, _ := strings.Cut(string(e.Data), "/"); w != fmt.Sprint(cl.worker) {
			t.Fatalf("worker %d was told it won round %d, but the log says %q", cl.worker, cl.round, e.Data)
		}
	}
	// And no writer whose entry is in the log was told it lost.
	for _, e := range log[1:] {
		if res, answered := told[string(e.Data)]; answered && res != storage.Committed {
			t.Fatalf("the call that wrote %q was told %v", e.Data, res)
		}
	}
	seen := map[int]bool{}
	for _, cl := range claims {
		if seen[cl.round] {
			t.Fatalf("round %d claimed twice", cl.round)
		}
		seen[cl.round] = true
	}
	for i, e := range log {
		if e.SeqNo != storage.SeqNo(i) {
			t.Fatalf("log entry %d has seqno %d", i, e.SeqNo)
		}
	}
}

// A compare-and-set that loses at its first try costs that one create-only
// write: the slot is another writer's, and nothing is read back.
func TestConsensusLostAppendReadsNothing(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	c := storage.NewConsensus(counting, "refs/")
	if _, err := c.CompareAndSet(ctx, "b", storage.NoSeqNo, storage.VersionedData{SeqNo: 0, Data: []byte("v0")}); err != nil {
		t.Fatal(err)
	}
	first, _, err := c.HeadEntry(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := c.CompareAndSetAfter(ctx, "b", first, storage.VersionedData{SeqNo: 1, Data: []byte("v1")}); err != nil || res != storage.Committed {
		t.Fatalf("append: %v %v", res, err)
	}
	counting.Record(true)
	res, _, err := c.CompareAndSetAfter(ctx, "b", first, storage.VersionedData{SeqNo: 1, Data: []byte("late")})
	if err != nil || res != storage.ExpectationMismatch {
		t.Fatalf("append after a stale entry: %v %v", res, err)
	}
	if calls := counting.Calls(); len(calls) != 1 || calls[0].Op != storage.OpPutIfAbsent {
		t.Fatalf("a lost append made %v, want one create-only write", calls)
	}
	res, err = c.CompareAndSet(ctx, "b", 0, storage.VersionedData{SeqNo: 1, Data: []byte("late")})
	if err != nil || res != storage.ExpectationMismatch {
		t.Fatalf("compare-and-set from a stale version: %v %v", res, err)
	}
}

func TestCountingRecords(t *testing.T) {
	ctx := context.Background()
	c := storage.NewCounting(memory.New("count"))
	c.Record(true)
	_ = c.Put(ctx, "a", []byte("xyz"))
	_, _ = c.Get(ctx, "a")
	_, _ = c.GetRange(ctx, "a", storage.Suffix(1))
	for range c.List(ctx, "", storage.ListOptions{}) {
	}
	counts := c.Counts()
	if counts.Ops[storage.OpPut] != 1 || counts.Ops[storage.OpGet] != 1 || counts.Ops[storage.OpGetRange] != 1 || counts.Ops[storage.OpList] != 1 {
		t.Fatalf("counts: %+v", counts)
	}
	if counts.BytesWritten != 3 || counts.BytesRead != 4 {
		t.Fatalf("bytes: %+v", counts)
	}
	if calls := c.Calls(); len(calls) != 4 || calls[0] != (storage.Call{Op: storage.OpPut, Key: "a"}) {
		t.Fatalf("calls: %+v", calls)
	}
}

func TestValidateKey(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "snapshots/ABC", "a.b/c-d_e", "refs/branch.main/00000000000000000001"} {
		if err := storage.ValidateKey(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", "..", "a/../b", "./a", "a\x00b", "a\\b", "\xff"} {
		if err := storage.ValidateKey(bad); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("%q: want ErrInvalidKey, got %v", bad, err)
		}
	}
}

// partsSpy is a storage whose own PutParts counts its calls, so a test can
// tell that a wrapper forwarded PutParts rather than falling back to Put.
type partsSpy struct {
	*memory.Store
	mu    sync.Mutex
	calls int
}

func (p *partsSpy) PutParts(ctx context.Context, key string, parts [][]byte) error {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	return p.Store.PutParts(ctx, key, parts)
}

func (p *partsSpy) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Every wrapper passes PutParts on to the storage it wraps: Counting counts
// it as a Put of the parts' total length, Retrying retries it, Unreliable
// injects the faults of a Put.
func TestWrappersForwardPutParts(t *testing.T) {
	ctx := context.Background()
	parts := [][]byte{[]byte("ab"), nil, []byte("cde"), {}}

	spy := &partsSpy{Store: memory.New("parts-counting")}
	c := storage.NewCounting(spy)
	c.Record(true)
	if err := storage.PutParts(ctx, c, "a", parts); err != nil {
		t.Fatal(err)
	}
	if got, err := spy.Get(ctx, "a"); err != nil || string(got) != "abcde" {
		t.Fatalf("counting: stored %q, %v", got, err)
	}
	if spy.Calls() != 1 {
		t.Fatalf("counting: the inner PutParts ran %d times, want 1", spy.Calls())
	}
	counts := c.Counts()
	if counts.Ops[storage.OpPut] != 1 || counts.BytesWritten != 5 {
		t.Fatalf("counting: %+v", counts)
	}
	if calls := c.Calls(); len(calls) != 1 || calls[0] != (storage.Call{Op: storage.OpPut, Key: "a"}) {
		t.Fatalf("counting: calls %+v", calls)
	}
	// A wrapped storage without PartsPutter gets one Put.
	hidden := storage.NewCounting(struct{ storage.Storage }{memory.New("parts-hidden")})
	if err := storage.PutParts(ctx, hidden, "a", parts); err != nil {
		t.Fatal(err)
	}
	if got, err := hidden.Get(ctx, "a"); err != nil || string(got) != "abcde" {
		t.Fatalf("counting over a storage without PutParts: stored %q, %v", got, err)
	}

	// Faults of a Put, absorbed by retries.
	spy = &partsSpy{Store: memory.New("parts-faults")}
	faulty := storage.NewUnreliable(spy, storage.Faults{Rate: 0.3, IndeterminateShare: 0.5, Seed: 5})
	s := storage.NewRetrying(faulty, fastRetry)
	for i := range 200 {
		key := fmt.Sprintf("k/%03d", i)
		if err := storage.PutParts(ctx, s, key, [][]byte{[]byte(key), nil, []byte("!")}); err != nil {
			t.Fatalf("put parts %s: %+v", key, err)
		}
		if got, err := spy.Get(ctx, key); err != nil || string(got) != key+"!" {
			t.Fatalf("put parts %s: stored %q, %v", key, got, err)
		}
	}
	if faulty.Injected() < 50 || spy.Calls() < 200 {
		t.Fatalf("%d faults injected, inner PutParts ran %d times", faulty.Injected(), spy.Calls())
	}

	// Without retries, the faults surface as a Put's do.
	always := storage.NewUnreliable(memory.New("parts-classes"), storage.Faults{Rate: 1, IndeterminateShare: 1, Seed: 6})
	wantIndeterminateWrites(t, always, "PutParts", func(key string) error { return storage.PutParts(ctx, always, key, parts) })
	spy = &partsSpy{Store: memory.New("parts-det")}
	det := storage.NewRetrying(storage.NewUnreliable(spy, storage.Faults{Rate: 1, Seed: 7}), fastRetry)
	err := storage.PutParts(ctx, det, "k", parts)
	if !errors.Is(err, storage.ErrDeterminate) || !storage.IsTransient(err) || spy.Calls() != 0 {
		t.Fatalf("want a determinate fault after %d tries and no write, got %v and %d writes", fastRetry.MaxAttempts, err, spy.Calls())
	}
}

// hinted is memory storage with the cost hints of a remote store.
type hinted struct{ storage.Storage }

func (hinted) BulkWrite() (int, int) { return 3 << 20, 2 }
func (hinted) ReadAhead() int        { return 6 << 20 }
func (hinted) ObjectPieces() int     { return 3 }

// hintedClock is the time every hinted storage's responses carry.
var hintedClock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (hinted) ServerTime() (server, local time.Time, ok bool) {
	return hintedClock, hintedClock.Add(time.Second), true
}

// PutPiece stores each piece as an object of its own, named by its offset.
func (h hinted) PutPiece(ctx context.Context, key string, offset int64, data []byte) error {
	return h.Put(ctx, fmt.Sprintf("%s@%d", key, offset), data)
}

// The wrappers pass on the hints, the pieces and the clock of the storage
// they wrap, and storage without hints gets the defaults: no read-ahead,
// 1 MiB objects, written whole, no clock.
func TestWrappersForwardHints(t *testing.T) {
	ctx := context.Background()
	wrap := map[string]func(storage.Storage) storage.Storage{
		"counting":   func(s storage.Storage) storage.Storage { return storage.NewCounting(s) },
		"retrying":   func(s storage.Storage) storage.Storage { return storage.NewRetrying(s, fastRetry) },
		"unreliable": func(s storage.Storage) storage.Storage { return storage.NewUnreliable(s, storage.Faults{}) },
	}
	for name, w := range wrap {
		s := w(hinted{memory.New("hinted")})
		if got := storage.ReadAhead(s); got != 6<<20 {
			t.Errorf("%s: read-ahead %d, want the wrapped storage's 6 MiB", name, got)
		}
		if n, p := storage.BulkWrite(s); n != 3<<20 || p != 2 {
			t.Errorf("%s: bulk write %d x %d, want the wrapped storage's 3 MiB x 2", name, n, p)
		}
		plain := w(memory.New("plain"))
		if got := storage.ReadAhead(plain); got != 0 {
			t.Errorf("%s of storage without hints: read-ahead %d, want 0", name, got)
		}
		if n, p := storage.BulkWrite(plain); n != storage.DefaultBulkObjectBytes || p != storage.DefaultBulkParallel {
			t.Errorf("%s of storage without hints: bulk write %d x %d, want the defaults", name, n, p)
		}
		if got := storage.ObjectPieces(s); got != 3 {
			t.Errorf("%s: %d pieces per object, want the wrapped storage's 3", name, got)
		}
		if err := storage.PutPiece(ctx, s, "k", 5, []byte("piece")); err != nil {
			t.Errorf("%s: put-piece: %v", name, err)
		} else if got, err := s.Get(ctx, "k@5"); err != nil || string(got) != "piece" {
			t.Errorf("%s: the piece did not reach the wrapped storage's PutPiece: %q %v", name, got, err)
		}
		if server, local, ok := storage.ServerTime(s); !ok || !server.Equal(hintedClock) || !local.Equal(hintedClock.Add(time.Second)) {
			t.Errorf("%s: server time %v, %v, %v, want the wrapped storage's", name, server, local, ok)
		}
		if _, _, ok := storage.ServerTime(plain); ok {
			t.Errorf("%s of storage without a clock reports one", name)
		}
		if got := storage.ObjectPieces(plain); got != 1 {
			t.Errorf("%s of storage without pieces: %d pieces per object, want 1", name, got)
		}
		if err := storage.PutPiece(ctx, plain, "k", 5, []byte("piece")); !errors.Is(err, storage.ErrDeterminate) || storage.IsTransient(err) {
			t.Errorf("%s of storage without pieces: a piece at 5 gave %v, want a determinate error", name, err)
		}
		if err := storage.PutPiece(ctx, plain, "k", 0, []byte("whole")); err != nil {
			t.Errorf("%s of storage without pieces: a piece at 0: %v", name, err)
		} else if got, err := plain.Get(ctx, "k"); err != nil || string(got) != "whole" {
			t.Errorf("%s of storage without pieces: a piece at 0 is not the object: %q %v", name, got, err)
		}
	}
}
