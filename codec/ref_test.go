package codec

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/errors"
)

func TestRefValidate(t *testing.T) {
	big := make([]byte, MaxInlineTxLog+1)
	for _, c := range []struct {
		name string
		ref  Ref
	}{
		{"zero snapshot", Ref{}},
		{"its own parent", Ref{Snapshot: fxSnapshotID, Parent: fxSnapshotID}},
		{"a transaction log without a parent", Ref{Snapshot: fxSnapshotID, TxLog: []byte{1}}},
		{"a transaction log over the bound", Ref{Snapshot: fxSnapshotID, Parent: fxParentID, TxLog: big}},
	} {
		if _, err := EncodeRef(&c.ref); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: encoding gave %v, want ErrInvalid", c.name, err)
		}
	}
	for _, ok := range []Ref{{Snapshot: fxSnapshotID}, {Snapshot: fxSnapshotID, Parent: fxParentID}, *fixtureCommitRef()} {
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
