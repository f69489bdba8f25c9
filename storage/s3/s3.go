// Package s3 is a Storage kept in an S3 bucket, on AWS or on any
// S3-compatible service (MinIO, Ceph, R2, ...).
//
// Every key is stored as one object under the Config's prefix. Put-if-absent
// is a PutObject with "If-None-Match: *", which S3 (since August 2024) and
// MinIO apply atomically, so concurrent writers are safe.
//
// A Store never retries: the SDK's retryer is disabled, and failures come
// back classified (storage.ErrDeterminate or storage.ErrIndeterminate, with
// storage.ErrTransient when a retry is reasonable) for storage.NewRetrying
// to act on. An SDK retry of a create-only put whose response was lost
// would see its own object and report a won race as lost; the Retrying
// wrapper reads the key back instead.
//
// Classification:
//
//   - 404 on get, get-range or stat: storage.ErrNotFound; a missing bucket
//     is a determinate failure, never "no object".
//   - 412 on a create-only put, or 409 ConditionalRequestConflict (another
//     create-only put of the key is in flight): storage.ErrPreconditionFailed.
//   - 429, SlowDown, RequestTimeout, OperationAborted: the service did not
//     process the request: determinate and transient.
//   - Other 5xx: transient; indeterminate for writes, determinate for reads.
//   - Other answers (403, 400, 301, ...): determinate, not transient.
//   - No answer: a failure before the request was sent (credentials,
//     signing) or to connect is determinate (the latter transient); a
//     failure after sending (reset, EOF, timeout) is transient and, for
//     writes, indeterminate; a cancelled or expired context is
//     indeterminate for writes in flight, and not transient.
//
// Reads cannot take effect, so their failures are never indeterminate.
// Messages name the store ("s3://bucket/prefix"), the operation and the key,
// and never hold credentials.
package s3

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

// Store is a storage.Storage in an S3 bucket. It is safe for concurrent use
// by many goroutines. Create one with New.
type Store struct {
	client    *s3.Client
	bucket    string
	keyPrefix string // "" or ends with "/"
	name      string // "s3://bucket/prefix"
	secret    string // scrubbed from messages
	token     string // scrubbed from messages

	clock atomic.Pointer[clockSample] // the service's time, from its latest response
}

var (
	_ storage.Storage                = (*Store)(nil)
	_ storage.RangeReader            = (*Store)(nil)
	_ storage.ConditionalRangeReader = (*Store)(nil)
	_ storage.PartsPutter            = (*Store)(nil)
	_ storage.ServerClock            = (*Store)(nil)
)

// New returns a Store for the bucket and prefix cfg names. It does not
// contact the service (so it succeeds for an unreachable endpoint or a
// missing bucket; the first operation reports those); with FromEnv it reads
// the environment and shared config files, and ctx bounds that. The error
// of an invalid Config names the problem, never a secret.
func New(ctx context.Context, cfg Config) (*Store, error) {
	n, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	noRetry := func() aws.Retryer { return aws.NopRetryer{} }

	var awsCfg aws.Config
	if n.FromEnv {
		// The environment's configuration may carry a CA bundle, which
		// the loader installs into a client of the SDK's kind: a client of
		// this Store's own then, shared only if it did not.
		opts := []func(*awsconfig.LoadOptions) error{
			awsconfig.WithHTTPClient(newHTTPClient(n.MaxConnections, n.streamTimeout)),
			awsconfig.WithRetryer(noRetry),
		}
		if n.Region != "" {
			opts = append(opts, awsconfig.WithRegion(n.Region))
		}
		awsCfg, err = awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, errors.Wrapf(err, "s3://%s: loading AWS configuration from the environment", n.Bucket)
		}
		if !hasCustomCAs(awsCfg.HTTPClient) {
			awsCfg.HTTPClient = sharedHTTPClient(n.MaxConnections, n.streamTimeout)
		}
	} else {
		awsCfg = aws.Config{Region: n.Region, HTTPClient: sharedHTTPClient(n.MaxConnections, n.streamTimeout), Retryer: noRetry}
		switch {
		case n.Credentials != nil:
			awsCfg.Credentials = newProvider(n.Credentials, n.Bucket)
		case n.Anonymous:
			awsCfg.Credentials = aws.AnonymousCredentials{}
		default:
			awsCfg.Credentials = credentials.NewStaticCredentialsProvider(n.AccessKeyID, n.SecretAccessKey, n.SessionToken)
		}
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultRegion
	}

	name := "s3://" + n.Bucket
	if n.Prefix != "" {
		name += "/" + n.Prefix
	}
	st := &Store{bucket: n.Bucket, keyPrefix: n.keyPrefix, name: name, secret: n.SecretAccessKey, token: n.SessionToken}
	// The client's middleware keeps each response's time in st.
	st.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = n.ForcePathStyle
		if n.Endpoint != "" {
			o.BaseEndpoint = aws.String(n.Endpoint)
		}
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 1
		// Checksums only where the API demands them (DeleteObjects): many
		// S3-compatible services reject the newer flexible checksums, and
		// our objects carry their own.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.APIOptions = append(o.APIOptions, markSent, st.readClock)
	})
	return st, nil
}

