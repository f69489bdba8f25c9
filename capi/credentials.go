package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage/s3"
)

// heldCredentials are the S3 credentials a caller set last
// (ic_credentials_set), for storages that cannot call back into the
// caller's language. Requests never wait for newer ones: the thread that
// would set them may be the one making the request.
type heldCredentials struct {
	mu    sync.Mutex
	creds s3.Credentials
	set   bool
}

// source is the S3 store's source of credentials: those set last, while
// they have not expired. It hands them out as expiring now, so that the
// store asks again for the next request and credentials set in between
// take effect at once; asking costs a lock.
func (h *heldCredentials) source() s3.CredentialsFunc {
	return func(context.Context) (s3.Credentials, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		now := time.Now()
		switch {
		case !h.set:
			return s3.Credentials{}, errors.New("no credentials were set yet (ic_credentials_set)")
		case !h.creds.Expires.IsZero() && !now.Before(h.creds.Expires):
			return s3.Credentials{}, errors.Newf("the credentials set last expired at %s, and none newer were set (ic_credentials_set)",
				h.creds.Expires.UTC().Format(time.RFC3339))
		}
		c := h.creds
		c.Expires = now
		return c, nil
	}
}

func lookupCredentials(h C.ic_credentials) (*heldCredentials, error) {
	return lookup[*heldCredentials](uint64(h), kindCredentials)
}

//export ic_credentials_new
func ic_credentials_new(out *C.ic_credentials, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		h, err := handles.add(kindCredentials, &heldCredentials{})
		if err != nil {
			return err
		}
		*out = C.ic_credentials(h)
		return nil
	})
}

//export ic_credentials_set
func ic_credentials_set(creds C.ic_credentials, js *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		held, err := lookupCredentials(creds)
		if err != nil {
			return err
		}
		s, err := inString(js, "json")
		if err != nil {
			return err
		}
		c, err := parseCredentials([]byte(s), "json")
		if err != nil {
			return errors.Mark(err, errInvalidArgument)
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return invalidArg("json: no access_key_id or no secret_access_key")
		}
		held.mu.Lock()
		held.creds, held.set = c, true
		held.mu.Unlock()
		return nil
	})
}

//export ic_credentials_free
func ic_credentials_free(creds C.ic_credentials) C.ic_status {
	return call(nil, func() error {
		if creds == 0 {
			return nil
		}
		_, err := handles.remove(uint64(creds), kindCredentials)
		return err
	})
}

//export ic_storage_new_s3_credentials
func ic_storage_new_s3_credentials(configJSON *C.ic_cchar, creds C.ic_credentials, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := inString(configJSON, "config_json")
		if err != nil {
			return err
		}
		held, err := lookupCredentials(creds)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		cfg, err := s3.ParseConfigWith([]byte(s), held.source())
		if err != nil {
			return errors.Mark(err, errInvalidArgument)
		}
		return newS3(cfg, out)
	})
}
