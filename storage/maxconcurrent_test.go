package storage_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// inFlight counts the requests running in it at once, each taking a while.
type inFlight struct {
	storage.Storage
	now, most atomic.Int64
	// indeterminate makes PutIfAbsent land and then report an unknown outcome.
	indeterminate bool
}

func (f *inFlight) enter() func() {
	n := f.now.Add(1)
	for {
		m := f.most.Load()
		if n <= m || f.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(2 * time.Millisecond)
	return func() { f.now.Add(-1) }
}

func (f *inFlight) Get(ctx context.Context, key string) ([]byte, error) {
	defer f.enter()()
	return f.Storage.Get(ctx, key)
}

func (f *inFlight) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	defer f.enter()()
	err := f.Storage.PutIfAbsent(ctx, key, data)
	if err == nil && f.indeterminate {
		return storage.Indeterminate(errors.New("the response was lost"))
	}
	return err
}

func getsAtOnce(t *testing.T, r *storage.Retrying, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := r.Get(context.Background(), "k"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// SetMaxConcurrent bounds the requests in flight; 0 lifts the bound.
func TestRetryingMaxConcurrent(t *testing.T) {
	inner := &inFlight{Storage: memory.New(t.Name())}
	ctx := context.Background()
	if err := inner.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	r := storage.NewRetrying(inner, storage.DefaultRetryPolicy)
	r.SetMaxConcurrent(3)
	getsAtOnce(t, r, 24)
	if got := inner.most.Load(); got != 3 {
		t.Fatalf("with a bound of 3, %d requests ran at once", got)
	}
	r.SetMaxConcurrent(0)
	inner.most.Store(0)
	getsAtOnce(t, r, 24)
	if got := inner.most.Load(); got <= 3 {
		t.Fatalf("without a bound, at most %d requests ran at once", got)
	}

	// A request waiting for a slot gives up when its context ends, saying why.
	r.SetMaxConcurrent(1)
	hold := make(chan struct{})
	blocked := &blocking{Storage: inner, hold: hold}
	rb := storage.NewRetrying(blocked, storage.DefaultRetryPolicy)
	rb.SetMaxConcurrent(1)
	go func() { _, _ = rb.Get(ctx, "k") }()
	for blocked.entered.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := rb.Get(short, "k")
	close(hold)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "request slots") {
		t.Fatalf("waiting for a slot past the deadline: %v", err)
	}

	// A create-only write whose outcome is lost reads the key back within
	// its slot and then in a slot of its own: with one slot it must not
	// wait for itself.
	inner.indeterminate = true
	done := make(chan error, 1)
	go func() { done <- r.PutIfAbsent(ctx, "new", []byte("x")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("create-only write under one slot: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a create-only write with one slot waits for itself")
	}
}

// blocking holds every Get until hold is closed.
type blocking struct {
	storage.Storage
	hold    chan struct{}
	entered atomic.Int64
}

func (b *blocking) Get(ctx context.Context, key string) ([]byte, error) {
	b.entered.Add(1)
	<-b.hold
	return b.Storage.Get(ctx, key)
}
