package main

/*
#include "capi.h"
*/
import "C"

import (
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
)

// Markers of failures found by this package itself (the engine's are
// classified by classify).
var (
	errInvalidArgument = errors.New("invalid argument")
	errBufferTooSmall  = errors.New("buffer too small")
	errInternal        = errors.New("internal error")
)

func invalidArg(format string, args ...any) error {
	return errors.Mark(errors.Newf(format, args...), errInvalidArgument)
}

// classify maps an error to its status code. The order matters where an
// error carries several markers: the most specific class wins.
func classify(err error) C.ic_status {
	is := func(target error) bool { return errors.Is(err, target) }
	switch {
	case is(errInvalidHandle):
		return C.IC_ERR_INVALID_HANDLE
	case is(errOutOfMemory):
		return C.IC_ERR_OUT_OF_MEMORY
	case is(errBufferTooSmall):
		return C.IC_ERR_BUFFER_TOO_SMALL
	case is(errInternal):
		return C.IC_ERR_INTERNAL
	case is(errCancelled):
		return C.IC_ERR_CANCELLED
	case is(errInvalidArgument):
		return C.IC_ERR_INVALID_ARGUMENT

	case is(engine.ErrRebaseFailed):
		return C.IC_ERR_REBASE_FAILED
	case is(engine.ErrConflict):
		return C.IC_ERR_CONFLICT
	case is(engine.ErrReadOnly):
		return C.IC_ERR_READ_ONLY
	case is(engine.ErrNoChangesToCommit):
		return C.IC_ERR_NO_CHANGES
	case is(engine.ErrInvalidSessionBytes):
		return C.IC_ERR_INVALID_SESSION_BYTES
	case is(engine.ErrTxLogsDisabled):
		return C.IC_ERR_TX_LOGS_DISABLED
	case is(engine.ErrBadSnapshotChain):
		return C.IC_ERR_BAD_SNAPSHOT_CHAIN
	case is(engine.ErrInvalidTimestamp):
		return C.IC_ERR_INVALID_TIMESTAMP
	case is(engine.ErrVirtualChunk):
		return C.IC_ERR_VIRTUAL_CHUNK

	case is(engine.ErrRepositoryNotFound):
		return C.IC_ERR_REPO_NOT_FOUND
	case is(engine.ErrRepositoryExists):
		return C.IC_ERR_REPO_EXISTS
	case is(engine.ErrBranchNotFound):
		return C.IC_ERR_BRANCH_NOT_FOUND
	case is(engine.ErrBranchExists):
		return C.IC_ERR_BRANCH_EXISTS
	case is(engine.ErrTagNotFound):
		return C.IC_ERR_TAG_NOT_FOUND
	case is(engine.ErrTagExists):
		return C.IC_ERR_TAG_EXISTS
	case is(engine.ErrSnapshotNotFound):
		return C.IC_ERR_SNAPSHOT_NOT_FOUND

	case is(engine.ErrInvalidKey):
		return C.IC_ERR_INVALID_KEY
	case is(engine.ErrInvalidPath):
		return C.IC_ERR_INVALID_PATH
	case is(engine.ErrInvalidMetadata):
		return C.IC_ERR_INVALID_METADATA
	case is(engine.ErrInvalidIndex):
		return C.IC_ERR_INVALID_INDEX
	case is(storage.ErrInvalidRange):
		return C.IC_ERR_INVALID_RANGE
	case is(engine.ErrNotAnArray):
		return C.IC_ERR_NOT_AN_ARRAY
	case is(engine.ErrNotAGroup):
		return C.IC_ERR_NOT_A_GROUP
	case is(engine.ErrAlreadyExists):
		return C.IC_ERR_ALREADY_EXISTS
	case is(engine.ErrKeyNotFound), is(engine.ErrNodeNotFound), is(engine.ErrChunkNotFound):
		return C.IC_ERR_NOT_FOUND
	case is(engine.ErrInvalidArgument), is(codec.ErrInvalidID), is(codec.ErrInvalid):
		return C.IC_ERR_INVALID_ARGUMENT

	case is(codec.ErrUnsupportedVersion):
		return C.IC_ERR_UNSUPPORTED_VERSION
	case is(codec.ErrCorrupt), is(codec.ErrWrongFileType):
		return C.IC_ERR_CORRUPT
	case is(storage.ErrNotFound), is(storage.ErrPreconditionFailed), is(storage.ErrInvalidKey),
		is(storage.ErrDeterminate), is(storage.ErrIndeterminate), is(storage.ErrTransient):
		return C.IC_ERR_STORAGE
	}
	return C.IC_ERR_INTERNAL
}

// panicError turns a recovered panic into an IC_ERR_INTERNAL error with
// the stack, for a bug report.
func panicError(r any) error {
	stack := debug.Stack()
	if len(stack) > 4096 {
		stack = stack[:4096]
	}
	return errors.Mark(errors.Newf("panic in libicechunk (please report it): %v\n%s", r, stack), errInternal)
}

