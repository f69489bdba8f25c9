package httpstore_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/httpstore"
)

// fileServer serves files from memory under /data/ with ranges, ETags and
// conditions (http.ServeContent), failing the next requests as asked.
type fileServer struct {
	mu          sync.Mutex
	files       map[string][]byte
	modTime     time.Time
	unavailable atomic.Int32 // the next this many requests answer 503
	noRanges    atomic.Bool  // answer every GET with the whole file
	bare416     atomic.Bool  // a 416 answer without the file's size
	paths       []string     // escaped paths requested
	methods     []string     // their methods
}

// sizeless drops the Content-Range of a 416 answer.
type sizeless struct{ http.ResponseWriter }

func (w sizeless) WriteHeader(code int) {
	if code == http.StatusRequestedRangeNotSatisfiable {
		w.Header().Del("Content-Range")
	}
	w.ResponseWriter.WriteHeader(code)
}

// requests returns the methods of the requests made since the call before.
func (f *fileServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.methods
	f.methods = nil
	return m
}

func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.EscapedPath())
	f.methods = append(f.methods, r.Method)
	data, ok := f.files[strings.TrimPrefix(r.URL.Path, "/data/")]
	f.mu.Unlock()
	if f.unavailable.Add(-1) >= 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if !ok || !strings.HasPrefix(r.URL.Path, "/data/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"v`+string(rune('0'+len(data)%10))+`"`)
	if f.noRanges.Load() {
		r.Header.Del("Range")
	}
	if f.bare416.Load() {
		w = sizeless{w}
	}
	http.ServeContent(w, r, "", f.modTime, bytes.NewReader(data))
}

func serve(t *testing.T) (*fileServer, *httpstore.Store) {
	t.Helper()
	f := &fileServer{files: map[string][]byte{}, modTime: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s, err := httpstore.New(srv.URL + "/data")
	if err != nil {
		t.Fatal(err)
	}
	return f, s
}

func TestReads(t *testing.T) {
	ctx := context.Background()
	f, s := serve(t)
	data := []byte("0123456789abcdef")
	f.files["dir/a file#1.nc"] = data

	got, err := s.Get(ctx, "dir/a file#1.nc")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %q, %v", got, err)
	}
	if p := f.paths[len(f.paths)-1]; p != "/data/dir/a%20file%231.nc" {
		t.Fatalf("requested %q, want the key escaped under the base path", p)
	}
	got, err = s.GetRange(ctx, "dir/a file#1.nc", storage.Suffix(4))
	if err != nil || string(got) != "cdef" {
		t.Fatalf("suffix: %q, %v", got, err)
	}
	dst := make([]byte, 5)
	if err := s.ReadRange(ctx, "dir/a file#1.nc", 3, dst); err != nil || string(dst) != "34567" {
		t.Fatalf("read range: %q, %v", dst, err)
	}
	// A key already escaped as in a URL names the same file.
	if err := s.ReadRange(ctx, "dir/a%20file%231.nc", 0, dst); err != nil || string(dst) != "01234" {
		t.Fatalf("read by the escaped key: %q, %v", dst, err)
	}
	if p := f.paths[len(f.paths)-1]; p != "/data/dir/a%20file%231.nc" {
		t.Fatalf("requested %q for the escaped key, want it as written", p)
	}
	info, err := s.Stat(ctx, "dir/a file#1.nc")
	if err != nil || info.Size != 16 || info.ETag != `"v6"` || !info.ModTime.Equal(f.modTime) {
		t.Fatalf("stat: %+v, %v", info, err)
	}

	// A server that ignores ranges sends the whole file; the bytes asked
	// for are picked out of it.
	f.noRanges.Store(true)
	if err := s.ReadRange(ctx, "dir/a file#1.nc", 10, dst[:3]); err != nil || string(dst[:3]) != "abc" {
		t.Fatalf("read range from a server without ranges: %q, %v", dst[:3], err)
	}
	f.noRanges.Store(false)

	for name, err := range map[string]error{
		"get missing":  errOf(s.Get(ctx, "nope")),
		"stat missing": errOf(s.Stat(ctx, "nope")),
		"read missing": s.ReadRange(ctx, "nope", 0, dst),
	} {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s: %v, want not found", name, err)
		}
	}
	if err := s.ReadRange(ctx, "dir/a file#1.nc", 14, dst); !errors.Is(err, storage.ErrInvalidRange) {
		t.Fatalf("read past the end: %v", err)
	}
	if err := s.ReadRange(ctx, "dir/a file#1.nc", 20, dst); !errors.Is(err, storage.ErrInvalidRange) {
		t.Fatalf("read from past the end: %v", err)
	}
}

