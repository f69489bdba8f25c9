package storage

import (
	"context"

	"github.com/cockroachdb/errors"
)

// RangeReader is an optional Storage method: reading bytes of an object
// straight into the caller's buffer. A reader that knows how many bytes it
// wants (a chunk whose length its manifest gives) then allocates nothing
// and copies nothing; the C library reads chunks into the buffer it hands
// to the caller. Callers use the ReadRange function, which falls back to
// GetRange for storages without it.
type RangeReader interface {
	// ReadRange fills dst with the bytes of key from offset on, exactly
	// len(dst) of them. An object that ends before offset+len(dst) is an
	// error marked ErrInvalidRange; a missing key is ErrNotFound. On error
	// the contents of dst are unspecified.
	ReadRange(ctx context.Context, key string, offset int64, dst []byte) error
}

// ReadRange fills dst with len(dst) bytes of key from offset on, through
// s's RangeReader when it has one and GetRange otherwise, with the
// contract of RangeReader.ReadRange.
func ReadRange(ctx context.Context, s Storage, key string, offset int64, dst []byte) error {
	if offset < 0 {
		return errors.Mark(errors.Newf("%s: read of %q at negative offset %d", s, key, offset), ErrInvalidRange)
	}
	if rr, ok := s.(RangeReader); ok {
		return rr.ReadRange(ctx, key, offset, dst)
	}
	data, err := s.GetRange(ctx, key, Range(offset, offset+int64(len(dst))))
	if err != nil {
		return err
	}
	if len(data) != len(dst) {
		return ShortObject(s, key, offset, len(dst), int64(len(data)))
	}
	copy(dst, data)
	return nil
}

// ShortObject returns the ErrInvalidRange error of a ReadRange of want
// bytes at offset from an object that holds only got bytes from there on.
func ShortObject(s Storage, key string, offset int64, want int, got int64) error {
	return errors.Mark(Determinate(errors.Newf("%s: object %q ends before the %d bytes read at offset %d (%d there)",
		s, key, want, offset, max(got, 0))), ErrInvalidRange)
}
