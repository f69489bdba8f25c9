package s3

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// op names an operation in messages and decides how a failure is classified.
type op uint8

const (
	opGet op = iota
	opGetRange
	opGetRangeIf
	opStat
	opList
	opPut
	opPutIfAbsent
	opDelete
	// The calls of a multipart upload (multipart.go). Only the completion
	// can change an object, so only its unknown outcomes are indeterminate.
	opStartUpload
	opUploadPart
	opCompleteUpload
	opAbortUpload
)

func (o op) String() string {
	switch o {
	case opGet:
		return "get"
	case opGetRange:
		return "get range of"
	case opGetRangeIf:
		return "conditional get range of"
	case opStat:
		return "stat"
	case opList:
		return "list"
	case opPut:
		return "put"
	case opPutIfAbsent:
		return "create-only put"
	case opStartUpload:
		return "start multipart upload of"
	case opUploadPart:
		return "upload part of"
	case opCompleteUpload:
		return "complete multipart upload of"
	case opAbortUpload:
		return "abort multipart upload of"
	default:
		return "delete"
	}
}

// writes reports whether the operation changes stored objects, so that a
// failure whose outcome is unknown is indeterminate. A read has no effect to
// be unsure about: its failures are determinate.
func (o op) writes() bool {
	return o == opPut || o == opPutIfAbsent || o == opDelete || o == opCompleteUpload
}

// mayBeAbsent reports whether "no such key" is an answer (ErrNotFound)
// rather than a failure for the operation.
func (o op) mayBeAbsent() bool {
	return o == opGet || o == opGetRange || o == opGetRangeIf || o == opStat
}

// Error codes S3 (and S3-compatible services) answer with that this package
// treats specially.
const (
	codeNoSuchKey                  = "NoSuchKey"
	codeNoSuchBucket               = "NoSuchBucket"
	codePreconditionFailed         = "PreconditionFailed"
	codeConditionalRequestConflict = "ConditionalRequestConflict"
	codeInvalidRange               = "InvalidRange"
	codeSlowDown                   = "SlowDown"
	codeThrottling                 = "Throttling"
	codeRequestTimeout             = "RequestTimeout"
	codeOperationAborted           = "OperationAborted"
	codeInternalError              = "InternalError"
	codeServiceUnavailable         = "ServiceUnavailable"
	codeNoSuchUpload               = "NoSuchUpload"
)

// class is what a failure means, before it becomes a marked error.
type class uint8

const (
	classDeterminate class = iota
	classIndeterminate
	classNotFound
	classPrecondition
	classInvalidRange
	classUploadGone
)

// verdict is the classification of one failure.
type verdict struct {
	class     class
	transient bool
}

// httpStatus is implemented by the SDK's response errors.
type httpStatus interface{ HTTPStatusCode() int }

