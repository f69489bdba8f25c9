package storage

import "time"

// ServerClock is implemented by a Storage whose responses carry the time
// of the service behind it, such as the Date header of every S3 response.
// A commit compares the storage's time with this machine's (snapshot times
// order history); a storage that reports it in its responses spares the
// commit a request to read the time back from an object it wrote.
type ServerClock interface {
	// ServerTime returns the service's time as its latest response gave
	// it, and this machine's time when that response arrived. ok is false
	// until a response has carried a time.
	ServerTime() (server, local time.Time, ok bool)
}

// ServerTime returns s's ServerTime, or ok false if s is no ServerClock.
func ServerTime(s Storage) (server, local time.Time, ok bool) {
	if c, isClock := s.(ServerClock); isClock {
		return c.ServerTime()
	}
	return time.Time{}, time.Time{}, false
}
