package codec

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// One zstd encoder and one decoder are shared by the whole process: their
// EncodeAll and DecodeAll methods are safe for concurrent use, and building
// them is costly.
//
// The encoder's window is 256 KiB, not the default 8 MiB: each concurrent
// encoder keeps history buffers and match tables sized by its window for
// the life of the process (about 16 MiB each by default, 3.0 MiB with a 1 MiB
// window, 2.2 MiB like this), and metadata files repeat themselves at
// short range (neighbouring chunk refs, sibling nodes' zarr.json), so a
// larger window gains next to nothing: a 2 MB snapshot of 1,000 nodes
// compresses to 82.7 KB against 81.4 KB with 1 MiB, a manifest of 65,536
// packed refs to the same 205 KB.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(0), // up to GOMAXPROCS concurrent EncodeAll calls
			zstd.WithWindowSize(256<<10),
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

// compressGuess is the output buffer first given to compress for n bytes.
// Metadata files shrink 3 to 25 times, so a quarter is usually enough; the
// encoder grows the buffer when it is not. Sizing it for the worst case
// (n and a bit) made every commit allocate a second copy of its largest
// payload for a moment, which showed in peak memory.
func compressGuess(n int) int { return n/4 + 64 }

// compress appends the zstd compression of src to dst.
func compress(src, dst []byte) []byte {
	return zstdEncoder().EncodeAll(src, dst)
}

// decompress returns the zstd decompression of src, failing if it would
// exceed size bytes (size must be at most MaxPayloadSize).
func decompress(src []byte, size int) ([]byte, error) {
	return zstdDecoder().DecodeAll(src, make([]byte, 0, size))
}
