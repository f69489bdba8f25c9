package s3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/internal/jsonkind"
	"github.com/icechunk-go/icechunk-go/storage"
)

// DefaultMaxConnections is the connection pool size used when
// Config.MaxConnections is zero.
const DefaultMaxConnections = 256

// DefaultStreamTimeoutSeconds is the stream timeout used when
// Config.NetworkStreamTimeoutSeconds is nil.
const DefaultStreamTimeoutSeconds = 60

// DefaultRegion is the signing region used when neither the Config nor (with
// FromEnv) the environment names one.
const DefaultRegion = "us-east-1"

// Config says where a Store keeps its objects and how it authenticates.
//
// Exactly one source of credentials is used: static keys (AccessKeyID and
// SecretAccessKey, optionally SessionToken), FromEnv (the AWS SDK default
// chain: environment variables, shared config and credentials files, web
// identity, container and instance roles), or Anonymous (unsigned requests,
// for public buckets). Setting none, or more than one, is an error.
//
// The JSON form (see ParseConfig and Config.JSON) uses snake_case names:
//
//	{"bucket": "b", "prefix": "repos/r1", "region": "us-east-1",
//	 "endpoint": "http://127.0.0.1:9000", "force_path_style": true,
//	 "allow_http": true, "access_key_id": "...", "secret_access_key": "...",
//	 "session_token": "", "from_env": false, "anonymous": false,
//	 "max_connections": 256, "network_stream_timeout_seconds": 60}
//
// Config's String and GoString methods never print the secret key or the
// session token, so a Config is safe to log with %v, %+v or %#v; its JSON
// form does hold them.
type Config struct {
	// Bucket is the bucket name. Required.
	Bucket string `json:"bucket"`
	// Prefix is the folder inside the bucket under which every key is
	// stored ("repos/r1" stores key "refs/x" as "repos/r1/refs/x"). Leading
	// and trailing slashes are ignored. Empty means the bucket root.
	Prefix string `json:"prefix,omitempty"`
	// Region is the signing region. Empty means the environment's region
	// with FromEnv, else DefaultRegion.
	Region string `json:"region,omitempty"`
	// Endpoint is the base URL of an S3-compatible service, such as
	// "http://127.0.0.1:9000" for MinIO. Empty means AWS S3 (or, with
	// FromEnv, AWS_ENDPOINT_URL if set). A URL without a scheme is taken as
	// https.
	Endpoint string `json:"endpoint,omitempty"`
	// ForcePathStyle addresses the bucket in the URL path
	// (host/bucket/key) instead of the host name (bucket.host/key). Most
	// S3-compatible services need it.
	ForcePathStyle bool `json:"force_path_style,omitempty"`
	// AllowHTTP permits a plain-http Endpoint. Without it such an endpoint
	// is rejected, so that credentials and data never cross the network in
	// clear text by accident.
	AllowHTTP bool `json:"allow_http,omitempty"`
	// AccessKeyID and SecretAccessKey are static credentials; SessionToken
	// goes with temporary ones.
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey string `json:"secret_access_key,omitempty"`
	SessionToken    string `json:"session_token,omitempty"`
	// FromEnv takes credentials (and, when not set here, the region and
	// endpoint) from the AWS SDK default chain.
	FromEnv bool `json:"from_env,omitempty"`
	// Anonymous sends unsigned requests.
	Anonymous bool `json:"anonymous,omitempty"`
	// MaxConnections bounds the open connections to the service, and is
	// the size of the idle pool. Zero means DefaultMaxConnections. Stores
	// with the same MaxConnections and NetworkStreamTimeoutSeconds share
	// one pool (unless the environment gives FromEnv a CA bundle), so
	// opening stores again and again reuses connections.
	MaxConnections int `json:"max_connections,omitempty"`
	// NetworkStreamTimeoutSeconds (upstream Icechunk's option of that
	// name) fails a request when no byte crosses its connection, in either
	// direction, for that many seconds: a server that accepted the request
	// and hangs, or a transfer that stalled. A slow transfer that still
	// moves is never cut. nil means DefaultStreamTimeoutSeconds; 0 turns
	// the timeout off, leaving only the caller's context to end a hung
	// request.
	NetworkStreamTimeoutSeconds *int `json:"network_stream_timeout_seconds,omitempty"`
	// Credentials, when set, is the source of credentials: called for the
	// first request and again whenever the credentials it gave expire. It
	// has no JSON form.
	Credentials CredentialsFunc `json:"-"`
}

// ParseConfig reads the JSON form of a Config. Unknown fields are an error,
// so that a misspelt option is not silently ignored. The Config is checked
// as New checks it. Error messages never quote the input, which holds
// secrets.
func ParseConfig(data []byte) (Config, error) {
	return ParseConfigWith(data, nil)
}

