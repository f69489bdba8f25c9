// Package miniotest runs a MinIO server on the loopback interface for tests
// of S3 storage: on free ports, with a temporary data directory, fixed
// credentials and one bucket, stopped (and its directory removed) when the
// test ends.
//
// The MinIO binary is looked for in $MINIO_BIN, then on $PATH, then in
// $(go env GOPATH)/bin. When it is missing, Start fails the test (it does not
// skip it: S3 tests are not optional) with a message saying to run
// `make tools`.
//
// The server only ever listens on 127.0.0.1. On Linux it is killed by the
// kernel if the process that started it dies without stopping it
// (PR_SET_PDEATHSIG; this follows the OS thread that started it, so do not
// start a server from a goroutine locked to a thread that will exit).
package miniotest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/cockroachdb/errors"

	s3store "github.com/icechunk-go/icechunk-go/storage/s3"
)

// Fixed settings of every server this package starts.
const (
	// AccessKey and SecretKey are the root credentials.
	AccessKey = "miniotest-root"
	SecretKey = "miniotest-secret-8d3f0c2a"
	// Region is the server's region.
	Region = "us-east-1"
	// Bucket is the bucket created at start.
	Bucket = "icechunk-test"
)

// Timeouts of starting a server.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	startTries   = 3 // a port may be taken between choosing it and binding it
)

// ErrNotFound is returned (marked) when the MinIO binary cannot be found.
var ErrNotFound = errors.New("MinIO not found: run `make tools` (or set MINIO_BIN to the minio binary)")

// Server is a running MinIO server. Its fields are read-only.
type Server struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:<port>".
	Endpoint string
	// Region, AccessKey, SecretKey and Bucket repeat the package constants.
	Region    string
	AccessKey string
	SecretKey string
	Bucket    string
	// Binary is the minio executable that runs.
	Binary string

	dir     string // temporary directory: data, certs, log; removed by Stop
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // the process's exit status, once exited is closed

	stopOnce sync.Once
	stopErr  error
}

// Binary returns the path of the MinIO executable: $MINIO_BIN if set, else
// "minio" on $PATH, else $(go env GOPATH)/bin/minio. The error is marked
// ErrNotFound.
func Binary() (string, error) {
	if p := os.Getenv("MINIO_BIN"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", errors.Mark(errors.Newf("%s: MINIO_BIN=%q is not an executable file", ErrNotFound, p), ErrNotFound)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	for _, dir := range gopathBins() {
		p := filepath.Join(dir, "minio")
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", errors.Mark(errors.Newf("%s (looked in $MINIO_BIN, $PATH and %s)", ErrNotFound, strings.Join(gopathBins(), ", ")), ErrNotFound)
}

// gopathBins lists the bin folders of the Go workspace: GOBIN, then each
// GOPATH entry's bin, as `go env` reports them, or ~/go/bin.
func gopathBins() []string {
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				if p != "" {
					dirs = append(dirs, filepath.Join(p, "bin"))
				}
			}
		}
	}
	if len(dirs) == 0 {
		if home, err := os.UserHomeDir(); err == nil {
			dirs = append(dirs, filepath.Join(home, "go", "bin"))
		}
	}
	return dirs
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start starts a server for the test and stops it when the test ends. It
// fails the test if MinIO is missing or does not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartServer()
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("miniotest: %v", err)
		}
	})
	return s
}