func errOf[T any](_ T, err error) error { return err }

// GetRange asks with one GET whatever the range, and answers as every
// store does (storagetest's ranges), from servers with and without range
// support; only a range that selects nothing is a HEAD.
func TestGetRangeIsOneRequest(t *testing.T) {
	ctx := context.Background()
	f, s := serve(t)
	f.files["r"] = []byte("0123456789")
	f.files["empty"] = []byte{}
	cases := []struct {
		key  string
		r    storage.ByteRange
		want string
		head bool // the store must ask with a HEAD (nothing to GET)
		past bool // the GET asks from the end on: 416
	}{
		{"r", storage.Range(0, 10), "0123456789", false, false},
		{"r", storage.Range(2, 5), "234", false, false},
		{"r", storage.Range(8, 100), "89", false, false},
		{"r", storage.Range(3, 3), "", true, false},
		{"r", storage.Range(10, 12), "", false, true},
		{"r", storage.From(0), "0123456789", false, false},
		{"r", storage.From(7), "789", false, false},
		{"r", storage.From(10), "", false, true},
		{"r", storage.Suffix(3), "789", false, false},
		{"r", storage.Suffix(10), "0123456789", false, false},
		{"r", storage.Suffix(50), "0123456789", false, false},
		{"r", storage.Suffix(0), "", true, false},
		{"empty", storage.From(0), "", false, false},
		{"empty", storage.Suffix(4), "", false, false},
	}
	for _, mode := range []string{"ranges", "no ranges", "416 without size"} {
		f.noRanges.Store(mode == "no ranges")
		f.bare416.Store(mode == "416 without size")
		for _, c := range cases {
			f.requests()
			got, err := s.GetRange(ctx, c.key, c.r)
			if err != nil || string(got) != c.want {
				t.Fatalf("%s, %s of %q: %q, %v; want %q", mode, c.r, c.key, got, err, c.want)
			}
			want := []string{http.MethodGet}
			switch {
			case c.head:
				want = []string{http.MethodHead}
			case mode == "416 without size" && c.past:
				want = []string{http.MethodGet, http.MethodHead} // the size comes from a HEAD
			}
			if reqs := f.requests(); !slices.Equal(reqs, want) {
				t.Fatalf("%s, %s of %q: requests %v, want %v", mode, c.r, c.key, reqs, want)
			}
		}
		for _, r := range []storage.ByteRange{storage.Range(11, 12), storage.From(11), storage.Range(-1, 2), storage.Range(5, 2), storage.Suffix(-1)} {
			if _, err := s.GetRange(ctx, "r", r); !errors.Is(err, storage.ErrInvalidRange) {
				t.Fatalf("%s, %s: %v, want an invalid range", mode, r, err)
			}
		}
		for _, r := range []storage.ByteRange{storage.From(0), storage.Range(0, 1), storage.Suffix(2), storage.Range(1, 1)} {
			if _, err := s.GetRange(ctx, "missing", r); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("%s, %s of a missing file: %v, want not found", mode, r, err)
			}
		}
	}
}

// A server whose partial answer is not the range asked for is refused,
// never read as if it were.
func TestGetRangeRefusesAnotherRange(t *testing.T) {
	ctx := context.Background()
	for _, cr := range []string{"bytes 0-2/10", "bytes 2-4/10", "bytes 2-3/10", "bytes 0-2/*", "", "bytes 2-1/10", "octets 2-4/10"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if cr != "" {
				w.Header().Set("Content-Range", cr)
			}
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write([]byte("012"))
		}))
		s, err := httpstore.New(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.GetRange(ctx, "f", storage.Range(1, 4))
		srv.Close()
		if !errors.Is(err, storage.ErrDeterminate) || storage.IsTransient(err) || !strings.Contains(err.Error(), "bytes") {
			t.Fatalf("Content-Range %q for bytes 1-3: %v, want a determinate failure naming the range", cr, err)
		}
	}
}

