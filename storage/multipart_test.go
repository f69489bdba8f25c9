package storage_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// flakyUploads fails the calls of memory multipart uploads as a test asks.
type flakyUploads struct {
	*memory.Store
	failPart      int          // this part number fails, determinately
	cancelAtPart  int          // this part number cancels the put's context
	cancel        func()       // for cancelAtPart
	lostCompletes atomic.Int32 // completions that land but answer with an unknown outcome
	partTries     atomic.Int32 // UploadPart calls
	transientPart atomic.Int32 // the next this many UploadPart calls fail transiently first
}

func (f *flakyUploads) UploadPart(ctx context.Context, key, id string, n int, data [][]byte) (string, error) {
	f.partTries.Add(1)
	switch {
	case n == f.failPart:
		return "", storage.Determinate(errors.Newf("part %d refused by the test", n))
	case n == f.cancelAtPart:
		f.cancel()
		return "", storage.Determinate(context.Canceled)
	case f.transientPart.Add(-1) >= 0:
		return "", storage.Transient(storage.Indeterminate(errors.New("connection reset (test)")))
	}
	return f.Store.UploadPart(ctx, key, id, n, data)
}

func (f *flakyUploads) CompleteUpload(ctx context.Context, key, id string, tags []string) error {
	if err := f.Store.CompleteUpload(ctx, key, id, tags); err != nil {
		return err
	}
	if f.lostCompletes.Add(-1) >= 0 {
		return storage.Transient(storage.Indeterminate(errors.New("answer lost (test)")))
	}
	return nil
}

var fastRetries = storage.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}

func threeParts() ([][]byte, []byte) {
	const part = 8 << 20
	data := make([]byte, 2*part+123)
	for i := range data {
		data[i] = byte(i * 13)
	}
	return [][]byte{data[:part/2], data[part/2:]}, data
}

func TestPutMultipartRetriesPartsAndResolvesALostCompletion(t *testing.T) {
	ctx := context.Background()
	f := &flakyUploads{Store: memory.New("mp")}
	f.transientPart.Store(2)
	f.lostCompletes.Store(1)
	parts, data := threeParts()
	if err := storage.PutMultipart(ctx, storage.NewRetrying(f, fastRetries), "obj", parts, 3); err != nil {
		t.Fatalf("put: %+v", err)
	}
	got, err := f.Get(ctx, "obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (err %v), want the %d put", len(got), err, len(data))
	}
	if n := f.partTries.Load(); n != 5 {
		t.Fatalf("%d part uploads, want 5: three parts, two of them tried again", n)
	}
	if n := f.Uploads(); n != 0 {
		t.Fatalf("%d uploads left in progress", n)
	}
}

func TestPutMultipartFailureAbortsTheUpload(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(f *flakyUploads, cancel func())
		want error
	}{
		{"part refused", func(f *flakyUploads, _ func()) { f.failPart = 2 }, storage.ErrDeterminate},
		{"context cancelled", func(f *flakyUploads, cancel func()) { f.cancelAtPart, f.cancel = 2, cancel }, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &flakyUploads{Store: memory.New("mp")}
			tc.set(f, cancel)
			parts, _ := threeParts()
			err := storage.PutMultipart(ctx, storage.NewRetrying(f, fastRetries), "obj", parts, 1)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), `multipart upload of "obj"`) {
				t.Fatalf("put: got %v, want %v naming the upload", err, tc.want)
			}
			if n := f.Uploads(); n != 0 {
				t.Fatalf("%d uploads left in progress after a failed put", n)
			}
			if _, err := f.Stat(context.Background(), "obj"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("stat after a failed put: %v, want not found", err)
			}
		})
	}
}

func TestPutMultipartSplitsSpanningCallerBuffers(t *testing.T) {
	ctx := context.Background()
	s := memory.New("mp")
	// Buffers whose edges fall inside parts and on a part's edge.
	data := make([]byte, 3*(8<<20)+5)
	for i := range data {
		data[i] = byte(i * 31)
	}
	cuts := []int{0, 7, 8 << 20, 8<<20 + 1, 20 << 20, len(data)}
	var parts [][]byte
	for i := 1; i < len(cuts); i++ {
		parts = append(parts, data[cuts[i-1]:cuts[i]])
	}
	if err := storage.PutMultipart(ctx, s, "obj", parts, 4); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (err %v), want the %d put", len(got), err, len(data))
	}
}
