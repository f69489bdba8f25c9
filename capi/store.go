package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"strconv"
	"unsafe"

	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
)

// The Zarr key calls of a session (engine/store.go).

func inKey(p *C.ic_cchar) (string, error) { return inString(p, "key") }

//export ic_store_get
func ic_store_get(session C.ic_session, key *C.ic_cchar, rng *C.ic_crange, data **C.uint8_t, n *C.size_t, found *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		r, err := inRange(rng, "range")
		if err != nil {
			return err
		}
		if err := checkReadOut(data, n, found); err != nil {
			return err
		}
		// The value goes straight into the C buffer handed out: zarr reads
		// every zarr.json this way, and a copy through Go memory per call
		// was most of the garbage of opening a hierarchy.
		var p unsafe.Pointer
		b, ok, err := s.StoreGetInto(ctx, k, r, cAllocTo(&p, nil))
		if err != nil {
			if p != nil {
				cRelease(p)
			}
			return err
		}
		if !ok {
			*data, *n, *found = nil, 0, 0
			return nil
		}
		*data, *n, *found = (*C.uint8_t)(p), C.size_t(len(b)), 1
		return nil
	})
}

//export ic_store_get_into
func ic_store_get_into(session C.ic_session, key *C.ic_cchar, rng *C.ic_crange, buf *C.uint8_t, capacity C.size_t, n *C.size_t, found *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		r, err := inRange(rng, "range")
		if err != nil {
			return err
		}
		capBytes, err := checkInto(buf, capacity, n, found)
		if err != nil {
			return err
		}
		*n, *found = 0, 0
		_, _, err = s.StoreGetInto(ctx, k, r, intoCaller(buf, capBytes, n, found))
		return err
	})
}

//export ic_store_get_many
func ic_store_get_many(session C.ic_session, keys *C.ic_cstr, ranges *C.ic_crange, n C.size_t, results *C.ic_get_result, data **C.uint8_t, dataLen *C.size_t, errs *C.ic_error, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		count, err := checkSize(n, "n")
		if err != nil {
			return err
		}
		ks, err := inStrings(keys, count, "keys", false)
		if err != nil {
			return err
		}
		var rs []storage.ByteRange
		if ranges != nil && count > 0 {
			rs = make([]storage.ByteRange, count)
			in := unsafe.Slice((*C.ic_byte_range)(unsafe.Pointer(ranges)), count)
			for i := range in {
				if rs[i], err = inRange((*C.ic_crange)(unsafe.Pointer(&in[i])), "ranges["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
		if count > 0 {
			if err := needOut(unsafe.Pointer(results), "results"); err != nil {
				return err
			}
		}
		if err := needOut(unsafe.Pointer(data), "data"); err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(dataLen), "data_len"); err != nil {
			return err
		}
		// The values are read straight into the buffer handed to the
		// caller; the results say where each one is.
		var got []engine.StoreGetResult
		var p unsafe.Pointer
		total := 0
		if err := unlocked(func() (err error) {
			got, err = s.StoreGetManyInto(ctx, ks, rs, cAllocTo(&p, &total))
			return err
		}); err != nil {
			if p != nil {
				cRelease(p)
			}
			return err
		}
		res := unsafe.Slice(results, count)
		var errSlots []C.ic_error
		if errs != nil {
			errSlots = unsafe.Slice(errs, count)
			clear(errSlots)
		}
		for i, g := range got {
			r := C.ic_get_result{status: C.IC_OK}
			switch {
			case g.Err != nil:
				r.status = classify(g.Err)
				if errSlots != nil {
					report(&errSlots[i], g.Err)
				}
			case g.Found:
				// A value's place in the buffer (a failed read leaves its
				// place unused); an empty value needs none.
				r.found, r.len = 1, C.size_t(len(g.Data))
				if len(g.Data) > 0 {
					r.offset = C.size_t(uintptr(unsafe.Pointer(&g.Data[0])) - uintptr(p))
				}
			}
			res[i] = r
		}
		*data, *dataLen = (*C.uint8_t)(p), C.size_t(total)
		return nil
	})
}

//export ic_store_set
func ic_store_set(session C.ic_session, key *C.ic_cchar, value *C.ic_cu8, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		b, err := borrowBytes(value, n, "value")
		if err != nil {
			return err
		}
		return s.StoreSet(ctx, k, b)
	})
}

