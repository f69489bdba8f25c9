//go:build !linux

package local

import "os"

// lazyPut: without syncfs(2), Put makes each write durable itself.
const lazyPut = false

// syncFilesystem has nothing to do: every Put was fsynced when it returned.
func syncFilesystem(*os.Root) error { return nil }

// startWriteback has nothing to do: Put fsyncs every write itself.
func startWriteback(*os.File, int) {}

// startWritebackRange has nothing to do: PutPiece fsyncs every piece itself.
func startWritebackRange(*os.File, int64, int) {}
