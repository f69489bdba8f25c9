package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"unsafe"

	"github.com/cockroachdb/errors"
)

// A cancellation token is a context the calls of the threads bound to it
// run under (icechunk.h, "Cancellation"). The binding itself is C's
// (icgo_bound_cancel): only C knows which thread calls.
type cancelToken struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// errCancelled marks the errors of calls stopped by their token.
var errCancelled = errors.New("cancelled")

func lookupCancel(h C.ic_cancel) (*cancelToken, error) {
	return lookup[*cancelToken](uint64(h), kindCancel)
}

// callContext is the context of a call made on the current thread: its
// bound token's, or the background. It must run on the calling thread
// (before work moves to goroutines of its own).
func callContext() (context.Context, error) {
	h := C.icgo_bound_cancel()
	if h == 0 {
		return context.Background(), nil
	}
	tok, err := lookupCancel(h)
	if err != nil {
		return nil, errors.Wrap(err, "the cancellation token bound to this thread (bind 0 before freeing a token)")
	}
	return tok.ctx, nil
}

// withContext runs fn under the calling thread's context; an error it
// returns after the context was cancelled is the call's being stopped
// (IC_ERR_CANCELLED), however the layer that noticed reported it.
func withContext(fn func(ctx context.Context) error) error {
	ctx, err := callContext()
	if err != nil {
		return err
	}
	err = fn(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, errInvalidHandle) && !errors.Is(err, errInvalidArgument) {
		return errors.Mark(errors.Wrap(err, "cancelled (ic_cancel_trigger)"), errCancelled)
	}
	return err
}

//export ic_cancel_new
func ic_cancel_new(out *C.ic_cancel, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		h, err := handles.add(kindCancel, &cancelToken{ctx: ctx, cancel: cancel})
		if err != nil {
			cancel()
			return err
		}
		*out = C.ic_cancel(h)
		return nil
	})
}

//export ic_cancel_bind
func ic_cancel_bind(token C.ic_cancel, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		if token != 0 {
			if _, err := lookupCancel(token); err != nil {
				return err
			}
		}
		C.icgo_bind_cancel(token)
		return nil
	})
}

//export ic_cancel_trigger
func ic_cancel_trigger(token C.ic_cancel, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		tok, err := lookupCancel(token)
		if err != nil {
			return err
		}
		tok.cancel()
		return nil
	})
}

//export ic_cancel_triggered
func ic_cancel_triggered(token C.ic_cancel, triggered *C.int32_t, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		tok, err := lookupCancel(token)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(triggered), "triggered"); err != nil {
			return err
		}
		*triggered = cBool(tok.ctx.Err() != nil)
		return nil
	})
}

//export ic_cancel_free
func ic_cancel_free(token C.ic_cancel) C.ic_status {
	return call(nil, func() error {
		if token == 0 {
			return nil
		}
		// The context is dropped, not cancelled: calls still running under
		// it are stopped by a trigger only. A context made from the
		// background holds nothing else to release.
		_, err := handles.remove(uint64(token), kindCancel)
		return err
	})
}
