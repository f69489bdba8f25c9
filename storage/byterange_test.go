package storage_test

import (
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
)

func TestHTTPRange(t *testing.T) {
	for r, want := range map[storage.ByteRange]string{
		storage.Range(2, 5): "bytes=2-4",
		storage.Range(0, 1): "bytes=0-0",
		storage.Range(3, 3): "",
		storage.From(0):     "bytes=0-",
		storage.From(7):     "bytes=7-",
		storage.Suffix(4):   "bytes=-4",
		storage.Suffix(0):   "",
	} {
		if got := r.HTTPRange(); got != want {
			t.Errorf("%s: %q, want %q", r, got, want)
		}
	}
}
