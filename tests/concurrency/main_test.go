// Package concurrency holds tests in which OS processes share one
// repository, on local disk and on a real MinIO server: writers at once
// (the commits that report success are exactly the history, none lost,
// none duplicated; with rebase, contending writers all land), writers
// killed with SIGKILL at random moments (the repository stays whole and
// acknowledged commits stay), and clients whose branch operations are
// checked for linearizability.
package concurrency

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/s3"
	"github.com/icechunk-go/icechunk-go/storage/s3/miniotest"
)

// place says where a repository lives, in a form a child process gets
// through its environment.
type place struct {
	Kind string    `json:"kind"` // "local" or "s3"
	Path string    `json:"path,omitempty"`
	S3   s3.Config `json:"s3,omitempty"`
}

func (p place) open(ctx context.Context) (storage.Storage, error) {
	switch p.Kind {
	case "local":
		return local.New(p.Path)
	case "s3":
		return s3.New(ctx, p.S3)
	}
	return nil, fmt.Errorf("unknown place kind %q", p.Kind)
}

var minio *miniotest.Server

const childEnv = "ICECHUNK_CONCURRENCY_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	var err error
	minio, err = miniotest.StartServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = minio.Stop()
	os.Exit(code)
}

// openRepo opens the repository at p with a new handle, one that shares no
// memory with the writers.
func openRepo(t testing.TB, p place) *engine.Repository {
	t.Helper()
	ctx := context.Background()
	store, err := p.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := engine.Open(ctx, store, nil)
	if err != nil {
		t.Fatalf("opening the repository at %s: %+v", store, err)
	}
	return repo
}

// placeSerial numbers the S3 prefixes of one test process, so that a test
// run again in it (go test -count=2) starts from an empty prefix.
var placeSerial atomic.Int64

// places returns a fresh local folder and a fresh S3 prefix.
func places(t testing.TB) map[string]place {
	prefix := fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), placeSerial.Add(1))
	return map[string]place{
		"local": {Kind: "local", Path: t.TempDir()},
		"s3": {Kind: "s3", S3: s3.Config{
			Bucket: minio.Bucket, Prefix: prefix, Region: minio.Region,
			Endpoint: minio.Endpoint, ForcePathStyle: true, AllowHTTP: true,
			AccessKeyID: minio.AccessKey, SecretAccessKey: minio.SecretKey,
		}},
	}
}

type childSpec struct {
	Place   place  `json:"place"`
	Mode    string `json:"mode"` // "plain", "rebase", "crash" or "linearize"
	Worker  int    `json:"worker"`
	Commits int    `json:"commits"`
}

func (c childSpec) env() string {
	b, _ := json.Marshal(c)
	return childEnv + "=" + string(b)
}
