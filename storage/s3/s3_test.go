package s3_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/s3"
	"github.com/icechunk-go/icechunk-go/storage/s3/miniotest"
	"github.com/icechunk-go/icechunk-go/storage/storagetest"
)

// shared is the MinIO server every test of the package uses, started once by
// TestMain. Tests that stop or pause a server start their own.
var shared *miniotest.Server

func TestMain(m *testing.M) {
	// The children of the cross-process race get a complete config
	// (endpoint and credentials of the parent's server): no server of
	// their own.
	if storagetest.IsChild() {
		storagetest.Main(m, backend) // exits
		return
	}
	srv, err := miniotest.StartServer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: S3 tests need a MinIO server: %v\n", err)
		os.Exit(1)
	}
	shared = srv
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping MinIO: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// backend runs the conformance suite against the shared server; every
// Fresh place is a new prefix of the shared bucket.
var backend = storagetest.Backend{
	Name:         "s3",
	Fresh:        func(t *testing.T) string { return string(configFor(t, shared).JSON()) },
	Open:         func(config string) (storage.Storage, error) { return s3.Open(context.Background(), config) },
	CrossProcess: true,
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, backend)
}

// Stat reports the object's ETag (virtual chunk references pin it), and a
// rewrite with other content changes it.
func TestStatReportsETag(t *testing.T) {
	ctx := context.Background()
	s := freshStore(t)
	if err := s.Put(ctx, "obj", []byte("one")); err != nil {
		t.Fatal(err)
	}
	first, err := s.Stat(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	if first.ETag == "" {
		t.Fatal("Stat reports no ETag")
	}
	if err := s.Put(ctx, "obj", []byte("two")); err != nil {
		t.Fatal(err)
	}
	second, err := s.Stat(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	if second.ETag == "" || second.ETag == first.ETag {
		t.Fatalf("ETag after a rewrite: %q (before: %q)", second.ETag, first.ETag)
	}
}

var prefixSeq atomic.Int64

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// freshPrefix returns a prefix no other test uses.
func freshPrefix(t testing.TB) string {
	return fmt.Sprintf("tests/%s-%d", unsafeChars.ReplaceAllString(t.Name(), "_"), prefixSeq.Add(1))
}

// configFor returns the config of an empty place on srv: a fresh prefix
// of its bucket.
func configFor(t testing.TB, srv *miniotest.Server) s3.Config {
	return srv.Config(freshPrefix(t))
}

// newStore opens a Store on cfg or fails the test.
func newStore(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return s
}

// freshStore is a Store on a fresh prefix of the shared server.
func freshStore(t *testing.T) *s3.Store {
	t.Helper()
	return newStore(t, configFor(t, shared))
}

// Every response tells the server's time (its Date header), a missing
// object's 404 included: commits check the clock with it instead of
// reading an object's time back.
func TestServerTimeFromResponses(t *testing.T) {
	ctx := context.Background()
	s := freshStore(t)
	if _, _, ok := s.ServerTime(); ok {
		t.Fatal("a store that made no request reports a server time")
	}
	for name, call := range map[string]func() error{
		"put": func() error { return s.Put(ctx, "obj", []byte("x")) },
		"get of a missing object": func() error {
			if _, err := s.Get(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("want not found, got %v", err)
			}
			return nil
		},
	} {
		before := time.Now()
		if err := call(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		server, local, ok := s.ServerTime()
		switch {
		case !ok:
			t.Fatalf("%s: no server time", name)
		case local.Before(before) || local.After(time.Now()):
			t.Fatalf("%s: the response arrived at %v, not during the call (from %v)", name, local, before)
		case server.Sub(local).Abs() > 5*time.Second: // MinIO runs on this machine's clock; Date counts whole seconds
			t.Fatalf("%s: server time %v is far from this machine's %v", name, server, local)
		}
	}
}
