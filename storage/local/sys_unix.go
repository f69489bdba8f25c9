//go:build unix

package local

import (
	"io"
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

// maxIovecs is the most buffers one writev(2) takes (IOV_MAX on Linux and
// the BSDs).
const maxIovecs = 1024

// writeParts writes parts to f one after the other with writev(2): a
// batch of small chunks packed into one object is one system call, not one
// per chunk. Short writes are continued where they stopped.
func writeParts(f *os.File, parts [][]byte) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := conn.Write(func(fd uintptr) bool {
		for parts = skipWritten(parts, 0); len(parts) > 0; {
			n, err := unix.Writev(int(fd), parts[:min(len(parts), maxIovecs)])
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				werr = &os.PathError{Op: "writev", Path: f.Name(), Err: err}
				return true
			case n == 0:
				werr = &os.PathError{Op: "writev", Path: f.Name(), Err: io.ErrShortWrite}
				return true
			}
			parts = skipWritten(parts, n)
		}
		return true
	}); err != nil {
		return err
	}
	return werr
}

// skipWritten drops the first n bytes of parts, and the parts left empty.
func skipWritten(parts [][]byte, n int) [][]byte {
	for len(parts) > 0 && n >= len(parts[0]) {
		n -= len(parts[0])
		parts = parts[1:]
	}
	if n > 0 {
		// parts is the caller's slice: shorten a copy of its header.
		parts = append([][]byte{parts[0][n:]}, parts[1:]...)
	}
	return parts
}
