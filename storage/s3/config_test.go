package s3_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage/s3"
)

func TestConfigJSONRoundTrip(t *testing.T) {
	cfg := s3.Config{
		Bucket: "b", Prefix: "p/q", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000",
		ForcePathStyle: true, AllowHTTP: true, AccessKeyID: "id", SecretAccessKey: "sec-Xy7Kp2",
		SessionToken: "tok-Lm3Qz9", MaxConnections: 32, NetworkStreamTimeoutSeconds: new(int),
	}
	got, err := s3.ParseConfig(cfg.JSON())
	must(t, err)
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("round trip: got %v, want %v", got, cfg)
	}
	if !strings.Contains(string(cfg.JSON()), `"secret_access_key":"sec-Xy7Kp2"`) {
		t.Fatalf("JSON form: %s", cfg.JSON())
	}
	// Formatting never shows the secrets.
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg)} {
		if strings.Contains(s, "sec-Xy7Kp2") || strings.Contains(s, "tok-Lm3Qz9") {
			t.Fatalf("formatted config holds a secret: %s", s)
		}
		if !strings.Contains(s, "REDACTED") || !strings.Contains(s, "NetworkStreamTimeoutSeconds:0") {
			t.Fatalf("formatted config: %s", s)
		}
	}
	// A stream timeout of 0 (off) is kept, not taken for the default.
	if !strings.Contains(string(cfg.JSON()), `"network_stream_timeout_seconds":0`) {
		t.Fatalf("JSON form: %s", cfg.JSON())
	}
	cfg.NetworkStreamTimeoutSeconds = nil
	if strings.Contains(string(cfg.JSON()), "network_stream_timeout_seconds") {
		t.Fatalf("JSON form of the default: %s", cfg.JSON())
	}
}

func TestParseConfigErrors(t *testing.T) {
	cases := map[string]string{
		`{"bucket":"b","anonymous":true,"bukket":"x"}`:                                         "unknown field",
		`{"bucket":"b","anonymous":true} {}`:                                                   "trailing",
		`{"bucket":"b","secret_access_key":"sec-Xy7Kp2`:                                        "malformed JSON",
		`{"bucket":"b","max_connections":"sec-Xy7Kp2"}`:                                        `"max_connections" must be a whole number, not string`,
		`{"bucket":"","anonymous":true}`:                                                       "bucket is required",
		`{"bucket":"b"}`:                                                                       "no credentials",
		`{"bucket":"b","anonymous":true,"from_env":true}`:                                      "one source",
		`{"bucket":"b","access_key_id":"a","secret_access_key":"sec-Xy7Kp2","anonymous":true}`: "one source",
		`{"bucket":"b","access_key_id":"a"}`:                                                   "both",
		`{"bucket":"b","anonymous":true,"endpoint":"http://127.0.0.1:9000"}`:                   "allow_http",
		`{"bucket":"b","anonymous":true,"endpoint":"ftp://host"}`:                              "scheme",
		`{"bucket":"b","anonymous":true,"endpoint":"https://u:p@host"}`:                        "user information",
		`{"bucket":"b","anonymous":true,"prefix":"a/../b"}`:                                    "invalid prefix",
		`{"bucket":"b","anonymous":true,"max_connections":-1}`:                                 "negative",
		`{"bucket":"a/b","anonymous":true}`:                                                    "invalid bucket",
		`{"bucket":"b","anonymous":true,"network_stream_timeout_seconds":-5}`:                  "network_stream_timeout_seconds must be 0 (no timeout) or more (got -5)",
		`{"bucket":"b","anonymous":true,"network_stream_timeout_seconds":1.5}`:                 `"network_stream_timeout_seconds" must be a whole number, not number 1.5`,
		`{"bucket":"b","anonymous":"yes"}`:                                                     `"anonymous" must be true or false, not string`,
	}
	for in, want := range cases {
		_, err := s3.ParseConfig([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error about %q, got %v", in, want, err)
			continue
		}
		if strings.Contains(err.Error(), "sec-Xy7Kp2") {
			t.Errorf("%s: error quotes the secret: %v", in, err)
		}
	}
	// New checks the same rules.
	if _, err := s3.New(context.Background(), s3.Config{Bucket: "b"}); err == nil {
		t.Fatal("New accepted a config without credentials")
	}
	if _, err := s3.Open(context.Background(), `{"bucket":"b","anonymous":true,"endpoint":"s3.example.com"}`); err != nil {
		t.Fatalf("endpoint without scheme: %v", err)
	}
}
