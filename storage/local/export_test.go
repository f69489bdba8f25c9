package local

// UsesUnnamedFiles reports whether s writes through unnamed files.
func UsesUnnamedFiles(s *Store) bool { return s.unnamed }

// UseNamedStaging makes s write through named staging files, as it does
// where unnamed files are not supported, so tests cover both ways.
func UseNamedStaging(s *Store) { s.unnamed = false }
