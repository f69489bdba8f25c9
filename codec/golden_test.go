package codec

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files and fuzz seed corpora under testdata/")

// Golden files pin the on-disk format: testdata/golden/<type>.bin is the
// fixture of each type encoded with CompressionNone, and the test fails if
// encoding the fixture no longer gives exactly those bytes, or if decoding
// them no longer gives the fixture.
//
// Why uncompressed: zstd output is not guaranteed to be identical across
// versions of the compression library (a new release may find different
// matches), and a golden byte comparison must fail only when our format
// changes. The compressed path is pinned by testdata/golden/<type>.zst.bin,
// which is only decoded and compared by value: every zstd decoder must read
// it forever, but a new encoder may write it differently.
//
// If a change to the format is intended, run
//
//	go test ./codec -run 'TestGolden|TestFuzzSeedCorpus' -update
//
// and, if files written before the change can no longer be read the same
// way, bump FormatVersion and document the change in docs/format.md.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range codecCases {
		t.Run(c.name, func(t *testing.T) {
			raw := filepath.Join(dir, c.name+".bin")
			zst := filepath.Join(dir, c.name+".zst.bin")
			got, err := EncodeWith(c.ft, CompressionNone, c.fixture())
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				writeFile(t, raw, got)
				z, err := EncodeWith(c.ft, CompressionZstd, c.fixture())
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, zst, z)
			}
			want, err := os.ReadFile(raw)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding of the %s fixture differs from %s: the on-disk format changed.\n"+
					"If that is intended, rerun with -update and check docs/format.md and FormatVersion.\n got %x\nwant %x",
					c.name, raw, got, want)
			}
			for _, path := range []string{raw, zst} {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				v, err := c.decode(path, data)
				if err != nil {
					t.Fatalf("decoding %s: %v", path, err)
				}
				if !equalValues(v, c.fixture()) {
					t.Errorf("decoding %s no longer gives the fixture:\n got %+v\nwant %+v", path, v, c.fixture())
				}
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
