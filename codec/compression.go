package codec

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstd encoders are shared by the whole process, one per level of the zstd
// package (which groups zstd's 22 levels into four), each built on first
// use: EncodeAll is safe for concurrent use, and building one is costly.
//
// Their window is 256 KiB, not the default 8 MiB: each concurrent encoder
// keeps history buffers and match tables sized by its window for the life
// of the process (about 16 MiB each by default), and metadata files repeat
// themselves at short range (neighbouring chunk refs, sibling nodes'
// zarr.json), so a larger window gains next to nothing.
//
// Unless a repository asks for a level (EncodeLevel), most files use the
// fastest level, which keeps 1.2 MB of state per concurrent encoder
// against 2.3 MB for the default level, encodes faster, and compresses
// them as well or better: a 2 MB snapshot of 1,000 nodes to 76.6 KB
// against 81.4 KB, a manifest of native refs to the same 17 bytes per ref.
// Manifests that hold virtual refs, whose long repeated locations the
// default level's matcher finds better (8.2 bytes per ref against 10.0),
// use the default level.
var encoders [zstd.SpeedBestCompression + 1]func() *zstd.Encoder

func init() {
	for l := zstd.SpeedFastest; l <= zstd.SpeedBestCompression; l++ {
		encoders[l] = sync.OnceValue(func() *zstd.Encoder { return newEncoder(l) })
	}
}

func newEncoder(level zstd.EncoderLevel) *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(0), // up to GOMAXPROCS concurrent EncodeAll calls
		zstd.WithWindowSize(256<<10),
		zstd.WithLowerEncoderMem(true),
	)
	if err != nil {
		panic("codec: cannot build zstd encoder: " + err.Error()) // static options; cannot happen
	}
	return e
}

// A denseCompressor is a file that compresses better at the default level
// (see encoders).
type denseCompressor interface {
	compressDense() bool
}

// compressGuess is the output buffer first given to compress for n bytes.
// Metadata files shrink 3 to 25 times, so a quarter is usually enough; the
// encoder grows the buffer when it is not. Sizing it for the worst case
// (n and a bit) made every commit allocate a second copy of its largest
// payload for a moment, which showed in peak memory.
func compressGuess(n int) int { return n/4 + 64 }

// compress appends the zstd compression of src to dst, at the default
// level if dense is set, else at the fastest.
func compress(src, dst []byte, dense bool) []byte {
	if dense {
		return encoders[zstd.SpeedDefault]().EncodeAll(src, dst)
	}
	return encoders[zstd.SpeedFastest]().EncodeAll(src, dst)
}

// MaxCompressionLevel is the highest zstd level a repository may ask its
// metadata files to be compressed at (levels 1 to 22, as zstd's).
const MaxCompressionLevel = 22

// compressAt appends the zstd compression of src to dst at zstd level
// (1 to MaxCompressionLevel).
func compressAt(src, dst []byte, level int) []byte {
	return encoders[zstd.EncoderLevelFromZstd(level)]().EncodeAll(src, dst)
}

// Decoders are pooled, one goroutine's each, rather than shared like the
// encoders: a decoder keeps a slice of the output of its last DecodeAll
// (its sequence decoder writes through it) until its next one, so a
// shared decoder kept a decompressed manifest alive long after it was
// parsed, about 1.4 MB per decoder in the 200,000-chunk benchmark. A
// pooled decoder is used for one decompress and then for a decode of a
// one-byte frame, which moves that slice off the caller's buffer, before
// it goes back to the pool.
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
// build an encoder.
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
