package storage

import (
	"context"

	"github.com/cockroachdb/errors"
)

// PieceWriter is implemented by a Storage that can build one object from
// pieces written separately, each at its offset and in any order: a local
// file written in place. A bulk writer (see BulkWriter) then makes objects
// of several pieces while holding only a piece at a time in memory. On a
// local disk each file costs an inode allocation, which ext4 makes slow
// after large deletes, while single writes of several MiB into the page
// cache cost more per byte than smaller ones: pieces keep the writes small
// and the files few.
//
// Unlike Put, PutPiece is not atomic: until every piece is written, a
// reader of the key may find it missing, shorter, or with zeros where a
// piece has not landed yet. It is only for objects whose key no reader
// knows before the writer has written every piece: a session's write-behind
// chunk objects, whose refs reach a snapshot only after a flush. Callers use
// the PutPiece function.
type PieceWriter interface {
	// PutPiece writes data at offset of the object at key, creating the
	// object if it does not exist; a piece written again (after a failure)
	// must hold the same bytes. Its durability is Put's: the piece is
	// durable once Sync returns. Nothing of data is kept once it returns.
	PutPiece(ctx context.Context, key string, offset int64, data []byte) error
	// ObjectPieces is how many pieces of the bulk-write size (BulkWrite)
	// one object should be made of; 1 means whole objects only.
	ObjectPieces() int
}

// ObjectPieces returns how many bulk-write pieces s would have one object
// made of: 1 unless s is a PieceWriter that asks for more.
func ObjectPieces(s Storage) int {
	if p, ok := s.(PieceWriter); ok {
		return max(p.ObjectPieces(), 1)
	}
	return 1
}

// PutPiece writes data at offset of the object at key through s's
// PieceWriter, with its contract. A storage without one can only take a
// piece at offset 0, stored as a whole object by Put.
func PutPiece(ctx context.Context, s Storage, key string, offset int64, data []byte) error {
	if p, ok := s.(PieceWriter); ok {
		return p.PutPiece(ctx, key, offset, data)
	}
	if offset != 0 {
		return Determinate(errors.Newf("%s: cannot write %q in pieces (a piece at offset %d)", s, key, offset))
	}
	return s.Put(ctx, key, data)
}
