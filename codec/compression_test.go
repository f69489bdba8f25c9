package codec

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"weak"

	"github.com/cockroachdb/errors"
	"github.com/klauspost/compress/zstd"
)

// A pooled decoder that decompress used holds no reference to the
// compressed input or to the output: once the caller drops them, the
// collector frees them, while the decoder lives on in the pool. (A zstd
// decoder keeps its last output until its next use, which kept every decompressed
// manifest alive; forget is what clears them.)
func TestDecoderForgetsItsLastBuffers(t *testing.T) {
	payload := bytes.Repeat([]byte("chunk ref 0123456789 "), 100_000) // 2.1 MB, several blocks
	src := compress(payload, nil, false)
	d := zstdDecoders.Get().(*zstd.Decoder)
	out, err := d.DecodeAll(src, make([]byte, 0, len(payload)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, payload) {
		t.Fatal("round trip changed the payload")
	}
	if !forget(d) {
		t.Fatal("forget failed")
	}
	in, res := weak.Make(&src[0]), weak.Make(&out[0])
	src, out = nil, nil
	runtime.GC()
	runtime.GC()
	runtime.KeepAlive(d) // the decoder outlives the buffers, as in the pool
	if in.Value() != nil {
		t.Error("the compressed input is still referenced after decompress")
	}
	if res.Value() != nil {
		t.Error("the decompressed output is still referenced after the caller dropped it")
	}
}

// Decompression still refuses to decode more than the size it is given,
// with pooled decoders.
func TestDecompressRespectsSize(t *testing.T) {
	payload := bytes.Repeat([]byte{7}, 1<<16)
	src := compress(payload, nil, false)
	if _, err := decompress(src, len(payload)-1); err == nil {
		t.Fatal("decoded past the size limit")
	}
	if out, err := decompress(src, len(payload)); err != nil || !bytes.Equal(out, payload) {
		t.Fatalf("at the exact size: %v", err)
	}
}

// The constant frame forget decodes is a valid frame of the byte 0.
func TestOneByteFrame(t *testing.T) {
	d := zstdDecoders.Get().(*zstd.Decoder)
	defer zstdDecoders.Put(d)
	if out, err := d.DecodeAll(oneByteFrame, make([]byte, 0, 1)); err != nil || !bytes.Equal(out, []byte{0}) {
		t.Fatalf("decodes to %v, %v", out, err)
	}
}

// Manifests with virtual refs are compressed at the default level and
// every other file at the fastest; files at either level decode alike.
func TestCompressionLevelByFile(t *testing.T) {
	withVirtual := fixtureManifest()
	var native []ChunkRef
	for _, r := range fixtureManifestRefs() {
		if r.Kind != ChunkVirtual {
			native = append(native, r)
		}
	}
	nativeOnly := mustManifest(fxManifestID, fxArrayID, []Extent{{0, 64}, {0, 4}, {0, 4}}, native)
	if !withVirtual.compressDense() {
		t.Error("a manifest with virtual refs is not compressed at the default level")
	}
	if nativeOnly.compressDense() {
		t.Error("a manifest of native and inline refs is compressed at the default level")
	}
	var _ denseCompressor = withVirtual
	if _, ok := any(fixtureSnapshot()).(denseCompressor); ok {
		t.Error("snapshots are compressed at the default level")
	}
	payload := bytes.Repeat([]byte("s3://bucket/data/file.nc 4096 100000 "), 20_000)
	for _, dense := range []bool{false, true} {
		z := compress(payload, nil, dense)
		if len(z) >= len(payload)/10 {
			t.Errorf("dense=%v: %d bytes compressed to %d", dense, len(payload), len(z))
		}
		if out, err := decompress(z, len(payload)); err != nil || !bytes.Equal(out, payload) {
			t.Fatalf("dense=%v: round trip failed: %v", dense, err)
		}
	}
	for _, m := range []*Manifest{withVirtual, nativeOnly} {
		if got := manifestRoundTrip(t, m); !equalValues(manifestRefs(got), manifestRefs(m)) {
			t.Fatal("manifest changed in a round trip")
		}
	}
}

// A repository's compression level applies to every file: a higher level
// makes a compressible file smaller, each level's output decodes to the
// same value and is the same every time, and levels outside zstd's are
// refused.
func TestEncodeLevel(t *testing.T) {
	var refs []ChunkRef
	for i := range uint32(2000) {
		refs = append(refs, ChunkRef{Coords: []uint32{i}, Kind: ChunkVirtual,
			Location: fmt.Sprintf("s3://bucket/era5/%04d/%02d/data.nc", 1950+i/12, i%12+1), Offset: uint64(i) * 4096, Length: 100_000})
	}
	m := mustManifest(fxManifestID, fxArrayID, []Extent{{0, 2000}}, refs)
	auto, err := Encode(FileTypeManifest, m)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]int{}
	for _, level := range []int{1, 3, 9, 19, MaxCompressionLevel} {
		data, err := EncodeLevel(FileTypeManifest, level, m)
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		again, _ := EncodeLevel(FileTypeManifest, level, m)
		if !bytes.Equal(data, again) {
			t.Fatalf("level %d: two encodings differ", level)
		}
		got, err := DecodeManifest("m", data)
		if err != nil || !equalValues(manifestRefs(got), manifestRefs(m)) {
			t.Fatalf("level %d: round trip failed: %v", level, err)
		}
		sizes[level] = len(data)
	}
	if sizes[19] >= sizes[1] {
		t.Fatalf("sizes by level %v: level 19 is not smaller than level 1", sizes)
	}
	if zero, _ := EncodeLevel(FileTypeManifest, 0, m); !bytes.Equal(zero, auto) {
		t.Fatal("level 0 is not Encode's own choice")
	}
	for _, bad := range []int{-1, MaxCompressionLevel + 1} {
		if _, err := EncodeLevel(FileTypeManifest, bad, m); !errors.Is(err, ErrInvalid) {
			t.Fatalf("level %d: %v", bad, err)
		}
	}
}
