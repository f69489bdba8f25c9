package httpstore

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cockroachdb/errors"
)

// Options tune the store's HTTP client. They are upstream Icechunk's
// http_store options, which are the client keys of the object_store crate;
// ParseOptions reads them from that form. The zero value is the default.
type Options struct {
	// Timeout bounds a whole request, the body included (0: none; a
	// server that stops answering still fails after 60 s without headers).
	Timeout time.Duration
	// ConnectTimeout bounds connecting to the server (0: 30 s).
	ConnectTimeout time.Duration
	// UserAgent replaces Go's User-Agent header.
	UserAgent string
	// AllowInvalidCertificates skips checking the server's TLS certificate:
	// any certificate for any site is trusted. Only for testing.
	AllowInvalidCertificates bool
	// DisallowHTTP refuses http:// URLs (allow_http "false").
	DisallowHTTP bool
	// ProxyURL sends requests through this proxy instead of the one the
	// environment names (HTTP_PROXY, HTTPS_PROXY).
	ProxyURL string
	// PoolIdleTimeout is how long an idle connection is kept (0: 90 s).
	PoolIdleTimeout time.Duration
	// PoolMaxIdlePerHost bounds the idle connections kept (0: 64).
	PoolMaxIdlePerHost int
	// HTTP1Only never speaks HTTP/2.
	HTTP1Only bool
}

// optionKeys are the keys ParseOptions takes.
var optionKeys = []string{
	"allow_http", "allow_invalid_certificates", "connect_timeout", "http1_only",
	"pool_idle_timeout", "pool_max_idle_per_host", "proxy_url", "timeout", "user_agent",
}

// ParseOptions reads upstream's client options: durations such as "30s",
// "1500ms" or "2min 30s", booleans "true" or "false", a count, and text.
// A key it does not take, or a value that does not parse, is an error
// naming it.
func ParseOptions(opts map[string]string) (Options, error) {
	var o Options
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first bad key reported is always the same one
	for _, k := range keys {
		v := opts[k]
		var err error
		switch strings.ToLower(k) {
		case "allow_http":
			var allow bool
			allow, err = parseBool(v)
			o.DisallowHTTP = !allow
		case "allow_invalid_certificates":
			o.AllowInvalidCertificates, err = parseBool(v)
		case "connect_timeout":
			o.ConnectTimeout, err = ParseDuration(v)
		case "http1_only":
			o.HTTP1Only, err = parseBool(v)
		case "pool_idle_timeout":
			o.PoolIdleTimeout, err = ParseDuration(v)
		case "pool_max_idle_per_host":
			var n uint64
			n, err = strconv.ParseUint(strings.TrimSpace(v), 10, 31)
			o.PoolMaxIdlePerHost = int(n)
		case "proxy_url":
			o.ProxyURL = v
			err = checkProxyURL(v)
		case "timeout":
			o.Timeout, err = ParseDuration(v)
		case "user_agent":
			o.UserAgent = v
		default:
			return Options{}, errors.Newf("http store: unknown client option %q (this library takes %s)", k, strings.Join(optionKeys, ", "))
		}
		if err != nil {
			return Options{}, errors.Newf("http store: client option %q: %v", k, err)
		}
	}
	return o, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, errors.Newf("%q is not true or false", v)
}

func checkProxyURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
		return errors.Newf("%q is not an http://, https:// or socks5:// proxy URL", redacted(v))
	}
	return nil
}

// durationUnits are the units of upstream's human-readable durations.
var durationUnits = map[string]time.Duration{
	"nsec": time.Nanosecond, "ns": time.Nanosecond,
	"usec": time.Microsecond, "us": time.Microsecond, "µs": time.Microsecond,
	"msec": time.Millisecond, "millis": time.Millisecond, "ms": time.Millisecond,
	"seconds": time.Second, "second": time.Second, "secs": time.Second, "sec": time.Second, "s": time.Second,
	"minutes": time.Minute, "minute": time.Minute, "mins": time.Minute, "min": time.Minute, "m": time.Minute,
	"hours": time.Hour, "hour": time.Hour, "hrs": time.Hour, "hr": time.Hour, "h": time.Hour,
	"days": 24 * time.Hour, "day": 24 * time.Hour, "d": 24 * time.Hour,
	"weeks": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "w": 7 * 24 * time.Hour,
}

// ParseDuration reads a duration as upstream's options write them: one or
// more spans of a whole number and a unit ("30s", "1500ms", "2min 30s",
// "2 days"), optionally separated by spaces. Go's form ("1m30s", "0.5s")
// is taken as well.
func ParseDuration(v string) (time.Duration, error) {
	s := strings.TrimSpace(v)
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	var total time.Duration
	spans := 0
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		j := i
		for j < len(s) && unicode.IsSpace(rune(s[j])) {
			j++ // "2 days"
		}
		u := j
		for j < len(s) && !unicode.IsSpace(rune(s[j])) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		unit, known := durationUnits[s[u:j]]
		if i == 0 || err != nil || !known {
			return 0, errors.Newf("%q is not a duration (such as \"30s\", \"1500ms\" or \"2min 30s\")", v)
		}
		if n > int64((1<<63-1)/unit) || total+time.Duration(n)*unit < total {
			return 0, errors.Newf("%q is too long a duration", v)
		}
		total += time.Duration(n) * unit
		spans++
		s = strings.TrimLeftFunc(s[j:], unicode.IsSpace)
	}
	if spans == 0 {
		return 0, errors.Newf("%q is not a duration (such as \"30s\", \"1500ms\" or \"2min 30s\")", v)
	}
	return total, nil
}

// client builds the HTTP client o asks for.
func (o Options) client() (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = responseHeaderTimeout
	transport.MaxIdleConnsPerHost = 64
	if o.PoolMaxIdlePerHost > 0 {
		transport.MaxIdleConnsPerHost = o.PoolMaxIdlePerHost
	}
	if o.PoolIdleTimeout > 0 {
		transport.IdleConnTimeout = o.PoolIdleTimeout
	}
	if o.ConnectTimeout > 0 {
		transport.DialContext = (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	if o.AllowInvalidCertificates {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by name, for testing
	}
	if o.ProxyURL != "" {
		if err := checkProxyURL(o.ProxyURL); err != nil {
			return nil, errors.Newf("http store: client option %q: %v", "proxy_url", err)
		}
		u, _ := url.Parse(o.ProxyURL)
		transport.Proxy = http.ProxyURL(u)
	}
	if o.HTTP1Only {
		transport.ForceAttemptHTTP2 = false
		transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: transport, Timeout: o.Timeout}, nil
}
