//go:build unix

package local

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeParts writes more parts than one writev(2) takes, empty ones mixed
// in, in order, and leaves the caller's slice as it was.
func TestWritePartsManyParts(t *testing.T) {
	var parts [][]byte
	var want []byte
	for i := range 3*maxIovecs + 7 {
		p := bytes.Repeat([]byte{byte(i)}, i%5) // every fifth part is empty
		parts = append(parts, p)
		want = append(want, p...)
	}
	kept := slices.Clone(parts)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeParts(f, parts); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wrote %d bytes, want %d in order", len(got), len(want))
	}
	for i := range parts {
		if len(parts[i]) != len(kept[i]) || len(parts[i]) > 0 && &parts[i][0] != &kept[i][0] {
			t.Fatalf("part %d of the caller's slice was changed", i)
		}
	}
}

// skipWritten continues a short write in the middle of a part, at a part's
// end, and past empty parts.
func TestSkipWritten(t *testing.T) {
	parts := [][]byte{[]byte("abc"), nil, []byte("de"), {}, []byte("f")}
	for n, want := range map[int]string{0: "abcdef", 1: "bcdef", 3: "def", 4: "ef", 5: "f", 6: ""} {
		rest := skipWritten(parts, n)
		if got := string(bytes.Join(rest, nil)); got != want {
			t.Fatalf("after %d bytes: %q, want %q", n, got, want)
		}
		if len(rest) > 0 && len(rest[0]) == 0 {
			t.Fatalf("after %d bytes: leading empty part kept", n)
		}
	}
	if string(parts[0]) != "abc" {
		t.Fatal("the caller's parts were changed")
	}
}
