package s3

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
)

// Transport timeouts. There is no overall request timeout, since a large
// object may take long to stream; a stalled server is caught by the
// response-header timeout, the read timeout, and the caller's context.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 60 * time.Second
	idleConnTimeout       = 90 * time.Second
	expectContinueTimeout = time.Second
	// readTimeout bounds any wait for bytes from a connection, including
	// the wait for a response while a request body is uploaded.
	readTimeout = 5 * time.Minute
)

// newHTTPClient returns the SDK's buildable client (no redirects but 307
// and 308, TLS 1.2 at least, AWS_CA_BUNDLE honoured) with a pool that suits
// many concurrent requests to one host: up to maxConns open connections,
// all of which may stay idle for reuse.
func newHTTPClient(maxConns int) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) {
			d.Timeout = dialTimeout
		}).
		WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = maxConns
			tr.MaxIdleConnsPerHost = maxConns
			tr.MaxConnsPerHost = maxConns
			tr.IdleConnTimeout = idleConnTimeout
			tr.TLSHandshakeTimeout = tlsHandshakeTimeout
			tr.ResponseHeaderTimeout = responseHeaderTimeout
			tr.ExpectContinueTimeout = expectContinueTimeout
			// Transparent gzip would make lengths and ranges refer to
			// other bytes than the stored object's.
			tr.DisableCompression = true
			tr.ReadBufferSize = 64 << 10
			tr.WriteBufferSize = 64 << 10
		}).
		WithReadTimeout(readTimeout)
}

// sentKey is the context key of the flag markSent raises when a request is
// handed to the HTTP transport.
type sentKey struct{}

// withSentFlag returns a context under which markSent records whether a
// request went out, and the flag.
func withSentFlag(ctx context.Context) (context.Context, *atomic.Bool) {
	f := new(atomic.Bool)
	return context.WithValue(ctx, sentKey{}, f), f
}

// markSent is the innermost middleware of every call: it runs after
// credentials were fetched and the request signed, just before the request
// goes to the HTTP client. A failure before that point means nothing was
// sent, so the operation definitely did not happen.
func markSent(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("IcechunkMarkSent",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
			middleware.DeserializeOutput, middleware.Metadata, error,
		) {
			if f, ok := ctx.Value(sentKey{}).(*atomic.Bool); ok {
				f.Store(true)
			}
			return next.HandleDeserialize(ctx, in)
		}), middleware.After)
}
