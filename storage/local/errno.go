package local

import (
	"io/fs"
	"syscall"

	"github.com/cockroachdb/errors"
)

// Errnos the package reacts to, named so that platform files can differ.
const (
	errENOENT    = syscall.ENOENT
	errENOTDIR   = syscall.ENOTDIR
	errEEXIST    = syscall.EEXIST
	errENOTEMPTY = syscall.ENOTEMPTY
	errEISDIR    = syscall.EISDIR
)

// errnoOf returns the system error number carried by err, if any.
func errnoOf(err error) (syscall.Errno, bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno, true
	}
	return 0, false
}

// isErrno reports whether err carries the given errno.
func isErrno(err error, want syscall.Errno) bool {
	got, ok := errnoOf(err)
	return ok && got == want
}

// isNotExist reports whether err says that no file is at a path: it is
// missing, or one of its parents is not a directory.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || isErrno(err, errENOTDIR)
}

// opDidNothing reports whether a failed rename, link or unlink certainly left
// the filesystem unchanged. These calls are atomic, and the errnos below are
// checks made before anything changes. An error without an errno comes from
// os.Root refusing the path (a symbolic link escaping the root) before any
// system call. Anything else (EIO, say) is treated as unknown.
func opDidNothing(err error) bool {
	errno, ok := errnoOf(err)
	if !ok {
		return true
	}
	switch errno {
	case syscall.ENOENT, syscall.ENOTDIR, syscall.EISDIR, syscall.EEXIST,
		syscall.ENOTEMPTY, syscall.EACCES, syscall.EPERM, syscall.EROFS,
		syscall.ENAMETOOLONG, syscall.EXDEV, syscall.ENOSPC, syscall.EMLINK,
		syscall.EINVAL, syscall.ELOOP, syscall.EDQUOT, syscall.EBUSY:
		return true
	}
	return false
}

// isTransientErrno reports whether err is a resource shortage likely to pass.
func isTransientErrno(err error) bool {
	errno, ok := errnoOf(err)
	if !ok {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.EAGAIN, syscall.EBUSY,
		syscall.ENOMEM, syscall.EINTR, syscall.ETIMEDOUT:
		return true
	}
	return false
}

// isBadNameErrno reports whether err says the filesystem cannot hold the
// name (a path segment too long).
func isBadNameErrno(err error) bool {
	return isErrno(err, syscall.ENAMETOOLONG)
}
