package main

/*
#include "capi.h"
*/
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"time"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/httpstore"
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

//export ic_storage_new_http
func ic_storage_new_http(baseURL *C.ic_cchar, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return ic_storage_new_http_options(baseURL, nil, out, errOut)
}

//export ic_storage_new_http_options
func ic_storage_new_http_options(baseURL, optionsJSON *C.ic_cchar, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		u, err := inString(baseURL, "url")
		if err != nil {
			return err
		}
		var opts map[string]string
		if optionsJSON != nil {
			raw, err := inString(optionsJSON, "options_json")
			if err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(raw), &opts); err != nil {
				return invalidArg("options_json: want a JSON object of strings, such as {\"timeout\": \"30s\"}: %v", err)
			}
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		o, err := httpstore.ParseOptions(opts)
		if err != nil {
			return invalidArg("%v", err)
		}
		st, err := httpstore.NewWithOptions(u, o)
		if err != nil {
			return invalidArg("%v", err)
		}
		return newStorage(st, out)
	})
}

// newS3 checks cfg (a bad config is an invalid argument), then builds
// the store (a failure to read the environment is a storage failure).
func newS3(cfg s3.Config, out *C.ic_storage) error {
	if _, err := s3.ParseConfigWith(cfg.JSON(), cfg.Credentials); err != nil {
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

//export ic_storage_new_s3_refreshable
func ic_storage_new_s3_refreshable(configJSON *C.ic_cchar, fn C.ic_credentials_fn, userData unsafe.Pointer, out *C.ic_storage, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := inString(configJSON, "config_json")
		if err != nil {
			return err
		}
		if fn == nil {
			return invalidArg("fn is NULL")
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		cfg, err := s3.ParseConfigWith([]byte(s), credentialsFrom(fn, userData))
		if err != nil {
			return errors.Mark(err, errInvalidArgument)
		}
		return newS3(cfg, out)
	})
}

// maxCredentialsJSON bounds the buffer a credentials callback may ask for.
const maxCredentialsJSON = 1 << 20

// credentialsFrom turns a C credentials callback into the S3 store's
// source of credentials.
func credentialsFrom(fn C.ic_credentials_fn, userData unsafe.Pointer) s3.CredentialsFunc {
	return func(context.Context) (s3.Credentials, error) {
		buf := make([]byte, 4096)
		n := int64(C.icgo_call_credentials(fn, userData, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		if n > int64(len(buf)) && n <= maxCredentialsJSON {
			buf = make([]byte, n)
			n = int64(C.icgo_call_credentials(fn, userData, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf))))
		}
		switch {
		case n < 0:
			msg := string(buf[:max(bytes.IndexByte(buf, 0), 0)])
			if msg == "" {
				msg = "no message"
			}
			return s3.Credentials{}, errors.Newf("the credentials callback failed: %s", msg)
		case n > int64(len(buf)):
			return s3.Credentials{}, errors.Newf("the credentials callback asks for a buffer of %d bytes, more than the %d it may have", n, maxCredentialsJSON)
		}
		return parseCredentials(buf[:n], "the credentials callback")
	}
}

// parseCredentials reads credentials in the JSON form of ic_credentials_fn;
// from names where they came from in errors.
func parseCredentials(b []byte, from string) (s3.Credentials, error) {
	var c struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		SessionToken    string `json:"session_token"`
		Expires         int64  `json:"expires_after_unix_nanos"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// The message names the problem, never the bytes: they hold secrets.
		return s3.Credentials{}, errors.Newf("%s gave malformed JSON", from)
	}
	out := s3.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
	if c.Expires != 0 {
		out.Expires = time.Unix(0, c.Expires)
	}
	return out, nil
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

//export ic_storage_default_settings
func ic_storage_default_settings(st C.ic_storage, out **C.char, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		if _, err := lookupStorage(st); err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "json"); err != nil {
			return err
		}
		d := engine.DefaultStorageSettings()
		settings := storageOf(&d)
		conditional := true
		settings.UnsafeUseConditionalCreate = &conditional
		return setJSON(out, settings)
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
