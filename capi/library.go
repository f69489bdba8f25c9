// Command capi is libicechunk, the C shared library of the engine (built
// with go build -buildmode=c-shared). Its contract is the hand-written
// header include/icechunk.h; this package only converts C arguments,
// delegates to the engine and converts results back. It holds no engine
// logic.
//
// Files by concept: handles.go (the handle table), errors.go (status codes
// and error objects), buffers.go (C memory and argument conversion),
// library.go (versions and settings), storage.go, repo.go, iter.go,
// session.go, store.go (the Zarr key calls), rebase.go (solvers, rebase,
// commit with retries), json.go (the JSON forms of results); in C,
// registry.c (the registry of C memory, ic_buffer_free and ic_string_free)
// and helpers.c.
//
// Rules every export follows: it runs its body through call, which
// recovers panics and turns errors into a status code and an error object;
// it never keeps a Go pointer in C memory (C sees handles); every C
// allocation it returns goes through cAlloc, so ic_buffer_free can refuse
// pointers it does not know; it starts no goroutine of its own (iterators
// use iter.Pull, whose panics surface in the calling export).
package main

/*
#cgo CFLAGS: -I${SRCDIR} -I${SRCDIR}/../include -Wall
#include "capi.h"
*/
import "C"

import (
	"os"
	"runtime"
	"runtime/debug"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
)

// Version of the library and of its binary interface; they must match the
// macros of include/icechunk.h (the symbol check compares them).
const (
	versionNumber = C.IC_VERSION_NUMBER
	abiVersion    = C.IC_ABI_VERSION
)

func main() {}

// recoverQuietly is deferred by the exports that return a value instead of
// a status: they have no failure to report, and a panic (there is no path
// to one) must still not cross into C.
func recoverQuietly() { _ = recover() }

//export ic_version_string
func ic_version_string() *C.ic_cchar {
	defer recoverQuietly()
	return (*C.ic_cchar)(unsafe.Pointer(C.icgo_version_string()))
}

//export ic_version_number
func ic_version_number() C.uint32_t {
	defer recoverQuietly()
	return versionNumber
}

//export ic_abi_version
func ic_abi_version() C.uint32_t {
	defer recoverQuietly()
	return abiVersion
}

//export ic_format_version
func ic_format_version() C.uint32_t {
	defer recoverQuietly()
	return codec.FormatVersion
}

//export ic_status_name
func ic_status_name(status C.ic_status) *C.ic_cchar {
	defer recoverQuietly()
	return (*C.ic_cchar)(unsafe.Pointer(C.icgo_status_name(status)))
}

// gcPercent is the collector's target for the library: a collection once
// the heap has grown by half since the last one, where Go's default waits
// for it to double. The library lives in another program's process (Python,
// Julia, C), where its memory adds to theirs; the peak of metadata-heavy
// work (a 200,000-chunk scan or write) drops by about 5 MB for a few
// percent more CPU. A GOGC in the environment wins.
const gcPercent = 50

func init() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
}

//export ic_set_max_threads
func ic_set_max_threads(n C.int32_t, previous *C.int32_t, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		prev := runtime.GOMAXPROCS(max(int(n), 0))
		if previous != nil {
			*previous = C.int32_t(prev)
		}
		return nil
	})
}

//export ic_set_memory_limit
func ic_set_memory_limit(limit C.int64_t, previous *C.int64_t, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		prev := debug.SetMemoryLimit(int64(limit)) // a negative limit only reads it
		if previous != nil {
			*previous = C.int64_t(prev)
		}
		return nil
	})
}

//export ic_set_logs_filter
func ic_set_logs_filter(filter *C.ic_cchar, previous **C.char, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		text, given, err := inOptString(filter, "filter")
		if err != nil {
			return err
		}
		if !given {
			// The process's environment as C sees it now: Go's copy is
			// taken at load and misses a setenv since.
			name := C.CString(logs.EnvVar)
			defer C.free(unsafe.Pointer(name))
			if v := C.getenv(name); v != nil {
				text = goString(unsafe.Pointer(v))
			}
		}
		prev, err := logs.SetFilter(text)
		if err != nil {
			return errors.Mark(err, errInvalidArgument)
		}
		if previous != nil {
			return setString(previous, prev)
		}
		return nil
	})
}

//export ic_debug_live_objects
func ic_debug_live_objects(handleCount, bufferCount *C.uint64_t) C.ic_status {
	return call(nil, func() error {
		if handleCount != nil {
			*handleCount = C.uint64_t(handles.live.Load())
		}
		if bufferCount != nil {
			*bufferCount = C.uint64_t(liveAllocs())
		}
		return nil
	})
}
