package s3_test

import (
	"bufio"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/s3"
)

// The tests in this file talk to fake S3 servers on 127.0.0.1 that answer
// with canned failures MinIO cannot be made to produce on demand.

const fakeSecret = "fake-secret-Qm3Jd8sWn2"

// fakeStore returns a Store whose endpoint is url.
func fakeStore(t *testing.T, url string) *s3.Store {
	t.Helper()
	return newStore(t, s3.Config{
		Bucket: "bucket", Prefix: "pre", Region: "us-east-1", Endpoint: url,
		ForcePathStyle: true, AllowHTTP: true,
		AccessKeyID: "AKIDFAKE", SecretAccessKey: fakeSecret,
	})
}

// cannedServer answers every request with status and an S3 error document
// carrying code, and counts the requests.
func cannedServer(t *testing.T, status int, code string) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>canned %s</Message><RequestId>req-1</RequestId></Error>`, code, code)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

type class struct {
	determinate, indeterminate, transient, notFound, precondition bool
}

func classOf(err error) class {
	return class{
		determinate:   errors.Is(err, storage.ErrDeterminate),
		indeterminate: errors.Is(err, storage.ErrIndeterminate),
		transient:     errors.Is(err, storage.ErrTransient),
		notFound:      errors.Is(err, storage.ErrNotFound),
		precondition:  errors.Is(err, storage.ErrPreconditionFailed),
	}
}

var (
	determinate         = class{determinate: true}
	determinateRetry    = class{determinate: true, transient: true}
	indeterminateRetry  = class{indeterminate: true, transient: true}
	notFound            = class{notFound: true}
	preconditionFailed  = class{precondition: true}
	indeterminateNoRetr = class{indeterminate: true}
)

// TestClassification: each canned answer gives the documented class for
// reads and writes, after exactly one request (the SDK does not retry).
func TestClassification(t *testing.T) {
	type ops struct{ get, put, putIfAbsent, del class }
	cases := []struct {
		status int
		code   string
		want   ops
	}{
		{503, "SlowDown", ops{determinateRetry, determinateRetry, determinateRetry, determinateRetry}},
		{429, "TooManyRequests", ops{determinateRetry, determinateRetry, determinateRetry, determinateRetry}},
		{500, "InternalError", ops{determinateRetry, indeterminateRetry, indeterminateRetry, indeterminateRetry}},
		{502, "BadGateway", ops{determinateRetry, indeterminateRetry, indeterminateRetry, indeterminateRetry}},
		{503, "ServiceUnavailable", ops{determinateRetry, indeterminateRetry, indeterminateRetry, indeterminateRetry}},
		{400, "RequestTimeout", ops{determinateRetry, determinateRetry, determinateRetry, determinateRetry}},
		{403, "AccessDenied", ops{determinate, determinate, determinate, determinate}},
		{403, "RequestTimeTooSkewed", ops{determinate, determinate, determinate, determinate}},
		{400, "InvalidArgument", ops{determinate, determinate, determinate, determinate}},
		{301, "PermanentRedirect", ops{determinate, determinate, determinate, determinate}},
		{404, "NoSuchKey", ops{notFound, determinate, determinate, determinate}},
		{404, "NoSuchBucket", ops{determinate, determinate, determinate, determinate}},
		{412, "PreconditionFailed", ops{determinate, determinate, preconditionFailed, determinate}},
		{409, "ConditionalRequestConflict", ops{determinate, determinate, preconditionFailed, determinate}},
		{409, "OperationAborted", ops{determinateRetry, determinateRetry, determinateRetry, determinateRetry}},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d-%s", c.status, c.code), func(t *testing.T) {
			srv, n := cannedServer(t, c.status, c.code)
			s := fakeStore(t, srv.URL)
			_, errGet := s.Get(ctx, "a/k")
			errPut := s.Put(ctx, "a/k", []byte("data"))
			errPIA := s.PutIfAbsent(ctx, "a/k", []byte("data"))
			errDel := s.Delete(ctx, "a/k", "a/l")
			if got := n.Load(); got != 4 {
				t.Fatalf("%d requests for 4 calls: the SDK retried", got)
			}
			for _, x := range []struct {
				name string
				err  error
				want class
			}{{"get", errGet, c.want.get}, {"put", errPut, c.want.put}, {"put-if-absent", errPIA, c.want.putIfAbsent}, {"delete", errDel, c.want.del}} {
				if got := classOf(x.err); got != x.want {
					t.Errorf("%s: class %+v, want %+v: %v", x.name, got, x.want, x.err)
				}
				if x.err != nil && strings.Contains(fmt.Sprintf("%+v", x.err), fakeSecret) {
					t.Errorf("%s: message holds the secret: %+v", x.name, x.err)
				}
				if x.err != nil && !strings.Contains(x.err.Error(), "a/k") {
					t.Errorf("%s: message does not name the key: %v", x.name, x.err)
				}
			}
		})
	}
	t.Run("HeadNotFound", func(t *testing.T) {
		srv, _ := cannedServer(t, 404, "NotFound")
		_, err := fakeStore(t, srv.URL).Stat(ctx, "a/k")
		if got := classOf(err); got != notFound {
			t.Fatalf("stat: %+v: %v", got, err)
		}
	})
	t.Run("HeadServerError", func(t *testing.T) {
		srv, _ := cannedServer(t, 500, "")
		_, err := fakeStore(t, srv.URL).Stat(ctx, "a/k")
		if got := classOf(err); got != determinateRetry {
			t.Fatalf("stat: %+v: %v", got, err)
		}
	})
}

// TestDeletePerKeyErrors: a DeleteObjects answer that lists failed keys
// gives an error naming them; absent keys (NoSuchKey) are not failures;
// one key that might have been deleted makes the whole indeterminate.
func TestDeletePerKeyErrors(t *testing.T) {
	answer := func(errs string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if r.Method != http.MethodPost || !r.URL.Query().Has("delete") {
				http.Error(w, "unexpected", http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s</DeleteResult>`, errs)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	keyErr := func(key, code string) string {
		return fmt.Sprintf("<Error><Key>pre/%s</Key><Code>%s</Code><Message>canned %s</Message></Error>", key, code, code)
	}
	ctx := context.Background()

	s := fakeStore(t, answer(keyErr("a", "NoSuchKey")).URL)
	must(t, s.Delete(ctx, "a", "b"))

	s = fakeStore(t, answer(keyErr("a", "AccessDenied")+keyErr("b", "AccessDenied")).URL)
	err := s.Delete(ctx, "a", "b", "c")
	if got := classOf(err); got != determinate || !strings.Contains(err.Error(), `"a"`) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("access denied: %+v: %v", got, err)
	}

	s = fakeStore(t, answer(keyErr("a", "AccessDenied")+keyErr("b", "InternalError")).URL)
	if got := classOf(s.Delete(ctx, "a", "b")); got != indeterminateNoRetr {
		t.Fatalf("mixed: %+v", got)
	}

	s = fakeStore(t, answer(keyErr("a", "SlowDown")+keyErr("b", "InternalError")).URL)
	if got := classOf(s.Delete(ctx, "a", "b")); got != indeterminateRetry {
		t.Fatalf("all transient: %+v", got)
	}

	var many strings.Builder
	for i := range 20 {
		many.WriteString(keyErr(fmt.Sprintf("k%02d", i), "AccessDenied"))
	}
	s = fakeStore(t, answer(many.String()).URL)
	err = s.Delete(ctx, "k00")
	if err == nil || !strings.Contains(err.Error(), "20 failed") || !strings.Contains(err.Error(), "and 15 more") {
		t.Fatalf("many failures: %v", err)
	}
}

