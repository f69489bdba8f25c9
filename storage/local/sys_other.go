//go:build !unix

package local

import (
	"os"
	"syscall"
)

const openReadFlags = 0

// removeEmptyDir removes the directory dir (relative to root) if it is empty.
// Without unlinkat(AT_REMOVEDIR) it checks the type first, which leaves a
// small race with a concurrent writer replacing the directory by a file.
func removeEmptyDir(root *os.Root, dir string) error {
	info, err := root.Lstat(dir)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return &os.PathError{Op: "rmdir", Path: dir, Err: syscall.ENOTDIR}
	}
	return root.Remove(dir)
}

// writeParts writes parts to f one after the other, a write each.
func writeParts(f *os.File, parts [][]byte) error {
	for _, p := range parts {
		if len(p) == 0 {
			continue // no write(2) for nothing
		}
		if _, err := f.Write(p); err != nil {
			return err
		}
	}
	return nil
}
