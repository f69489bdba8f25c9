package codec

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"
)

func TestIDStringKnownValues(t *testing.T) {
	var ones ObjectID
	for i := range ones {
		ones[i] = 0xFF
	}
	cases := []struct {
		id   ObjectID
		want string
	}{
		{ObjectID{}, "00000000000000000000"},
		{ones, "ZZZZZZZZZZZZZZZZZZZG"}, // last char: one 1 bit, then four padding bits
		{ObjectID{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "0000000000000000000G"},
		{ObjectID{0x08}, "10000000000000000000"},
		{ObjectID(fxSnapshotID), "208H44RM2MB1E60S38DG"}, // the example in docs/format.md
	}
	for _, c := range cases {
		if got := c.id.String(); got != c.want {
			t.Errorf("%x: String() = %q, want %q", c.id[:], got, c.want)
		}
		back, err := ParseObjectID(c.want)
		if err != nil || back != c.id {
			t.Errorf("ParseObjectID(%q) = %x, %v; want %x", c.want, back[:], err, c.id[:])
		}
	}
}

func TestIDRoundTrip(t *testing.T) {
	for range 1000 {
		s := NewSnapshotID()
		if s.IsZero() {
			t.Fatal("NewSnapshotID returned the zero id")
		}
		str := s.String()
		if len(str) != IDStringLen || strings.ToUpper(str) != str {
			t.Fatalf("String() = %q: want 20 upper-case characters", str)
		}
		back, err := ParseSnapshotID(str)
		if err != nil || back != s {
			t.Fatalf("ParseSnapshotID(%q) = %v, %v; want %v", str, back, err, s)
		}
	}
	m := NewManifestID()
	if back, err := ParseManifestID(m.String()); err != nil || back != m {
		t.Fatalf("manifest id round trip: %v %v", back, err)
	}
	c := NewChunkID()
	if back, err := ParseChunkID(c.String()); err != nil || back != c {
		t.Fatalf("chunk id round trip: %v %v", back, err)
	}
	n := NewNodeID()
	if back, err := ParseNodeID(n.String()); err != nil || back != n {
		t.Fatalf("node id round trip: %v %v", back, err)
	}
}

func TestParseIDErrors(t *testing.T) {
	valid := NewSnapshotID().String()
	cases := map[string]string{
		"":                        "want 20 characters",
		valid[:19]:                "want 20 characters",
		valid + "0":               "want 20 characters",
		"zZZZZZZZZZZZZZZZZZZG":    "not in the Crockford",
		"0000000000000000000I":    "not in the Crockford",
		"0000000000000000000U":    "not in the Crockford",
		"000000000000000000\x00G": "0x00",
		"00000000000000000001":    "padding",
		"0000000000000000000H":    "padding",
	}
	for in, want := range cases {
		_, err := ParseSnapshotID(in)
		if err == nil {
			t.Errorf("ParseSnapshotID(%q) succeeded", in)
			continue
		}
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseSnapshotID(%q): error %v is not ErrInvalidID", in, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, want) || !strings.Contains(msg, "snapshot id") {
			t.Errorf("ParseSnapshotID(%q): error %q does not mention %q", in, msg, want)
		}
		if in != "" && !strings.Contains(msg, in[:min(len(in), 10)]) && !strings.Contains(msg, "\\x00") {
			t.Errorf("ParseSnapshotID(%q): error %q does not name the string", in, msg)
		}
	}
}

func TestIDMsgpAndText(t *testing.T) {
	id := NewChunkID()
	b, err := id.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 14 || b[0] != 0xc4 || b[1] != 12 {
		t.Fatalf("msgp form %x: want bin8 of 12 bytes", b)
	}
	var back ChunkID
	if rest, err := back.UnmarshalMsg(b); err != nil || len(rest) != 0 || back != id {
		t.Fatalf("UnmarshalMsg: %v %v %v", back, rest, err)
	}
	if _, err := back.UnmarshalMsg(b[:10]); err == nil {
		t.Fatal("UnmarshalMsg of a truncated id succeeded")
	}

	type doc struct {
		S SnapshotID
		N NodeID
	}
	in := doc{NewSnapshotID(), NewNodeID()}
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), in.S.String()) {
		t.Fatalf("JSON %s does not hold the text form", js)
	}
	var out doc
	if err := json.Unmarshal(js, &out); err != nil || out != in {
		t.Fatalf("JSON round trip: %v %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"S":"nope"}`), &out); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("JSON with a bad id: %v", err)
	}
}

func TestKeys(t *testing.T) {
	if got, want := SnapshotKey(fxSnapshotID), "snapshots/"+fxSnapshotID.String(); got != want {
		t.Errorf("SnapshotKey = %q, want %q", got, want)
	}
	if got, want := ManifestKey(fxManifestID), "manifests/"+fxManifestID.String(); got != want {
		t.Errorf("ManifestKey = %q, want %q", got, want)
	}
	if got, want := TransactionLogKey(fxSnapshotID), "transactions/"+fxSnapshotID.String(); got != want {
		t.Errorf("TransactionLogKey = %q, want %q", got, want)
	}
	if got, want := ChunkKey(fxChunkID), "chunks/"+fxChunkID.String(); got != want {
		t.Errorf("ChunkKey = %q, want %q", got, want)
	}
}
