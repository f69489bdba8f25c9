package s3

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueue returns the bytes written to c's socket that the peer has not
// yet acknowledged (Linux's SIOCOUTQ), and whether it could tell.
func sendQueue(c net.Conn) (int64, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var q int
	var qerr error
	if err := raw.Control(func(fd uintptr) {
		q, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || qerr != nil {
		return 0, false
	}
	return int64(q), true
}
