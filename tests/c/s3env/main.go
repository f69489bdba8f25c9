// Command s3env runs a command with a MinIO server on 127.0.0.1 for it:
//
//	s3env PROGRAM [ARGS...]
//
// It starts a server (storage/s3/miniotest: free ports, a temporary data
// directory, one bucket), runs PROGRAM with the server described in the
// environment, stops the server and exits with PROGRAM's status. The C S3
// test (tests/c/s3.c) runs under it; the variables are
//
//	IC_TEST_S3_JSON        the storage config JSON (static credentials)
//	IC_TEST_S3_ENDPOINT    http://127.0.0.1:<port>
//	IC_TEST_S3_BUCKET, IC_TEST_S3_REGION,
//	IC_TEST_S3_ACCESS_KEY, IC_TEST_S3_SECRET_KEY
//	AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (the same root
//	credentials, for IC_S3_CREDENTIALS_FROM_ENV)
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"github.com/icechunk-go/icechunk-go/storage/s3/miniotest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: s3env PROGRAM [ARGS...]")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1], os.Args[2:]))
}

func run(prog string, args []string) int {
	// The server dies with the thread that started it (PR_SET_PDEATHSIG):
	// keep that thread for the whole run.
	runtime.LockOSThread()
	srv, err := miniotest.StartServer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3env: starting MinIO: %v\n", err)
		return 1
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "s3env: stopping MinIO: %v\n", err)
		}
	}()
	cmd := exec.Command(prog, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"IC_TEST_S3_JSON="+string(srv.Config("").JSON()),
		"IC_TEST_S3_ENDPOINT="+srv.Endpoint,
		"IC_TEST_S3_BUCKET="+srv.Bucket,
		"IC_TEST_S3_REGION="+srv.Region,
		"IC_TEST_S3_ACCESS_KEY="+srv.AccessKey,
		"IC_TEST_S3_SECRET_KEY="+srv.SecretKey,
		// For the credentials-from-environment case.
		"AWS_ACCESS_KEY_ID="+srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_REGION="+srv.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "s3env: running %s: %v\n", prog, err)
		return 1
	}
	return 0
}