// TestDeleteBatching: a Delete of 2500 keys sends three DeleteObjects
// requests of at most 1000 keys, and a failed request stops the rest.
func TestDeleteBatching(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	fail := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		sizes = append(sizes, strings.Count(string(body), "<Key>"))
		mu.Unlock()
		if fail.Load() {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
			return
		}
		fmt.Fprint(w, `<DeleteResult></DeleteResult>`)
	}))
	t.Cleanup(srv.Close)
	s := fakeStore(t, srv.URL)
	keys := make([]string, 2500)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%05d", i)
	}
	must(t, s.Delete(context.Background(), keys...))
	total := 0
	for _, n := range sizes {
		if n > 1000 {
			t.Fatalf("a request named %d keys", n)
		}
		total += n
	}
	if len(sizes) != 3 || total != 2500 {
		t.Fatalf("requests of %v keys", sizes)
	}

	sizes = nil
	fail.Store(true)
	many := make([]string, 50_000)
	for i := range many {
		many[i] = fmt.Sprintf("k/%06d", i)
	}
	err := s.Delete(context.Background(), many...)
	if got := classOf(err); got != determinate {
		t.Fatalf("failed batch: %+v: %v", got, err)
	}
	if len(sizes) > 8 {
		t.Fatalf("%d requests after the first failure", len(sizes))
	}
}

// dropServer accepts connections on 127.0.0.1, reads a request's headers
// and closes the connection without answering: the request was sent and its
// outcome is unknown.
func dropServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						return
					}
				}
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// TestConnectionDropped: the connection closes after the request was sent.
// Writes are indeterminate and transient (the Retrying wrapper reads a
// create-only put back), reads determinate and transient.
func TestConnectionDropped(t *testing.T) {
	s := fakeStore(t, dropServer(t))
	ctx := context.Background()
	_, err := s.Get(ctx, "k")
	if got := classOf(err); got != determinateRetry {
		t.Errorf("get: %+v: %v", got, err)
	}
	for name, err := range map[string]error{
		"put":           s.Put(ctx, "k", []byte("x")),
		"put-if-absent": s.PutIfAbsent(ctx, "k", []byte("x")),
		"delete":        s.Delete(ctx, "k"),
	} {
		if got := classOf(err); got != indeterminateRetry {
			t.Errorf("%s: %+v: %v", name, got, err)
		}
	}
	t.Logf("example: %v", s.PutIfAbsent(ctx, "k", []byte("x")))
}