// Open parses the JSON form of a Config (see ParseConfig) and returns New's
// Store for it.
func Open(ctx context.Context, configJSON string) (*Store, error) {
	cfg, err := ParseConfig([]byte(configJSON))
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// ModTimeSlack implements storage.ModTimeSlacker: listings give an
// object's time to the second, truncated.
func (s *Store) ModTimeSlack() time.Duration { return time.Second }

// String returns "s3://bucket/prefix" (or "s3://bucket" without a prefix).
func (s *Store) String() string { return s.name }

// objectKey maps a storage key to its S3 object key.
func (s *Store) objectKey(key string) *string { return aws.String(s.keyPrefix + key) }

// check refuses a call whose key is invalid or whose context is already
// done; either way nothing is sent.
func (s *Store) check(ctx context.Context, o op, key string) error {
	if err := storage.ValidateKey(key); err != nil {
		return errors.Wrapf(err, "%s: %s", s, o)
	}
	if err := ctx.Err(); err != nil {
		return storage.Determinate(errors.Wrapf(err, "%s: %s %q", s, o, key))
	}
	return nil
}

// Get implements storage.Storage.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx, opGet, key); err != nil {
		return nil, err
	}
	data, _, err := s.getObject(ctx, opGet, key, "", nil, storage.ReadCondition{})
	return data, err
}

// GetRange implements storage.Storage. Ranges map to HTTP Range headers
// (ByteRange.HTTPRange). Ranges that are empty by construction (Range(a, a),
// Suffix(0)), and ranges the service refuses as unsatisfiable (416), are
// settled with a HeadObject so that ByteRange.Resolve's rules hold exactly
// (ByteRange.NoBytes): a range starting at the end of the object is empty,
// one starting past it is storage.ErrInvalidRange.
func (s *Store) GetRange(ctx context.Context, key string, r storage.ByteRange) ([]byte, error) {
	if err := s.check(ctx, opGetRange, key); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, errors.Wrapf(err, "%s: get range of %q", s, key)
	}
	header := r.HTTPRange()
	if header != "" {
		data, ranged, err := s.getObject(ctx, opGetRange, key, header, nil, storage.ReadCondition{})
		switch {
		case err == nil && ranged:
			return data, nil
		case err == nil:
			// The service ignored the Range header and sent the whole
			// object: cut it here.
			start, end, rerr := r.Resolve(int64(len(data)))
			if rerr != nil {
				return nil, errors.Wrapf(rerr, "%s: get range of %q", s, key)
			}
			return data[start:end:end], nil
		case !errors.Is(err, storage.ErrInvalidRange):
			return nil, err
		}
		// 416: the range starts at or past the end (or the object is
		// empty). Only the size can tell which.
	}
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	data, err := r.NoBytes(info.Size)
	if err != nil {
		return nil, errors.Wrapf(err, "%s: get range of %q", s, key)
	}
	return data, nil
}