// call runs the body of an export: it clears *errOut, recovers a panic,
// and turns an error into its status code and, if errOut is not NULL, an
// error object.
func call(errOut *C.ic_error, fn func() error) (st C.ic_status) {
	defer func() {
		if r := recover(); r != nil {
			st = report(errOut, panicError(r))
		}
	}()
	if errOut != nil {
		*errOut = 0
	}
	if err := fn(); err != nil {
		return report(errOut, err)
	}
	return C.IC_OK
}

// unlocked runs fn on a goroutine of its own and waits for it, for the
// batch calls. An export runs on a goroutine locked to the calling C
// thread; when such a goroutine blocks and wakes up many times (as the
// engine's batch calls do while they wait for their bounded pool of
// workers), every wake-up must hand the scheduler back to that one thread,
// which costs microseconds each time. A fresh goroutine blocks freely, and
// the locked one waits once. Like every goroutine the library starts, it
// recovers a panic (into an error for the waiting export).
func unlocked(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- panicError(r)
			}
		}()
		done <- fn()
	}()
	return <-done
}

// report classifies err and stores an error object in *errOut.
func report(errOut *C.ic_error, err error) C.ic_status {
	code := classify(err)
	if errOut != nil {
		if h, herr := handles.add(kindError, newErrorObj(code, err)); herr == nil {
			*errOut = C.ic_error(h)
		}
	}
	return code
}

// errorObj is what an ic_error handle holds. The strings C reads are
// allocated on first use and freed by ic_error_free.
type errorObj struct {
	code      C.ic_status
	err       error
	msg       string
	rebase    *engine.RebaseFailedError
	conflict  *engine.ConflictError
	conflicts []engine.Conflict

	mu    sync.Mutex
	freed bool
	cmsg  *C.char
	cconf []C.ic_conflict // filled on first ic_error_conflict
	owned []unsafe.Pointer
}

func newErrorObj(code C.ic_status, err error) *errorObj {
	e := &errorObj{code: code, err: err, msg: err.Error()}
	if errors.As(err, &e.rebase) {
		e.conflicts = e.rebase.Conflicts
	}
	errors.As(err, &e.conflict)
	return e
}

// own records C memory to free with the error.
func (e *errorObj) own(p unsafe.Pointer) unsafe.Pointer {
	if p != nil {
		e.owned = append(e.owned, p)
	}
	return p
}

func (e *errorObj) ownString(s string) *C.char {
	p := ownedCString(s)
	if p == nil {
		panic(errors.Mark(errors.New("cannot allocate an error string"), errOutOfMemory))
	}
	return (*C.char)(e.own(unsafe.Pointer(p)))
}

// buildConflicts allocates the C form of every conflict (e.mu held).
func (e *errorObj) buildConflicts() {
	if e.cconf != nil || len(e.conflicts) == 0 {
		return
	}
	out := make([]C.ic_conflict, len(e.conflicts))
	for i, c := range e.conflicts {
		o := &out[i]
		o.kind = C.int32_t(c.Kind)
		o.kind_name = e.ownString(c.Kind.String())
		o.path = e.ownString(string(c.Path))
		if c.NodeID.IsZero() {
			o.node_id = e.ownString("")
		} else {
			o.node_id = e.ownString(c.NodeID.String())
		}
		o.commit_id = e.ownString(c.Commit.String())
		o.commit_message = e.ownString(c.CommitMessage)
		o.sentence = e.ownString(c.Sentence())
		if len(c.Coords) > 0 {
			rank := len(c.Coords[0])
			flat := make([]uint32, len(c.Coords)*rank)
			for j, t := range c.Coords {
				copy(flat[j*rank:(j+1)*rank], t)
			}
			o.coords_count, o.coords_rank = C.size_t(len(c.Coords)), C.size_t(rank)
			if len(flat) > 0 {
				p := e.own(C.icgo_malloc(C.size_t(4 * len(flat))))
				if p == nil {
					panic(errors.Mark(errors.New("cannot allocate conflict coordinates"), errOutOfMemory))
				}
				copy(unsafe.Slice((*uint32)(p), len(flat)), flat)
				o.coords = (*C.uint32_t)(p)
			}
		}
		if len(c.Children) > 0 {
			p := e.own(C.icgo_malloc(C.size_t(int(unsafe.Sizeof(uintptr(0))) * len(c.Children))))
			if p == nil {
				panic(errors.Mark(errors.New("cannot allocate conflict children"), errOutOfMemory))
			}
			ptrs := unsafe.Slice((**C.char)(p), len(c.Children))
			for j, child := range c.Children {
				ptrs[j] = e.ownString(string(child))
			}
			o.children_count = C.size_t(len(c.Children))
			o.children = (**C.char)(p)
		}
	}
	e.cconf = out
}

// release frees the C memory of the error.
func (e *errorObj) release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.freed = true
	if e.cmsg != nil {
		C.free(unsafe.Pointer(e.cmsg))
		e.cmsg = nil
	}
	for _, p := range e.owned {
		C.free(p)
	}
	e.owned, e.cconf = nil, nil
}

