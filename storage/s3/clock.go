package s3

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A clockSample is one response's Date header and this machine's time
// when the response arrived. The header is parsed only when asked for: a
// commit needs it, the many reads and writes between commits do not.
type clockSample struct {
	date  string
	local time.Time
}

// ServerTime implements storage.ServerClock: the Date header of the latest
// response, whatever its status (a 404 or 412 carries the time too); ok is
// false if that header is not an HTTP date. The
// header counts whole seconds, ample for the commit's check, which allows
// minutes of skew.
func (s *Store) ServerTime() (server, local time.Time, ok bool) {
	c := s.clock.Load()
	if c == nil {
		return time.Time{}, time.Time{}, false
	}
	t, err := http.ParseTime(c.date)
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	return t, c.local, true
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
				if date := resp.Header.Get("Date"); date != "" {
					s.clock.Store(&clockSample{date: date, local: time.Now()})
				}
			}
			return out, meta, err
		}), middleware.After)
}