// StartServer starts a server and returns once it answers and its bucket
// exists. The caller must call Stop. It is for TestMain, benchmarks and
// other places without a testing.TB.
func StartServer() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range startTries {
		s, err := start(bin)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func start(bin string) (s *Server, err error) {
	dir, err := os.MkdirTemp("", "miniotest-")
	if err != nil {
		return nil, errors.Wrap(err, "creating a temporary directory")
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	for _, sub := range []string{"data", "certs"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, errors.Wrap(err, "creating a temporary directory")
		}
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	consoleAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])

	logPath := filepath.Join(dir, "minio.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, errors.Wrap(err, "creating the server log")
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(bin, "server",
		"--address", apiAddr,
		"--console-address", consoleAddr,
		"--certs-dir", filepath.Join(dir, "certs"),
		"--quiet",
		filepath.Join(dir, "data"))
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, errors.Wrapf(err, "starting %s", bin)
	}
	s = &Server{
		Endpoint:  "http://" + apiAddr,
		Region:    Region,
		AccessKey: AccessKey,
		SecretKey: SecretKey,
		Bucket:    Bucket,
		Binary:    bin,
		dir:       dir,
		logPath:   logPath,
		cmd:       cmd,
		exited:    make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	defer func() {
		if err != nil {
			s.kill()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.waitLive(ctx); err != nil {
		return nil, err
	}
	if err := s.CreateBucket(ctx, Bucket); err != nil {
		return nil, errors.Wrapf(err, "creating bucket %q%s", Bucket, s.logTail())
	}
	return s, nil
}

// serverEnv is the environment of the server: ours without any MINIO_
// setting that could change its behaviour, plus the fixed settings.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"MINIO_ROOT_USER="+AccessKey,
		"MINIO_ROOT_PASSWORD="+SecretKey,
		"MINIO_REGION="+Region,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on", // no warnings about the data directory sharing the root disk
		"MINIO_PROMETHEUS_AUTH_TYPE=jwt",
		"MINIO_SCANNER_SPEED=slowest",
	)
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago. They are held open together so that they differ.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Wrap(err, "finding a free port on 127.0.0.1")
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitLive polls the liveness endpoint until the server answers 200, the
// process exits, or ctx ends.
func (s *Server) waitLive(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	url := s.Endpoint + "/minio/health/live"
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return errors.Wrap(err, "building the health check")
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			tail := s.logTail()
			err := errors.Newf("minio exited during start (%v)%s", s.waitErr, tail)
			if strings.Contains(tail, "address already in use") || strings.Contains(tail, "port") && strings.Contains(tail, "in use") {
				return errors.Mark(err, errPortTaken)
			}
			return err
		case <-ctx.Done():
			return errors.Newf("minio did not answer at %s within %s%s", url, startTimeout, s.logTail())
		case <-tick.C:
		}
	}
}

// Config returns the configuration of an s3.Store on this server's bucket
// under prefix, with the root credentials.
func (s *Server) Config(prefix string) s3store.Config {
	return s3store.Config{
		Bucket:          s.Bucket,
		Prefix:          prefix,
		Region:          s.Region,
		Endpoint:        s.Endpoint,
		ForcePathStyle:  true,
		AllowHTTP:       true,
		AccessKeyID:     s.AccessKey,
		SecretAccessKey: s.SecretKey,
	}
}

// Client returns an S3 client for the server, signed with the root
// credentials, with path-style addressing. For test set-up; the storage
// under test builds its own.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

// CreateBucket creates a bucket, retrying while the server is still
// initializing. A bucket that exists already is not an error.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	client := s.Client()
	for {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		var api smithy.APIError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &api) && (api.ErrorCode() == "BucketAlreadyOwnedByYou" || api.ErrorCode() == "BucketAlreadyExists"):
			return nil
		case errors.As(err, &api) && !strings.Contains(api.ErrorCode(), "NotInitialized") &&
			api.ErrorCode() != "XMinioServerNotInitialized" && api.ErrorCode() != "ServiceUnavailable":
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Wrap(err, "server not ready")
		case <-s.exited:
			return errors.Newf("minio exited (%v)", s.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Pause stops the server process (SIGSTOP) without closing its sockets:
// connections are accepted by the kernel but never answered, as with a
// hung server. Resume undoes it. Stop works on a paused server.
func (s *Server) Pause() error {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return errors.Wrap(err, "pausing minio")
	}
	waitState(s.cmd.Process.Pid, true)
	return nil
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error {
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return errors.Wrap(err, "resuming minio")
	}
	waitState(s.cmd.Process.Pid, false)
	return nil
}

// Stop kills the server, waits for it to exit and removes its data. It is
// idempotent and safe to call from several goroutines.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if !s.kill() {
			s.stopErr = errors.Newf("minio (pid %d) did not exit within %s of SIGKILL", s.cmd.Process.Pid, stopTimeout)
			return
		}
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = errors.Wrap(err, "removing the server's data")
		}
	})
	return s.stopErr
}

// kill sends SIGKILL (and SIGCONT, in case it is paused) and waits for the
// process to exit. It reports whether it did.
func (s *Server) kill() bool {
	select {
	case <-s.exited:
		return true
	default:
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-s.exited:
		return true
	case <-time.After(stopTimeout):
		return false
	}
}

// Log returns what the server printed so far.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// logTail returns the end of the server log, for error messages.
func (s *Server) logTail() string {
	b := bytes.TrimSpace([]byte(s.Log()))
	if len(b) == 0 {
		return ""
	}
	const limit = 2000
	if len(b) > limit {
		b = b[len(b)-limit:]
	}
	return "\nminio log:\n" + string(b)
}