// maxPrealloc caps the buffer allocated ahead from a response's declared
// length.
const maxPrealloc = 1 << 30

// getObject fetches key, or the bytes of rangeHeader if not empty, of the
// object's version that meets cond. ranged reports whether the service
// answered with a partial response. When dst is not nil and the answer is
// a range of exactly len(dst) bytes, the body is read into dst (data is
// then dst); otherwise into a new buffer.
func (s *Store) getObject(ctx context.Context, o op, key, rangeHeader string, dst []byte, cond storage.ReadCondition) (data []byte, ranged bool, err error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)}
	if rangeHeader != "" {
		in.Range = aws.String(rangeHeader)
	}
	if cond.ETag != "" {
		in.IfMatch = aws.String(`"` + storage.UnquoteETag(cond.ETag) + `"`)
	}
	if !cond.NotModifiedAfter.IsZero() {
		in.IfUnmodifiedSince = aws.Time(cond.NotModifiedAfter)
	}
	sctx, sent := withSentFlag(ctx)
	out, err := s.client.GetObject(sctx, in)
	if err != nil {
		return nil, false, s.fail(ctx, o, key, err, sent.Load())
	}
	defer out.Body.Close()
	if !cond.IsZero() {
		// Check the version answered as well: S3 ignores
		// If-Unmodified-Since when an If-Match holds, and a service may
		// ignore conditions it does not support.
		info := storage.ObjectInfo{Key: key, ModTime: aws.ToTime(out.LastModified), ETag: aws.ToString(out.ETag)}
		if err := storage.CheckCondition(s, key, info, cond); err != nil {
			return nil, false, err
		}
	}
	ranged = aws.ToString(out.ContentRange) != ""
	if n := aws.ToInt64(out.ContentLength); n > 0 && n <= maxPrealloc {
		// Read into a buffer of exactly the announced size: growing a
		// buffer as bytes arrive would copy every object once more.
		if dst != nil && ranged && n == int64(len(dst)) {
			data = dst
		} else {
			data = make([]byte, n)
		}
		if _, err = io.ReadFull(out.Body, data); err == nil {
			// Read to the end, so that a reader that checks the body at
			// its end (the SDK's checksum validation) gets to.
			var extra [1]byte
			if _, err = io.ReadFull(out.Body, extra[:]); err == io.EOF {
				err = nil
			} else if err == nil {
				err = errors.Newf("the body is longer than its announced %d bytes", n)
			}
		}
	} else {
		data, err = io.ReadAll(out.Body)
	}
	if err != nil {
		return nil, false, s.fail(ctx, o, key, errors.Wrap(err, "reading the response body"), true)
	}
	return data, ranged, nil
}

// ReadRange implements storage.RangeReader with one ranged GetObject whose
// body goes straight into dst.
func (s *Store) ReadRange(ctx context.Context, key string, offset int64, dst []byte) error {
	return s.ReadRangeIf(ctx, key, offset, dst, storage.ReadCondition{})
}

