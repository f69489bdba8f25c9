package s3

import (
	"io"
	"sync"

	"github.com/cockroachdb/errors"
)

// errDetached is what a request body reads once its Put has returned.
var errDetached = errors.New("request body read after its PutObject returned")

// A detachedBody serves a PutObject's body from the caller's memory, one
// or more byte slices sent one after the other, until the Put returns. Go's
// HTTP transport may still read or close a request body after the request
// has returned (an early answer from the server, a cancelled context), and
// by then the caller may have reused or freed that memory: storage.Storage
// promises that Put keeps nothing after it returns. After detach, reads and
// seeks fail and never touch the caller's memory.
type detachedBody struct {
	mu       sync.Mutex
	parts    [][]byte // nil once detached
	detached bool
	size     int64 // total length of parts
	// off is the read position, which a seek may put past size. Below
	// size, parts[part][in:] holds the next bytes (in may equal the part's
	// length: the bytes are then in the parts that follow).
	off  int64
	part int
	in   int
}

func newDetachedBody(parts [][]byte) *detachedBody {
	var size int64
	for _, p := range parts {
		size += int64(len(p))
	}
	return &detachedBody{parts: parts, size: size}
}

// Read implements io.Reader, with bytes.Reader's behaviour at the end: it
// fills p across as many parts as it takes, and returns io.EOF once the
// position is at or past the end.
func (b *detachedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, errDetached
	}
	if b.off >= b.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && b.part < len(b.parts) {
		c := copy(p[n:], b.parts[b.part][b.in:])
		n += c
		b.in += c
		if b.in == len(b.parts[b.part]) {
			b.part, b.in = b.part+1, 0
		}
	}
	b.off += int64(n)
	return n, nil
}

// Seek implements io.Seeker, which the SDK needs to sign the payload and
// to send it again on a retry. Like bytes.Reader, it accepts positions
// past the end (reads there give io.EOF) and refuses negative ones.
func (b *detachedBody) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, errDetached
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.off + offset
	case io.SeekEnd:
		abs = b.size + offset
	default:
		return 0, errors.Newf("request body: seek with invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, errors.Newf("request body: seek to negative position %d", abs)
	}
	b.off = abs
	// Find the part holding abs; past the end, part is len(parts).
	rest := abs
	b.part, b.in = 0, 0
	for b.part < len(b.parts) && rest >= int64(len(b.parts[b.part])) {
		rest -= int64(len(b.parts[b.part]))
		b.part++
	}
	if b.part < len(b.parts) {
		b.in = int(rest)
	}
	return abs, nil
}

// detach drops the caller's memory: later reads and seeks fail.
func (b *detachedBody) detach() {
	b.mu.Lock()
	b.parts = nil
	b.detached = true
	b.mu.Unlock()
}

var _ io.ReadSeeker = (*detachedBody)(nil)