// statusOf returns the HTTP status of the response that caused err, or 0
// when no response was received, and the service's error code if any.
func statusOf(err error) (status int, code string) {
	var hs httpStatus
	if errors.As(err, &hs) {
		status = hs.HTTPStatusCode()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	return status, code
}

// classify decides what a failed SDK call means. sent says whether the
// request reached the HTTP transport; ctxErr is the operation context's
// error after the call.
func classify(o op, err error, sent bool, ctxErr error) verdict {
	// Unknown-outcome failures are indeterminate for writes only.
	unknown := classDeterminate
	if o.writes() {
		unknown = classIndeterminate
	}
	status, code := statusOf(err)
	switch {
	case status >= 200 && status < 300:
		// A success whose body could not be read (cut off, stalled past
		// the stream timeout): the request may have been done, and a
		// retry may read a whole answer.
		return verdict{class: unknown, transient: true}
	case status != 0:
		return classifyResponse(o, status, code, unknown)
	case !sent:
		// Credentials, signing or serialization failed: nothing was sent.
		return verdict{class: classDeterminate}
	case ctxErr != nil:
		// Cancelled or timed out while the request was in flight.
		return verdict{class: unknown}
	case isDialError(err):
		// The connection was never made: nothing was sent.
		return verdict{class: classDeterminate, transient: true}
	default:
		// Connection reset, EOF, response-header timeout...: the
		// request may have been processed.
		return verdict{class: unknown, transient: true}
	}
}

// classifyResponse classifies a failure the service answered.
func classifyResponse(o op, status int, code string, unknown class) verdict {
	switch {
	case code == codeNoSuchBucket:
		// A missing bucket is a configuration error, never "no object".
		return verdict{class: classDeterminate}
	case status == 404 && o.mayBeAbsent():
		return verdict{class: classNotFound}
	case code == codeNoSuchUpload:
		return verdict{class: classUploadGone}
	case (o == opGetRange || o == opGetRangeIf) && (status == 416 || code == codeInvalidRange):
		return verdict{class: classInvalidRange}
	case (o == opPutIfAbsent || o == opGetRangeIf) && (status == 412 || code == codePreconditionFailed):
		return verdict{class: classPrecondition}
	case o == opPutIfAbsent && code == codeConditionalRequestConflict:
		// Another create-only write of the same key is in flight; it is
		// about to win, or its writer will retry. Either way we lost.
		return verdict{class: classPrecondition}
	case status == 429 || code == codeSlowDown || code == codeThrottling:
		// Throttled: the service refused to process the request.
		return verdict{class: classDeterminate, transient: true}
	case code == codeRequestTimeout || code == codeOperationAborted:
		// The service gave up reading the request, or asks us to retry
		// after a concurrent operation: it did nothing.
		return verdict{class: classDeterminate, transient: true}
	case status >= 500:
		return verdict{class: unknown, transient: true}
	default:
		return verdict{class: classDeterminate}
	}
}

// isDialError reports whether err is a failure to open a connection
// (refused, unreachable, DNS), after which nothing can have been sent.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// fail turns a failed SDK call on one key into a storage error: classified
// with the storage markers, naming the store, the operation and the key, and
// never carrying credentials. sent says whether the request reached the HTTP
// transport.
func (s *Store) fail(ctx context.Context, o op, key string, err error, sent bool) error {
	return s.failSubject(ctx, o, key, strconv.Quote(key), err, sent)
}

// failSubject is fail with the object of the operation described by subject
// (a quoted key, a prefix, a batch of keys).
func (s *Store) failSubject(ctx context.Context, o op, key, subject string, err error, sent bool) error {
	ctxErr := ctx.Err()
	v := classify(o, err, sent, ctxErr)
	switch v.class {
	case classNotFound:
		return storage.NotFound(s, key)
	case classPrecondition:
		return storage.PreconditionFailed(s, key)
	}
	var e error
	if status, _ := statusOf(err); ctxErr != nil && status == 0 {
		// Keep the context error in the chain so that callers can tell
		// a cancellation with errors.Is(err, context.Canceled).
		e = errors.Wrapf(ctxErr, "%s: %s %s", s, o, subject)
	} else {
		e = errors.Newf("%s: %s %s: %s", s, o, subject, s.describe(err))
	}
	var stalled *streamTimeoutError
	if errors.As(err, &stalled) {
		e = errors.Mark(errors.Mark(e, ErrStreamTimeout), storage.ErrStalled)
	}
	return mark(e, v)
}

// mark applies a verdict's markers to err.
func mark(err error, v verdict) error {
	switch v.class {
	case classNotFound:
		return errors.Mark(err, storage.ErrNotFound)
	case classPrecondition:
		return errors.Mark(err, storage.ErrPreconditionFailed)
	case classInvalidRange:
		return errors.Mark(err, storage.ErrInvalidRange)
	case classUploadGone:
		return storage.Determinate(errors.Mark(err, storage.ErrUploadGone))
	case classIndeterminate:
		err = storage.Indeterminate(err)
	default:
		err = storage.Determinate(err)
	}
	if v.transient {
		err = storage.Transient(err)
	}
	return err
}

// describe renders an SDK error for a message: the HTTP status and service
// error code when there was a response, else the SDK's text; with any
// credential scrubbed out.
func (s *Store) describe(err error) string {
	var msg string
	status, code := statusOf(err)
	var api smithy.APIError
	var send *smithyhttp.RequestSendError
	switch {
	case status != 0 && errors.As(err, &api):
		msg = fmt.Sprintf("HTTP %d %s: %s", status, code, api.ErrorMessage())
	case status != 0:
		msg = fmt.Sprintf("HTTP %d: %v", status, err)
	case errors.As(err, &send):
		msg = "sending the request failed: " + send.Err.Error()
	default:
		msg = err.Error()
	}
	return s.scrub(msg)
}

// describeDeleteError renders one failed key of a DeleteObjects answer.
func (s *Store) describeDeleteError(e types.Error) string {
	return s.scrub(fmt.Sprintf("%s: %s", deref(e.Code), deref(e.Message)))
}

// scrub removes the secret key and session token from msg. No SDK message
// is known to hold them; this is a second line of defence.
func (s *Store) scrub(msg string) string {
	for _, secret := range []string{s.secret, s.token} {
		if len(secret) >= 4 {
			msg = strings.ReplaceAll(msg, secret, "REDACTED")
		}
	}
	return msg
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