//export ic_store_set_many
func ic_store_set_many(session C.ic_session, keys *C.ic_cstr, values *C.ic_cbytes, lens *C.ic_csize, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		count, err := checkSize(n, "n")
		if err != nil {
			return err
		}
		ks, err := inStrings(keys, count, "keys", false)
		if err != nil {
			return err
		}
		vals := make([][]byte, count)
		if count > 0 {
			if values == nil || lens == nil {
				return invalidArg("values or lens is NULL but n is %d", count)
			}
			ptrs := unsafe.Slice((**C.ic_cu8)(unsafe.Pointer(values)), count)
			sizes := unsafe.Slice((*C.size_t)(unsafe.Pointer(lens)), count)
			for i := range vals {
				if vals[i], err = borrowBytes(ptrs[i], sizes[i], "values["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		}
		return unlocked(func() error { return s.StoreSetMany(ctx, ks, vals) })
	})
}

//export ic_store_set_behind
func ic_store_set_behind(session C.ic_session, key *C.ic_cchar, value *C.ic_cu8, n C.size_t, wait C.int32_t, accepted *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		b, err := borrowBytes(value, n, "value")
		if err != nil {
			return err
		}
		ok, err := s.StoreSetBehind(ctx, k, b, wait != 0)
		if err != nil {
			return err
		}
		if accepted != nil {
			*accepted = cBool(ok)
		}
		return nil
	})
}

//export ic_store_set_if_not_exists
func ic_store_set_if_not_exists(session C.ic_session, key *C.ic_cchar, value *C.ic_cu8, n C.size_t, stored *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		b, err := inBytes(value, n, "value")
		if err != nil {
			return err
		}
		ok, err := s.StoreSetIfNotExists(ctx, k, b)
		if err != nil {
			return err
		}
		if stored != nil {
			*stored = cBool(ok)
		}
		return nil
	})
}

//export ic_store_delete
func ic_store_delete(session C.ic_session, key *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		return s.StoreDelete(ctx, k)
	})
}

//export ic_store_delete_dir
func ic_store_delete_dir(session C.ic_session, prefix *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inString(prefix, "prefix")
		if err != nil {
			return err
		}
		return s.StoreDeleteDir(ctx, p)
	})
}

//export ic_store_exists
func ic_store_exists(session C.ic_session, key *C.ic_cchar, exists *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(exists), "exists"); err != nil {
			return err
		}
		ok, err := s.StoreExists(ctx, k)
		if err != nil {
			return err
		}
		*exists = cBool(ok)
		return nil
	})
}

func keyString(k string) any { return k }

//export ic_store_list
func ic_store_list(session C.ic_session, out *C.ic_iter, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		return newIter(ctx, s.StoreList(ctx), keyString, out)
	})
}

//export ic_store_list_prefix
func ic_store_list_prefix(session C.ic_session, prefix *C.ic_cchar, out *C.ic_iter, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inString(prefix, "prefix")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		return newIter(ctx, s.StoreListPrefix(ctx, p), keyString, out)
	})
}

//export ic_store_list_dir
func ic_store_list_dir(session C.ic_session, prefix *C.ic_cchar, out *C.ic_iter, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inString(prefix, "prefix")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		return newIter(ctx, s.StoreListDir(ctx, p), keyString, out)
	})
}

//export ic_store_list_group_dir
func ic_store_list_group_dir(session C.ic_session, prefix *C.ic_cchar, out **C.char, listed *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inString(prefix, "prefix")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(listed), "listed"); err != nil {
			return err
		}
		names, ok, err := s.StoreListGroupDir(ctx, p)
		if err != nil {
			return err
		}
		if !ok {
			*listed = 0
			return nil
		}
		if err := setJSON(out, names); err != nil {
			return err
		}
		*listed = 1
		return nil
	})
}

//export ic_store_get_size
func ic_store_get_size(session C.ic_session, key *C.ic_cchar, size *C.uint64_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		k, err := inKey(key)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(size), "size"); err != nil {
			return err
		}
		n, err := s.StoreGetSize(ctx, k)
		if err != nil {
			return err
		}
		*size = C.uint64_t(n)
		return nil
	})
}

//export ic_store_get_size_prefix
func ic_store_get_size_prefix(session C.ic_session, prefix *C.ic_cchar, size *C.uint64_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inString(prefix, "prefix")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(size), "size"); err != nil {
			return err
		}
		n, err := s.StoreGetSizePrefix(ctx, p)
		if err != nil {
			return err
		}
		*size = C.uint64_t(n)
		return nil
	})
}

//export ic_store_is_empty
func ic_store_is_empty(session C.ic_session, prefix *C.ic_cchar, empty *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inString(prefix, "prefix")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(empty), "empty"); err != nil {
			return err
		}
		ok, err := s.StoreIsEmpty(ctx, p)
		if err != nil {
			return err
		}
		*empty = cBool(ok)
		return nil
	})
}

//export ic_store_load_metadata
func ic_store_load_metadata(session C.ic_session, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		return s.LoadBase(ctx)
	})
}

//export ic_store_clear
func ic_store_clear(session C.ic_session, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		return s.StoreClear(ctx)
	})
}
