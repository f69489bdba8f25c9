package codec

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strconv"

	"github.com/cockroachdb/errors"
	"github.com/tinylib/msgp/msgp"
)

// FileType says what a metadata file holds. It is stored in the envelope
// header, so a file read under the wrong key is recognised as such.
type FileType uint8

// File types. The values are part of the format and never change.
const (
	FileTypeSnapshot       FileType = 1
	FileTypeManifest       FileType = 2
	FileTypeTransactionLog FileType = 3
	FileTypeRef            FileType = 4
	FileTypeRepoConfig     FileType = 5
	FileTypeSession        FileType = 6 // a serialised session (owned by the engine)
)

// String returns the file type's name ("snapshot", "manifest", ...).
func (ft FileType) String() string {
	switch ft {
	case FileTypeSnapshot:
		return "snapshot"
	case FileTypeManifest:
		return "manifest"
	case FileTypeTransactionLog:
		return "transaction log"
	case FileTypeRef:
		return "ref"
	case FileTypeRepoConfig:
		return "repo config"
	case FileTypeSession:
		return "session"
	}
	return "unknown file type " + strconv.Itoa(int(ft))
}

// Compression says how an envelope's payload is stored.
type Compression uint8

// Compression methods. The values are part of the format and never change.
const (
	CompressionNone Compression = 0
	CompressionZstd Compression = 1
)

// String returns "none", "zstd" or "unknown compression N".
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionZstd:
		return "zstd"
	}
	return "unknown compression " + strconv.Itoa(int(c))
}

// FormatVersion is the envelope format version this build writes and the
// newest it reads.
const FormatVersion = 1

// MaxPayloadSize bounds the decoded payload of any file (1 GiB). Encode
// refuses larger payloads and Decode rejects a header that declares one,
// before allocating anything, so a corrupt or hostile file cannot make the
// decoder allocate more than this.
const MaxPayloadSize = 1 << 30

// Magic is the first 8 bytes of every metadata file. As in PNG, the first
// byte is not ASCII (so the file is not taken for text) and the CR LF pair
// detects newline translation.
const Magic = "\x89ICEGO\r\n"

// HeaderSize is the length of a version-1 envelope header in bytes.
const HeaderSize = 36