// ParseConfigWith is ParseConfig for a Config whose credentials come from
// fn (nil: from the JSON).
func ParseConfigWith(data []byte, fn CredentialsFunc) (Config, error) {
	c := Config{Credentials: fn}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, errors.Wrap(redactJSONError(err), "s3: invalid config JSON")
	}
	if dec.More() {
		return Config{}, errors.New("s3: invalid config JSON: trailing data after the object")
	}
	if _, err := c.normalize(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// redactJSONError keeps the shape of a JSON decoding error without any
// quoted value from the input.
func redactJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errors.Newf("syntax error at offset %d", syn.Offset)
	case errors.As(err, &typ):
		return errors.Newf("%s", jsonkind.Mismatch(typ))
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// The field name is not secret; the value is never in this message.
		return errors.Newf("%s", err.Error())
	default:
		return errors.New("malformed JSON")
	}
}

// JSON returns the JSON form of c, secrets included. It is what a C caller
// or a child process passes to ParseConfig.
func (c Config) JSON() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		// Marshal of a struct of strings, bools and an int cannot fail.
		return nil
	}
	return b
}

// String describes c without secrets.
func (c Config) String() string {
	redacted := c
	if redacted.SecretAccessKey != "" {
		redacted.SecretAccessKey = "REDACTED"
	}
	if redacted.SessionToken != "" {
		redacted.SessionToken = "REDACTED"
	}
	type plain Config // drops the methods, so Sprintf does not recurse
	out := fmt.Sprintf("%+v", plain(redacted))
	if t := c.NetworkStreamTimeoutSeconds; t != nil {
		// The value, not the pointer's address.
		out = strings.Replace(out, fmt.Sprintf("NetworkStreamTimeoutSeconds:%p", t), fmt.Sprintf("NetworkStreamTimeoutSeconds:%d", *t), 1)
	}
	return out
}

// GoString describes c without secrets, for %#v.
func (c Config) GoString() string { return "s3.Config" + c.String() }

// normalized is a checked Config with the defaults filled in.
type normalized struct {
	Config
	// keyPrefix is Prefix with a trailing slash, or empty.
	keyPrefix string
	// streamTimeout is NetworkStreamTimeoutSeconds with its default; 0
	// means none.
	streamTimeout time.Duration
}

// normalize checks c and fills in defaults. Messages never include secrets.
func (c Config) normalize() (normalized, error) {
	n := normalized{Config: c}
	if c.Bucket == "" {
		return n, errors.New("s3: config: bucket is required")
	}
	if strings.ContainsAny(c.Bucket, "/\\ \x00") {
		return n, errors.Newf("s3: config: invalid bucket name %q", c.Bucket)
	}
	p := strings.Trim(c.Prefix, "/")
	if p != "" {
		if err := storage.ValidateKey(p); err != nil {
			return n, errors.Wrapf(err, "s3: config: invalid prefix %q", c.Prefix)
		}
		n.keyPrefix = p + "/"
	}
	n.Prefix = p

	static := c.AccessKeyID != "" || c.SecretAccessKey != "" || c.SessionToken != ""
	sources := 0
	for _, set := range []bool{static, c.FromEnv, c.Anonymous, c.Credentials != nil} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return n, errors.New("s3: config: no credentials: set access_key_id and secret_access_key, from_env, anonymous, or a credentials callback")
	case sources > 1:
		return n, errors.New("s3: config: choose one source of credentials: static keys, from_env, anonymous, or a credentials callback")
	case static && (c.AccessKeyID == "" || c.SecretAccessKey == ""):
		return n, errors.New("s3: config: static credentials need both access_key_id and secret_access_key")
	}

	if c.Endpoint != "" {
		ep := c.Endpoint
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			return n, errors.Newf("s3: config: invalid endpoint %q", c.Endpoint)
		}
		switch u.Scheme {
		case "https":
		case "http":
			if !c.AllowHTTP {
				return n, errors.Newf("s3: config: endpoint %q is plain http; set allow_http to permit it", c.Endpoint)
			}
		default:
			return n, errors.Newf("s3: config: endpoint %q: scheme must be http or https", c.Endpoint)
		}
		if u.User != nil {
			return n, errors.New("s3: config: endpoint must not hold user information")
		}
		n.Endpoint = strings.TrimSuffix(ep, "/")
	}

	if c.MaxConnections < 0 {
		return n, errors.Newf("s3: config: max_connections must not be negative (got %d)", c.MaxConnections)
	}
	if n.MaxConnections == 0 {
		n.MaxConnections = DefaultMaxConnections
	}
	n.streamTimeout = DefaultStreamTimeoutSeconds * time.Second
	if t := c.NetworkStreamTimeoutSeconds; t != nil {
		if *t < 0 {
			return n, errors.Newf("s3: config: network_stream_timeout_seconds must be 0 (no timeout) or more (got %d)", *t)
		}
		n.streamTimeout = time.Duration(*t) * time.Second
	}
	return n, nil
}
