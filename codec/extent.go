package codec

import (
	"fmt"

	"github.com/cockroachdb/errors"
)

//go:generate msgp -io=false -tests=false

//msgp:tuple Extent

// Extent is a half-open range [From, To) of chunk indices along one
// dimension. A region of chunk space is a []Extent, one per dimension.
// On the wire an Extent is the two-element array [From, To].
type Extent struct {
	From uint32
	To   uint32
}

// Contains reports whether chunk index i lies in the extent.
func (e Extent) Contains(i uint32) bool { return e.From <= i && i < e.To }

// String returns "[From,To)".
func (e Extent) String() string { return fmt.Sprintf("[%d,%d)", e.From, e.To) }

// ExtentsContain reports whether the chunk at coords lies in the region
// described by extents (one extent per dimension). It is false when the
// lengths differ.
func ExtentsContain(extents []Extent, coords []uint32) bool {
	if len(extents) != len(coords) {
		return false
	}
	for i, e := range extents {
		if !e.Contains(coords[i]) {
			return false
		}
	}
	return true
}

// validateExtents checks that each extent has From <= To.
func validateExtents(extents []Extent) error {
	for i, e := range extents {
		if e.From > e.To {
			return errors.Newf("extent %d is %v: From is past To", i, e)
		}
	}
	return nil
}

// CompareCoords orders chunk coordinates lexicographically (row-major):
// it returns -1, 0 or +1 as a sorts before, equal to or after b. A shorter
// slice that is a prefix of the longer sorts first.
func CompareCoords(a, b []uint32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}