// Offsets of the header fields (see docs/format.md). Bytes 0-9 (magic,
// version, header length) and the rule that a header ends with a CRC32-C of
// the header bytes before it hold for every format version, so any version's
// header can be checked before its version is looked at.
const (
	offMagic         = 0
	offVersion       = 8
	offHeaderLen     = 9
	offFileType      = 10
	offCompression   = 11
	offStoredLen     = 12
	offDecodedLen    = 20
	offPayloadCRC    = 28
	offHeaderCRC     = 32
	minHeaderLen     = 14 // magic, version, header length, header CRC
	frozenPrefixSize = 10 // magic, version, header length
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded envelope header of a metadata file.
type Header struct {
	Version     uint8       // format version (FormatVersion)
	FileType    FileType    // what the payload is
	Compression Compression // how the payload is stored
	StoredLen   uint64      // payload length as stored (after compression)
	DecodedLen  uint64      // payload length after decompression
	PayloadCRC  uint32      // CRC32-C (Castagnoli) of the payload as stored
}

// ReadHeader parses and checks the envelope header of data and that the
// payload has the declared length; it does not check the payload checksum or
// the file type. object names the file in errors (usually its storage key).
//
// Errors: ErrCorrupt (bad magic, truncated, header checksum mismatch, trailing
// bytes, impossible field values) or ErrUnsupportedVersion (a well-formed
// header of a newer format version).
func ReadHeader(object string, data []byte) (Header, error) {
	return readHeader(0, object, data)
}

// readHeader is ReadHeader with the expected file type used in messages.
func readHeader(ft FileType, object string, data []byte) (Header, error) {
	if len(data) < frozenPrefixSize {
		return Header{}, corruptf(ft, object, "truncated: %d bytes, shorter than the %d-byte header", len(data), HeaderSize)
	}
	if string(data[offMagic:offMagic+len(Magic)]) != Magic {
		return Header{}, corruptf(ft, object, "bad magic bytes %q (want %q)", data[:len(Magic)], Magic)
	}
	hlen := int(data[offHeaderLen])
	if hlen < minHeaderLen {
		return Header{}, corruptf(ft, object, "header length %d is below the minimum %d", hlen, minHeaderLen)
	}
	if len(data) < hlen {
		return Header{}, corruptf(ft, object, "truncated: %d bytes, shorter than the %d-byte header", len(data), hlen)
	}
	want := binary.LittleEndian.Uint32(data[hlen-4 : hlen])
	if got := crc32.Checksum(data[:hlen-4], castagnoli); got != want {
		return Header{}, corruptf(ft, object, "header checksum mismatch (stored %08x, computed %08x)", want, got)
	}
	h := Header{Version: data[offVersion]}
	switch {
	case h.Version == 0:
		return Header{}, corruptf(ft, object, "format version 0 does not exist")
	case h.Version > FormatVersion:
		return Header{}, errors.Mark(
			errors.Newf("%s has format version %d; this build reads versions up to %d (upgrade to read it)",
				describe(ft, object), h.Version, FormatVersion),
			ErrUnsupportedVersion)
	case hlen != HeaderSize:
		return Header{}, corruptf(ft, object, "header length %d, want %d for format version %d", hlen, HeaderSize, h.Version)
	}
	h.FileType = FileType(data[offFileType])
	h.Compression = Compression(data[offCompression])
	h.StoredLen = binary.LittleEndian.Uint64(data[offStoredLen:])
	h.DecodedLen = binary.LittleEndian.Uint64(data[offDecodedLen:])
	h.PayloadCRC = binary.LittleEndian.Uint32(data[offPayloadCRC:])

	if have := uint64(len(data) - HeaderSize); have != h.StoredLen {
		if have < h.StoredLen {
			return Header{}, corruptf(ft, object, "truncated: payload has %d bytes, header says %d", have, h.StoredLen)
		}
		return Header{}, corruptf(ft, object, "%d trailing bytes after the %d-byte payload", have-h.StoredLen, h.StoredLen)
	}
	if h.DecodedLen > MaxPayloadSize {
		return Header{}, corruptf(ft, object, "declared payload size %d exceeds the %d-byte limit", h.DecodedLen, MaxPayloadSize)
	}
	switch h.Compression {
	case CompressionNone:
		if h.DecodedLen != h.StoredLen {
			return Header{}, corruptf(ft, object, "uncompressed payload: decoded length %d differs from stored length %d", h.DecodedLen, h.StoredLen)
		}
	case CompressionZstd:
	default:
		return Header{}, corruptf(ft, object, "%s", h.Compression)
	}
	return h, nil
}

// putHeader writes a version-1 header into buf[:HeaderSize].
func putHeader(buf []byte, h Header) {
	copy(buf[offMagic:], Magic)
	buf[offVersion] = FormatVersion
	buf[offHeaderLen] = HeaderSize
	buf[offFileType] = byte(h.FileType)
	buf[offCompression] = byte(h.Compression)
	binary.LittleEndian.PutUint64(buf[offStoredLen:], h.StoredLen)
	binary.LittleEndian.PutUint64(buf[offDecodedLen:], h.DecodedLen)
	binary.LittleEndian.PutUint32(buf[offPayloadCRC:], h.PayloadCRC)
	binary.LittleEndian.PutUint32(buf[offHeaderCRC:], crc32.Checksum(buf[:offHeaderCRC], castagnoli))
}

// validator is implemented by types with invariants. Encode refuses a value
// whose Validate fails (ErrInvalid); Decode rejects a payload whose value
// fails it (ErrCorrupt).
type validator interface {
	Validate() error
}

// Encode serialises v as a file of type ft, compressed with zstd unless
// zstd does not make the payload smaller (tiny files such as refs), in which
// case the payload is stored uncompressed. If v has a Validate method it is
// called first and its error, marked ErrInvalid, is returned. Encode is safe
// for concurrent use. The output is deterministic for a given value and
// build.
func Encode(ft FileType, v msgp.Marshaler) ([]byte, error) {
	return encode(ft, CompressionZstd, 0, true, v)
}

// EncodeLevel is Encode at a zstd level from 1 to MaxCompressionLevel (a
// repository's choice); 0 is Encode's own choice of level by file.
func EncodeLevel(ft FileType, level int, v msgp.Marshaler) ([]byte, error) {
	return encode(ft, CompressionZstd, level, true, v)
}

// EncodeWith is Encode with the given compression, used whether or not it
// makes the file smaller.
func EncodeWith(ft FileType, c Compression, v msgp.Marshaler) ([]byte, error) {
	return encode(ft, c, 0, false, v)
}

// encode implements Encode, EncodeLevel and EncodeWith; with fallback set,
// a compressed payload that is not smaller than the raw one is stored raw
// instead.
func encode(ft FileType, c Compression, level int, fallback bool, v msgp.Marshaler) ([]byte, error) {
	if c != CompressionNone && c != CompressionZstd {
		return nil, invalidf("cannot encode %s file: %s", ft, c)
	}
	if level < 0 || level > MaxCompressionLevel {
		return nil, invalidf("cannot encode %s file: compression level %d is not between 1 and %d", ft, level, MaxCompressionLevel)
	}
	if val, ok := v.(validator); ok {
		if err := val.Validate(); err != nil {
			return nil, errors.Mark(errors.Wrapf(err, "cannot encode %s file", ft), ErrInvalid)
		}
	}
	size := HeaderSize
	if s, ok := v.(msgp.Sizer); ok {
		size += s.Msgsize()
	}
	buf, err := v.MarshalMsg(make([]byte, HeaderSize, size))
	if err != nil {
		return nil, errors.Mark(errors.Wrapf(err, "cannot encode %s file", ft), ErrInvalid)
	}
	payload := buf[HeaderSize:]
	if len(payload) > MaxPayloadSize {
		return nil, invalidf("cannot encode %s file: payload of %d bytes exceeds the %d-byte limit", ft, len(payload), MaxPayloadSize)
	}
	h := Header{FileType: ft, Compression: CompressionNone, StoredLen: uint64(len(payload)), DecodedLen: uint64(len(payload))}
	if c == CompressionZstd {
		dst := make([]byte, HeaderSize, HeaderSize+compressGuess(len(payload)))
		var z []byte
		if level > 0 {
			z = compressAt(payload, dst, level)
		} else {
			d, ok := v.(denseCompressor)
			z = compress(payload, dst, ok && d.compressDense())
		}
		if !fallback || len(z)-HeaderSize < len(payload) {
			buf = z
			h.Compression = CompressionZstd
			h.StoredLen = uint64(len(z) - HeaderSize)
		}
	}
	h.PayloadCRC = crc32.Checksum(buf[HeaderSize:], castagnoli)
	putHeader(buf, h)
	if cap(buf)-len(buf) > len(buf) {
		// Buffers are sized from estimates (Msgsize is an upper bound);
		// do not hand the caller (who may keep the file a while) more than
		// twice what it needs.
		buf = slices.Clone(buf)
	}
	return buf, nil
}

// Decode checks the envelope of data, which must be a file of type ft, and
// unmarshals its payload into v, which should be a zero value. If v has a
// Validate method it is called after unmarshalling. object names the file in
// errors (usually its storage key).
//
// Errors are marked ErrCorrupt, ErrWrongFileType or ErrUnsupportedVersion.
// Decode never panics, and never allocates more than a small multiple of
// MaxPayloadSize, whatever data holds. It is safe for concurrent use. The
// decoded value does not alias data.
func Decode(ft FileType, object string, data []byte, v msgp.Unmarshaler) error {
	payload, err := Open(ft, object, data)
	if err != nil {
		return err
	}
	return decodePayload(ft, object, payload, v)
}

// Open checks the envelope of data, which must be a file of type ft, and
// returns its decoded (decompressed) payload. The payload may alias data when
// it is stored uncompressed. Errors are as for Decode.
func Open(ft FileType, object string, data []byte) ([]byte, error) {
	h, err := readHeader(ft, object, data)
	if err != nil {
		return nil, err
	}
	if h.FileType != ft {
		return nil, errors.Mark(
			errors.Newf("%s has the wrong type: it is a %s file", describe(ft, object), h.FileType),
			ErrWrongFileType)
	}
	stored := data[HeaderSize:]
	if got := crc32.Checksum(stored, castagnoli); got != h.PayloadCRC {
		return nil, corruptf(ft, object, "payload checksum mismatch (stored %08x, computed %08x)", h.PayloadCRC, got)
	}
	if h.Compression == CompressionNone {
		return stored, nil
	}
	payload, err := decompress(stored, int(h.DecodedLen))
	if err != nil {
		return nil, corruptf(ft, object, "zstd decompression failed: %v", err)
	}
	if uint64(len(payload)) != h.DecodedLen {
		return nil, corruptf(ft, object, "decompressed payload has %d bytes, header says %d", len(payload), h.DecodedLen)
	}
	return payload, nil
}

// decodePayload unmarshals a msgp payload into v and validates it.
func decodePayload(ft FileType, object string, payload []byte, v msgp.Unmarshaler) (err error) {
	if err := checkWellFormed(payload); err != nil {
		return corruptf(ft, object, "malformed payload: %v", err)
	}
	defer func() {
		// A panic here would be a bug in generated or conversion code, not
		// something any input should cause (the fuzz tests check for this
		// message); it is still turned into an error so that a bad file can
		// never crash the process.
		if r := recover(); r != nil {
			err = corruptf(ft, object, "%s: %v", panicWhileDecoding, r)
		}
	}()
	rest, err := v.UnmarshalMsg(payload)
	if err != nil {
		return corruptf(ft, object, "cannot decode payload: %v", err)
	}
	if len(rest) != 0 {
		return corruptf(ft, object, "%d trailing bytes after the payload's value", len(rest))
	}
	if val, ok := v.(validator); ok {
		if err := val.Validate(); err != nil {
			return corruptf(ft, object, "%v", err)
		}
	}
	return nil
}

// panicWhileDecoding starts the message of an error made from a recovered
// panic.
const panicWhileDecoding = "panic while decoding"
