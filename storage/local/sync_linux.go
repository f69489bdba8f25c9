package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// lazyPut: Put leaves durability to Sync, which syncfs(2) makes cheap.
const lazyPut = true

// syncFilesystem flushes every dirty page and inode of the filesystem that
// holds root, whoever wrote them.
func syncFilesystem(root *os.Root) error {
	f, err := root.Open(".")
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := conn.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	return serr
}
