package s3

import (
	"io"
	"testing"

	"github.com/cockroachdb/errors"
)

// Once detached, a request body neither reads nor seeks its buffer.
func TestDetachedBodyStopsReading(t *testing.T) {
	data := []byte("0123456789")
	b := newDetachedBody(data)
	got := make([]byte, 4)
	if n, err := b.Read(got); n != 4 || err != nil || string(got) != "0123" {
		t.Fatalf("read before detach: %d %v %q", n, err, got)
	}
	if pos, err := b.Seek(0, io.SeekStart); pos != 0 || err != nil {
		t.Fatalf("seek before detach: %d %v", pos, err)
	}
	all, err := io.ReadAll(b)
	if err != nil || string(all) != string(data) {
		t.Fatalf("read all: %v %q", err, all)
	}
	b.detach()
	if n, err := b.Read(got); n != 0 || !errors.Is(err, errDetached) {
		t.Fatalf("read after detach: %d %v", n, err)
	}
	if _, err := b.Seek(0, io.SeekStart); !errors.Is(err, errDetached) {
		t.Fatalf("seek after detach: %v", err)
	}
}
