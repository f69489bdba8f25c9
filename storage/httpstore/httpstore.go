// Package httpstore is a read-only Storage of files served over HTTP or
// HTTPS: the objects of a virtual chunk container that a web server
// publishes (upstream Icechunk's HTTP object store). A key is a path under
// the store's base URL; a read is one GET (with a Range header unless it
// asks for the whole file), conditional reads add If-Match and
// If-Unmodified-Since, and Stat is a HEAD.
//
// HTTP has no writes or listings that every server offers, so Put,
// PutIfAbsent, Delete and List fail with a determinate error saying the
// store is read-only; a repository cannot live in one.
//
// Failures are classified as the S3 store's are, for storage.Retrying to
// act on: 404 and 410 are storage.ErrNotFound, 412 is
// storage.ErrPreconditionFailed, 416 is storage.ErrInvalidRange, 429 and
// 5xx are transient, a failure to connect or a connection dropped midway is
// transient, and every other answer is a determinate failure naming the
// status. Reads cannot take effect, so no failure is indeterminate.
package httpstore

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// Store is a read-only storage.Storage under one base URL. It is safe for
// concurrent use.
type Store struct {
	baseURL   string // scheme, user info, host and an escaped path ending in "/"
	name      string // baseURL without user info
	client    *http.Client
	userAgent string // "" keeps Go's
}

var (
	_ storage.Storage                = (*Store)(nil)
	_ storage.RangeReader            = (*Store)(nil)
	_ storage.ConditionalRangeReader = (*Store)(nil)
)

// responseHeaderTimeout bounds the wait for a server's answer to one
// request (the body may take longer); a server that stops answering then
// fails the request, which is retried.
const responseHeaderTimeout = 60 * time.Second

// New returns a Store for files under baseURL, an http:// or https:// URL
// (a missing trailing "/" is added), with the default client options. It
// does not contact the server. A URL that does not parse, has another
// scheme, no host, or carries a query or fragment is refused naming the
// problem.
func New(baseURL string) (*Store, error) {
	return NewWithOptions(baseURL, Options{})
}

// NewWithOptions is New with the client tuned by opts; an http:// URL is
// refused when opts disallow it, and so is a bad proxy URL.
func NewWithOptions(baseURL string, opts Options) (*Store, error) {
	shown := redacted(baseURL)
	u, err := url.Parse(baseURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return nil, errors.Newf("http store: %q is not a URL: %v", shown, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.Newf("http store: %q is not an http:// or https:// URL", shown)
	case u.Host == "":
		return nil, errors.Newf("http store: %q has no host", shown)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.Newf("http store: %q has a query or fragment; give the URL of a folder", shown)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	if u.Scheme == "http" && opts.DisallowHTTP {
		return nil, errors.Newf("http store: %q is not https:// and the client option allow_http is false", shown)
	}
	named := *u
	named.User = nil
	client, err := opts.client()
	if err != nil {
		return nil, err
	}
	return &Store{baseURL: u.String(), name: named.String(), client: client, userAgent: opts.UserAgent}, nil
}

// newRequest is a request for key's URL, with the store's User-Agent.
func (s *Store) newRequest(ctx context.Context, method, key string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.objectURL(key), nil)
	if err == nil && s.userAgent != "" {
		req.Header.Set("User-Agent", s.userAgent)
	}
	return req, err
}

// redacted is raw with any user info (between "://" and the host) left
// out, for messages.
func redacted(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		return scheme + "://" + rest[at+1:]
	}
	return raw
}

// String returns the base URL, without credentials.
func (s *Store) String() string { return s.name }

