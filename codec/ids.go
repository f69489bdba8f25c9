package codec

import (
	"crypto/rand"

	"github.com/cockroachdb/errors"
	"github.com/tinylib/msgp/msgp"
)

// IDSize is the length of an object id in bytes.
const IDSize = 12

// IDStringLen is the length of an object id's text form: 96 bits in
// Crockford base32 take 20 characters (the last 4 bits are zero padding).
const IDStringLen = 20

// crockford is the Crockford base32 alphabet: digits and upper-case letters
// without I, L, O and U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// crockfordValue maps an alphabet byte to its 5-bit value, or 0xFF.
var crockfordValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(crockford); i++ {
		t[crockford[i]] = byte(i)
	}
	return t
}()

// ObjectID is the 12 random bytes that name an object in a repository.
// Its text form (String) is 20 characters of upper-case Crockford base32;
// its MessagePack form is a 12-byte bin. The zero ObjectID means "none".
//
// The named id types below share this representation; they exist so that a
// snapshot id cannot be passed where a manifest id is expected.
type ObjectID [IDSize]byte

// SnapshotID names a snapshot (snapshots/<id>) and its transaction log
// (transactions/<id>).
type SnapshotID ObjectID

// ManifestID names a manifest (manifests/<id>).
type ManifestID ObjectID

// ChunkID names a native chunk (chunks/<id>).
type ChunkID ObjectID

// NodeID names a node (group or array). It is stable across renames and
// distinguishes a node from a later node created at the same path.
type NodeID ObjectID

// newObjectID returns 12 bytes from crypto/rand (which never fails).
func newObjectID() (id ObjectID) {
	_, _ = rand.Read(id[:])
	return id
}

// NewSnapshotID returns a new random snapshot id.
func NewSnapshotID() SnapshotID { return SnapshotID(newObjectID()) }

// InitialSnapshotID is the id of every repository's first snapshot, the
// root of all its history: the same fixed id as upstream Icechunk's, which
// code written for it names directly.
var InitialSnapshotID = mustParseSnapshotID("1CECHNKREP0F1RSTCMT0")

func mustParseSnapshotID(s string) SnapshotID {
	id, err := ParseSnapshotID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// NewManifestID returns a new random manifest id.
func NewManifestID() ManifestID { return ManifestID(newObjectID()) }

// NewChunkID returns a new random chunk id.
func NewChunkID() ChunkID { return ChunkID(newObjectID()) }

// NewNodeID returns a new random node id.
func NewNodeID() NodeID { return NodeID(newObjectID()) }

// String returns the id as 20 characters of upper-case Crockford base32.
func (id ObjectID) String() string {
	var out [IDStringLen]byte
	var acc uint32 // bit accumulator
	var n uint     // bits held in acc
	j := 0
	for _, b := range id {
		acc = acc<<8 | uint32(b)
		n += 8
		for n >= 5 {
			n -= 5
			out[j] = crockford[(acc>>n)&0x1F]
			j++
		}
	}
	// 96 = 19*5 + 1: one bit is left, padded with four zero bits.
	out[j] = crockford[(acc<<(5-n))&0x1F]
	return string(out[:])
}

// IsZero reports whether the id is the zero id ("none").
func (id ObjectID) IsZero() bool { return id == ObjectID{} }

// parseObjectID parses the text form of an id of the given kind. It accepts
// exactly the strings String produces: 20 upper-case Crockford characters
// whose final 4 padding bits are zero, so each id has one text form.
func parseObjectID(kind, s string) (ObjectID, error) {
	var id ObjectID
	bad := func(why string) (ObjectID, error) {
		return ObjectID{}, errors.Mark(errors.Newf("invalid %s id %q: %s", kind, s, why), ErrInvalidID)
	}
	if len(s) != IDStringLen {
		return bad("want 20 characters of upper-case Crockford base32")
	}
	var acc uint32
	var n uint
	j := 0
	for i := 0; i < len(s); i++ {
		v := crockfordValue[s[i]]
		if v == 0xFF {
			return bad("character " + quoteByte(s[i]) + " is not in the Crockford base32 alphabet (0-9, A-Z without I, L, O, U)")
		}
		acc = acc<<5 | uint32(v)
		n += 5
		if n >= 8 {
			n -= 8
			id[j] = byte(acc >> n)
			j++
		}
	}
	// n == 4 here: the padding bits must be zero.
	if acc&(1<<n-1) != 0 {
		return bad("non-zero padding bits in the last character")
	}
	return id, nil
}

func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7F {
		return "'" + string(rune(b)) + "'"
	}
	const hex = "0123456789abcdef"
	return "0x" + string([]byte{hex[b>>4], hex[b&0xF]})
}

// ParseObjectID parses the text form of an id (see ObjectID.String). The
// error is marked ErrInvalidID and names the bad string.
func ParseObjectID(s string) (ObjectID, error) { return parseObjectID("object", s) }

// ParseSnapshotID parses the text form of a snapshot id.
func ParseSnapshotID(s string) (SnapshotID, error) {
	id, err := parseObjectID("snapshot", s)
	return SnapshotID(id), err
}

// ParseManifestID parses the text form of a manifest id.
func ParseManifestID(s string) (ManifestID, error) {
	id, err := parseObjectID("manifest", s)
	return ManifestID(id), err
}

// ParseChunkID parses the text form of a chunk id.
func ParseChunkID(s string) (ChunkID, error) {
	id, err := parseObjectID("chunk", s)
	return ChunkID(id), err
}

// ParseNodeID parses the text form of a node id.
func ParseNodeID(s string) (NodeID, error) {
	id, err := parseObjectID("node", s)
	return NodeID(id), err
}

