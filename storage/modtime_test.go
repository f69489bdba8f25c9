package storage_test

import (
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// TestModTimeSlack: each store says how coarse its timestamps are, the
// wrappers pass it through, and a store that does not say gets S3's.
func TestModTimeSlack(t *testing.T) {
	mem := memory.New(t.Name())
	disk, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	type plain struct{ storage.Storage }
	for name, c := range map[string]struct {
		s    storage.Storage
		want time.Duration
	}{
		"memory":             {mem, 0},
		"local":              {disk, 50 * time.Millisecond},
		"retrying local":     {storage.NewRetrying(disk, storage.DefaultRetryPolicy), 50 * time.Millisecond},
		"counting memory":    {storage.NewCounting(mem), 0},
		"unreliable memory":  {storage.NewUnreliable(mem, storage.Faults{}), 0},
		"a store that hides": {plain{mem}, storage.DefaultModTimeSlack},
	} {
		if got := storage.ModTimeSlack(c.s); got != c.want {
			t.Errorf("%s: slack %v, want %v", name, got, c.want)
		}
	}
}