// objectURL is the URL of key, the rest of a location after its
// container's prefix. That is part of a URL, so it is taken as written
// there: an escape such as %20 stays as it is, and only bytes a URL path
// cannot hold (a space, '#', '?', control and non-ASCII bytes) are
// escaped, so that "a b.nc" and "a%20b.nc" name the same file.
func (s *Store) objectURL(key string) string {
	var b strings.Builder
	b.WriteString(s.baseURL)
	for i := 0; i < len(key); i++ {
		if c := key[i]; pathByte(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// pathByte reports whether c may stand unescaped in a URL path (RFC 3986:
// unreserved, sub-delims, ':', '@', '/'), or is '%', which starts an
// escape already there.
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/%", c) >= 0
}

func (s *Store) check(ctx context.Context, op, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return errors.Wrapf(err, "%s: %s", s, op)
	}
	if err := ctx.Err(); err != nil {
		return storage.Determinate(errors.Wrapf(err, "%s: %s %q", s, op, key))
	}
	return nil
}

// readOnly is the error of every write or listing.
func (s *Store) readOnly(op, key string) error {
	return storage.Determinate(errors.Newf("%s: cannot %s %q: an HTTP store is read-only (it serves virtual chunks; a repository cannot live in one)", s, op, key))
}

// Get implements storage.Storage.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	return s.GetRange(ctx, key, storage.From(0))
}

// GetRange implements storage.Storage with one GET: a whole object without
// a Range header, a suffix as "bytes=-n". A range that selects nothing
// whatever the object holds (empty, or a suffix of 0 bytes) is a HEAD, to
// tell whether the object exists. A 416 answer (the range starts at or
// past the end) is read with the size its Content-Range gives, or a HEAD
// when it gives none; a server that ignores the Range header is read up
// to the bytes asked for.
func (s *Store) GetRange(ctx context.Context, key string, r storage.ByteRange) ([]byte, error) {
	if err := s.check(ctx, "get", key); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	header := r.HTTPRange()
	if header == "" {
		info, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		return s.noBytes(key, r, info.Size)
	}
	req, err := s.newRequest(ctx, http.MethodGet, key)
	if err != nil {
		return nil, storage.Determinate(errors.Wrapf(err, "%s: get %q", s, key))
	}
	if r != storage.From(0) { // the whole object: a plain GET
		req.Header.Set("Range", header)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.requestFailed(ctx, "get", key, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		return s.readPartial(ctx, key, r, resp)
	case http.StatusOK:
		return s.readWhole(ctx, key, r, resp)
	case http.StatusRequestedRangeNotSatisfiable:
		size := infoOf(key, resp).Size // from "bytes */size"
		if size < 0 {
			info, err := s.Stat(ctx, key)
			if err != nil {
				return nil, err
			}
			size = info.Size
		}
		return s.noBytes(key, r, size)
	default:
		return nil, s.answerFailed("get", key, resp)
	}
}

// cut returns the bytes of r in data, the whole of the object, or why r
// does not fit.
func (s *Store) cut(key string, r storage.ByteRange, data []byte) ([]byte, error) {
	start, end, err := r.Resolve(int64(len(data)))
	if err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	return data[start:end:end], nil
}

// noBytes answers r when the server sent no bytes of an object of size
// bytes (storage.ByteRange.NoBytes).
func (s *Store) noBytes(key string, r storage.ByteRange, size int64) ([]byte, error) {
	data, err := r.NoBytes(size)
	if err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	return data, nil
}

// readPartial reads a 206 answer to GetRange: the bytes its Content-Range
// names, which must be those r selects of the object.
func (s *Store) readPartial(ctx context.Context, key string, r storage.ByteRange, resp *http.Response) ([]byte, error) {
	cr := resp.Header.Get("Content-Range")
	if strings.HasPrefix(cr, "bytes ") && strings.HasSuffix(cr, "/0") {
		// Some servers (Go's among them) answer a suffix of an empty
		// object with 206 and a range that cannot be ("bytes 0--1/0").
		return s.noBytes(key, r, 0)
	}
	first, last, size, ok := parseContentRange(cr)
	if !ok {
		return nil, storage.Determinate(errors.Newf("%s: get %s of %q: the server's partial answer has no valid Content-Range (%q)", s, r, key, resp.Header.Get("Content-Range")))
	}
	if size >= 0 {
		start, end, err := r.Resolve(size)
		if err != nil {
			return nil, errors.Wrapf(err, "%s: get %q", s, key)
		}
		if first != start || last+1 != end {
			return nil, storage.Determinate(errors.Newf("%s: get %s of %q: the server answered bytes %d-%d of %d", s, r, key, first, last, size))
		}
	} else if r.Kind != storage.RangeSuffix && first != r.Start {
		return nil, storage.Determinate(errors.Newf("%s: get %s of %q: the server answered bytes %d-%d", s, r, key, first, last))
	}
	data := make([]byte, last+1-first)
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return nil, s.requestFailed(ctx, "get", key, err)
	}
	return data, nil
}