// TestRangeIgnored: a server that ignores the Range header and sends the
// whole object still gives the requested bytes.
func TestRangeIgnored(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		if r.Method == http.MethodGet {
			fmt.Fprint(w, "0123456789")
		}
	}))
	t.Cleanup(srv.Close)
	s := fakeStore(t, srv.URL)
	for _, c := range []struct {
		r    storage.ByteRange
		want string
	}{{storage.Range(2, 5), "234"}, {storage.From(7), "789"}, {storage.Suffix(3), "789"}, {storage.Range(8, 100), "89"}} {
		got, err := s.GetRange(context.Background(), "k", c.r)
		must(t, err)
		if string(got) != c.want {
			t.Fatalf("%v: got %q want %q", c.r, got, c.want)
		}
	}
	_, err := s.GetRange(context.Background(), "k", storage.From(11))
	wantIs(t, err, storage.ErrInvalidRange)
}

// TestReadRangeIfOneRequest: a conditional read is one GET carrying the
// conditions (no HeadObject first), and the version answered is checked
// even when the server ignores them.
func TestReadRangeIfOneRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	modified := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s if-match=%s if-unmodified-since=%s", r.Method, r.Header.Get("If-Match"), r.Header.Get("If-Unmodified-Since")))
		mu.Unlock()
		// Conditions are ignored: every GET gets the same version.
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
		w.Header().Set("Content-Range", "bytes 2-4/10")
		w.Header().Set("Content-Length", "3")
		w.WriteHeader(http.StatusPartialContent)
		fmt.Fprint(w, "234")
	}))
	t.Cleanup(srv.Close)
	s := fakeStore(t, srv.URL)
	ctx := context.Background()
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		got := seen
		seen = nil
		return got
	}

	dst := make([]byte, 3)
	must(t, s.ReadRangeIf(ctx, "k", 2, dst, storage.ReadCondition{ETag: "abc", NotModifiedAfter: modified}))
	if string(dst) != "234" {
		t.Fatalf("got %q", dst)
	}
	want := []string{`GET if-match="abc" if-unmodified-since=` + modified.Format(http.TimeFormat)}
	if got := take(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests %q, want %q", got, want)
	}

	for _, c := range []storage.ReadCondition{
		{ETag: `"other"`},
		{NotModifiedAfter: modified.Add(-time.Second)},
		{ETag: "abc", NotModifiedAfter: modified.Add(-time.Second)},
	} {
		err := s.ReadRangeIf(ctx, "k", 2, make([]byte, 3), c)
		if classOf(err) != preconditionFailed || !strings.Contains(err.Error(), `"k"`) {
			t.Fatalf("%+v: want a precondition failure naming the key, got %v", c, err)
		}
		if got := take(); len(got) != 1 {
			t.Fatalf("%+v: %d requests, want 1: %q", c, len(got), got)
		}
	}
}

// TestReadRangeIf412: the service's 412 answer to a conditional read is
// storage.ErrPreconditionFailed, not a failure of the storage.
func TestReadRangeIf412(t *testing.T) {
	srv, n := cannedServer(t, http.StatusPreconditionFailed, "PreconditionFailed")
	s := fakeStore(t, srv.URL)
	err := s.ReadRangeIf(context.Background(), "k", 0, make([]byte, 4), storage.ReadCondition{ETag: `"abc"`})
	if classOf(err) != preconditionFailed {
		t.Fatalf("want a precondition failure, got %v (%+v)", err, classOf(err))
	}
	if !strings.Contains(err.Error(), `ETag "abc"`) {
		t.Fatalf("error %q does not name the version asked for", err)
	}
	if n.Load() != 1 {
		t.Fatalf("%d requests", n.Load())
	}
}

// TestStoresShareConnections: Stores with the same settings share one pool
// of connections, so opening a store again and again (a repository opened
// per task) reuses a connection instead of leaving one idle per store.
func TestStoresShareConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("x"))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ctx := context.Background()
	for range 50 {
		s := fakeStore(t, srv.URL)
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n > 2 {
		t.Fatalf("50 stores opened %d connections, want them to share one", n)
	}
}

// TestFromEnvHonoursTheCABundle: with FromEnv, a certificate authority
// named by AWS_CA_BUNDLE is trusted (the store then keeps a client of its
// own rather than the shared one), and without it the server's
// certificate is refused.
func TestFromEnvHonoursTheCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("over tls"))
	}))
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", fakeSecret)
	cfg := s3.Config{Bucket: "bucket", Region: "us-east-1", Endpoint: srv.URL, ForcePathStyle: true, FromEnv: true}
	ctx := context.Background()

	t.Setenv("AWS_CA_BUNDLE", bundle)
	got, err := newStore(t, cfg).Get(ctx, "k")
	if err != nil || string(got) != "over tls" {
		t.Fatalf("with the CA bundle: %q, %v", got, err)
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	if _, err := newStore(t, cfg).Get(ctx, "k"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA bundle: got %v, want a certificate error", err)
	}
}
