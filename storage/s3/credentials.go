package s3

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/cockroachdb/errors"
)

// Credentials are access keys a CredentialsFunc hands out.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expires is when they stop working (zero: never); they are asked for
	// again shortly before.
	Expires time.Time
}

// CredentialsFunc fetches credentials: upstream Icechunk's refreshable
// credentials (get_credentials). A Store calls it for its first request and
// again when the credentials it returned are about to expire, never twice
// at once; requests wait for it. Its error is reported by the requests
// that needed the credentials, and it is called again for the next one.
type CredentialsFunc func(ctx context.Context) (Credentials, error)

// refreshBefore is how long before they expire credentials are fetched
// again, so that a request signed just before does not arrive too late.
const refreshBefore = 30 * time.Second

// provider adapts a CredentialsFunc to the SDK, behind its cache (which
// refreshes expired credentials and lets one caller fetch at a time).
type provider struct {
	fn     CredentialsFunc
	bucket string
}

func newProvider(fn CredentialsFunc, bucket string) aws.CredentialsProvider {
	return aws.NewCredentialsCache(provider{fn: fn, bucket: bucket}, func(o *aws.CredentialsCacheOptions) {
		o.ExpiryWindow = refreshBefore
	})
}

// Retrieve implements aws.CredentialsProvider.
func (p provider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.fn(ctx)
	if err != nil {
		return aws.Credentials{}, errors.Wrapf(err, "s3://%s: fetching credentials", p.bucket)
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return aws.Credentials{}, errors.Newf("s3://%s: fetching credentials: the callback gave no access key id or no secret access key", p.bucket)
	}
	return aws.Credentials{
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken,
		Source: "icechunk credentials callback", CanExpire: !c.Expires.IsZero(), Expires: c.Expires,
	}, nil
}
