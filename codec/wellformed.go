package codec

import (
	"github.com/cockroachdb/errors"
	"github.com/tinylib/msgp/msgp"
)

// maxNesting bounds how deeply arrays and maps may nest in a payload. Our
// types nest a handful of levels; the bound keeps a hostile payload from
// recursing deeply.
const maxNesting = 64

// checkWellFormed walks a MessagePack payload and checks that it is one
// complete value in which every array and map header declares no more
// elements than there are bytes left (each element takes at least one byte).
//
// Generated unmarshalling code allocates a slice of the declared length
// before reading its elements, so without this check a 5-byte array header
// could make it allocate gigabytes. After the check, every allocation made
// while decoding is bounded by a small multiple of the payload size.
func checkWellFormed(b []byte) error {
	rest, err := checkValue(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.Newf("%d trailing bytes after the value", len(rest))
	}
	return nil
}

func checkValue(b []byte, depth int) ([]byte, error) {
	if len(b) == 0 {
		return nil, msgp.ErrShortBytes
	}
	var n uint64 // elements that follow the header
	var err error
	switch msgp.NextType(b) {
	case msgp.ArrayType:
		var sz uint32
		sz, b, err = msgp.ReadArrayHeaderBytes(b)
		n = uint64(sz)
	case msgp.MapType:
		var sz uint32
		sz, b, err = msgp.ReadMapHeaderBytes(b)
		n = 2 * uint64(sz)
	default:
		return msgp.Skip(b)
	}
	if err != nil {
		return nil, err
	}
	if n > uint64(len(b)) {
		return nil, errors.Newf("container declares %d elements but only %d bytes follow", n, len(b))
	}
	if n > 0 && depth >= maxNesting {
		return nil, errors.Newf("containers nested deeper than %d levels", maxNesting)
	}
	for ; n > 0; n-- {
		// Scalars are skipped inline: this loop runs once per element of
		// the large columns of a manifest.
		if t := msgp.NextType(b); t != msgp.ArrayType && t != msgp.MapType {
			if b, err = msgp.Skip(b); err != nil {
				return nil, err
			}
			continue
		}
		if b, err = checkValue(b, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}
