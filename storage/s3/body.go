package s3

import (
	"bytes"
	"io"
	"sync"

	"github.com/cockroachdb/errors"
)

// errDetached is what a request body reads once its Put has returned.
var errDetached = errors.New("request body read after its PutObject returned")

// A detachedBody serves a PutObject's body from the caller's buffer until
// the Put returns. Go's HTTP transport may still read or close a request
// body after the request has returned (an early answer from the server, a
// cancelled context), and by then the caller may have reused or freed the
// buffer: storage.Storage promises that Put keeps nothing after it returns.
// After detach, reads fail and never touch the buffer.
type detachedBody struct {
	mu sync.Mutex
	r  *bytes.Reader // nil once detached
}

func newDetachedBody(data []byte) *detachedBody {
	return &detachedBody{r: bytes.NewReader(data)}
}

// Read implements io.Reader.
func (b *detachedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.r == nil {
		return 0, errDetached
	}
	return b.r.Read(p)
}

// Seek implements io.Seeker, which the SDK needs to sign the payload and
// to send it again on a retry.
func (b *detachedBody) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.r == nil {
		return 0, errDetached
	}
	return b.r.Seek(offset, whence)
}

// detach drops the buffer: later reads fail.
func (b *detachedBody) detach() {
	b.mu.Lock()
	b.r = nil
	b.mu.Unlock()
}

var _ io.ReadSeeker = (*detachedBody)(nil)
