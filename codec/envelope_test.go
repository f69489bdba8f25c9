package codec

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/klauspost/compress/zstd"
)

// wrap builds a version-1 file around payload (stored as given, with the
// given compression flag and decoded length), with valid checksums. Tests
// use it to hand the decoder payloads that pass the envelope checks.
func wrap(ft FileType, c Compression, decodedLen uint64, payload []byte) []byte {
	buf := make([]byte, HeaderSize+len(payload))
	copy(buf[HeaderSize:], payload)
	putHeader(buf, Header{
		FileType: ft, Compression: c,
		StoredLen: uint64(len(payload)), DecodedLen: decodedLen,
		PayloadCRC: crc32.Checksum(payload, castagnoli),
	})
	return buf
}

// wrapRaw wraps an uncompressed payload.
func wrapRaw(ft FileType, payload []byte) []byte {
	return wrap(ft, CompressionNone, uint64(len(payload)), payload)
}

// resealHeader recomputes the header checksum after a test edits the header.
func resealHeader(data []byte) {
	binary.LittleEndian.PutUint32(data[offHeaderCRC:], crc32.Checksum(data[:offHeaderCRC], castagnoli))
}

func mustEncode(t testing.TB, c codecCase, comp Compression) []byte {
	t.Helper()
	data, err := EncodeWith(c.ft, comp, c.fixture())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestHeaderLayout(t *testing.T) {
	data := mustEncode(t, codecCases[0], CompressionZstd)
	if string(data[:8]) != "\x89ICEGO\r\n" {
		t.Fatalf("magic %q", data[:8])
	}
	if data[8] != 1 || data[9] != 36 || data[10] != byte(FileTypeSnapshot) || data[11] != byte(CompressionZstd) {
		t.Fatalf("version/header length/type/compression bytes %v", data[8:12])
	}
	stored := binary.LittleEndian.Uint64(data[12:])
	if stored != uint64(len(data)-36) {
		t.Fatalf("stored length %d, file has %d payload bytes", stored, len(data)-36)
	}
	if got, want := binary.LittleEndian.Uint32(data[28:]), crc32.Checksum(data[36:], crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Fatalf("payload crc %08x, want %08x", got, want)
	}
	if got, want := binary.LittleEndian.Uint32(data[32:]), crc32.Checksum(data[:32], crc32.MakeTable(crc32.Castagnoli)); got != want {
		t.Fatalf("header crc %08x, want %08x", got, want)
	}
	h, err := ReadHeader("k", data)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 1 || h.FileType != FileTypeSnapshot || h.Compression != CompressionZstd || h.StoredLen != stored || h.DecodedLen <= stored {
		t.Fatalf("header %+v", h)
	}
}

func TestSmallPayloadStoredUncompressed(t *testing.T) {
	data, err := EncodeRef(fixtureRef())
	if err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader("ref", data)
	if err != nil {
		t.Fatal(err)
	}
	if h.Compression != CompressionNone {
		t.Fatalf("a 25-byte ref was stored with %s; zstd cannot make it smaller", h.Compression)
	}
}

func TestDecodeTruncated(t *testing.T) {
	for _, c := range codecCases {
		for _, comp := range []Compression{CompressionNone, CompressionZstd} {
			data := mustEncode(t, c, comp)
			for n := 0; n < len(data); n++ {
				_, err := c.decode("objects/key", data[:n])
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s/%s truncated to %d of %d bytes: got %v, want ErrCorrupt", c.name, comp, n, len(data), err)
				}
				if !strings.Contains(err.Error(), `"objects/key"`) {
					t.Fatalf("error %q does not name the object", err)
				}
			}
		}
	}
}

func TestDecodeFlippedBytes(t *testing.T) {
	for _, c := range codecCases {
		for _, comp := range []Compression{CompressionNone, CompressionZstd} {
			data := mustEncode(t, c, comp)
			for i := range data {
				for _, mask := range []byte{0x01, 0x80, 0xFF} {
					bad := bytes.Clone(data)
					bad[i] ^= mask
					_, err := c.decode("objects/key", bad)
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("%s/%s byte %d ^ %#x: got %v, want ErrCorrupt", c.name, comp, i, mask, err)
					}
					if !strings.Contains(err.Error(), `"objects/key"`) {
						t.Fatalf("error %q does not name the object", err)
					}
				}
			}
		}
	}
}