// ReadRangeIf implements storage.ConditionalRangeReader with ReadRange's
// one GetObject, carrying If-Match for an entity tag and
// If-Unmodified-Since for a modification time; the version answered is
// checked too. A 412 answer is storage.ErrPreconditionFailed.
func (s *Store) ReadRangeIf(ctx context.Context, key string, offset int64, dst []byte, cond storage.ReadCondition) error {
	o := opGetRange
	if !cond.IsZero() {
		o = opGetRangeIf
	}
	if err := s.check(ctx, o, key); err != nil {
		return err
	}
	end := offset + int64(len(dst))
	if len(dst) == 0 {
		// Nothing to read, but the key must exist, meet cond and reach
		// offset.
		info, err := s.Stat(ctx, key)
		if err != nil {
			return err
		}
		if err := storage.CheckCondition(s, key, info, cond); err != nil {
			return err
		}
		if offset > info.Size {
			return storage.ShortObject(s, key, offset, 0, info.Size-offset)
		}
		return nil
	}
	header := storage.Range(offset, end).HTTPRange()
	data, ranged, err := s.getObject(ctx, o, key, header, dst, cond)
	switch {
	case errors.Is(err, storage.ErrPreconditionFailed):
		return storage.NotTheVersion(s, key, cond)
	case errors.Is(err, storage.ErrInvalidRange):
		// 416: the object ends at or before offset.
		return storage.ShortObject(s, key, offset, len(dst), 0)
	case err != nil:
		return err
	case !ranged:
		// The service ignored the Range header and sent the whole object.
		if int64(len(data)) < end {
			return storage.ShortObject(s, key, offset, len(dst), int64(len(data))-offset)
		}
		data = data[offset:end]
	case len(data) != len(dst):
		return storage.ShortObject(s, key, offset, len(dst), int64(len(data)))
	}
	if &data[0] != &dst[0] {
		copy(dst, data)
	}
	return nil
}

// BulkWrite implements storage.BulkWriter: objects of 3 MiB, two at a
// time. A request costs an S3 server (MinIO measured) as much as a few
// hundred KiB of data, so large objects pay; two in flight keep client and
// server busy while bounding the memory held for them.
func (s *Store) BulkWrite() (int, int) { return 3 << 20, 2 }

// ReadAhead implements storage.ReadAheader: a session scanning chunks
// holds up to 9 MiB read ahead of its reader, the next two batches' chunks
// to the end of their object (objects are 3 MiB, see BulkWrite), so that
// the server works while the reader processes the last batch.
func (s *Store) ReadAhead() int { return 9 << 20 }

// Put implements storage.Storage with a PutObject.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, opPut, key, [][]byte{data})
}

// PutParts implements storage.PartsPutter with one PutObject whose body is
// the parts, read one after the other from the caller's memory; its errors
// are those of Put.
func (s *Store) PutParts(ctx context.Context, key string, parts [][]byte) error {
	return s.put(ctx, opPut, key, parts)
}

// PutIfAbsent implements storage.Storage with a PutObject carrying
// "If-None-Match: *". A 412 answer, or 409 ConditionalRequestConflict,
// gives storage.ErrPreconditionFailed.
func (s *Store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, opPutIfAbsent, key, [][]byte{data})
}

// put sends one PutObject of the concatenation of parts, create-only for
// opPutIfAbsent.
func (s *Store) put(ctx context.Context, o op, key string, parts [][]byte) error {
	if err := s.check(ctx, o, key); err != nil {
		return err
	}
	body := newDetachedBody(parts)
	defer body.detach()
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           s.objectKey(key),
		Body:          body,
		ContentLength: aws.Int64(body.size),
	}
	if o == opPutIfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if class := storage.StorageClass(ctx); class != "" {
		in.StorageClass = types.StorageClass(class)
	}
	sctx, sent := withSentFlag(ctx)
	if _, err := s.client.PutObject(sctx, in); err != nil {
		return s.fail(ctx, o, key, err, sent.Load())
	}
	return nil
}

// Sync implements storage.Storage: an S3 write is durable once it is
// acknowledged, so there is nothing to do.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return storage.Determinate(err)
	}
	return nil
}

// Stat implements storage.Storage with a HeadObject.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	if err := s.check(ctx, opStat, key); err != nil {
		return storage.ObjectInfo{}, err
	}
	sctx, sent := withSentFlag(ctx)
	out, err := s.client.HeadObject(sctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil {
		return storage.ObjectInfo{}, s.fail(ctx, opStat, key, err, sent.Load())
	}
	return storage.ObjectInfo{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		ModTime: aws.ToTime(out.LastModified),
		ETag:    aws.ToString(out.ETag),

		StorageClass: string(out.StorageClass),
	}, nil
}

