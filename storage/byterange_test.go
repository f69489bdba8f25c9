package storage_test

import (
	"testing"

	"github.com/cockroachdb/errors"

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

// NoBytes settles a range that got no bytes by the object's size: empty
// at or before the end, invalid past it, and a transient, determinate
// error when the range selects bytes of an object that size (it changed
// between the answers).
func TestNoBytes(t *testing.T) {
	for _, tc := range []struct {
		r       storage.ByteRange
		size    int64
		invalid bool // ErrInvalidRange
		changed bool // a transient error
	}{
		{r: storage.Range(3, 3), size: 10},
		{r: storage.Suffix(0), size: 10},
		{r: storage.Suffix(0), size: 0},
		{r: storage.Suffix(4), size: 0},
		{r: storage.From(10), size: 10},
		{r: storage.Range(10, 20), size: 10},
		{r: storage.From(11), size: 10, invalid: true},
		{r: storage.Range(12, 20), size: 10, invalid: true},
		{r: storage.From(4), size: 10, changed: true},
		{r: storage.Range(0, 5), size: 10, changed: true},
		{r: storage.Suffix(4), size: 10, changed: true},
	} {
		data, err := tc.r.NoBytes(tc.size)
		switch {
		case tc.invalid:
			if !errors.Is(err, storage.ErrInvalidRange) || storage.IsTransient(err) {
				t.Errorf("%s of %d bytes: %v, want an invalid range", tc.r, tc.size, err)
			}
		case tc.changed:
			if !storage.IsTransient(err) || !errors.Is(err, storage.ErrDeterminate) || errors.Is(err, storage.ErrInvalidRange) {
				t.Errorf("%s of %d bytes: %v, want a transient, determinate error", tc.r, tc.size, err)
			}
		case err != nil || data == nil || len(data) != 0:
			t.Errorf("%s of %d bytes: %q, %v, want no bytes", tc.r, tc.size, data, err)
		}
	}
}