func TestDecodeTrailingGarbage(t *testing.T) {
	for _, c := range codecCases {
		data := append(mustEncode(t, c, CompressionZstd), 0)
		if _, err := c.decode("k", data); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "trailing") {
			t.Fatalf("%s: got %v, want ErrCorrupt about trailing bytes", c.name, err)
		}
	}
	// Trailing bytes inside a payload whose checksum is right.
	payload, _ := fixtureRef().MarshalMsg(nil)
	data := wrapRaw(FileTypeRef, append(payload, 0xc0))
	if _, err := DecodeRef("k", data); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("payload with a trailing value: got %v", err)
	}
}

func TestDecodeWrongFileType(t *testing.T) {
	for _, c := range codecCases {
		data := mustEncode(t, c, CompressionZstd)
		for _, other := range codecCases {
			if other.ft == c.ft {
				continue
			}
			_, err := other.decode("refs/x", data)
			if !errors.Is(err, ErrWrongFileType) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s read as %s: got %v, want ErrWrongFileType", c.name, other.name, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `"refs/x"`) || !strings.Contains(msg, c.ft.String()) {
				t.Fatalf("error %q does not name the object and the type found", msg)
			}
		}
	}
}

func TestDecodeFutureVersion(t *testing.T) {
	data := mustEncode(t, codecCases[0], CompressionZstd)
	for _, v := range []byte{2, 200} {
		bad := bytes.Clone(data)
		bad[offVersion] = v
		resealHeader(bad)
		_, err := DecodeSnapshot("snapshots/X", bad)
		if !errors.Is(err, ErrUnsupportedVersion) || errors.Is(err, ErrCorrupt) {
			t.Fatalf("version %d: got %v, want ErrUnsupportedVersion", v, err)
		}
		if !strings.Contains(err.Error(), "snapshots/X") {
			t.Fatalf("error %q does not name the object", err)
		}
	}
	// A future version may have a different header length: the frozen
	// prefix (magic, version, header length) and the trailing header CRC
	// are all a reader needs to recognise it.
	future := []byte(Magic + "\x07\x18" + "future hdr")
	future = binary.LittleEndian.AppendUint32(future, crc32.Checksum(future, castagnoli))
	future = append(future, "future payload"...)
	if _, err := DecodeRef("k", future); !errors.Is(err, ErrUnsupportedVersion) {
		t.Fatalf("version 7 with a 24-byte header: got %v", err)
	}
	bad := bytes.Clone(data)
	bad[offVersion] = 0
	resealHeader(bad)
	if _, err := DecodeSnapshot("k", bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 0: got %v, want ErrCorrupt", err)
	}
}

func TestDecodeBadHeaderFields(t *testing.T) {
	data := mustEncode(t, codecCases[0], CompressionZstd)
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(data)
		f(b)
		resealHeader(b)
		return b
	}
	cases := map[string][]byte{
		"compression":   edit(func(b []byte) { b[offCompression] = 9 }),
		"header length": edit(func(b []byte) { b[offHeaderLen] = 30 }),
		"too large": edit(func(b []byte) {
			binary.LittleEndian.PutUint64(b[offDecodedLen:], MaxPayloadSize+1)
		}),
		"decoded length": edit(func(b []byte) {
			binary.LittleEndian.PutUint64(b[offDecodedLen:], binary.LittleEndian.Uint64(b[offDecodedLen:])-1)
		}),
		"stored length": edit(func(b []byte) {
			binary.LittleEndian.PutUint64(b[offStoredLen:], 1<<63)
		}),
		"magic": edit(func(b []byte) { b[0] = 'X' }),
	}
	for name, bad := range cases {
		if _, err := DecodeSnapshot("k", bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: got %v, want ErrCorrupt", name, err)
		}
	}
	raw := mustEncode(t, codecCases[0], CompressionNone)
	bad := bytes.Clone(raw)
	binary.LittleEndian.PutUint64(bad[offDecodedLen:], 5)
	resealHeader(bad)
	if _, err := DecodeSnapshot("k", bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("uncompressed with decoded length != stored length: got %v", err)
	}
}

// TestDecompressionBomb checks that the decoder never inflates beyond the
// length declared in the header: a small file that expands to 64 MiB, with
// a header (and checksums) claiming 1 KiB, is rejected.
func TestDecompressionBomb(t *testing.T) {
	big := make([]byte, 64<<20)
	z := compress(big, nil, false)
	data := wrap(FileTypeRef, CompressionZstd, 1024, z)
	_, err := DecodeRef("bomb", data)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	// Without a frame content size the decoder must still stop at the cap.
	data = wrap(FileTypeRef, CompressionZstd, 1024, streamCompress(t, big))
	if _, err := DecodeRef("bomb", data); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("streamed frame: got %v, want ErrCorrupt", err)
	}
}

