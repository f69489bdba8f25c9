package s3_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage/s3"
)

// A credentials callback is asked once for credentials that never expire,
// again for ones about to expire (never twice at once), and its failure is
// the request's error; with another source beside it the config is refused.
func TestCredentialsCallback(t *testing.T) {
	cfg := configFor(t, shared)
	keys := s3.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}
	if _, err := s3.New(context.Background(), withCallback(cfg, func(context.Context) (s3.Credentials, error) { return keys, nil })); err != nil {
		t.Fatal(err)
	}
	bad := cfg
	bad.Credentials = func(context.Context) (s3.Credentials, error) { return keys, nil }
	if _, err := s3.New(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "one source") {
		t.Fatalf("static keys beside a callback: %v", err)
	}

	var calls, inside, most atomic.Int64
	var expires atomic.Pointer[time.Time]
	never := time.Time{}
	expires.Store(&never)
	st := newStore(t, withCallback(cfg, func(context.Context) (s3.Credentials, error) {
		calls.Add(1)
		n := inside.Add(1)
		defer inside.Add(-1)
		most.Store(max(most.Load(), n))
		time.Sleep(5 * time.Millisecond)
		c := keys
		c.Expires = *expires.Load()
		return c, nil
	}))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() { must(t, st.Put(ctx, "k"+string(rune('a'+i)), []byte("v"))) })
	}
	wg.Wait()
	if calls.Load() != 1 || most.Load() != 1 {
		t.Fatalf("credentials that never expire: %d calls, %d at once; want 1, 1", calls.Load(), most.Load())
	}

	soon := time.Now().Add(time.Second) // within the refresh window
	expires.Store(&soon)
	st = newStore(t, withCallback(cfg, func(ctx context.Context) (s3.Credentials, error) {
		calls.Add(1)
		c := keys
		c.Expires = *expires.Load()
		return c, nil
	}))
	calls.Store(0)
	for range 3 {
		if _, err := st.Get(ctx, "ka"); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("credentials about to expire: %d calls for 3 requests", calls.Load())
	}

	failing := newStore(t, withCallback(cfg, func(context.Context) (s3.Credentials, error) {
		return s3.Credentials{}, errors.New("the token service is down")
	}))
	if _, err := failing.Get(ctx, "ka"); err == nil || !strings.Contains(err.Error(), "the token service is down") {
		t.Fatalf("a failing callback: %v", err)
	}
	empty := newStore(t, withCallback(cfg, func(context.Context) (s3.Credentials, error) { return s3.Credentials{}, nil }))
	if _, err := empty.Get(ctx, "ka"); err == nil || !strings.Contains(err.Error(), "no access key") {
		t.Fatalf("a callback giving no keys: %v", err)
	}
}

// withCallback is cfg with its static keys replaced by fn.
func withCallback(cfg s3.Config, fn s3.CredentialsFunc) s3.Config {
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken = "", "", ""
	cfg.Credentials = fn
	return cfg
}
