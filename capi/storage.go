package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/memory"
	"github.com/icechunk-go/icechunk-go/storage/s3"
)

// Storage handles hold a storage.Storage. Freeing the handle does not
// close the storage: repositories opened on it keep using it, and the Go
// runtime releases it (a local store's directory handle included) once
// nothing refers to it.

func lookupStorage(h C.ic_storage) (storage.Storage, error) {
	return lookup[storage.Storage](uint64(h), kindStorage)
}

// newStorage stores st under a new handle in *out.
func newStorage(st storage.Storage, out *C.ic_storage) error {
	h, err := handles.add(kindStorage, st)
	if err != nil {
		return err
	}
	*out = C.ic_storage(h)
	return nil
}

//export ic_storage_new_memory
func ic_storage_new_memory(name *C.ic_cchar, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		n, _, err := inOptString(name, "name")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		if n == "" {
			n = "memory"
		}
		return newStorage(memory.New(n), out)
	})
}

//export ic_storage_new_local
func ic_storage_new_local(path *C.ic_cchar, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		p, err := inString(path, "path")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		if p == "" {
			return invalidArg("path is empty")
		}
		st, err := local.New(p)
		if err != nil {
			return err
		}
		return newStorage(st, out)
	})
}

// newS3 checks cfg (a bad config is an invalid argument), then builds
// the store (a failure to read the environment is a storage failure).
func newS3(cfg s3.Config, out *C.ic_storage) error {
	if _, err := s3.ParseConfig(cfg.JSON()); err != nil {
		return errors.Mark(err, errInvalidArgument)
	}
	st, err := s3.New(context.Background(), cfg)
	if err != nil {
		return storage.Determinate(err)
	}
	return newStorage(st, out)
}

//export ic_storage_new_s3
func ic_storage_new_s3(options *C.ic_cs3_options, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		if options == nil {
			return invalidArg("options is NULL")
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		var cfg s3.Config
		var err error
		if cfg.Bucket, err = inString((*C.ic_cchar)(options.bucket), "options.bucket"); err != nil {
			return err
		}
		for _, f := range []struct {
			dst  *string
			src  *C.char
			name string
		}{
			{&cfg.Prefix, options.prefix, "options.prefix"},
			{&cfg.Region, options.region, "options.region"},
			{&cfg.Endpoint, options.endpoint, "options.endpoint"},
			{&cfg.AccessKeyID, options.access_key_id, "options.access_key_id"},
			{&cfg.SecretAccessKey, options.secret_access_key, "options.secret_access_key"},
			{&cfg.SessionToken, options.session_token, "options.session_token"},
		} {
			if *f.dst, _, err = inOptString((*C.ic_cchar)(f.src), f.name); err != nil {
				return err
			}
		}
		cfg.ForcePathStyle = options.force_path_style != 0
		cfg.AllowHTTP = options.allow_http != 0
		cfg.MaxConnections = int(options.max_connections)
		switch options.credentials {
		case C.IC_S3_CREDENTIALS_STATIC:
		case C.IC_S3_CREDENTIALS_FROM_ENV:
			cfg.FromEnv = true
		case C.IC_S3_CREDENTIALS_ANONYMOUS:
			cfg.Anonymous = true
		default:
			return invalidArg("options.credentials is %d, not an ic_s3_credentials value", int(options.credentials))
		}
		if !(options.credentials == C.IC_S3_CREDENTIALS_STATIC) && (cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" || cfg.SessionToken != "") {
			return invalidArg("static keys are set but options.credentials is not IC_S3_CREDENTIALS_STATIC")
		}
		return newS3(cfg, out)
	})
}

//export ic_storage_new_s3_json
func ic_storage_new_s3_json(configJSON *C.ic_cchar, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := inString(configJSON, "config_json")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		cfg, err := s3.ParseConfig([]byte(s))
		if err != nil {
			return errors.Mark(err, errInvalidArgument)
		}
		return newS3(cfg, out)
	})
}

//export ic_storage_describe
func ic_storage_describe(st C.ic_storage, out **C.char, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		return setString(out, s.String())
	})
}

//export ic_storage_free
func ic_storage_free(st C.ic_storage) C.ic_status {
	return call(nil, func() error {
		if st == 0 {
			return nil
		}
		_, err := handles.remove(uint64(st), kindStorage)
		return err
	})
}