func TestConditionalReads(t *testing.T) {
	ctx := context.Background()
	f, s := serve(t)
	f.files["f.nc"] = []byte("xyzw")
	dst := make([]byte, 3)
	for _, cond := range []storage.ReadCondition{
		{ETag: `"v4"`},
		{ETag: "v4"},
		{NotModifiedAfter: f.modTime},
		{ETag: "v4", NotModifiedAfter: f.modTime.Add(time.Hour)},
	} {
		if err := s.ReadRangeIf(ctx, "f.nc", 1, dst, cond); err != nil || string(dst) != "yzw" {
			t.Fatalf("%+v: %q, %v", cond, dst, err)
		}
	}
	for _, cond := range []storage.ReadCondition{
		{ETag: "v5"},
		{NotModifiedAfter: f.modTime.Add(-time.Hour)},
	} {
		if err := s.ReadRangeIf(ctx, "f.nc", 1, dst, cond); !errors.Is(err, storage.ErrPreconditionFailed) {
			t.Fatalf("%+v: %v, want precondition failed", cond, err)
		}
	}
}

// A busy server's answers are transient, and the retrying layer reads
// through them.
func TestBusyServerIsRetried(t *testing.T) {
	ctx := context.Background()
	f, s := serve(t)
	f.files["f.nc"] = []byte("xyzw")
	f.unavailable.Store(1)
	dst := make([]byte, 4)
	if err := s.ReadRange(ctx, "f.nc", 0, dst); !storage.IsTransient(err) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("a 503: %v, want a transient failure naming it", err)
	}
	f.unavailable.Store(2)
	r := storage.NewRetrying(s, storage.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	if err := r.ReadRange(ctx, "f.nc", 0, dst); err != nil || string(dst) != "xyzw" {
		t.Fatalf("through two 503s: %q, %v", dst, err)
	}

	// A server that is gone is transient too (the connection is refused).
	gone := httptest.NewServer(http.NotFoundHandler())
	url := gone.URL
	gone.Close()
	dead, err := httpstore.New(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.ReadRange(ctx, "f.nc", 0, dst); !storage.IsTransient(err) {
		t.Fatalf("a server that is gone: %v, want a transient failure", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ReadRange(cancelled, "f.nc", 0, dst); !errors.Is(err, context.Canceled) || storage.IsTransient(err) {
		t.Fatalf("a cancelled read: %v, want context.Canceled, not retried", err)
	}
}

func TestWritesAreRefused(t *testing.T) {
	ctx := context.Background()
	_, s := serve(t)
	for name, err := range map[string]error{
		"put":           s.Put(ctx, "k", []byte("v")),
		"put-if-absent": s.PutIfAbsent(ctx, "k", []byte("v")),
		"delete":        s.Delete(ctx, "k"),
	} {
		if !errors.Is(err, storage.ErrDeterminate) || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("%s: %v, want a determinate failure saying the store is read-only", name, err)
		}
	}
	for _, err := range s.List(ctx, "", storage.ListOptions{}) {
		if !errors.Is(err, storage.ErrDeterminate) || !strings.Contains(err.Error(), "no listing") {
			t.Fatalf("list: %v", err)
		}
	}
}

func TestNewRefusesWhatIsNotAFolderURL(t *testing.T) {
	for _, bad := range []string{"ftp://host/data/", "http:///data/", "https://host/data/?x=1", "https://host/data/#top", "://",
		"ftp://user:pw-secret@host/", "https://user:pw-secret@[::1/data/"} {
		_, err := httpstore.New(bad)
		if err == nil {
			t.Fatalf("%q accepted", bad)
		}
		if strings.Contains(err.Error(), "pw-secret") {
			t.Fatalf("%q: the message shows the password: %v", bad, err)
		}
	}
	s, err := httpstore.New("https://user:secret@example.com/data")
	if err != nil {
		t.Fatal(err)
	}
	if s.String() != "https://example.com/data/" {
		t.Fatalf("named %q, want the URL without credentials and with its trailing slash", s)
	}
}