// String returns the id's text form (see ObjectID.String).
func (id SnapshotID) String() string { return ObjectID(id).String() }

// String returns the id's text form (see ObjectID.String).
func (id ManifestID) String() string { return ObjectID(id).String() }

// String returns the id's text form (see ObjectID.String).
func (id ChunkID) String() string { return ObjectID(id).String() }

// String returns the id's text form (see ObjectID.String).
func (id NodeID) String() string { return ObjectID(id).String() }

// IsZero reports whether the id is the zero id ("none").
func (id SnapshotID) IsZero() bool { return id == SnapshotID{} }

// IsZero reports whether the id is the zero id ("none").
func (id ManifestID) IsZero() bool { return id == ManifestID{} }

// IsZero reports whether the id is the zero id ("none").
func (id ChunkID) IsZero() bool { return id == ChunkID{} }

// IsZero reports whether the id is the zero id ("none").
func (id NodeID) IsZero() bool { return id == NodeID{} }

// MarshalText implements encoding.TextMarshaler (the String form), so ids
// read naturally in JSON.
func (id ObjectID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// MarshalText implements encoding.TextMarshaler.
func (id SnapshotID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// MarshalText implements encoding.TextMarshaler.
func (id ManifestID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// MarshalText implements encoding.TextMarshaler.
func (id ChunkID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// MarshalText implements encoding.TextMarshaler.
func (id NodeID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ObjectID) UnmarshalText(b []byte) (err error) {
	*id, err = parseObjectID("object", string(b))
	return err
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *SnapshotID) UnmarshalText(b []byte) (err error) {
	*id, err = ParseSnapshotID(string(b))
	return err
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ManifestID) UnmarshalText(b []byte) (err error) {
	*id, err = ParseManifestID(string(b))
	return err
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ChunkID) UnmarshalText(b []byte) (err error) {
	*id, err = ParseChunkID(string(b))
	return err
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *NodeID) UnmarshalText(b []byte) (err error) {
	*id, err = ParseNodeID(string(b))
	return err
}

// The MessagePack methods of the id types are written by hand rather than
// generated: the generated code reads a fixed-size byte array with
// msgp.ReadExactBytes, which (in msgp v1.6.5) accepts a truncated bin. An
// id is a bin of exactly 12 bytes (bin8 header c4 0c, then the bytes).

// idMsgsize is the MessagePack size of an id: 2 header bytes and 12 bytes.
const idMsgsize = 2 + IDSize

func appendID(b []byte, id *ObjectID) []byte { return msgp.AppendBytes(b, id[:]) }

func readID(b []byte, id *ObjectID) ([]byte, error) {
	v, rest, err := msgp.ReadBytesZC(b)
	if err != nil {
		return b, err
	}
	if len(v) != IDSize {
		return b, errors.Newf("object id is a bin of %d bytes, want %d", len(v), IDSize)
	}
	copy(id[:], v)
	return rest, nil
}

// MarshalMsg implements msgp.Marshaler: it appends the id as a 12-byte bin.
func (id *ObjectID) MarshalMsg(b []byte) ([]byte, error) { return appendID(b, id), nil }

// UnmarshalMsg implements msgp.Unmarshaler: it reads a 12-byte bin.
func (id *ObjectID) UnmarshalMsg(b []byte) ([]byte, error) { return readID(b, id) }

// Msgsize implements msgp.Sizer.
func (id *ObjectID) Msgsize() int { return idMsgsize }

// MarshalMsg implements msgp.Marshaler: it appends the id as a 12-byte bin.
func (id *SnapshotID) MarshalMsg(b []byte) ([]byte, error) { return appendID(b, (*ObjectID)(id)), nil }

// UnmarshalMsg implements msgp.Unmarshaler: it reads a 12-byte bin.
func (id *SnapshotID) UnmarshalMsg(b []byte) ([]byte, error) { return readID(b, (*ObjectID)(id)) }

// Msgsize implements msgp.Sizer.
func (id *SnapshotID) Msgsize() int { return idMsgsize }

// MarshalMsg implements msgp.Marshaler: it appends the id as a 12-byte bin.
func (id *ManifestID) MarshalMsg(b []byte) ([]byte, error) { return appendID(b, (*ObjectID)(id)), nil }

// UnmarshalMsg implements msgp.Unmarshaler: it reads a 12-byte bin.
func (id *ManifestID) UnmarshalMsg(b []byte) ([]byte, error) { return readID(b, (*ObjectID)(id)) }

// Msgsize implements msgp.Sizer.
func (id *ManifestID) Msgsize() int { return idMsgsize }

// MarshalMsg implements msgp.Marshaler: it appends the id as a 12-byte bin.
func (id *ChunkID) MarshalMsg(b []byte) ([]byte, error) { return appendID(b, (*ObjectID)(id)), nil }

// UnmarshalMsg implements msgp.Unmarshaler: it reads a 12-byte bin.
func (id *ChunkID) UnmarshalMsg(b []byte) ([]byte, error) { return readID(b, (*ObjectID)(id)) }

// Msgsize implements msgp.Sizer.
func (id *ChunkID) Msgsize() int { return idMsgsize }

// MarshalMsg implements msgp.Marshaler: it appends the id as a 12-byte bin.
func (id *NodeID) MarshalMsg(b []byte) ([]byte, error) { return appendID(b, (*ObjectID)(id)), nil }

// UnmarshalMsg implements msgp.Unmarshaler: it reads a 12-byte bin.
func (id *NodeID) UnmarshalMsg(b []byte) ([]byte, error) { return readID(b, (*ObjectID)(id)) }

// Msgsize implements msgp.Sizer.
func (id *NodeID) Msgsize() int { return idMsgsize }
