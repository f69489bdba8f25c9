package codec

import (
	"testing"

	"github.com/tinylib/msgp/msgp"
)

// codecCase describes one file type for table-driven tests: how to encode a
// value, decode a file, and a fixture.
type codecCase struct {
	name    string
	ft      FileType
	fixture func() msgp.Marshaler
	decode  func(object string, data []byte) (any, error)
}

var codecCases = []codecCase{
	{"snapshot", FileTypeSnapshot, func() msgp.Marshaler { return fixtureSnapshot() },
		func(o string, d []byte) (any, error) { return DecodeSnapshot(o, d) }},
	{"manifest", FileTypeManifest, func() msgp.Marshaler { return fixtureManifest() },
		func(o string, d []byte) (any, error) { return DecodeManifest(o, d) }},
	{"transaction_log", FileTypeTransactionLog, func() msgp.Marshaler { return fixtureTransactionLog() },
		func(o string, d []byte) (any, error) { return DecodeTransactionLog(o, d) }},
	{"ref", FileTypeRef, func() msgp.Marshaler { return fixtureRef() },
		func(o string, d []byte) (any, error) { return DecodeRef(o, d) }},
	{"commit_ref", FileTypeRef, func() msgp.Marshaler { return fixtureCommitRef() },
		func(o string, d []byte) (any, error) { return DecodeRef(o, d) }},
	{"commit_ref_files", FileTypeRef, func() msgp.Marshaler { return fixtureCommitRefFiles() },
		func(o string, d []byte) (any, error) { return DecodeRef(o, d) }},
	{"repo_config", FileTypeRepoConfig, func() msgp.Marshaler { return fixtureRepoConfig() },
		func(o string, d []byte) (any, error) { return DecodeRepoConfig(o, d) }},
}

func TestRoundTripFixtures(t *testing.T) {
	for _, c := range codecCases {
		for _, comp := range []Compression{CompressionNone, CompressionZstd} {
			t.Run(c.name+"/"+comp.String(), func(t *testing.T) {
				v := c.fixture()
				data, err := EncodeWith(c.ft, comp, v)
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.decode("obj", data)
				if err != nil {
					t.Fatal(err)
				}
				if !equalValues(got, v) {
					t.Fatalf("round trip changed the value:\n got %+v\nwant %+v", got, v)
				}
			})
		}
	}
}

func TestTypedEncoders(t *testing.T) {
	// The typed helpers must agree with Encode.
	enc := map[string]func() ([]byte, error){
		"snapshot":         func() ([]byte, error) { return EncodeSnapshot(fixtureSnapshot()) },
		"manifest":         func() ([]byte, error) { return EncodeManifest(fixtureManifest()) },
		"transaction_log":  func() ([]byte, error) { return EncodeTransactionLog(fixtureTransactionLog()) },
		"ref":              func() ([]byte, error) { return EncodeRef(fixtureRef()) },
		"commit_ref":       func() ([]byte, error) { return EncodeRef(fixtureCommitRef()) },
		"commit_ref_files": func() ([]byte, error) { return EncodeRef(fixtureCommitRefFiles()) },
		"repo_config":      func() ([]byte, error) { return EncodeRepoConfig(fixtureRepoConfig()) },
	}
	for _, c := range codecCases {
		data, err := enc[c.name]()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		h, err := ReadHeader("x", data)
		if err != nil || h.FileType != c.ft {
			t.Fatalf("%s: header %+v, %v", c.name, h, err)
		}
		got, err := c.decode("x", data)
		if err != nil || !equalValues(got, c.fixture()) {
			t.Fatalf("%s: decode %v", c.name, err)
		}
	}
}
