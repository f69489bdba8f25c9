package s3

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
	"github.com/cockroachdb/errors"
)

// Transport timeouts. There is no overall request timeout, since a large
// object may take long to stream; a stalled server is caught by the stream
// timeout (Config.NetworkStreamTimeoutSeconds) and the caller's context.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	idleConnTimeout       = 90 * time.Second
	expectContinueTimeout = time.Second
	// streamWriteStep bounds one write to the connection, so that the
	// stream timeout measures the time between bytes moving, not the time
	// a large buffer takes on a slow link. It is the transport's buffer
	// size: its own writes go in one step.
	streamWriteStep = 64 << 10
)

// newHTTPClient returns the SDK's buildable client (no redirects but 307
// and 308, TLS 1.2 at least, AWS_CA_BUNDLE honoured) with a pool that suits
// many concurrent requests to one host: up to maxConns open connections,
// all of which may stay idle for reuse. Each connection fails once no byte
// moved on it for streamTimeout (0: never).
func newHTTPClient(maxConns int, streamTimeout time.Duration) *awshttp.BuildableClient {
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
			tr.ExpectContinueTimeout = expectContinueTimeout
			// Transparent gzip would make lengths and ranges refer to
			// other bytes than the stored object's.
			tr.DisableCompression = true
			tr.ReadBufferSize = 64 << 10
			tr.WriteBufferSize = 64 << 10
			if streamTimeout > 0 {
				dial := tr.DialContext
				if dial == nil {
					dial = (&net.Dialer{Timeout: dialTimeout}).DialContext
				}
				tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dial(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return &streamConn{Conn: c, timeout: streamTimeout}, nil
				}
			}
		}).
		// The stream timeout replaces the SDK's read timeout, which counts
		// only bytes read and so cuts a long upload's wait for its answer.
		WithReadTimeout(0)
}

// sharedClients holds one HTTP client, with its pool of connections, per
// pool size and stream timeout: Stores with the same settings share it, so
// that a program opening a repository again and again (a Dask task each,
// say) reuses connections instead of leaving a pool of idle ones behind
// each Store until their idle timeout.
var sharedClients struct {
	sync.Mutex
	m map[clientKey]aws.HTTPClient
}

type clientKey struct {
	maxConns      int
	streamTimeout time.Duration
}

// sharedHTTPClient returns the process's client for these settings.
func sharedHTTPClient(maxConns int, streamTimeout time.Duration) aws.HTTPClient {
	sharedClients.Lock()
	defer sharedClients.Unlock()
	k := clientKey{maxConns, streamTimeout}
	if c, ok := sharedClients.m[k]; ok {
		return c
	}
	if sharedClients.m == nil {
		sharedClients.m = map[clientKey]aws.HTTPClient{}
	}
	// Frozen, the SDK uses the client as it is, instead of copying it with
	// a transport (and pool) of its own for each service client.
	c := newHTTPClient(maxConns, streamTimeout).Freeze()
	sharedClients.m[k] = c
	return c
}

// hasCustomCAs reports whether c is a client of the SDK's kind into which
// the configuration loader installed certificate authorities.
func hasCustomCAs(c aws.HTTPClient) bool {
	b, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return false
	}
	tls := b.GetTransport().TLSClientConfig
	return tls != nil && tls.RootCAs != nil
}

// ErrStreamTimeout marks the failure of a request on whose connection no
// byte moved for the stream timeout (Config.NetworkStreamTimeoutSeconds).
// Such a failure is also transient, and storage.ErrStalled: it is tried
// again under the storage's retry policy, with a warning in the log.
var ErrStreamTimeout = errors.New("s3: stream timeout")

// streamTimeoutError is what a streamConn's read or write returns when the
// stream timeout passed; the Store marks its error with ErrStreamTimeout.
type streamTimeoutError struct {
	after   time.Duration
	writing bool // the request was being sent, else its answer awaited or read
}

func (e *streamTimeoutError) Error() string {
	what := "no answer from the server"
	if e.writing {
		what = "the server took no bytes of the request"
	}
	return fmt.Sprintf("%s for %v (network_stream_timeout_seconds)", what, e.after)
}

// Timeout reports true, as net.Error asks of a timeout.
func (e *streamTimeoutError) Timeout() bool { return true }

// Temporary reports true: another try may find the server well.
func (e *streamTimeoutError) Temporary() bool { return true }

// streamConn fails once no byte moved on the connection, in either
// direction, for timeout.
//
// The transport starts reading for the answer when it starts sending the
// request, so a read may wait through a long upload: when its deadline
// passes it looks at the sending side, and waits on while bytes moved
// there within the timeout: written by us, or leaving the socket's send
// buffer (which on a slow link takes long to drain after the last write).
// Writes go in steps of streamWriteStep, each with its own deadline, so
// that an upload into a server that stopped reading fails.
type streamConn struct {
	net.Conn
	timeout time.Duration
	// lastSent is when bytes were last written, or seen leaving the send
	// buffer (unix nanoseconds); queued is the send buffer's fill then.
	lastSent atomic.Int64
	queued   atomic.Int64
}

// Read implements io.Reader.
func (c *streamConn) Read(p []byte) (int, error) {
	deadline := time.Now().Add(c.timeout)
	for {
		if err := c.Conn.SetReadDeadline(deadline); err != nil {
			return 0, err
		}
		n, err := c.Conn.Read(p)
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		last := c.sentAt()
		if time.Since(last) >= c.timeout {
			return 0, &streamTimeoutError{after: c.timeout}
		}
		deadline = last.Add(c.timeout)
	}
}

// sentAt is when bytes last moved on the sending side, as far as can be
// told: written, or seen leaving the send buffer by now.
func (c *streamConn) sentAt() time.Time {
	if q, ok := sendQueue(c.Conn); ok && q < c.queued.Load() {
		c.queued.Store(q)
		c.lastSent.Store(time.Now().UnixNano())
	}
	return time.Unix(0, c.lastSent.Load())
}

// Write implements io.Writer.
func (c *streamConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		step := p[done:min(len(p), done+streamWriteStep)]
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return done, err
		}
		n, err := c.Conn.Write(step)
		done += n
		if n > 0 {
			c.lastSent.Store(time.Now().UnixNano())
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = &streamTimeoutError{after: c.timeout, writing: true}
			}
			return done, err
		}
	}
	// The send buffer's fill after the last write, against which a wait
	// for the answer measures its draining (one system call per write).
	if q, ok := sendQueue(c.Conn); ok {
		c.queued.Store(q)
	}
	return done, nil
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
