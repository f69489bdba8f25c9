package engine

import (
	"context"
	"math"
	"slices"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// A valueRead is one key of a get, resolved to where its bytes are but not
// read yet. Resolving first lets StoreGetManyInto size one buffer for a
// whole batch and read every chunk straight into its place in it.
type valueRead struct {
	found bool
	// mem holds the bytes when they are in memory (a metadata document,
	// an inline chunk). It is the session's or the manifest's memory:
	// copy it, never modify it.
	mem []byte
	// Otherwise ref is the chunk holding them, and [start, end) the bytes
	// of it.
	ref        *codec.ChunkRef
	start, end uint64
}

// size is the number of bytes the value has.
func (v *valueRead) size() uint64 {
	if v.ref == nil {
		return uint64(len(v.mem))
	}
	return v.end - v.start
}

// resolveGet finds the bytes of rng of the value at key, as StoreGet
// defines them, without reading any chunk.
func (s *Session) resolveGet(ctx context.Context, key string, rng storage.ByteRange) (valueRead, error) {
	k, err := parseZarrKey(key)
	if err != nil {
		return valueRead{}, err
	}
	switch k.kind {
	case keyV2Metadata:
		return valueRead{}, nil
	case keyMetadata:
		n, err := s.GetNode(ctx, k.path)
		if errors.Is(err, ErrNodeNotFound) {
			return valueRead{}, nil
		}
		if err != nil {
			return valueRead{}, err
		}
		start, end, err := chunkRange(rng, uint64(len(n.ZarrMetadata)))
		if err != nil {
			return valueRead{}, errors.Wrapf(err, "reading %q", key)
		}
		return valueRead{found: true, mem: n.ZarrMetadata[start:end]}, nil
	}
	t, err := s.resolveChunk(ctx, k)
	if err != nil || t == nil || !t.inGrid {
		return valueRead{}, err
	}
	ref, err := s.chunkRef(ctx, t)
	if err != nil || ref == nil {
		return valueRead{}, err
	}
	start, end, err := chunkRange(rng, chunkLength(ref))
	if err != nil {
		return valueRead{}, errors.Wrapf(err, "reading %q", key)
	}
	if ref.Kind == codec.ChunkInline {
		return valueRead{found: true, mem: ref.Inline[start:end]}, nil
	}
	return valueRead{found: true, ref: ref, start: start, end: end}, nil
}

// StoreGet returns the bytes of rng of the value at key (storage.From(0)
// for the whole value), and false without error if the key is missing. A
// zarr.json key gives the node's metadata document as it was set.
// Ranges are cut at the end of the value; a suffix range longer than the
// value gives all of it. A chunk object shorter than its reference says is
// ErrCorrupt.
func (s *Session) StoreGet(ctx context.Context, key string, rng storage.ByteRange) ([]byte, bool, error) {
	v, err := s.resolveGet(ctx, key, rng)
	if err != nil || !v.found {
		return nil, false, err
	}
	if v.ref == nil {
		return slices.Clone(v.mem), true, nil
	}
	data, err := s.repo.readChunkRange(ctx, v.ref, v.start, v.end)
	if err != nil {
		return nil, false, errors.Wrapf(err, "reading %q", key)
	}
	return data, true, nil
}

// StoreGetResult is the outcome for one key of StoreGetMany.
type StoreGetResult struct {
	Data  []byte
	Found bool
	Err   error
}

// StoreGetMany runs StoreGet for each key, at most storeParallelism at a
// time, and returns the results in key order. ranges is nil (whole values)
// or holds one range per key. Per-key failures are in the results; the
// error is only for bad arguments.
func (s *Session) StoreGetMany(ctx context.Context, keys []string, ranges []storage.ByteRange) ([]StoreGetResult, error) {
	if ranges != nil && len(ranges) != len(keys) {
		return nil, invalidArgument("%d byte ranges for %d keys", len(ranges), len(keys))
	}
	out := make([]StoreGetResult, len(keys))
	errs := runParallel(ctx, len(keys), func(i int) error {
		data, ok, err := s.StoreGet(ctx, keys[i], rangeAt(ranges, i))
		out[i] = StoreGetResult{Data: data, Found: ok}
		return err
	})
	for i, err := range errs {
		if err != nil {
			out[i] = StoreGetResult{Err: err}
		}
	}
	return out, nil
}

// StoreGetManyInto is StoreGetMany with every value read into one buffer:
// it resolves all keys, calls alloc once with the total size of the values
// found, and reads each value straight into its own slice of the buffer
// alloc returns (which must have that length), in key order. The Data of
// the results are those slices. A failed read leaves its slice unused.
//
// The buffer may live outside Go's heap (the C library reads into the
// buffer it hands to its caller); nothing keeps a reference to it after
// StoreGetManyInto returns. The error is for bad arguments and a failed
// alloc; per-key failures are in the results.
func (s *Session) StoreGetManyInto(ctx context.Context, keys []string, ranges []storage.ByteRange, alloc func(size int) ([]byte, error)) ([]StoreGetResult, error) {
	if ranges != nil && len(ranges) != len(keys) {
		return nil, invalidArgument("%d byte ranges for %d keys", len(ranges), len(keys))
	}
	reads := make([]valueRead, len(keys))
	errs := runParallel(ctx, len(keys), func(i int) (err error) {
		reads[i], err = s.resolveGet(ctx, keys[i], rangeAt(ranges, i))
		return err
	})
	out := make([]StoreGetResult, len(keys))
	var total uint64
	for i, err := range errs {
		switch {
		case err != nil:
			out[i] = StoreGetResult{Err: err}
		case reads[i].found:
			total += reads[i].size()
		}
	}
	if total > math.MaxInt {
		return nil, invalidArgument("the values of %d keys hold %d bytes, more than one buffer can", len(keys), total)
	}
	buf, err := alloc(int(total))
	if err != nil {
		return nil, err
	}
	if uint64(len(buf)) != total {
		return nil, errors.AssertionFailedf("alloc returned %d bytes for %d", len(buf), total)
	}
	var off uint64
	for i, err := range errs {
		if err == nil && reads[i].found {
			n := reads[i].size()
			out[i] = StoreGetResult{Data: buf[off : off+n : off+n], Found: true}
			off += n
		}
	}
	errs = runParallel(ctx, len(keys), func(i int) error {
		if out[i].Err != nil || !out[i].Found {
			return nil
		}
		v := &reads[i]
		if v.ref == nil {
			copy(out[i].Data, v.mem)
			return nil
		}
		if err := s.repo.readChunkInto(ctx, v.ref, v.start, out[i].Data); err != nil {
			return errors.Wrapf(err, "reading %q", keys[i])
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			out[i] = StoreGetResult{Err: err}
		}
	}
	return out, nil
}

// rangeAt is the range of key i of a get: ranges[i], or the whole value.
func rangeAt(ranges []storage.ByteRange, i int) storage.ByteRange {
	if ranges == nil {
		return storage.From(0)
	}
	return ranges[i]
}
