//go:build unix

package engine

import "golang.org/x/sys/unix"

// newArena returns n bytes of memory outside the Go heap, and the function
// that gives them back. Memory held for the life of a session that the
// collector never needs to scan should not count toward its heap goal:
// that goal is twice the live heap, so n bytes on the heap would let as
// much garbage pile up before each collection. Without an anonymous
// mapping it falls back to the heap.
func newArena(n int) ([]byte, func()) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b, func() { _ = unix.Munmap(b) }
}