func lookupError(h C.ic_error) (*errorObj, error) {
	return lookup[*errorObj](uint64(h), kindError)
}

//export ic_error_code
func ic_error_code(err C.ic_error) (st C.ic_status) {
	defer func() {
		if recover() != nil {
			st = C.IC_ERR_INTERNAL
		}
	}()
	e, lerr := lookupError(err)
	if lerr != nil {
		return C.IC_ERR_INVALID_HANDLE
	}
	return e.code
}

//export ic_error_message
func ic_error_message(err C.ic_error) (msg *C.ic_cchar) {
	invalid := (*C.ic_cchar)(unsafe.Pointer(C.icgo_invalid_error_message()))
	defer func() {
		if recover() != nil {
			msg = invalid
		}
	}()
	e, lerr := lookupError(err)
	if lerr != nil {
		return invalid
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.freed {
		return invalid
	}
	if e.cmsg == nil {
		e.cmsg = ownedCString(e.msg)
		if e.cmsg == nil {
			return invalid
		}
	}
	return (*C.ic_cchar)(unsafe.Pointer(e.cmsg))
}

//export ic_error_conflict_count
func ic_error_conflict_count(err C.ic_error) (n C.size_t) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	e, lerr := lookupError(err)
	if lerr != nil {
		return 0
	}
	return C.size_t(len(e.conflicts))
}

//export ic_error_conflict
func ic_error_conflict(err C.ic_error, index C.size_t, out *C.ic_conflict) C.ic_status {
	return call(nil, func() error {
		e, lerr := lookupError(err)
		if lerr != nil {
			return lerr
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		if uint64(index) >= uint64(len(e.conflicts)) {
			return invalidArg("conflict index %d out of range: the error has %d conflicts", uint64(index), len(e.conflicts))
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.freed {
			return errors.Mark(errors.New("the error was freed"), errInvalidHandle)
		}
		e.buildConflicts()
		*out = e.cconf[index]
		return nil
	})
}

// errorJSON is the JSON form of an error (ic_error_json).
type errorJSON struct {
	Code           int            `json:"code"`
	CodeName       string         `json:"code_name"`
	Message        string         `json:"message"`
	SnapshotID     string         `json:"snapshot_id,omitempty"`
	Conflicts      []conflictJSON `json:"conflicts,omitempty"`
	Branch         string         `json:"branch,omitempty"`
	ExpectedParent string         `json:"expected_parent,omitempty"`
	ActualParent   string         `json:"actual_parent,omitempty"`
	Indeterminate  *bool          `json:"indeterminate,omitempty"`
	Transient      *bool          `json:"transient,omitempty"`
}

type conflictJSON struct {
	Kind          int        `json:"kind"`
	KindName      string     `json:"kind_name"`
	Path          string     `json:"path"`
	NodeID        string     `json:"node_id"`
	Coords        [][]uint32 `json:"coords"`
	Children      []string   `json:"children"`
	CommitID      string     `json:"commit_id"`
	CommitMessage string     `json:"commit_message"`
	Sentence      string     `json:"sentence"`
}

func (e *errorObj) json() errorJSON {
	out := errorJSON{Code: int(e.code), CodeName: goString(unsafe.Pointer(C.icgo_status_name(e.code))), Message: e.msg}
	if e.rebase != nil {
		out.SnapshotID = e.rebase.Snapshot.String()
		out.Conflicts = []conflictJSON{}
		for _, c := range e.conflicts {
			cj := conflictJSON{Kind: int(c.Kind), KindName: c.Kind.String(), Path: string(c.Path),
				Coords: c.Coords, Children: []string{}, CommitID: c.Commit.String(), CommitMessage: c.CommitMessage, Sentence: c.Sentence()}
			if !c.NodeID.IsZero() {
				cj.NodeID = c.NodeID.String()
			}
			if cj.Coords == nil {
				cj.Coords = [][]uint32{}
			}
			for _, p := range c.Children {
				cj.Children = append(cj.Children, string(p))
			}
			out.Conflicts = append(out.Conflicts, cj)
		}
	}
	if e.conflict != nil {
		out.Branch = e.conflict.Branch
		out.ExpectedParent = e.conflict.ExpectedParent.String()
		out.ActualParent = e.conflict.ActualParent.String()
	}
	if e.code == C.IC_ERR_STORAGE {
		ind, tr := storage.IsIndeterminate(e.err), storage.IsTransient(e.err)
		out.Indeterminate, out.Transient = &ind, &tr
	}
	return out
}

//export ic_error_json
func ic_error_json(err C.ic_error, json **C.char) C.ic_status {
	return call(nil, func() error {
		e, lerr := lookupError(err)
		if lerr != nil {
			return lerr
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		return setJSON(json, e.json())
	})
}

//export ic_error_free
func ic_error_free(err C.ic_error) C.ic_status {
	return call(nil, func() error {
		if err == 0 {
			return nil
		}
		obj, rerr := handles.remove(uint64(err), kindError)
		if rerr != nil {
			return rerr
		}
		obj.(*errorObj).release()
		return nil
	})
}
