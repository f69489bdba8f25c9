//go:build unix

package local_test

import (
	"context"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/storage"
)

// TestNamedPipeDoesNotBlock: a named pipe planted in the tree is not an
// object, and opening it does not hang waiting for a writer.
func TestNamedPipeDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	must(t, s.Put(ctx, "d/ok", nil))
	must(t, syscall.Mkfifo(filepath.Join(root, "d", "fifo"), 0o644))
	done := make(chan error, 1)
	go func() {
		_, err := s.Get(ctx, "d/fifo")
		done <- err
	}()
	select {
	case err := <-done:
		wantIs(t, err, storage.ErrNotFound)
	case <-time.After(10 * time.Second):
		t.Fatal("Get on a named pipe blocked")
	}
	_, err := s.Stat(ctx, "d/fifo")
	wantIs(t, err, storage.ErrNotFound)
	if got := list(t, s, "", ""); !slices.Equal(got, []string{"d/ok"}) {
		t.Fatalf("list: %v", got)
	}
}