func TestDecodeMalformedPayloads(t *testing.T) {
	cases := map[string][]byte{
		"empty":              {},
		"not a map":          {0xc3},
		"huge array":         {0x81, 0xa5, 'n', 'o', 'd', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"huge map":           {0xdf, 0xff, 0xff, 0xff, 0xff},
		"deep nesting":       bytes.Repeat([]byte{0x91}, 10000),
		"invalid prefix":     {0xc1},
		"truncated string":   {0x81, 0xa7, 'm', 'e', 's', 's', 'a', 'g', 'e', 0xa5, 'a'},
		"wrong type for id":  {0x81, 0xa2, 'i', 'd', 0xa3, 'a', 'b', 'c'},
		"short id":           {0x81, 0xa2, 'i', 'd', 0xc4, 0x02, 1, 2},
		"trailing in struct": {0x80, 0x80},
	}
	for name, payload := range cases {
		for _, c := range codecCases {
			if c.ft == FileTypeRepoConfig && strings.Contains(name, "id") {
				continue // a repo config has no "id" field: the key is skipped
			}
			_, err := c.decode("k", wrapRaw(c.ft, payload))
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s as %s: got %v, want ErrCorrupt", name, c.name, err)
			}
		}
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	s := fixtureSnapshot()
	s.Nodes[0], s.Nodes[1] = s.Nodes[1], s.Nodes[0]
	if _, err := EncodeSnapshot(s); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unsorted nodes: got %v, want ErrInvalid", err)
	}
	if _, err := EncodeWith(FileTypeRef, Compression(7), fixtureRef()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown compression: got %v", err)
	}
	if _, err := EncodeRef(&Ref{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero ref: got %v", err)
	}
}

// A payload that decodes but breaks its type's invariants is corrupt.
func TestDecodeInvalidValueIsCorrupt(t *testing.T) {
	s := fixtureSnapshot()
	s.Nodes[0], s.Nodes[1] = s.Nodes[1], s.Nodes[0]
	payload, err := s.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeSnapshot("snapshots/S", wrapRaw(FileTypeSnapshot, payload))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not sorted") {
		t.Fatalf("got %v", err)
	}
}

func TestErrorWithoutObjectName(t *testing.T) {
	_, err := DecodeManifest("", []byte("nope"))
	if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "manifest file is corrupt: truncated") {
		t.Fatalf("got %q", err)
	}
}

// Encode and Decode share one zstd encoder and decoder; they must be safe to
// call from many goroutines (run with -race).
func TestConcurrentEncodeDecode(t *testing.T) {
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				c := codecCases[(g+i)%len(codecCases)]
				var data []byte
				if data, err = EncodeWith(c.ft, CompressionZstd, c.fixture()); err == nil {
					_, err = c.decode("k", data)
				}
			}
			done <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// streamCompress compresses b with the streaming encoder, which writes no
// frame content size.
func streamCompress(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A payload that compresses badly outgrows the output buffer compress
// starts with; the file must still round-trip, compressed when asked and
// stored raw when compressing does not pay.
func TestIncompressiblePayloadRoundTrips(t *testing.T) {
	meta := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(meta)
	snap := &Snapshot{ID: NewSnapshotID(), FlushedAt: 1, Message: "random",
		Nodes: []NodeSnapshot{{ID: NewNodeID(), Path: "/", Type: NodeTypeGroup, ZarrMetadata: meta}}}
	for _, c := range []struct {
		encode func() ([]byte, error)
		want   Compression
	}{
		{func() ([]byte, error) { return EncodeSnapshot(snap) }, CompressionNone},
		{func() ([]byte, error) { return EncodeWith(FileTypeSnapshot, CompressionZstd, snap) }, CompressionZstd},
	} {
		data, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		h, err := ReadHeader("snapshot", data)
		if err != nil {
			t.Fatal(err)
		}
		if h.Compression != c.want {
			t.Fatalf("stored with %s, want %s", h.Compression, c.want)
		}
		got, err := DecodeSnapshot("snapshot", data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Nodes[0].ZarrMetadata, meta) {
			t.Fatalf("%s: zarr metadata changed in the round trip", c.want)
		}
	}
}