// readWhole reads a 200 answer to GetRange, the whole object, keeping the
// bytes r selects; with a Content-Length it reads no further than them.
func (s *Store) readWhole(ctx context.Context, key string, r storage.ByteRange, resp *http.Response) ([]byte, error) {
	if resp.ContentLength < 0 {
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, s.requestFailed(ctx, "get", key, err)
		}
		return s.cut(key, r, data)
	}
	start, end, err := r.Resolve(resp.ContentLength)
	if err != nil {
		return nil, errors.Wrapf(err, "%s: get %q", s, key)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, start); err != nil {
		return nil, s.requestFailed(ctx, "get", key, err)
	}
	data := make([]byte, end-start)
	if _, err := io.ReadFull(resp.Body, data); err != nil {
		return nil, s.requestFailed(ctx, "get", key, err)
	}
	return data, nil
}

// parseContentRange reads "bytes first-last/size" (size "*": -1).
func parseContentRange(cr string) (first, last, size int64, ok bool) {
	spec, found := strings.CutPrefix(cr, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, total, found := strings.Cut(spec, "/")
	a, b, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	size = -1
	var err3 error
	if total != "*" {
		size, err3 = strconv.ParseInt(total, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || (size >= 0 && last >= size) {
		return 0, 0, 0, false
	}
	return first, last, size, true
}

// ReadRange implements storage.RangeReader.
func (s *Store) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return s.ReadRangeIf(ctx, key, offset, dst, storage.ReadCondition{})
}

// ReadRangeIf implements storage.ConditionalRangeReader with one GET
// carrying the condition (If-Match, If-Unmodified-Since) and a Range. The
// answer's ETag and Last-Modified are checked as well, for servers that
// ignore the conditions. A server that ignores the Range and sends the
// whole object is read up to the bytes asked for.
func (s *Store) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond storage.ReadCondition) error {
	if err := s.check(ctx, "read", key); err != nil {
		return err
	}
	if offset < 0 {
		return errors.Mark(errors.Newf("%s: read of %q at negative offset %d", s, key, offset), storage.ErrInvalidRange)
	}
	if len(dst) == 0 && cond.IsZero() {
		return nil
	}
	req, err := s.newRequest(ctx, http.MethodGet, key)
	if err != nil {
		return storage.Determinate(errors.Wrapf(err, "%s: read %q", s, key))
	}
	if len(dst) > 0 {
		req.Header.Set("Range", storage.Range(offset, offset+int64(len(dst))).HTTPRange())
	}
	if cond.ETag != "" {
		req.Header.Set("If-Match", `"`+storage.UnquoteETag(cond.ETag)+`"`)
	}
	if !cond.NotModifiedAfter.IsZero() {
		req.Header.Set("If-Unmodified-Since", cond.NotModifiedAfter.UTC().Format(http.TimeFormat))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.requestFailed(ctx, "read", key, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusPartialContent, http.StatusOK:
	case http.StatusRequestedRangeNotSatisfiable:
		return storage.ShortObject(s, key, offset, len(dst), 0)
	default:
		return s.answerFailed("read", key, resp)
	}
	info := infoOf(key, resp)
	if !cond.IsZero() {
		if err := storage.CheckCondition(s, key, info, cond); err != nil {
			return err
		}
	}
	if info.Size >= 0 && offset+int64(len(dst)) > info.Size {
		return storage.ShortObject(s, key, offset, len(dst), info.Size-offset)
	}
	body := io.Reader(resp.Body)
	if resp.StatusCode == http.StatusOK && offset > 0 {
		// The server sent the whole object: skip to offset.
		if _, err := io.CopyN(io.Discard, body, offset); err == io.EOF {
			return storage.ShortObject(s, key, offset, len(dst), 0)
		} else if err != nil {
			return s.requestFailed(ctx, "read", key, err)
		}
	}
	// The answer said the object holds the bytes: a body that ends early
	// is a connection cut short, which a retry mends.
	if _, err := io.ReadFull(body, dst); err != nil {
		return s.requestFailed(ctx, "read", key, err)
	}
	return nil
}

// Stat implements storage.Storage with a HEAD: the size from
// Content-Length, the ETag and the Last-Modified time.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := s.check(ctx, "stat", key); err != nil {
		return storage.ObjectInfo{}, err
	}
	req, err := s.newRequest(ctx, http.MethodHead, key)
	if err != nil {
		return storage.ObjectInfo{}, storage.Determinate(errors.Wrapf(err, "%s: stat %q", s, key))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return storage.ObjectInfo{}, s.requestFailed(ctx, "stat", key, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return storage.ObjectInfo{}, s.answerFailed("stat", key, resp)
	}
	info := infoOf(key, resp)
	if info.Size < 0 {
		return storage.ObjectInfo{}, storage.Determinate(errors.Newf("%s: stat %q: the server gave no Content-Length", s, key))
	}
	return info, nil
}

// infoOf reads an object's description from a response's headers; Size is
// -1 without a Content-Length (or a Content-Range giving the whole size).
func infoOf(key string, resp *http.Response) storage.ObjectInfo {
	info := storage.ObjectInfo{Key: key, Size: -1, ETag: resp.Header.Get("ETag")}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.ModTime = t
	}
	if cr := resp.Header.Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				info.Size = n
			}
		}
	} else if resp.StatusCode == http.StatusOK {
		info.Size = resp.ContentLength
	}
	return info
}

