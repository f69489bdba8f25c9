package storage_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/logs/logstest"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// failFirst fails the first n requests for one key with a transient error.
type failFirst struct {
	storage.Storage
	key string
	n   int
}

func (f *failFirst) Get(ctx context.Context, key string) ([]byte, error) {
	if key == f.key && f.n > 0 {
		f.n--
		return nil, storage.Transient(errors.New("connection reset by peer"))
	}
	return f.Storage.Get(ctx, key)
}

func TestRetryingLogsRequestsAndRetries(t *testing.T) {
	ctx := context.Background()
	base := memory.New(t.Name())
	if err := base.Put(ctx, "a/b", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s := storage.NewRetrying(&failFirst{Storage: base, key: "a/b", n: 2}, fastRetry)

	lines := logstest.Capture(t, "storage=info")
	if _, err := s.Get(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	store := "store=memory:" + t.Name()
	retries := lines.Matching(`msg="retrying a request"`, "component=storage", store, "op=get", "key=a/b", `err="connection reset by peer"`)
	if len(retries) != 2 || !strings.Contains(retries[0], "try=1 of=20") || !strings.Contains(retries[1], "try=2 of=20") {
		t.Fatalf("retry lines at info: %q", lines.All())
	}
	if n := len(lines.Matching("msg=request")); n != 0 {
		t.Fatalf("%d request lines at info level, want none", n)
	}

	lines = logstest.Capture(t, "storage=debug")
	if _, err := s.Get(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	for range s.List(ctx, "a/", storage.ListOptions{}) {
	}
	if got := lines.Matching("msg=request", store, "op=get", "key=a/b", "took="); len(got) != 1 || strings.Contains(got[0], "err=") {
		t.Fatalf("the Get's line: %q", lines.All())
	}
	if got := lines.Matching("msg=request", "op=get", "key=missing", "err="); len(got) != 1 {
		t.Fatalf("the failed Get's line: %q", lines.All())
	}
	if got := lines.Matching("msg=request", store, "op=list", "key=a/"); len(got) != 1 {
		t.Fatalf("the List's line: %q", lines.All())
	}

	lines = logstest.Capture(t, "storage=warn")
	if _, err := s.Get(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if all := lines.All(); len(all) != 0 {
		t.Fatalf("lines at warn level: %q", all)
	}
}

// stalledError is the error of a request to a server that stopped answering.
func stalledError() error {
	return errors.Mark(storage.Transient(errors.New("no answer from the server for 1m0s")), storage.ErrStalled)
}

// stalledFirst fails the first request for a key as a stalled server does.
type stalledFirst struct {
	storage.Storage
	failed bool
}

func (f *stalledFirst) Get(ctx context.Context, key string) ([]byte, error) {
	if !f.failed {
		f.failed = true
		return nil, stalledError()
	}
	return f.Storage.Get(ctx, key)
}

// TestRetryingWarnsOfStalledServers: a retry after a stalled server is a
// warning, which the default filter shows; other retries stay at info.
func TestRetryingWarnsOfStalledServers(t *testing.T) {
	ctx := context.Background()
	base := memory.New(t.Name())
	if err := base.Put(ctx, "k", []byte("x")); err != nil {
		t.Fatal(err)
	}
	s := storage.NewRetrying(&stalledFirst{Storage: base}, fastRetry)
	lines := logstest.Capture(t, "warn")
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := lines.Matching("level=WARN", `msg="retrying a request"`, "op=get", "key=k", "try=1", `err="no answer from the server for 1m0s"`); len(got) != 1 {
		t.Fatalf("lines at warn level: %q", lines.All())
	}
}

func TestRetryingLogsUnknownCreateOutcomes(t *testing.T) {
	ctx := context.Background()
	faulty := storage.NewUnreliable(memory.New(t.Name()), storage.Faults{Rate: 1, IndeterminateShare: 1, Seed: 3})
	s := storage.NewRetrying(faulty, fastRetry)
	lines := logstest.Capture(t, "info")
	for i := 0; len(lines.Matching("reading back a create-only write")) == 0; i++ {
		if i == 50 {
			t.Fatalf("no read-back logged after 50 create-only writes that all failed indeterminately: %q", lines.All())
		}
		_ = s.PutIfAbsent(ctx, "once", []byte("x"))
	}
	if got := lines.Matching("reading back a create-only write", "store=memory:"+t.Name(), "key=once"); len(got) == 0 {
		t.Fatalf("the read-back line does not name its key: %q", lines.All())
	}
}

// cancelledPut fails a create-only write as a cancelled request does,
// with its outcome unknown, after its caller's context ended.
type cancelledPut struct {
	storage.Storage
	cancel context.CancelFunc
	gets   int
}

func (c *cancelledPut) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	c.cancel()
	return storage.Indeterminate(errors.Wrapf(ctx.Err(), "create-only put %q", key))
}

func (c *cancelledPut) Get(ctx context.Context, key string) ([]byte, error) {
	c.gets++
	return c.Storage.Get(ctx, key)
}

// A create-only write whose caller gave up is not read back: the read
// could not run under the caller's context, and the outcome stays unknown.
func TestRetryingLeavesACancelledCreateUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	inner := &cancelledPut{Storage: memory.New(t.Name()), cancel: cancel}
	s := storage.NewRetrying(inner, fastRetry)
	lines := logstest.Capture(t, "info")
	err := s.PutIfAbsent(ctx, "k", nil)
	if !storage.IsIndeterminate(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("a create-only write cut short by its caller: %v, want an indeterminate failure naming the cancellation", err)
	}
	if inner.gets != 0 || len(lines.Matching("reading back")) != 0 {
		t.Fatalf("the write was read back (%d gets): %q", inner.gets, lines.All())
	}
}

// alwaysStalled fails every read and listing as a stalled server does.
type alwaysStalled struct{ storage.Storage }

func (alwaysStalled) Get(context.Context, string) ([]byte, error) { return nil, stalledError() }

func (alwaysStalled) List(context.Context, string, storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) { yield(storage.ObjectInfo{}, stalledError()) }
}

// TestRetryingSaysItGaveUp: an operation out of tries says how many it
// made, so that a caller who waited learns why and what bounds it; a
// failure that is not retried is returned as it is.
func TestRetryingSaysItGaveUp(t *testing.T) {
	ctx := context.Background()
	s := storage.NewRetrying(alwaysStalled{memory.New(t.Name())}, fastRetry)
	logstest.Capture(t, "warn") // the retries' warnings, out of the test's output
	_, err := s.Get(ctx, "k")
	want := fmt.Sprintf("gave up after %d tries", fastRetry.MaxAttempts)
	if !strings.Contains(fmt.Sprint(err), want) || !errors.Is(err, storage.ErrStalled) || !errors.Is(err, storage.ErrTransient) {
		t.Fatalf("get: %v, want %q keeping the markers", err, want)
	}
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		if !strings.Contains(fmt.Sprint(err), want) {
			t.Fatalf("list: %v, want %q", err, want)
		}
	}
	if _, err := storage.NewRetrying(memory.New(t.Name()), fastRetry).Get(ctx, "absent"); strings.Contains(fmt.Sprint(err), "gave up") {
		t.Fatalf("a failure not retried: %v", err)
	}
}
