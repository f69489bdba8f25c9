package codec

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// One zstd encoder and one decoder are shared by the whole process: their
// EncodeAll and DecodeAll methods are safe for concurrent use, and building
// them is costly.
//
// The encoder's window is 1 MiB, not the default 8 MiB: each concurrent
// encoder keeps history buffers of its window's size for the life of the
// process (34 MiB for two of them by default, 4 MiB like this), and
// metadata files repeat themselves at short range (neighbouring chunk
// refs), so the larger window gains next to nothing.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(0), // up to GOMAXPROCS concurrent EncodeAll calls
			zstd.WithWindowSize(1<<20),
			zstd.WithLowerEncoderMem(true),
		)
		if err != nil {
			panic("codec: cannot build zstd encoder: " + err.Error()) // static options; cannot happen
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0), // up to GOMAXPROCS concurrent DecodeAll calls
			zstd.WithDecoderMaxMemory(MaxPayloadSize),
			// Never decode more than the capacity of the destination,
			// which is sized from the header's checked decoded length:
			// this is the decompression-bomb guard.
			zstd.WithDecodeAllCapLimit(true),
		)
		if err != nil {
			panic("codec: cannot build zstd decoder: " + err.Error()) // static options; cannot happen
		}
		return d
	})
)

// compressBound is an upper bound of the zstd-compressed size of n bytes,
// used to size the output buffer so that compressing never reallocates.
func compressBound(n int) int { return n + n>>7 + 64 }

// compress appends the zstd compression of src to dst.
func compress(src, dst []byte) []byte {
	return zstdEncoder().EncodeAll(src, dst)
}

// decompress returns the zstd decompression of src, failing if it would
// exceed size bytes (size must be at most MaxPayloadSize).
func decompress(src []byte, size int) ([]byte, error) {
	return zstdDecoder().DecodeAll(src, make([]byte, 0, size))
}
