//go:build unix

package local

import (
	"os"
	"path"
	"syscall"

	"golang.org/x/sys/unix"
)

// openReadFlags are added when opening an object for reading: O_NONBLOCK
// keeps a named pipe planted in the tree from blocking the open (it is then
// refused as not a regular file); it changes nothing for regular files.
const openReadFlags = syscall.O_NONBLOCK

// removeEmptyDir removes the directory dir (relative to root) if it is
// empty. Unlike os.Root.Remove it never unlinks a file, even if dir was
// replaced by one concurrently.
func removeEmptyDir(root *os.Root, dir string) error {
	parent, err := root.Open(parentDir(dir))
	if err != nil {
		return err
	}
	defer func() { _ = parent.Close() }()
	conn, err := parent.SyscallConn()
	if err != nil {
		return err
	}
	var rmErr error
	if err := conn.Control(func(fd uintptr) {
		for {
			rmErr = unix.Unlinkat(int(fd), path.Base(dir), unix.AT_REMOVEDIR)
			if rmErr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if rmErr != nil {
		return &os.PathError{Op: "rmdir", Path: dir, Err: rmErr}
	}
	return nil
}
