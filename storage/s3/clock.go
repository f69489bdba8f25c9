package s3

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A clockSample is the service's time from one response's Date header and
// this machine's time when the response arrived.
type clockSample struct {
	server, local time.Time
}

// ServerTime implements storage.ServerClock: the Date header of the latest
// response, whatever its status (a 404 or 412 carries the time too). The
// header counts whole seconds, ample for the commit's check, which allows
// minutes of skew.
func (s *Store) ServerTime() (server, local time.Time, ok bool) {
	c := s.clock.Load()
	if c == nil {
		return time.Time{}, time.Time{}, false
	}
	return c.server, c.local, true
}

// readClock is a middleware of every call that keeps the Date header of
// each response in s.clock.
func (s *Store) readClock(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("IcechunkServerClock",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
			middleware.DeserializeOutput, middleware.Metadata, error,
		) {
			out, meta, err := next.HandleDeserialize(ctx, in)
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp != nil {
				if t, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
					s.clock.Store(&clockSample{server: t, local: time.Now()})
				}
			}
			return out, meta, err
		}), middleware.After)
}
