package local

// UsesUnnamedFiles reports whether s writes through unnamed files (after
// readying it for writes).
func UsesUnnamedFiles(s *Store) bool { return s.prepare() == nil && s.unnamed }

// UseNamedStaging makes s write through named staging files, as it does
// where unnamed files are not supported, so tests cover both ways.
func UseNamedStaging(s *Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.namedOnly, s.unnamed = true, false
}