// maxDeleteBatch is the most keys one DeleteObjects request may name.
const maxDeleteBatch = 1000

// deleteParallelism is how many DeleteObjects requests one Delete keeps in
// flight.
const deleteParallelism = 4

// Delete implements storage.Storage with DeleteObjects requests of up to
// 1000 keys, a few in parallel. Every key is validated before anything is
// deleted. Duplicate keys are deleted once. A failure names the keys that
// failed (the first few) and is indeterminate if any of them might have
// been deleted after all; once a request fails no further ones are sent.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := storage.ValidateKey(key); err != nil {
			return errors.Wrapf(err, "%s: delete", s)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return storage.Determinate(errors.Wrapf(err, "%s: delete", s))
	}
	unique := slices.Clone(keys)
	slices.Sort(unique)
	unique = slices.Compact(unique)

	var (
		mu       sync.Mutex
		failures []deleteFailure
		wg       sync.WaitGroup
		sem      = make(chan struct{}, deleteParallelism)
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(failures) > 0
	}
	for batch := range slices.Chunk(unique, maxDeleteBatch) {
		sem <- struct{}{}
		if failed() || ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// A panic here would kill the host process (the library runs
			// inside other programs): report it as a failure instead.
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					failures = append(failures, deleteFailure{fmt.Sprintf("a batch of %d keys", len(batch)), errors.AssertionFailedf("panic deleting a batch: %v", r)})
					mu.Unlock()
				}
			}()
			f := s.deleteBatch(ctx, batch)
			if len(f) > 0 {
				mu.Lock()
				failures = append(failures, f...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) == 0 {
		if err := ctx.Err(); err != nil {
			// Stopped launching batches: some keys may be gone.
			return storage.Indeterminate(errors.Wrapf(err, "%s: delete of %d keys interrupted", s, len(unique)))
		}
		return nil
	}
	return s.deleteError(ctx, len(unique), failures)
}

// deleteFailure is one key, or one whole batch, that could not be deleted.
type deleteFailure struct {
	subject string // a quoted key, or a description of a batch
	err     error  // classified
}

// deleteBatch sends one DeleteObjects request and returns what failed.
func (s *Store) deleteBatch(ctx context.Context, batch []string) (failures []deleteFailure) {
	subject := strconv.Quote(batch[0])
	if len(batch) > 1 {
		subject = fmt.Sprintf("%d keys from %q to %q", len(batch), batch[0], batch[len(batch)-1])
	}
	defer func() {
		if r := recover(); r != nil {
			failures = []deleteFailure{{subject, storage.Indeterminate(errors.Newf("%s: delete %s: panic: %v", s, subject, r))}}
		}
	}()
	objs := make([]types.ObjectIdentifier, len(batch))
	for i, key := range batch {
		objs[i] = types.ObjectIdentifier{Key: s.objectKey(key)}
	}
	sctx, sent := withSentFlag(ctx)
	out, err := s.client.DeleteObjects(sctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(s.bucket),
		Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return []deleteFailure{{subject, s.failSubject(ctx, opDelete, batch[0], subject, err, sent.Load())}}
	}
	for _, e := range out.Errors {
		code := aws.ToString(e.Code)
		if code == codeNoSuchKey {
			continue // already absent: deleted as far as we care
		}
		key := strings.TrimPrefix(aws.ToString(e.Key), s.keyPrefix)
		v := classifyResponse(opDelete, 0, code, classIndeterminate)
		switch code {
		case codeInternalError, codeServiceUnavailable:
			v = verdict{class: classIndeterminate, transient: true}
		}
		failures = append(failures, deleteFailure{strconv.Quote(key), mark(errors.Newf("%s", s.describeDeleteError(e)), v)})
	}
	return failures
}

