//go:build !linux

package local

import (
	"os"

	"github.com/cockroachdb/errors"
)

// probeUnnamed: unnamed files (O_TMPFILE) are Linux only; writes go through
// named staging files.
func probeUnnamed(*os.Root) bool { return false }

// putUnnamed is never called where probeUnnamed is false.
func (s *Store) putUnnamed(key string, _ [][]byte, _, _ bool) error {
	return errors.AssertionFailedf("%s: unnamed files are not supported here (key %q)", s, key)
}
