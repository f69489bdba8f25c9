// Package logstest captures the library's log lines in tests.
package logstest

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/icechunk-go/icechunk-go/logs"
)

// Lines holds the lines written while a capture is on.
type Lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// All returns the lines written so far.
func (l *Lines) All() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(l.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Matching returns the lines that contain every one of parts.
func (l *Lines) Matching(parts ...string) []string {
	var out []string
	for _, line := range l.All() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// Capture sends the log to the returned Lines under filter until the test
// ends, then restores standard error and the filter before it. Tests that
// capture must not run in parallel with each other: the log is the
// process's.
func Capture(t testing.TB, filter string) *Lines {
	t.Helper()
	lines := &Lines{}
	prev, err := logs.SetFilter(filter)
	if err != nil {
		t.Fatal(err)
	}
	logs.SetOutput(lines)
	t.Cleanup(func() {
		logs.SetOutput(os.Stderr)
		if _, err := logs.SetFilter(prev); err != nil {
			t.Error(err)
		}
	})
	return lines
}
