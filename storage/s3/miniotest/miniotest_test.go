package miniotest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/icechunk-go/icechunk-go/storage/s3/miniotest"
)

// TestStartStop starts a server, checks that it serves its bucket, and
// that Stop makes it go away.
func TestStartStop(t *testing.T) {
	start := time.Now()
	srv := miniotest.Start(t)
	t.Logf("minio %s up in %s", srv.Endpoint, time.Since(start))

	ctx := context.Background()
	if _, err := srv.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(srv.Bucket)}); err != nil {
		t.Fatalf("bucket %q: %v", srv.Bucket, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	c := &http.Client{Timeout: time.Second}
	if resp, err := c.Get(srv.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatalf("server still answers after Stop")
	}
}

// TestMissingBinary: a MINIO_BIN that does not exist is reported with the
// instruction to install MinIO.
func TestMissingBinary(t *testing.T) {
	t.Setenv("MINIO_BIN", "/nonexistent/minio")
	_, err := miniotest.StartServer()
	if err == nil {
		t.Fatal("started without a binary")
	}
	if want := "run `make tools`"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
