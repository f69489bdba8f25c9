package engine

import (
	"context"
	"math/rand/v2"
	"time"
)

// sleepJitter waits before retry number attempt (from 1): a random time up
// to base·2^(attempt-1), capped at maxDelay ("full jitter").
func sleepJitter(ctx context.Context, attempt int, base, maxDelay time.Duration) error {
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
