package local_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
)

// pieceBytes is a piece of n bytes, different for every seed.
func pieceBytes(seed, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Pieces written concurrently and in any order, some of them twice, make
// one object; its directories are made as for Put, and Sync covers it.
func TestPutPieceBuildsAnObject(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	if n := storage.ObjectPieces(s); n < 2 {
		t.Fatalf("the local store asks for %d pieces per object", n)
	}
	sizes := []int{1 << 20, 100, 70 << 10, 1 << 20, 1, 300 << 10}
	var want []byte
	offsets := make([]int64, len(sizes))
	for i, n := range sizes {
		offsets[i] = int64(len(want))
		want = append(want, pieceBytes(i, n)...)
	}
	const key = "chunks/deep/OBJECT"
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(sizes))
	for _, i := range rand.Perm(len(sizes)) {
		wg.Go(func() {
			errs <- storage.PutPiece(ctx, s, key, offsets[i], pieceBytes(i, sizes[i]))
			if i%2 == 0 { // written again after a failure: the same bytes
				errs <- s.PutPiece(ctx, key, offsets[i], pieceBytes(i, sizes[i]))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	must(t, s.Sync(ctx))
	got, err := s.Get(ctx, key)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("the object of %d bytes is not its pieces (%d bytes)", len(got), len(want))
	}
	part := make([]byte, 1000)
	must(t, s.ReadRange(ctx, key, offsets[3]-500, part))
	if !bytes.Equal(part, want[offsets[3]-500:offsets[3]+500]) {
		t.Fatal("a range across two pieces is wrong")
	}
	if got := dirNames(t, filepath.Join(root, ".tmp")); len(got) != 0 {
		t.Fatalf("pieces left staging files: %v", got)
	}
}

// A later piece written first leaves a hole that reads as zeros: the
// reason PutPiece is only for keys nobody reads until every piece is in.
func TestPutPieceIsNotAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	must(t, s.PutPiece(ctx, "k", 4, []byte("tail")))
	got, err := s.Get(ctx, "k")
	must(t, err)
	if !bytes.Equal(got, []byte("\x00\x00\x00\x00tail")) {
		t.Fatalf("got %q, want a hole of four zeros then the piece", got)
	}
	must(t, s.PutPiece(ctx, "k", 0, []byte("head")))
	got, err = s.Get(ctx, "k")
	must(t, err)
	if string(got) != "headtail" {
		t.Fatalf("got %q, want headtail", got)
	}
}

func TestPutPieceBadInput(t *testing.T) {
	ctx := context.Background()
	s, root := newStore(t)
	wantIs(t, s.PutPiece(ctx, "k", -1, []byte("x")), storage.ErrDeterminate)
	wantIs(t, s.PutPiece(ctx, "../escape", 0, []byte("x")), storage.ErrInvalidKey)
	wantIs(t, s.PutPiece(ctx, ".tmp/x", 0, []byte("x")), storage.ErrInvalidKey)
	must(t, s.Put(ctx, "dir/obj", []byte("x")))
	err := s.PutPiece(ctx, "dir", 0, []byte("x")) // a directory of objects
	wantIs(t, err, storage.ErrInvalidKey)
	wantIs(t, err, storage.ErrDeterminate)
	wantIs(t, s.PutPiece(ctx, "dir/obj/under", 0, []byte("x")), storage.ErrInvalidKey)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	wantIs(t, s.PutPiece(cancelled, "k", 0, []byte("x")), storage.ErrDeterminate)
	if _, err := os.Stat(filepath.Join(root, "k")); !os.IsNotExist(err) {
		t.Fatalf("a refused piece created its file: %v", err)
	}
}
