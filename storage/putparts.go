package storage

import (
	"context"
	"slices"
)

// PartsPutter is an optional Storage method: storing an object given as
// several byte slices, written one after the other from the caller's
// memory. The engine packs the chunks of one batch into one object this
// way (one request on S3, one file on disk) without first copying them
// into a buffer of their own. Callers use the PutParts function, which
// falls back to Put of the concatenation for storages without it.
type PartsPutter interface {
	// PutParts stores the concatenation of parts at key, with the
	// contract of Put: it replaces any previous value atomically, is
	// idempotent, and keeps nothing of parts once it returns.
	PutParts(ctx context.Context, key string, parts [][]byte) error
}

// PutParts stores the concatenation of parts at key, through s's
// PartsPutter when it has one and Put otherwise, with the contract of
// PartsPutter.PutParts.
func PutParts(ctx context.Context, s Storage, key string, parts [][]byte) error {
	if pp, ok := s.(PartsPutter); ok {
		return pp.PutParts(ctx, key, parts)
	}
	if len(parts) == 1 {
		return s.Put(ctx, key, parts[0])
	}
	return s.Put(ctx, key, slices.Concat(parts...))
}

// PartsLen is the total length of parts.
func PartsLen(parts [][]byte) int {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	return n
}
