package storage

import "time"

// DefaultModTimeSlack is ModTimeSlack's answer for a Storage that does not
// say: S3's listings give times to the second, truncated.
const DefaultModTimeSlack = time.Second

// ModTimeSlacker is implemented by a Storage that knows how much earlier
// than its write an object's ObjectInfo.ModTime may read: the coarseness
// of its timestamps. A garbage collection keeps objects stamped that close
// before its cutoff, since they may have been written after it.
type ModTimeSlacker interface {
	ModTimeSlack() time.Duration
}

// ModTimeSlack returns s's timestamp slack, or DefaultModTimeSlack.
func ModTimeSlack(s Storage) time.Duration {
	if m, ok := s.(ModTimeSlacker); ok {
		return max(m.ModTimeSlack(), 0)
	}
	return DefaultModTimeSlack
}
