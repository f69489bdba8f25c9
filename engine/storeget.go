package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
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
	// node and coords name the chunk of a whole native chunk's read, which
	// read-ahead follows (nil otherwise).
	node   *Node
	coords []uint32
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
		n, found, err := s.lookupNode(ctx, k.path)
		if err != nil || !found {
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
	v := valueRead{found: true, ref: ref, start: start, end: end}
	if ref.Kind == codec.ChunkNative && start == 0 && end == ref.Length {
		v.node, v.coords = t.node, t.coords
	}
	return v, nil
}

// StoreGet returns the bytes of rng of the value at key (storage.From(0)
// for the whole value), and false without error if the key is missing. A
// zarr.json key gives the node's metadata document as it was set.
// Ranges are cut at the end of the value; a suffix range longer than the
// value gives all of it. A chunk object shorter than its reference says is
// ErrCorrupt.
func (s *Session) StoreGet(ctx context.Context, key string, rng storage.ByteRange) ([]byte, bool, error) {
	return s.StoreGetInto(ctx, key, rng, func(size int) ([]byte, error) { return make([]byte, size), nil })
}

// StoreGetInto is StoreGet with the value read into the buffer alloc
// returns, which must have the requested length: a metadata document is
// copied into it and a chunk read straight into it, never through a Go
// buffer of its own (the C library passes C memory). alloc is called once
// the value is found, and not at all for a missing key; after an error,
// the buffer it returned, if any, is the caller's to release. An empty
// value reads nothing from storage.
func (s *Session) StoreGetInto(ctx context.Context, key string, rng storage.ByteRange, alloc func(size int) ([]byte, error)) ([]byte, bool, error) {
	v, err := s.resolveGet(ctx, key, rng)
	if err != nil || !v.found {
		return nil, false, err
	}
	size := v.size()
	buf, err := allocExact(alloc, size, func() string { return fmt.Sprintf("the value at %q", key) })
	if err != nil {
		return nil, false, err
	}
	if v.ref == nil {
		copy(buf, v.mem)
		return buf, true, nil
	}
	if size > 0 {
		if err := s.readChunkInto(ctx, v.ref, v.start, buf); err != nil {
			return nil, false, errors.Wrapf(err, "reading %q", key)
		}
	}
	return buf, true, nil
}

// allocExact asks alloc for a buffer of size bytes, which must be exactly
// that long; what names the value in the error for a size no buffer can
// have.
func allocExact(alloc func(size int) ([]byte, error), size uint64, what func() string) ([]byte, error) {
	if size > math.MaxInt {
		return nil, invalidArgument("%s has %d bytes, more than one buffer can", what(), size)
	}
	buf, err := alloc(int(size))
	if err != nil {
		return nil, err
	}
	if uint64(len(buf)) != size {
		return nil, errors.AssertionFailedf("alloc returned %d bytes for %d", len(buf), size)
	}
	return buf, nil
}

// getManyParallelism is how many reads one StoreGetMany or
// StoreGetManyInto runs at once: the config's GetPartialValuesConcurrency,
// else storeParallelism.
func (r *Repository) getManyParallelism() int {
	if n := r.cfg().GetPartialValuesConcurrency; n > 0 {
		return int(n)
	}
	return storeParallelism
}

// StoreGetResult is the outcome for one key of StoreGetMany.
type StoreGetResult struct {
	Data  []byte
	Found bool
	Err   error
}

