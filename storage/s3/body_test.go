package s3

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/errors"
)

// Once detached, a request body neither reads nor seeks its buffer.
func TestDetachedBodyStopsReading(t *testing.T) {
	data := []byte("0123456789")
	b := newDetachedBody([][]byte{data})
	got := make([]byte, 4)
	if n, err := b.Read(got); n != 4 || err != nil || string(got) != "0123" {
		t.Fatalf("read before detach: %d %v %q", n, err, got)
	}
	if pos, err := b.Seek(0, io.SeekStart); pos != 0 || err != nil {
		t.Fatalf("seek before detach: %d %v", pos, err)
	}
	all, err := io.ReadAll(b)
	if err != nil || string(all) != string(data) {
		t.Fatalf("read all: %v %q", err, all)
	}
	b.detach()
	wantDetached(t, b)
}

// wantDetached checks that b, detached, fails every read and seek and holds
// nothing of the caller's memory.
func wantDetached(t *testing.T, b *detachedBody) {
	t.Helper()
	got := make([]byte, 4)
	if n, err := b.Read(got); n != 0 || !errors.Is(err, errDetached) {
		t.Fatalf("read after detach: %d %v", n, err)
	}
	if n, err := b.Read(nil); n != 0 || !errors.Is(err, errDetached) {
		t.Fatalf("empty read after detach: %d %v", n, err)
	}
	for _, whence := range []int{io.SeekStart, io.SeekCurrent, io.SeekEnd} {
		if _, err := b.Seek(0, whence); !errors.Is(err, errDetached) {
			t.Fatalf("seek (whence %d) after detach: %v", whence, err)
		}
	}
	if b.parts != nil {
		t.Fatalf("a detached body still refers to %d parts", len(b.parts))
	}
}

// A body of several parts, empty ones among them, reads and seeks like a
// bytes.Reader over their concatenation, across part boundaries, whatever
// the sequence of reads and seeks.
func TestDetachedBodyParts(t *testing.T) {
	cases := [][][]byte{
		nil,
		{nil},
		{{}, nil, {}},
		{[]byte("0123456789")},
		{nil, []byte("01"), {}, []byte("234"), []byte("5"), nil, []byte("6789"), {}},
		{[]byte("0"), []byte("1"), []byte("2"), []byte("3")},
		{[]byte("01234"), nil, nil, []byte("56789")},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for ci, parts := range cases {
		whole := slices.Concat(parts...)
		b := newDetachedBody(parts)
		if b.size != int64(len(whole)) {
			t.Fatalf("case %d: size %d, want %d", ci, b.size, len(whole))
		}
		all, err := io.ReadAll(b)
		if err != nil || !bytes.Equal(all, whole) {
			t.Fatalf("case %d: read all: %v %q, want %q", ci, err, all, whole)
		}
		ref := bytes.NewReader(whole)
		_, _ = ref.Seek(0, io.SeekEnd)
		for step := range 2000 {
			what := fmt.Sprintf("case %d, step %d", ci, step)
			if rng.IntN(3) == 0 {
				offset := rng.Int64N(int64(len(whole))+8) - 4
				whence := rng.IntN(3)
				want, wantErr := ref.Seek(offset, whence)
				got, err := b.Seek(offset, whence)
				if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
					t.Fatalf("%s: seek(%d, %d) = %d, %v; want %d, %v", what, offset, whence, got, err, want, wantErr)
				}
				continue
			}
			size := rng.IntN(len(whole) + 3)
			got, want := make([]byte, size), make([]byte, size)
			n, err := b.Read(got)
			wantN, wantErr := ref.Read(want)
			if n != wantN || err != wantErr || !bytes.Equal(got[:n], want[:wantN]) {
				t.Fatalf("%s: read of %d = %d %v %q; want %d %v %q", what, size, n, err, got[:n], wantN, wantErr, want[:wantN])
			}
		}
		// From every position, part boundaries included, reached by each kind of
		// seek, the body reads on to the end.
		for pos := int64(0); pos <= int64(len(whole)); pos++ {
			for _, whence := range []int{io.SeekStart, io.SeekCurrent, io.SeekEnd} {
				offset := map[int]int64{
					io.SeekStart:   pos,
					io.SeekCurrent: pos - int64(len(whole)), // ReadAll left it at the end
					io.SeekEnd:     pos - int64(len(whole)),
				}[whence]
				if got, err := b.Seek(offset, whence); got != pos || err != nil {
					t.Fatalf("case %d: seek to %d (whence %d): %d %v", ci, pos, whence, got, err)
				}
				rest, err := io.ReadAll(b)
				if err != nil || !bytes.Equal(rest, whole[pos:]) {
					t.Fatalf("case %d: read from %d: %v %q, want %q", ci, pos, err, rest, whole[pos:])
				}
			}
		}
		if _, err := b.Seek(0, 7); err == nil {
			t.Fatalf("case %d: seek with an invalid whence succeeded", ci)
		}
		_, _ = b.Seek(1, io.SeekStart)
		b.detach()
		wantDetached(t, b)
	}
}
