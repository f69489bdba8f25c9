package s3

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
)

var _ storage.MultipartUploader = (*Store)(nil)

// uploadPartBytes is the part size of multipart uploads: above S3's 5 MiB
// minimum, the AWS CLI's default.
const uploadPartBytes = 8 << 20

// UploadPartBytes implements storage.MultipartUploader.
func (s *Store) UploadPartBytes() int { return uploadPartBytes }

// StartUpload implements storage.MultipartUploader with a
// CreateMultipartUpload, asking for the storage class of ctx as Put does.
func (s *Store) StartUpload(ctx context.Context, key string) (string, error) {
	if err := s.check(ctx, opStartUpload, key); err != nil {
		return "", err
	}
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)}
	if class := storage.StorageClass(ctx); class != "" {
		in.StorageClass = types.StorageClass(class)
	}
	sctx, sent := withSentFlag(ctx)
	out, err := s.client.CreateMultipartUpload(sctx, in)
	if err != nil {
		return "", s.fail(ctx, opStartUpload, key, err, sent.Load())
	}
	if deref(out.UploadId) == "" {
		return "", storage.Determinate(errors.Newf("%s: %s %q: the service answered without an upload id", s, opStartUpload, key))
	}
	return *out.UploadId, nil
}

// UploadPart implements storage.MultipartUploader with an UploadPart whose
// body is read from data's memory until it returns (see detachedBody).
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, n int, data [][]byte) (string, error) {
	if err := s.check(ctx, opUploadPart, key); err != nil {
		return "", err
	}
	if n < 1 || n > storage.MaxUploadParts {
		return "", storage.Determinate(errors.Newf("%s: %s %q: part number %d is not in 1..%d", s, opUploadPart, key, n, storage.MaxUploadParts))
	}
	body := newDetachedBody(data)
	defer body.detach()
	in := &s3.UploadPartInput{
		Bucket:        aws.String(s.bucket),
		Key:           s.objectKey(key),
		UploadId:      aws.String(uploadID),
		PartNumber:    aws.Int32(int32(n)),
		Body:          body,
		ContentLength: aws.Int64(body.size),
	}
	sctx, sent := withSentFlag(ctx)
	out, err := s.client.UploadPart(sctx, in)
	if err != nil {
		return "", s.failSubject(ctx, opUploadPart, key, partSubject(key, n), err, sent.Load())
	}
	if deref(out.ETag) == "" {
		return "", storage.Determinate(errors.Newf("%s: %s %s: the service answered without an entity tag", s, opUploadPart, partSubject(key, n)))
	}
	return *out.ETag, nil
}

// CompleteUpload implements storage.MultipartUploader with a
// CompleteMultipartUpload. The service may answer 200 and carry an error
// in the body; the SDK reports that as an error too.
func (s *Store) CompleteUpload(ctx context.Context, key, uploadID string, tags []string) error {
	if err := s.check(ctx, opCompleteUpload, key); err != nil {
		return err
	}
	parts := make([]types.CompletedPart, len(tags))
	for i, tag := range tags {
		parts[i] = types.CompletedPart{ETag: aws.String(tag), PartNumber: aws.Int32(int32(i + 1))}
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             s.objectKey(key),
		UploadId:        aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	sctx, sent := withSentFlag(ctx)
	if _, err := s.client.CompleteMultipartUpload(sctx, in); err != nil {
		return s.fail(ctx, opCompleteUpload, key, err, sent.Load())
	}
	return nil
}

// AbortUpload implements storage.MultipartUploader with an
// AbortMultipartUpload; an upload already gone is not an error.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := s.check(ctx, opAbortUpload, key); err != nil {
		return err
	}
	in := &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key), UploadId: aws.String(uploadID)}
	sctx, sent := withSentFlag(ctx)
	if _, err := s.client.AbortMultipartUpload(sctx, in); err != nil {
		err = s.fail(ctx, opAbortUpload, key, err, sent.Load())
		if errors.Is(err, storage.ErrUploadGone) {
			return nil
		}
		return err
	}
	return nil
}

// partSubject names part n of key's upload in messages.
func partSubject(key string, n int) string {
	return fmt.Sprintf("%q (part %d)", key, n)
}
