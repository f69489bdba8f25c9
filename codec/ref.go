package codec

import "github.com/cockroachdb/errors"

//go:generate msgp -io=false -tests=false

// Ref is what a branch or a tag points at. Branch refs are entries of a
// consensus log and tags are create-only objects (see docs/format.md); this
// is their payload.
type Ref struct {
	Snapshot SnapshotID `msg:"snapshot"`
}

// Validate checks that the ref points at a snapshot (a non-zero id).
func (r *Ref) Validate() error {
	if r.Snapshot.IsZero() {
		return errors.New("ref points at the zero snapshot id")
	}
	return nil
}

// EncodeRef encodes r as a ref file. The error is marked ErrInvalid if r
// points at the zero snapshot id.
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
