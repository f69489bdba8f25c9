//go:build !linux

package miniotest

import (
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitState gives a signal time to take effect.
func waitState(pid int, stopped bool) { time.Sleep(100 * time.Millisecond) }
