package engine

import (
	"context"
	"runtime"
	"testing"

	"github.com/cockroachdb/errors"
)

// A caller that joined a load its starter's context stopped loads again
// itself, instead of failing with the other caller's cancellation; any
// other failure of the load is shared.
func TestCacheJoinerOfACancelledLoadLoadsAgain(t *testing.T) {
	for _, tc := range []struct {
		name     string
		starter  error
		wantOwn  bool
		wantErrs bool
	}{
		{"cancelled", errors.Wrap(context.Canceled, "reading snapshot"), true, false},
		{"timed out", errors.Wrap(context.DeadlineExceeded, "reading snapshot"), true, false},
		{"failed", errors.New("snapshot not found"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache[string, string](1 << 20)
			started, release := make(chan struct{}), make(chan struct{})
			go func() {
				_, _ = c.get("k", func() (string, int64, error) {
					close(started)
					<-release
					return "", 0, tc.starter
				})
			}()
			<-started
			got := make(chan error, 1)
			var val string
			ownCalled := false
			go func() {
				v, err := c.get("k", func() (string, int64, error) {
					ownCalled = true
					return "value", 5, nil
				})
				val = v
				got <- err
			}()
			// Once the joiner waits on the load in flight, the starter finishes.
			for joined := false; !joined; {
				c.mu.Lock()
				joined = c.inflight["k"].waiters == 1
				c.mu.Unlock()
				runtime.Gosched()
			}
			close(release)
			err := <-got
			if ownCalled != tc.wantOwn || (err != nil) != tc.wantErrs {
				t.Fatalf("joiner: own fetch %v, error %v; want own fetch %v, error %v", ownCalled, err, tc.wantOwn, tc.wantErrs)
			}
			if tc.wantOwn && val != "value" {
				t.Fatalf("joiner got %q", val)
			}
		})
	}
}
