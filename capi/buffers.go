package main

/*
#include "capi.h"
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/cockroachdb/errors"
)

// Memory handed to C. Every buffer and string returned through an
// out-parameter comes from cAlloc and is recorded in the registry of
// registry.c until ic_buffer_free or ic_string_free releases it; those two
// exports are written in C there, so that a release never waits for the Go
// runtime.

var errOutOfMemory = errors.New("out of memory")

// cAlloc returns n bytes (at least one) of C memory owned by the caller of
// the export that returns it.
func cAlloc(n int) (unsafe.Pointer, error) {
	p := C.icgo_alloc(C.size_t(n))
	if p == nil {
		return nil, errors.Mark(errors.Newf("cannot allocate %d bytes", n), errOutOfMemory)
	}
	return p, nil
}

// cRelease frees a pointer cAlloc returned; false if it is not live.
func cRelease(p unsafe.Pointer) bool {
	return C.icgo_release(p) != 0
}

// cAllocTo returns an alloc function for the engine's reads into a buffer
// (StoreGetInto, StoreGetManyInto): each call hands out a new registered C
// buffer and records it in *p, and its size in *size unless size is nil.
// The engine calls it at most once per read; after a failed read the
// caller releases *p if it is set.
func cAllocTo(p *unsafe.Pointer, size *int) func(int) ([]byte, error) {
	return func(n int) ([]byte, error) {
		q, err := cAlloc(n)
		if err != nil {
			return nil, err
		}
		*p = q
		if size != nil {
			*size = n
		}
		return unsafe.Slice((*byte)(q), n), nil
	}
}

// liveAllocs counts the pointers cAlloc returned that are not released.
func liveAllocs() int64 {
	return int64(C.icgo_live_allocs())
}

// registrySlots is the size of the registry's tables, in slots, for tests
// (registry.c).
func registrySlots() int64 {
	return int64(C.icgo_registry_slots())
}

// largeCached is the number of large buffers the registry keeps for reuse
// (registry.c).
func largeCached() int {
	return int(C.icgo_large_cached())
}

// cBytes copies data into a new registered C buffer.
func cBytes(data []byte) (unsafe.Pointer, error) {
	p, err := cAlloc(len(data))
	if err != nil {
		return nil, err
	}
	copy(unsafe.Slice((*byte)(p), len(data)), data)
	return p, nil
}

// cString copies s into a new registered NUL-terminated C string.
func cString(s string) (*C.char, error) {
	p, err := cAlloc(len(s) + 1)
	if err != nil {
		return nil, err
	}
	b := unsafe.Slice((*byte)(p), len(s)+1)
	copy(b, s)
	b[len(s)] = 0
	return (*C.char)(p), nil
}

// ownedCString copies s into C memory owned by a library object (an error),
// not registered: the object frees it.
func ownedCString(s string) *C.char {
	p := C.icgo_malloc(C.size_t(len(s) + 1))
	if p == nil {
		return nil
	}
	b := unsafe.Slice((*byte)(p), len(s)+1)
	copy(b, s)
	b[len(s)] = 0
	return (*C.char)(p)
}

// --- Arguments from C ---------------------------------------------------

// maxSize is IC_MAX_SIZE: larger sizes are negative numbers converted to
// size_t, or garbage.
const maxSize = 1 << 48

// maxBuffer bounds the bytes of an input array: no buffer of a process is
// larger than its user address space (47 bits on x86-64, 48 on arm64), so
// a longer one is a wrong count, refused before anything is allocated.
const maxBuffer = 1 << 48

func checkSize(n C.size_t, what string) (int, error) {
	if uint64(n) > maxSize {
		return 0, invalidArg("%s %d is negative or larger than IC_MAX_SIZE", what, uint64(n))
	}
	return int(n), nil
}

// inString copies a required NUL-terminated UTF-8 string.
func inString(p *C.ic_cchar, what string) (string, error) {
	if p == nil {
		return "", invalidArg("%s is NULL", what)
	}
	s := goString(unsafe.Pointer(p))
	if !utf8.ValidString(s) {
		return "", invalidArg("%s is not valid UTF-8", what)
	}
	return s, nil
}

// goString copies a NUL-terminated C string. It scans byte by byte instead
// of using C.GoString, whose vectorised scan reads whole aligned words past
// the terminator: harmless, but memcheck reports it as a read past the end
// of the caller's block.
func goString(p unsafe.Pointer) string {
	n := 0
	for *(*byte)(unsafe.Add(p, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(p), n))
}

// inOptString is inString for a parameter that may be NULL ("", false).
func inOptString(p *C.ic_cchar, what string) (string, bool, error) {
	if p == nil {
		return "", false, nil
	}
	s, err := inString(p, what)
	return s, true, err
}

// borrowBytes returns the n bytes at p (NULL only when n is 0) without
// copying them: the slice is the caller's memory, valid only until the
// export returns. Pass it only to engine calls that keep nothing of their
// input once they return (StoreSet, SetChunk, WriteChunk): large chunk
// values then reach the file or the network without a copy in Go.
func borrowBytes(p *C.ic_cu8, n C.size_t, what string) ([]byte, error) {
	size, err := checkSize(n, what+" length")
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return []byte{}, nil
	}
	if p == nil {
		return nil, invalidArg("%s is NULL but its length is %d", what, size)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), size), nil
}

// inBytes copies n bytes at p (NULL only when n is 0).
func inBytes(p *C.ic_cu8, n C.size_t, what string) ([]byte, error) {
	b, err := borrowBytes(p, n, what)
	if err != nil || len(b) == 0 {
		return b, err
	}
	return slices.Clone(b), nil
}

func inU32s(p *C.ic_cu32, n C.size_t, what string) ([]uint32, error) {
	size, err := checkSize(n, what+" count")
	if err != nil {
		return nil, err
	}
	if size == 0 {
		return []uint32{}, nil
	}
	if p == nil {
		return nil, invalidArg("%s is NULL but its count is %d", what, size)
	}
	if size > maxBuffer/4 {
		return nil, invalidArg("%s count %d is more indices than any buffer holds", what, size)
	}
	out := make([]uint32, size)
	copy(out, unsafe.Slice((*uint32)(unsafe.Pointer(p)), size))
	return out, nil
}

func inU64s(p *C.ic_cu64, n int, what string) ([]uint64, error) {
	if n == 0 {
		return []uint64{}, nil
	}
	if p == nil {
		return nil, invalidArg("%s is NULL but ndim is %d", what, n)
	}
	if n > maxBuffer/8 {
		return nil, invalidArg("%s: ndim %d is more values than any buffer holds", what, n)
	}
	out := make([]uint64, n)
	copy(out, unsafe.Slice((*uint64)(unsafe.Pointer(p)), n))
	return out, nil
}

// inStrings copies n strings (entries may be NULL only if allowNull; they
// become "").
func inStrings(p *C.ic_cstr, n int, what string, allowNull bool) ([]string, error) {
	if n == 0 {
		return []string{}, nil
	}
	if p == nil {
		return nil, invalidArg("%s is NULL but its count is %d", what, n)
	}
	ptrs := unsafe.Slice((**C.ic_cchar)(unsafe.Pointer(p)), n)
	out := make([]string, n)
	for i, q := range ptrs {
		if q == nil && allowNull {
			continue
		}
		s, err := inString(q, what+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// inJSON decodes a required JSON document into v, strictly: unknown
// fields and trailing data are errors.
func inJSON(p *C.ic_cchar, what string, v any) error {
	s, err := inString(p, what)
	if err != nil {
		return err
	}
	return decodeJSON(s, what, v)
}

// --- Results to C -------------------------------------------------------

func needOut(p unsafe.Pointer, what string) error {
	if p == nil {
		return invalidArg("%s (an out-parameter) is NULL", what)
	}
	return nil
}

// setString stores a new C copy of s in *out.
func setString(out **C.char, s string) error {
	c, err := cString(s)
	if err != nil {
		return err
	}
	*out = c
	return nil
}

// marshalJSON encodes a result. Unlike json.Marshal it leaves <, > and &
// as they are: results are data for programs, not HTML.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errors.Wrap(err, "encoding a JSON result")
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// setJSON stores the JSON of v in *out.
func setJSON(out **C.char, v any) error {
	b, err := marshalJSON(v)
	if err != nil {
		return err
	}
	c, err := cString(string(b))
	if err != nil {
		return err
	}
	*out = c
	return nil
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}
