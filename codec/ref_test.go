package codec

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/errors"
)

func TestRefValidate(t *testing.T) {
	big := make([]byte, MaxInlineFiles)
	for _, c := range []struct {
		name string
		ref  Ref
	}{
		{"zero snapshot", Ref{}},
		{"its own parent", Ref{Snapshot: fxSnapshotID, Parent: fxSnapshotID}},
		{"a transaction log without a parent", Ref{Snapshot: fxSnapshotID, TxLog: []byte{1}}},
		{"a transaction log over the bound", Ref{Snapshot: fxSnapshotID, Parent: fxParentID, TxLog: big[:MaxInlineTxLog+1]}},
		{"a snapshot file without a parent", Ref{Snapshot: fxSnapshotID, SnapshotFile: []byte{1}}},
		{"manifest files without a parent", Ref{Snapshot: fxSnapshotID, ManifestFiles: [][]byte{{1}}}},
		{"files over the bound", Ref{Snapshot: fxSnapshotID, Parent: fxParentID, TxLog: big[:MaxInlineTxLog],
			SnapshotFile: big[:MaxInlineFiles/2], ManifestFiles: [][]byte{big[:MaxInlineFiles/2-MaxInlineTxLog+1]}}},
	} {
		if _, err := EncodeRef(&c.ref); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: encoding gave %v, want ErrInvalid", c.name, err)
		}
	}
	for _, ok := range []Ref{{Snapshot: fxSnapshotID}, {Snapshot: fxSnapshotID, Parent: fxParentID}, *fixtureCommitRef(), *fixtureCommitRefFiles()} {
		if _, err := EncodeRef(&ok); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestRefInlineTxLog(t *testing.T) {
	got, err := fixtureCommitRef().InlineTxLog("refs/branch.main (entry 1)")
	if err != nil || !equalValues(got, fixtureTransactionLog()) {
		t.Fatalf("inline transaction log: %+v, %v", got, err)
	}
	if got, err := fixtureRef().InlineTxLog("refs/tag.v1/ref"); got != nil || err != nil {
		t.Fatalf("a ref without a transaction log: %+v, %v", got, err)
	}
	// Another snapshot's log, or bytes that are not a log, are corrupt.
	other := fixtureCommitRef()
	other.Snapshot = SnapshotID(fixedObjectID(0x99))
	if _, err := other.InlineTxLog("refs/branch.main (entry 1)"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another snapshot's transaction log: %v, want ErrCorrupt", err)
	}
	broken := fixtureCommitRef()
	broken.TxLog = broken.TxLog[:len(broken.TxLog)/2]
	if _, err := broken.InlineTxLog("refs/branch.main (entry 1)"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a truncated transaction log: %v, want ErrCorrupt", err)
	}
}

func TestNewCommitRef(t *testing.T) {
	sized := func(n int) []byte { return make([]byte, n) }
	for _, c := range []struct {
		name                string
		txlog, snap         int
		manifests           []int
		wantTxLog, wantSnap int
		wantManifests       []int
	}{
		{"all fit", 100, 200, []int{300, 50}, 100, 200, []int{50, 300}},
		{"no transaction log", 0, 200, nil, 0, 200, nil},
		{"a transaction log too large to carry", MaxInlineTxLog + 1, 200, []int{300}, 0, 200, []int{300}},
		{"a snapshot too large, and with it the manifests", 100, MaxInlineFiles, []int{300}, 100, 0, nil},
		{"the smallest manifests that fit", MaxInlineTxLog, MaxInlineFiles - MaxInlineTxLog - 1000, []int{900, 200, 600, 100}, MaxInlineTxLog, MaxInlineFiles - MaxInlineTxLog - 1000, []int{100, 200, 600}},
		{"exactly the bound", MaxInlineTxLog, MaxInlineFiles - MaxInlineTxLog - 10, []int{10}, MaxInlineTxLog, MaxInlineFiles - MaxInlineTxLog - 10, []int{10}},
	} {
		var manifests [][]byte
		for _, n := range c.manifests {
			manifests = append(manifests, sized(n))
		}
		var txlog []byte
		if c.txlog > 0 {
			txlog = sized(c.txlog)
		}
		r := NewCommitRef(fxSnapshotID, fxParentID, txlog, sized(c.snap), manifests)
		var got []int
		for _, m := range r.ManifestFiles {
			got = append(got, len(m))
		}
		if r.Snapshot != fxSnapshotID || r.Parent != fxParentID || len(r.TxLog) != c.wantTxLog || len(r.SnapshotFile) != c.wantSnap || !slices.Equal(got, c.wantManifests) {
			t.Errorf("%s: carries a %d-byte transaction log, a %d-byte snapshot and manifests %v; want %d, %d, %v",
				c.name, len(r.TxLog), len(r.SnapshotFile), got, c.wantTxLog, c.wantSnap, c.wantManifests)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestRefInlineFiles(t *testing.T) {
	const name = "refs/branch.main (entry 1)"
	r := fixtureCommitRefFiles()
	snap, err := r.InlineSnapshot(name)
	if err != nil || !equalValues(snap, fixtureSnapshot()) {
		t.Fatalf("inline snapshot: %+v, %v", snap, err)
	}
	manifests, err := r.InlineManifests(name)
	if err != nil || len(manifests) != 1 || !equalValues(manifests[0], fixtureManifest()) {
		t.Fatalf("inline manifests: %+v, %v", manifests, err)
	}
	if snap, err := fixtureCommitRef().InlineSnapshot(name); snap != nil || err != nil {
		t.Fatalf("a ref without a snapshot file: %+v, %v", snap, err)
	}
	other := fixtureCommitRefFiles()
	other.Snapshot = SnapshotID(fixedObjectID(0x99))
	if _, err := other.InlineSnapshot(name); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) {
		t.Fatalf("another snapshot's file: %v, want ErrCorrupt naming the entry", err)
	}
	broken := fixtureCommitRefFiles()
	broken.ManifestFiles[0] = broken.ManifestFiles[0][:len(broken.ManifestFiles[0])/2]
	if _, err := broken.InlineManifests(name); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "manifest file 0") {
		t.Fatalf("a truncated manifest file: %v, want ErrCorrupt naming it", err)
	}
}

// Entries written before refs named their parents still decode: a tag's
// ref, pinned by its golden file, is such an entry.
func TestRefWithoutCommitFields(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "golden", "ref.bin"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRef("ref", data)
	if err != nil || r.Snapshot != fxSnapshotID || !r.Parent.IsZero() || r.TxLog != nil {
		t.Fatalf("decoded %+v, %v", r, err)
	}
}