// deleteError combines the failures of a Delete into one error: listing the
// first few, indeterminate if any is, transient only if all are.
func (s *Store) deleteError(ctx context.Context, total int, failures []deleteFailure) error {
	if len(failures) == 1 && strings.Contains(failures[0].subject, " keys from ") {
		return failures[0].err // one whole request failed: its error says it all
	}
	const shown = 5
	var b strings.Builder
	indeterminate, transient := false, true
	for i, f := range failures {
		indeterminate = indeterminate || storage.IsIndeterminate(f.err)
		transient = transient && storage.IsTransient(f.err)
		if i < shown {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s", f.subject, f.err.Error())
		}
	}
	if len(failures) > shown {
		fmt.Fprintf(&b, "; and %d more", len(failures)-shown)
	}
	var err error
	if ctxErr := ctx.Err(); ctxErr != nil {
		// Keep the cancellation visible to errors.Is.
		err = errors.Wrapf(ctxErr, "%s: delete of %d keys: %d failed: %s", s, total, len(failures), b.String())
	} else {
		err = errors.Newf("%s: delete of %d keys: %d failed: %s", s, total, len(failures), b.String())
	}
	v := verdict{class: classDeterminate, transient: transient}
	if indeterminate {
		v.class = classIndeterminate
	}
	return mark(err, v)
}

// List implements storage.Storage with ListObjectsV2, one page of up to
// 1000 keys per request, fetched as the caller iterates. S3 lists keys in
// UTF-8 binary order, which is byte order. Keys are asked for URL-encoded so
// that control characters survive the XML (and decoded only if the service
// says it encoded them).
func (s *Store) List(ctx context.Context, prefix string, opts storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		if err := storage.ValidatePrefix(prefix); err != nil {
			yield(storage.ObjectInfo{}, errors.Wrapf(err, "%s: list", s))
			return
		}
		full := s.keyPrefix + prefix
		in := &s3.ListObjectsV2Input{
			Bucket:       aws.String(s.bucket),
			Prefix:       aws.String(full),
			EncodingType: types.EncodingTypeUrl,
		}
		if opts.StartAfter != "" {
			in.StartAfter = aws.String(s.keyPrefix + opts.StartAfter)
		}
		subject := strconv.Quote(prefix)
		pages := s3.NewListObjectsV2Paginator(s.client, in)
		last := ""
		for pages.HasMorePages() {
			if err := ctx.Err(); err != nil {
				yield(storage.ObjectInfo{}, storage.Determinate(errors.Wrapf(err, "%s: list %s", s, subject)))
				return
			}
			sctx, sent := withSentFlag(ctx)
			page, err := pages.NextPage(sctx)
			if err != nil {
				yield(storage.ObjectInfo{}, s.failSubject(ctx, opList, prefix, "prefix "+subject, err, sent.Load()))
				return
			}
			for _, obj := range page.Contents {
				objKey := aws.ToString(obj.Key)
				if page.EncodingType == types.EncodingTypeUrl {
					objKey, err = url.QueryUnescape(objKey)
				}
				if err != nil {
					yield(storage.ObjectInfo{}, storage.Determinate(errors.Newf(
						"%s: list prefix %s: the service returned a badly encoded key %q", s, subject, aws.ToString(obj.Key))))
					return
				}
				if !strings.HasPrefix(objKey, full) || objKey <= last {
					// Not ours, or out of order: never yield it.
					yield(storage.ObjectInfo{}, storage.Determinate(errors.Newf(
						"%s: list prefix %s: the service returned key %q out of order or outside the prefix", s, subject, objKey)))
					return
				}
				last = objKey
				info := storage.ObjectInfo{
					Key:     strings.TrimPrefix(objKey, s.keyPrefix),
					Size:    aws.ToInt64(obj.Size),
					ModTime: aws.ToTime(obj.LastModified),
				}
				if !yield(info, nil) {
					return
				}
			}
		}
	}
}
