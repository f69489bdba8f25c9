package codec

import "github.com/cockroachdb/errors"

//go:generate msgp -io=false -tests=false

// Ref is what a branch or a tag points at. Branch refs are entries of a
// consensus log and tags are create-only objects (see docs/format.md); this
// is their payload.
type Ref struct {
	Snapshot SnapshotID `msg:"snapshot"`
	// Parent is set on a branch log entry written by a commit: the snapshot
	// the commit was made on, which is the snapshot of the entry before.
	// It is zero on entries that moved the branch any other way (creation,
	// reset) and on tags. With it a rebase finds the commits it passes in
	// the log, without reading their snapshots.
	Parent SnapshotID `msg:"parent,omitzero"`
	// TxLog, on such an entry, is the commit's transaction log file, the
	// bytes stored under transactions/, when it is small (see
	// MaxInlineTxLog), so that a rebase over the commit need not read it.
	TxLog []byte `msg:"txlog,omitempty"`
}

// MaxInlineTxLog is the largest transaction log file a branch log entry
// carries. Every writer of a branch reads every entry of its log, so the
// entries stay small; a commit's larger log is read from its own object.
const MaxInlineTxLog = 4096

// Validate checks that the ref points at a snapshot (a non-zero id), that a
// commit's parent is another snapshot, and that an inline transaction log
// belongs to a commit and is within MaxInlineTxLog.
func (r *Ref) Validate() error {
	switch {
	case r.Snapshot.IsZero():
		return errors.New("ref points at the zero snapshot id")
	case r.Parent == r.Snapshot:
		return errors.Newf("ref's snapshot %s is its own parent", r.Snapshot)
	case len(r.TxLog) > 0 && r.Parent.IsZero():
		return errors.New("ref carries a transaction log but is not a commit (no parent)")
	case len(r.TxLog) > MaxInlineTxLog:
		return errors.Newf("ref carries a transaction log of %d bytes, more than %d", len(r.TxLog), MaxInlineTxLog)
	}
	return nil
}

// InlineTxLog decodes the transaction log the ref carries, or returns nil
// if it carries none; object names the ref in errors (its storage key).
func (r *Ref) InlineTxLog(object string) (*TransactionLog, error) {
	if len(r.TxLog) == 0 {
		return nil, nil
	}
	t, err := DecodeTransactionLog(object+" (its transaction log)", r.TxLog)
	if err != nil {
		return nil, err
	}
	if t.ID != r.Snapshot {
		return nil, errors.Mark(errors.Newf("%s: the transaction log it carries is snapshot %s's, not %s's", object, t.ID, r.Snapshot), ErrCorrupt)
	}
	return t, nil
}

// EncodeRef encodes r as a ref file. The error is marked ErrInvalid if r
// fails Validate.
func EncodeRef(r *Ref) ([]byte, error) { return Encode(FileTypeRef, r) }

// DecodeRef decodes a ref file; object names it in errors (its storage key).
// See Decode for the errors.
func DecodeRef(object string, data []byte) (*Ref, error) {
	r := new(Ref)
	if err := Decode(FileTypeRef, object, data, r); err != nil {
		return nil, err
	}
	return r, nil
}
