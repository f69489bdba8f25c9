//go:build unix

package local_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
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

// rootDescriptors counts this process's descriptors open on dir.
func rootDescriptors(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && target == dir {
			n++
		}
	}
	return n
}

// TestStoresShareRootDescriptor: Stores made again and again on one
// directory (a repository opened per task) hold one descriptor between
// them, not one each until the garbage collector runs.
func TestStoresShareRootDescriptor(t *testing.T) {
	ctx := context.Background()
	first, root := newStore(t)
	must(t, first.Put(ctx, "k", []byte("v")))
	var stores []*local.Store
	for range 50 {
		s, err := local.New(root)
		must(t, err)
		if _, err := s.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	lazy, err := local.New(filepath.Join(root, "later"))
	must(t, err)
	must(t, lazy.Put(ctx, "k", nil)) // made by its first write
	other, err := local.New(filepath.Join(root, "later"))
	must(t, err)
	must(t, other.Put(ctx, "k2", nil))
	if n := rootDescriptors(t, root); n != 1 {
		t.Fatalf("%d descriptors open on the root of 51 stores, want 1", n)
	}
	if n := rootDescriptors(t, filepath.Join(root, "later")); n != 1 {
		t.Fatalf("%d descriptors open on the root of 2 stores made before it existed, want 1", n)
	}
	runtime.KeepAlive(stores)
	runtime.KeepAlive(first)
	runtime.KeepAlive(lazy)
	runtime.KeepAlive(other)
}

// TestRootMadeAgainIsNotShared: a directory removed and made again at the
// same path is a new root; a new Store writes into it, not into the
// removed directory an older Store still holds.
func TestRootMadeAgainIsNotShared(t *testing.T) {
	ctx := context.Background()
	old, root := newStore(t)
	must(t, old.Put(ctx, "k", []byte("old")))
	must(t, os.RemoveAll(root))
	must(t, os.Mkdir(root, 0o755))
	fresh, err := local.New(root)
	must(t, err)
	_, err = fresh.Get(ctx, "k")
	wantIs(t, err, storage.ErrNotFound)
	must(t, fresh.Put(ctx, "k2", []byte("new")))
	if b, err := os.ReadFile(filepath.Join(root, "k2")); err != nil || string(b) != "new" {
		t.Fatalf("the write did not land in the directory now at the path: %q, %v", b, err)
	}
	runtime.KeepAlive(old)
}