// requestFailed classifies a request that got no complete answer: a
// cancelled context is not retried, anything else (a refused connection,
// a reset, a timeout) is.
func (s *Store) requestFailed(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return storage.Determinate(errors.Wrapf(ctxErr, "%s: %s %q", s, op, key))
	}
	return storage.Transient(storage.Determinate(errors.Newf("%s: %s %q: %v", s, op, key, err)))
}

// answerFailed classifies an answer other than success.
func (s *Store) answerFailed(op, key string, resp *http.Response) error {
	switch code := resp.StatusCode; {
	case code == http.StatusNotFound || code == http.StatusGone:
		return storage.NotFound(s, key)
	case code == http.StatusPreconditionFailed:
		return storage.PreconditionFailed(s, key)
	case code == http.StatusTooManyRequests || code >= 500:
		return storage.Transient(storage.Determinate(errors.Newf("%s: %s %q: the server answered %s", s, op, key, resp.Status)))
	default:
		return storage.Determinate(errors.Newf("%s: %s %q: the server answered %s", s, op, key, resp.Status))
	}
}

// Put implements storage.Storage: refused, the store is read-only.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	return s.readOnly("put", key)
}

// PutIfAbsent implements storage.Storage: refused, the store is read-only.
func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.readOnly("put", key)
}

// Delete implements storage.Storage: refused, the store is read-only.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	return s.readOnly("delete", strings.Join(keys, ", "))
}

// List implements storage.Storage: refused, HTTP has no listing that
// every server offers.
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		yield(storage.ObjectInfo{}, storage.Determinate(errors.Newf("%s: cannot list %q: an HTTP store has no listing (it serves virtual chunks; a repository cannot live in one)", s, prefix)))
	}
}

// Sync implements storage.Storage: nothing is ever written.
func (s *Store) Sync(ctx context.Context) error { return nil }
