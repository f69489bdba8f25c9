package codec

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// One zstd encoder is shared by the whole process: its EncodeAll method is
// safe for concurrent use, and building it is costly.
//
// The encoder's window is 256 KiB, not the default 8 MiB: each concurrent
// encoder keeps history buffers and match tables sized by its window for
// the life of the process (about 16 MiB each by default, 3.0 MiB with a 1 MiB
// window, 2.2 MiB like this), and metadata files repeat themselves at
// short range (neighbouring chunk refs, sibling nodes' zarr.json), so a
// larger window gains next to nothing: a 2 MB snapshot of 1,000 nodes
// compresses to 82.7 KB against 81.4 KB with 1 MiB, a manifest of 65,536
// packed refs to the same 205 KB.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
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

// Decoders are pooled, one goroutine's each, rather than shared like the
// encoder: a decoder keeps a slice of the output of its last DecodeAll
// (its sequence decoder writes through it) until its next one, so a
// shared decoder kept a decompressed manifest alive long after it was
// parsed, about 1.4 MB per decoder in the 200,000-chunk benchmark. A pooled decoder is used for one decompress and then for a
// decode of a one-byte frame, which moves that slice off the caller's
// buffer, before it goes back to the pool.
var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1), // DecodeAll only: no goroutines to stop
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
}}

// oneByteFrame is a zstd frame of the single byte 0 (one raw block and a
// checksum), for forget. A constant, so that reading a repository does not
// build the encoder.
var oneByteFrame = []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00, 0x09, 0x00, 0x00, 0x00, 0x68, 0x27, 0x05, 0xdb}

// decompress returns the zstd decompression of src, failing if it would
// exceed size bytes (size must be at most MaxPayloadSize). The result is
// the only reference the library keeps to src or to the output.
func decompress(src []byte, size int) ([]byte, error) {
	d := zstdDecoders.Get().(*zstd.Decoder)
	out, err := d.DecodeAll(src, make([]byte, 0, size))
	if forget(d) {
		zstdDecoders.Put(d)
	}
	return out, err
}

// forget makes d drop what it holds of the input and output of its last
// DecodeAll, by decoding a one-byte frame. It reports false if d failed to
// (it cannot), and then d must not be reused.
func forget(d *zstd.Decoder) bool {
	_, err := d.DecodeAll(oneByteFrame, make([]byte, 0, 1))
	return err == nil
}
