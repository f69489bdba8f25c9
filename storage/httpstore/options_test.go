package httpstore_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/httpstore"
)

func TestParseOptions(t *testing.T) {
	o, err := httpstore.ParseOptions(map[string]string{
		"timeout": "2min 30s", "connect_timeout": "1500ms", "user_agent": "survey-reader/1",
		"allow_invalid_certificates": "true", "allow_http": "false", "proxy_url": "http://proxy.internal:3128",
		"pool_idle_timeout": "1h", "pool_max_idle_per_host": "8", "http1_only": "True",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := httpstore.Options{
		Timeout: 150 * time.Second, ConnectTimeout: 1500 * time.Millisecond, UserAgent: "survey-reader/1",
		AllowInvalidCertificates: true, DisallowHTTP: true, ProxyURL: "http://proxy.internal:3128",
		PoolIdleTimeout: time.Hour, PoolMaxIdlePerHost: 8, HTTP1Only: true,
	}
	if o != want {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
	if o, err := httpstore.ParseOptions(nil); err != nil || o != (httpstore.Options{}) {
		t.Fatalf("no options: %+v, %v", o, err)
	}
	for opts, msg := range map[string]string{
		"timeout=soon":                  `client option "timeout": "soon" is not a duration`,
		"timeout=30 parsecs":            `"30 parsecs" is not a duration`,
		"timeout=":                      `"" is not a duration`,
		"connect_timeout=-5s":           `"-5s" is not a duration`,
		"http2_only=true":               `unknown client option "http2_only" (this library takes allow_http,`,
		"allow_http=maybe":              `"maybe" is not true or false`,
		"pool_max_idle_per_host=-1":     `client option "pool_max_idle_per_host"`,
		"proxy_url=ftp://proxy.example": `"ftp://proxy.example" is not an http://, https:// or socks5:// proxy URL`,
		"proxy_url=http://u:secret@":    `"http://" is not an http://`,
		"timeout=99999999999999999h":    "too long a duration",
	} {
		k, v, _ := strings.Cut(opts, "=")
		_, err := httpstore.ParseOptions(map[string]string{k: v})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want an error containing %q", opts, err, msg)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the proxy's password: %v", opts, err)
		}
	}
	for v, want := range map[string]time.Duration{"0": 0, "1m30s": 90 * time.Second, "0.5s": 500 * time.Millisecond, "2 days": 48 * time.Hour, "1w": 7 * 24 * time.Hour, "10us": 10 * time.Microsecond} {
		if d, err := httpstore.ParseDuration(v); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", v, d, err, want)
		}
	}
}

// The client options act on the requests: the User-Agent sent, a whole
// request bounded by timeout (and retried as transient), certificates not
// checked when asked, a proxy in between, and http:// refused.
func TestOptionsActOnRequests(t *testing.T) {
	ctx := context.Background()
	f, _ := serve(t)
	f.files["a.bin"] = []byte("0123456789")
	var agent atomic.Value
	var slow atomic.Bool
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agent.Store(r.Header.Get("User-Agent"))
		if slow.Load() {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
		f.ServeHTTP(w, r)
	})

	plain := httptest.NewServer(handler)
	t.Cleanup(plain.Close)
	s, err := httpstore.NewWithOptions(plain.URL+"/data", httpstore.Options{UserAgent: "survey-reader/1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "a.bin"); err != nil || string(got) != "0123456789" {
		t.Fatalf("get: %q, %v", got, err)
	}
	if got := agent.Load(); got != "survey-reader/1" {
		t.Fatalf("User-Agent %q", got)
	}
	bounded, err := httpstore.NewWithOptions(plain.URL+"/data", httpstore.Options{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	slow.Store(true) // each answer waits 5 s
	start := time.Now()
	_, err = bounded.Get(ctx, "a.bin")
	if err == nil || !storage.IsTransient(err) || time.Since(start) > 4*time.Second {
		t.Fatalf("a request past the timeout: %v after %v, want a transient failure after 300 ms", err, time.Since(start))
	}
	slow.Store(false)

	if _, err := httpstore.NewWithOptions(plain.URL+"/data", httpstore.Options{DisallowHTTP: true}); err == nil || !strings.Contains(err.Error(), "allow_http is false") {
		t.Fatalf("http:// with allow_http false: %v", err)
	}

	tlsSrv := httptest.NewUnstartedServer(handler)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	checked, err := httpstore.New(tlsSrv.URL + "/data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := checked.Get(ctx, "a.bin"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a self-signed certificate, checked: %v", err)
	}
	unchecked, err := httpstore.NewWithOptions(tlsSrv.URL+"/data", httpstore.Options{AllowInvalidCertificates: true, DisallowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unchecked.Get(ctx, "a.bin"); err != nil || string(got) != "0123456789" {
		t.Fatalf("a self-signed certificate, not checked: %q, %v", got, err)
	}

	var proxied atomic.Int32
	target, _ := url.Parse(plain.URL)
	forward := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	// The origin's name is not its listener's, so only the proxy can reach it.
	viaProxy, err := httpstore.NewWithOptions("http://origin.invalid/data", httpstore.Options{ProxyURL: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := viaProxy.Get(ctx, "a.bin"); err != nil || string(got) != "0123456789" || proxied.Load() == 0 {
		t.Fatalf("through the proxy: %q, %v, %d requests proxied", got, err, proxied.Load())
	}
	if _, err := httpstore.NewWithOptions(plain.URL, httpstore.Options{ProxyURL: "ftp://x"}); err == nil {
		t.Fatal("a bad proxy URL was taken")
	}
}
