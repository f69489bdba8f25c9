package codec

import (
	"fmt"
	"slices"

	"github.com/cockroachdb/errors"
)

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
	// SnapshotFile and ManifestFiles, on such an entry, are the commit's
	// snapshot file and manifest files it wrote, the bytes stored under
	// snapshots/ and manifests/, as many as fit in MaxInlineFiles (see
	// NewCommitRef). A writer that finds this entry at the tip of its
	// branch then opens a session on it, or commits on top of it, without
	// reading those objects. They are copies: the objects are always
	// written too, and a reader that cannot use a copy reads the object.
	SnapshotFile  []byte   `msg:"snapshot_file,omitempty"`
	ManifestFiles [][]byte `msg:"manifest_files,omitempty"`
}

// MaxInlineTxLog is the largest transaction log file a branch log entry
// carries. Every writer of a branch reads every entry of its log, so the
// entries stay small; a commit's larger log is read from its own object.
const MaxInlineTxLog = 4096

// MaxInlineFiles bounds the bytes of all the files an entry carries (its
// transaction log, snapshot and manifests): a commit's entry holds what a
// writer on the same branch would otherwise read next, while the entries
// every writer reads stay a single small request each.
const MaxInlineFiles = 16384

// NewCommitRef is the branch log entry of a commit of snapshot on parent,
// carrying what fits of its files: the transaction log first (a rebase
// over the commit replays it), if at most MaxInlineTxLog bytes; then the
// snapshot file; then, if the snapshot is carried (a manifest is of use
// with the snapshot naming it), the manifest files, smallest first, while
// the entry's files stay within MaxInlineFiles. Nil files are not carried.
func NewCommitRef(snapshot, parent SnapshotID, txlog, snapshotFile []byte, manifestFiles [][]byte) Ref {
	r := Ref{Snapshot: snapshot, Parent: parent}
	room := MaxInlineFiles
	if len(txlog) > 0 && len(txlog) <= MaxInlineTxLog {
		r.TxLog, room = txlog, room-len(txlog)
	}
	if len(snapshotFile) > 0 && len(snapshotFile) <= room {
		r.SnapshotFile, room = snapshotFile, room-len(snapshotFile)
	}
	if r.SnapshotFile == nil {
		return r
	}
	manifests := slices.SortedStableFunc(slices.Values(manifestFiles), func(a, b []byte) int { return len(a) - len(b) })
	for _, m := range manifests {
		if len(m) == 0 || len(m) > room {
			continue
		}
		r.ManifestFiles, room = append(r.ManifestFiles, m), room-len(m)
	}
	return r
}

// inlineBytes is the size of the files the ref carries.
func (r *Ref) inlineBytes() int {
	n := len(r.TxLog) + len(r.SnapshotFile)
	for _, m := range r.ManifestFiles {
		n += len(m)
	}
	return n
}

// Validate checks that the ref points at a snapshot (a non-zero id), that a
// commit's parent is another snapshot, and that files are carried only by
// a commit's entry, within MaxInlineTxLog and MaxInlineFiles.
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
	case (len(r.SnapshotFile) > 0 || len(r.ManifestFiles) > 0) && r.Parent.IsZero():
		return errors.New("ref carries snapshot or manifest files but is not a commit (no parent)")
	case r.inlineBytes() > MaxInlineFiles:
		return errors.Newf("ref carries %d bytes of files, more than %d", r.inlineBytes(), MaxInlineFiles)
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

// InlineSnapshot decodes the snapshot file the ref carries, or returns nil
// if it carries none; object names the ref in errors. A file that does not
// decode, or holds another snapshot than the ref's, is ErrCorrupt.
func (r *Ref) InlineSnapshot(object string) (*Snapshot, error) {
	if len(r.SnapshotFile) == 0 {
		return nil, nil
	}
	s, err := DecodeSnapshot(object+" (its snapshot file)", r.SnapshotFile)
	if err != nil {
		return nil, err
	}
	if s.ID != r.Snapshot {
		return nil, errors.Mark(errors.Newf("%s: the snapshot file it carries is snapshot %s, not %s", object, s.ID, r.Snapshot), ErrCorrupt)
	}
	return s, nil
}

// InlineManifests decodes the manifest files the ref carries, in the
// order they are stored; object names the ref in errors.
func (r *Ref) InlineManifests(object string) ([]*Manifest, error) {
	out := make([]*Manifest, 0, len(r.ManifestFiles))
	for i, data := range r.ManifestFiles {
		m, err := DecodeManifest(fmt.Sprintf("%s (its manifest file %d)", object, i), data)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
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