// StoreGetMany runs StoreGet for each key, at most the config's
// GetPartialValuesConcurrency (by default storeParallelism) at a time, and
// returns the results in key order. ranges is nil (whole values)
// or holds one range per key. Per-key failures are in the results; the
// error is only for bad arguments.
func (s *Session) StoreGetMany(ctx context.Context, keys []string, ranges []storage.ByteRange) ([]StoreGetResult, error) {
	if ranges != nil && len(ranges) != len(keys) {
		return nil, invalidArgument("%d byte ranges for %d keys", len(ranges), len(keys))
	}
	out := make([]StoreGetResult, len(keys))
	errs := runParallelN(ctx, len(keys), s.repo.getManyParallelism(), func(i int) error {
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
// alloc returns (which must have that length). The Data of the results are
// those slices, in an order of StoreGetManyInto's choosing: chunks stored
// one after the other in one object (as StoreSetMany packs them) are laid
// out one after the other, and each such run is one read. A failed read
// leaves its slice unused.
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
	errs := runParallelN(ctx, len(keys), s.repo.getManyParallelism(), func(i int) (err error) {
		reads[i], err = s.resolveGet(ctx, keys[i], rangeAt(ranges, i))
		return err
	})
	out := make([]StoreGetResult, len(keys))
	var total uint64
	var found []int
	for i, err := range errs {
		switch {
		case err != nil:
			out[i] = StoreGetResult{Err: err}
		case reads[i].found:
			total += reads[i].size()
			found = append(found, i)
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
	slices.SortStableFunc(found, func(a, b int) int { return comparePlacement(&reads[a], &reads[b]) })
	var off uint64
	at := make([]uint64, len(keys)) // where each value starts in buf
	for _, i := range found {
		n := reads[i].size()
		out[i] = StoreGetResult{Data: buf[off : off+n : off+n], Found: true}
		at[i] = off
		off += n
	}
	runs := readRuns(reads, found)
	errs = runParallelN(ctx, len(runs), s.repo.getManyParallelism(), func(r int) error {
		first, last := runs[r][0], runs[r][len(runs[r])-1]
		s.readRun(ctx, keys, reads, runs[r], buf[at[first]:at[last]+reads[last].size()], out)
		return nil
	})
	for r, err := range errs {
		if err != nil { // a panic or a cancelled context
			for _, i := range runs[r] {
				out[i] = StoreGetResult{Err: err}
			}
		}
	}
	if r := s.readAheadState(); r != nil {
		s.startReadAhead(ctx, r, reads, found)
	}
	return out, nil
}

// maxReadRun bounds the bytes StoreGetManyInto reads in one request, so
// that a batch of many contiguous chunks is still read in parallel.
const maxReadRun = 8 << 20

// comparePlacement orders values for their layout in StoreGetManyInto's
// buffer: values in memory and virtual chunks first, then native chunks by
// object and by place in it.
func comparePlacement(a, b *valueRead) int {
	switch an, bn := a.native(), b.native(); {
	case an != bn && an:
		return 1
	case an != bn:
		return -1
	case !an:
		return 0
	}
	return cmp.Or(bytes.Compare(a.ref.ChunkID[:], b.ref.ChunkID[:]), cmp.Compare(a.ref.Offset+a.start, b.ref.Offset+b.start))
}

// native reports whether the value is bytes of a native chunk object.
func (v *valueRead) native() bool { return v.ref != nil && v.ref.Kind == codec.ChunkNative }

// readRuns groups the found values, in their layout order, into runs read
// with one request each: consecutive bytes of one chunk object, up to
// maxReadRun of them. Every other value is a run of its own.
func readRuns(reads []valueRead, found []int) [][]int {
	var runs [][]int
	var runBytes uint64
	for j, i := range found {
		v := &reads[i]
		if j > 0 && v.native() && runBytes+v.size() <= maxReadRun {
			p := &reads[found[j-1]]
			if p.native() && p.ref.ChunkID == v.ref.ChunkID && p.ref.Offset+p.end == v.ref.Offset+v.start {
				runs[len(runs)-1] = append(runs[len(runs)-1], i)
				runBytes += v.size()
				continue
			}
		}
		runs = append(runs, []int{i})
		runBytes = v.size()
	}
	return runs
}

// readRun reads the values of one run into dst, which spans their slices
// of the buffer (out[i].Data), and puts each value's failure in out[i]. A
// run that fails as a whole is read again value by value, so that each key
// gets its own outcome (only the chunks past the end of a truncated object
// are corrupt, say).
func (s *Session) readRun(ctx context.Context, keys []string, reads []valueRead, run []int, dst []byte, out []StoreGetResult) {
	if len(run) > 1 {
		v := &reads[run[0]]
		if s.readObjectInto(ctx, v.ref.ChunkID, v.ref.Offset+v.start, dst) == nil {
			return
		}
	}
	for _, i := range run {
		v := &reads[i]
		if v.ref == nil {
			copy(out[i].Data, v.mem)
			continue
		}
		if err := s.readChunkInto(ctx, v.ref, v.start, out[i].Data); err != nil {
			out[i] = StoreGetResult{Err: errors.Wrapf(err, "reading %q", keys[i])}
		}
	}
}

// rangeAt is the range of key i of a get: ranges[i], or the whole value.
func rangeAt(ranges []storage.ByteRange, i int) storage.ByteRange {
	if ranges == nil {
		return storage.From(0)
	}
	return ranges[i]
}
