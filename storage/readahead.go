package storage

// ReadAheader is implemented by a Storage on which a reader gains from
// having the next bytes of a sequential scan fetched while it processes
// the last ones, such as S3, where each request waits for the network and
// the server. ReadAhead is the most bytes a session may hold read ahead of
// its reader (engine.Session.StoreGetManyInto); zero turns read-ahead off.
// Storage that answers from memory or the page cache does not implement
// it: a copy through a read-ahead buffer costs more than it saves there.
type ReadAheader interface {
	ReadAhead() int
}

// ReadAhead returns s's read-ahead hint, or 0 (off) without a ReadAheader.
func ReadAhead(s Storage) int {
	if r, ok := s.(ReadAheader); ok {
		return max(r.ReadAhead(), 0)
	}
	return 0
}
