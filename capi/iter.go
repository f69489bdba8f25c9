package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"iter"
	"sync"
	"unsafe"

	"github.com/cockroachdb/errors"
)

// iterObj is what an ic_iter handle holds: an engine sequence run by a
// goroutine of its own that hands items over a channel. (A pull iterator,
// iter.Pull2, would be bound to the OS thread that created it, and a C
// caller may use an iterator from any thread; the Go runtime aborts the
// process on such a switch.) Calls are serialised by mu. An error ends the
// sequence after the items that came before it have been returned.
type iterObj struct {
	ctx     context.Context // of the call that made it: its token stops the sequence
	mu      sync.Mutex
	next    func() (any, error, bool)
	stop    func()
	pending error // an error to report on the next call
	done    bool
}

// iterItem is one element of a sequence, converted, or the error ending it.
type iterItem struct {
	v   any
	err error
}

// iterBuffer is how many items the producer may run ahead of the reader.
const iterBuffer = 64

func newIter[T any](ctx context.Context, seq iter.Seq2[T, error], conv func(T) any, out *C.ic_iter) error {
	items := make(chan iterItem, iterBuffer)
	quit := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(quit) }) }
	go produce(seq, conv, items, quit)
	it := &iterObj{ctx: ctx, stop: stop, next: func() (any, error, bool) {
		x, ok := <-items
		if !ok {
			return nil, nil, false
		}
		return x.v, x.err, true
	}}
	h, err := handles.add(kindIter, it)
	if err != nil {
		stop()
		return err
	}
	*out = C.ic_iter(h)
	return nil
}

// produce runs seq, sending its items until it ends, fails, or quit is
// closed. A panic in the sequence becomes its last item's error.
func produce[T any](seq iter.Seq2[T, error], conv func(T) any, items chan<- iterItem, quit <-chan struct{}) {
	defer close(items)
	send := func(x iterItem) bool {
		select {
		case items <- x:
			return true
		case <-quit:
			return false
		}
	}
	defer func() {
		if r := recover(); r != nil {
			send(iterItem{err: panicError(r)})
		}
	}()
	for v, err := range seq {
		if err != nil {
			send(iterItem{err: err})
			return
		}
		if !send(iterItem{v: conv(v)}) {
			return
		}
	}
}

// page pulls up to max items (0: all).
func (it *iterObj) page(max int) ([]any, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.pending != nil {
		err := it.pending
		it.pending = nil
		return nil, err
	}
	items := []any{}
	for !it.done && (max == 0 || len(items) < max) {
		v, err, ok := it.next()
		if !ok {
			it.done = true
			it.stop()
			break
		}
		if err != nil {
			it.done = true
			it.stop()
			if it.ctx.Err() != nil {
				err = errors.Mark(errors.Wrap(err, "cancelled (ic_cancel_trigger)"), errCancelled)
			}
			if len(items) == 0 {
				return nil, err
			}
			it.pending = err
			break
		}
		items = append(items, v)
	}
	return items, nil
}

func lookupIter(h C.ic_iter) (*iterObj, error) {
	return lookup[*iterObj](uint64(h), kindIter)
}

//export ic_iter_next
func ic_iter_next(it C.ic_iter, out **C.char, done *C.int32_t, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		obj, err := lookupIter(it)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "json"); err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(done), "done"); err != nil {
			return err
		}
		items, err := obj.page(1)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			*out, *done = nil, 1
			return nil
		}
		b, err := marshalJSON(items[0])
		if err != nil {
			return err
		}
		if err := setString(out, string(b)); err != nil {
			return err
		}
		*done = 0
		return nil
	})
}

//export ic_iter_next_page
func ic_iter_next_page(it C.ic_iter, max C.size_t, out **C.char, count *C.size_t, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		obj, err := lookupIter(it)
		if err != nil {
			return err
		}
		n, err := checkSize(max, "max")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "json"); err != nil {
			return err
		}
		items, err := obj.page(n)
		if err != nil {
			return err
		}
		if err := setJSON(out, items); err != nil {
			return err
		}
		if count != nil {
			*count = C.size_t(len(items))
		}
		return nil
	})
}

//export ic_iter_free
func ic_iter_free(it C.ic_iter) C.ic_status {
	return call(nil, func() error {
		if it == 0 {
			return nil
		}
		obj, err := handles.remove(uint64(it), kindIter)
		if err != nil {
			return err
		}
		o := obj.(*iterObj)
		o.mu.Lock()
		defer o.mu.Unlock()
		o.done = true
		o.stop()
		return nil
	})
}
