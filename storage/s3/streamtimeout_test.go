package s3_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/s3"
)

// The tests in this file check the stream timeout
// (Config.NetworkStreamTimeoutSeconds) against fake servers that hang,
// stall, or move bytes slowly.

// timedStore is a Store on url whose stream timeout is seconds.
func timedStore(t *testing.T, url string, seconds int) *s3.Store {
	t.Helper()
	return newStore(t, s3.Config{
		Bucket: "bucket", Region: "us-east-1", Endpoint: url, ForcePathStyle: true, AllowHTTP: true,
		AccessKeyID: "AKIDFAKE", SecretAccessKey: fakeSecret, NetworkStreamTimeoutSeconds: &seconds,
	})
}

// hangServer reads each request and never answers until the test ends.
func hangServer(t *testing.T) string {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-done
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv.URL
}

// wantStreamTimeout checks that err is a transient stream timeout of one
// second that came after about that long.
func wantStreamTimeout(t *testing.T, what string, err error, took time.Duration, writing bool) {
	t.Helper()
	want := "no answer from the server for 1s (network_stream_timeout_seconds)"
	if writing {
		want = "the server took no bytes of the request for 1s (network_stream_timeout_seconds)"
	}
	if !errors.Is(err, s3.ErrStreamTimeout) || !errors.Is(err, storage.ErrStalled) || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: want a stream timeout saying %q, got %v", what, want, err)
	}
	if !classOf(err).transient {
		t.Errorf("%s: a stream timeout is not transient: %v", what, err)
	}
	if took < 900*time.Millisecond || took > 10*time.Second {
		t.Errorf("%s: failed after %v, want about 1s", what, took)
	}
}

// TestStreamTimeoutHungServer: a server that takes a request and never
// answers fails the request after the stream timeout, for reads and writes.
func TestStreamTimeoutHungServer(t *testing.T) {
	s := timedStore(t, hangServer(t), 1)
	ctx := context.Background()
	start := time.Now()
	_, err := s.Get(ctx, "k")
	wantStreamTimeout(t, "get", err, time.Since(start), false)
	start = time.Now()
	err = s.Put(ctx, "k", []byte("x"))
	wantStreamTimeout(t, "put", err, time.Since(start), false)
}

// TestStreamTimeoutStalledBody: a server that sends half an object and
// stops fails the read after the stream timeout.
func TestStreamTimeoutStalledBody(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2048")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		<-done
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	s := timedStore(t, srv.URL, 1)
	start := time.Now()
	_, err := s.Get(context.Background(), "k")
	wantStreamTimeout(t, "get", err, time.Since(start), false)
}

// TestStreamTimeoutStalledUpload: a server that stops reading a large
// request body fails the upload after the stream timeout.
func TestStreamTimeoutStalledUpload(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Takes the connection and reads nothing, so the client's
			// writes stop once the socket buffers are full.
			go func() { <-done; c.Close() }()
		}
	}()
	s := timedStore(t, "http://"+l.Addr().String(), 1)
	start := time.Now()
	err = s.Put(context.Background(), "k", make([]byte, 64<<20))
	wantStreamTimeout(t, "put", err, time.Since(start), true)
}

// TestStreamTimeoutSlowTransfersLive: transfers that take several times
// the stream timeout but keep moving are not cut: an answer trickled out,
// and an upload the server reads slowly (the wait for its answer starts
// with the upload, so it must stretch while bytes move).
func TestStreamTimeoutSlowTransfersLive(t *testing.T) {
	const pieces = 12
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			buf := make([]byte, 1<<20)
			for {
				if _, err := io.ReadFull(r.Body, buf); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			w.Header().Set("ETag", `"e"`)
			return
		}
		w.Header().Set("Content-Length", "12")
		w.WriteHeader(http.StatusOK)
		for range pieces {
			_, _ = w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(250 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	s := timedStore(t, srv.URL, 1)
	ctx := context.Background()
	start := time.Now()
	got, err := s.Get(ctx, "k")
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("x"), pieces)) {
		t.Fatalf("slow answer: %q, %v", got, err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("the answer took %v: the test does not outlast the timeout", took)
	}
	start = time.Now()
	if err := s.Put(ctx, "k", make([]byte, 32<<20)); err != nil {
		t.Fatalf("slow upload: %v", err)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("the upload took %v: the test does not outlast the timeout", took)
	}
}

// TestStreamTimeoutOff: with the timeout off (0), a server that answers
// after longer than a timeout of 1 would allow is waited for.
func TestStreamTimeoutOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond)
		_, _ = w.Write([]byte("late"))
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := timedStore(t, srv.URL, 1).Get(ctx, "k"); err == nil {
		t.Fatal("a late answer was waited for with a timeout of 1s")
	}
	got, err := timedStore(t, srv.URL, 0).Get(ctx, "k")
	if err != nil || string(got) != "late" {
		t.Fatalf("timeout off: %q, %v", got, err)
	}
}

// TestStreamTimeoutStalledListing: a listing whose answer starts and then
// stalls, or is cut off, is a transient failure (the SDK decodes the body
// of a 200 itself, so the failure carries that status), and the retrying
// layer tries it again.
func TestStreamTimeoutStalledListing(t *testing.T) {
	done := make(chan struct{})
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", "5000")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>`))
		w.(http.Flusher).Flush()
		<-done
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	s := timedStore(t, srv.URL, 1)
	ctx := context.Background()
	var err error
	for _, e := range s.List(ctx, "refs/", storage.ListOptions{}) {
		err = e
	}
	if !errors.Is(err, storage.ErrTransient) || !errors.Is(err, storage.ErrStalled) || !strings.Contains(err.Error(), "network_stream_timeout_seconds") {
		t.Fatalf("stalled listing: got %v, want a transient stream timeout", err)
	}
	retrying := storage.NewRetrying(s, storage.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	before := calls.Load()
	for _, e := range retrying.List(ctx, "refs/", storage.ListOptions{}) {
		err = e
	}
	if err == nil || calls.Load()-before != 2 {
		t.Fatalf("the retrying layer sent %d listings (err %v), want 2", calls.Load()-before, err)
	}
}
