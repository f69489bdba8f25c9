package codec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/tinylib/msgp/msgp"
)

// The fuzz targets feed each input to the decoder three ways: as a whole
// file, as an uncompressed payload inside a valid envelope, and as a zstd
// stream inside a valid envelope. The first exercises the envelope checks;
// the other two get past the checksums (which random mutations almost never
// satisfy) and exercise the MessagePack and zstd decoders. Properties: no
// panic, every error carries one of the package's markers, and any value
// that decodes is valid: it re-encodes and decodes to the same value.
//
// Seeds are added with f.Add and also committed under testdata/fuzz/<Name>/
// (rewritten by TestFuzzSeedCorpus with -update).
//
// Run one with, for example: go test ./codec -run '^$' -fuzz FuzzDecodeManifest -fuzztime 60s

// fuzzSeeds returns the seed inputs for a file type: the fixture encoded
// both ways, a truncated file, and the fixture's bare payload.
func fuzzSeeds(c codecCase) map[string][]byte {
	seeds := map[string][]byte{}
	for _, comp := range []Compression{CompressionNone, CompressionZstd} {
		data, err := EncodeWith(c.ft, comp, c.fixture())
		if err != nil {
			panic(err)
		}
		seeds["file-"+comp.String()] = data
		seeds["truncated-"+comp.String()] = data[:len(data)/2]
	}
	payload, err := c.fixture().MarshalMsg(nil)
	if err != nil {
		panic(err)
	}
	seeds["payload"] = payload
	seeds["payload-zstd"] = compress(payload, nil, false)
	return seeds
}

// fuzzZstdDeclaredLen is the decoded length the fuzz envelope declares for a
// zstd payload.
const fuzzZstdDeclaredLen = 1 << 16

func fuzzDecode(f *testing.F, name string) {
	var c codecCase
	for _, cc := range codecCases {
		if cc.name == name {
			c = cc
		}
	}
	for _, s := range fuzzSeeds(c) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inputs := map[string][]byte{
			"file":         data,
			"payload":      wrapRaw(c.ft, data),
			"zstd payload": wrap(c.ft, CompressionZstd, fuzzZstdDeclaredLen, data),
		}
		for how, file := range inputs {
			v, err := c.decode("fuzz", file)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongFileType) && !errors.Is(err, ErrUnsupportedVersion) {
					t.Fatalf("%s: error without a codec marker: %v", how, err)
				}
				if strings.Contains(err.Error(), panicWhileDecoding) {
					t.Fatalf("%s: decoder panicked: %v", how, err)
				}
				continue
			}
			again, err := EncodeWith(c.ft, CompressionNone, v.(msgp.Marshaler))
			if err != nil {
				t.Fatalf("%s: a decoded value does not re-encode: %v", how, err)
			}
			v2, err := c.decode("again", again)
			if err != nil {
				t.Fatalf("%s: a re-encoded value does not decode: %v", how, err)
			}
			if !equalValues(v, v2) {
				t.Fatalf("%s: value changed on re-encoding:\n%+v\n%+v", how, v, v2)
			}
		}
	})
}

func FuzzDecodeSnapshot(f *testing.F)       { fuzzDecode(f, "snapshot") }
func FuzzDecodeManifest(f *testing.F)       { fuzzDecode(f, "manifest") }
func FuzzDecodeTransactionLog(f *testing.F) { fuzzDecode(f, "transaction_log") }
func FuzzDecodeRef(f *testing.F)            { fuzzDecode(f, "ref") }
func FuzzDecodeRepoConfig(f *testing.F)     { fuzzDecode(f, "repo_config") }

func parseIDSeeds() map[string]string {
	return map[string]string{
		"valid":    fxSnapshotID.String(),
		"zero":     ObjectID{}.String(),
		"max":      "ZZZZZZZZZZZZZZZZZZZG",
		"padding":  "ZZZZZZZZZZZZZZZZZZZZ",
		"lower":    strings.ToLower(fxChunkID.String()),
		"short":    "ABC",
		"excluded": "IIIIIIIIIIIIIIIIIIII",
		"empty":    "",
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range parseIDSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseObjectID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error without ErrInvalidID: %v", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("error %q does not name the string %q", err, s)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("ParseObjectID(%q) = %v: not the canonical form", s, id)
		}
	})
}

// TestFuzzSeedCorpus keeps the committed seed corpora under testdata/fuzz in
// step with the format: it fails if a seed file is missing or stale, and
// rewrites them with -update.
func TestFuzzSeedCorpus(t *testing.T) {
	files := map[string]string{} // path -> contents
	targets := map[string]string{
		"snapshot": "FuzzDecodeSnapshot", "manifest": "FuzzDecodeManifest",
		"transaction_log": "FuzzDecodeTransactionLog", "ref": "FuzzDecodeRef", "repo_config": "FuzzDecodeRepoConfig",
		"commit_ref": "FuzzDecodeRef", "commit_ref_files": "FuzzDecodeRef",
	}
	// Seeds of a second case of one target are named after the case.
	prefix := map[string]string{"commit_ref": "commit-", "commit_ref_files": "commit-files-"}
	for _, c := range codecCases {
		for name, data := range fuzzSeeds(c) {
			files[filepath.Join("testdata", "fuzz", targets[c.name], prefix[c.name]+name)] = fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		}
	}
	for name, s := range parseIDSeeds() {
		files[filepath.Join("testdata", "fuzz", "FuzzParseID", name)] = fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s)
	}
	for path, want := range files {
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, []byte(want))
			continue
		}
		got, err := os.ReadFile(path)
		switch {
		case err != nil:
			t.Errorf("%v (run with -update to create it)", err)
		case strings.Contains(path, "zstd"):
			// zstd output may change with the library version (see
			// TestGolden); such a seed need only exist.
		case string(got) != want:
			t.Errorf("%s is stale (run with -update)", path)
		}
	}
}
