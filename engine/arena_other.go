//go:build !unix

package engine

// newArena returns n bytes on the Go heap (see arena_unix.go).
func newArena(n int) ([]byte, func()) { return make([]byte, n), func() {} }
