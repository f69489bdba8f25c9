package local

import (
	"os"
	"sync"
	"weak"
)

// roots shares one open root directory per path among the Stores of a
// process. Opening a repository again and again (a task each, or each
// unpickling) makes a Store each time; without sharing, each would hold
// a descriptor until the garbage collector found it unreachable. The map
// holds roots weakly: a root no Store uses is closed by its cleanup as
// before, and its entry is dropped on the next lookup of its path.
var roots = struct {
	mu sync.Mutex
	m  map[string]weak.Pointer[os.Root]
	// live is the map's size after its last sweep for dead entries; the
	// next sweep waits until it doubles, so opens stay O(1) on average.
	live int
}{m: map[string]weak.Pointer[os.Root]{}}

// sharedRoot opens the directory abs, or returns the root a Store of this
// process already holds on it. A held root is reused only while it is the
// directory now at abs (the same device and inode: the open descriptor
// keeps the inode from being reused), so that a directory removed and made
// again gets a root of its own. Errors are os.OpenRoot's (or os.Stat's).
func sharedRoot(abs string) (*os.Root, error) {
	now, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	roots.mu.Lock()
	defer roots.mu.Unlock()
	if r := roots.m[abs].Value(); r != nil {
		if held, err := r.Stat("."); err == nil && os.SameFile(held, now) {
			return r, nil
		}
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	roots.m[abs] = weak.Make(r)
	if len(roots.m) > 2*roots.live+16 {
		for path, w := range roots.m {
			if w.Value() == nil {
				delete(roots.m, path)
			}
		}
		roots.live = len(roots.m)
	}
	return r, nil
}
