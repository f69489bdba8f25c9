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

// startWriteback asks the kernel to start writing f's dirty pages now,
// without waiting for them. A large object written lazily then reaches the
// disk while the caller goes on writing others, and the Sync of a commit
// finds little left to flush. Small objects are left to the kernel: a
// write request each would cost more than it saves.
func startWriteback(f *os.File, size int) { startWritebackRange(f, 0, size) }

// startWritebackRange is startWriteback for the size bytes at offset of f
// (a piece; see PutPiece).
func startWritebackRange(f *os.File, offset int64, size int) {
	if size < writebackMinSize {
		return
	}
	if conn, err := f.SyscallConn(); err == nil {
		_ = conn.Control(func(fd uintptr) {
			_ = unix.SyncFileRange(int(fd), offset, int64(size), unix.SYNC_FILE_RANGE_WRITE)
		})
	}
}

const writebackMinSize = 64 << 10
