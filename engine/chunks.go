package engine

import (
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// gridShape is the number of chunks along each dimension.
func gridShape(a *codec.ArrayData) []uint32 {
	out := make([]uint32, len(a.Shape))
	for i := range a.Shape {
		out[i] = uint32((a.Shape[i] + a.ChunkShape[i] - 1) / a.ChunkShape[i])
	}
	return out
}

// validCoords reports whether coords name a chunk inside the array's grid.
func validCoords(a *codec.ArrayData, coords []uint32) bool {
	if len(coords) != len(a.Shape) {
		return false
	}
	for i, c := range coords {
		if uint64(c) >= (a.Shape[i]+a.ChunkShape[i]-1)/a.ChunkShape[i] {
			return false
		}
	}
	return true
}

// WriteChunk turns chunk bytes into a ref: inline when at or below the
// repository's inline threshold, otherwise a chunk object written now. It
// does not touch the change set; pass the ref to SetChunkRef. data is not
// kept once WriteChunk returns (storage.Storage's Put promises the same).
func (s *Session) WriteChunk(ctx context.Context, data []byte) (*codec.ChunkRef, error) {
	if s.ReadOnly() {
		return nil, readOnly("write a chunk")
	}
	if len(data) <= int(s.repo.cfg().InlineChunkThreshold) {
		return &codec.ChunkRef{Kind: codec.ChunkInline, Inline: slices.Clone(data)}, nil
	}
	return s.repo.assets.writeChunk(ctx, data)
}

// SetChunkRef records ref (nil: delete) for the chunk at coords of the array
// at path. ErrInvalidIndex if coords are outside the array's chunk grid.
func (s *Session) SetChunkRef(ctx context.Context, path Path, coords []uint32, ref *codec.ChunkRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.writableArrayLocked(ctx, "set a chunk", path)
	if err != nil {
		return err
	}
	return s.setChunkRefLocked(n, coords, ref)
}

// writableArrayLocked returns the array at path whose chunks the session
// is about to change (caller holds s.mu); ErrReadOnly, naming what, if the
// session is read-only.
func (s *Session) writableArrayLocked(ctx context.Context, what string, path Path) (*Node, error) {
	if err := s.checkWritable(what); err != nil {
		return nil, err
	}
	return s.getArrayLocked(ctx, path)
}

func (s *Session) setChunkRefLocked(n *Node, coords []uint32, ref *codec.ChunkRef) error {
	if !validCoords(n.Array, coords) {
		return invalidIndex(Path(n.Path), n.Array, coords)
	}
	s.changes.setChunk(n.ID, ref, coords)
	return nil
}

// SetChunk writes data as the chunk at coords: it validates the target
// first, uploads without holding the session lock (so many goroutines
// upload at once), then records the ref.
func (s *Session) SetChunk(ctx context.Context, path Path, coords []uint32, data []byte) error {
	if _, err := s.checkChunkTarget(ctx, path, coords); err != nil {
		return err
	}
	ref, err := s.WriteChunk(ctx, data)
	if err != nil {
		return err
	}
	return s.SetChunkRef(ctx, path, coords, ref)
}

func (s *Session) checkChunkTarget(ctx context.Context, path Path, coords []uint32) (*Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, err := s.writableArrayLocked(ctx, "set a chunk", path)
	if err != nil {
		return nil, err
	}
	if !validCoords(n.Array, coords) {
		return nil, invalidIndex(path, n.Array, coords)
	}
	return n, nil
}

// DeleteChunks records deletes of the chunks at each coordinate.
func (s *Session) DeleteChunks(ctx context.Context, path Path, coords [][]uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.writableArrayLocked(ctx, "delete chunks", path)
	if err != nil {
		return err
	}
	for _, c := range coords {
		if err := s.setChunkRefLocked(n, c, nil); err != nil {
			return err
		}
	}
	return nil
}

// GetChunkRef returns the ref of the chunk at coords, or nil if the chunk
// was never written (or was deleted).
func (s *Session) GetChunkRef(ctx context.Context, path Path, coords []uint32) (*codec.ChunkRef, error) {
	s.mu.RLock()
	n, err := s.getNodeLocked(ctx, path)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	if n.Type != ArrayNode {
		s.mu.RUnlock()
		return nil, notAnArray(path, "getting chunk reference")
	}
	if !validCoords(n.Array, coords) {
		// Outside the grid (maybe after a shrink): no such chunk.
		s.mu.RUnlock()
		return nil, nil
	}
	if ref, ok := s.changes.chunk(n.ID, coords); ok {
		s.mu.RUnlock()
		return ref, nil
	}
	s.mu.RUnlock()
	// Manifests are immutable: read them without the lock.
	return s.repo.lookupChunk(ctx, n, coords)
}

// ChunkType returns where the chunk at coords of the array at path is
// stored (codec.ChunkInline, ChunkNative or ChunkVirtual), or 0 if the
// array has no chunk there (upstream Icechunk's chunk_type). Unlike
// GetChunkRef, coordinates outside the array's grid or of the wrong rank
// are an error (ErrInvalidArgument): they name no chunk at all.
func (s *Session) ChunkType(ctx context.Context, path Path, coords []uint32) (codec.ChunkKind, error) {
	n, err := s.GetArray(ctx, path)
	if err != nil {
		return 0, err
	}
	if !validCoords(n.Array, coords) {
		return 0, invalidArgument("chunk coordinates %v are outside the grid of array %q (%v chunks)", coords, path, gridShape(n.Array))
	}
	ref, err := s.GetChunkRef(ctx, path, coords)
	if err != nil || ref == nil {
		return 0, err
	}
	return ref.Kind, nil
}

// lookupChunk finds coords in the node's committed manifests. The ref is
// the caller's, but its Coords and Inline are the cached manifest's memory:
// they must not be modified.
func (r *Repository) lookupChunk(ctx context.Context, n *Node, coords []uint32) (*codec.ChunkRef, error) {
	if n.Array == nil || len(coords) != len(n.Array.Shape) {
		return nil, nil
	}
	for _, mref := range n.Array.Manifests {
		if !codec.ExtentsContain(mref.Extents, coords) {
			continue
		}
		m, err := r.assets.fetchManifest(ctx, mref.ID)
		if err != nil {
			return nil, err
		}
		if ref, ok := m.Lookup(coords); ok {
			return &ref, nil
		}
	}
	return nil, nil
}

// GetChunk returns the bytes of rng of the chunk at coords, and false if
// the chunk does not exist. Ranges are relative to the chunk and are cut at
// its end; a suffix range longer than the chunk gives the whole chunk.
func (s *Session) GetChunk(ctx context.Context, path Path, coords []uint32, rng storage.ByteRange) ([]byte, bool, error) {
	return s.GetChunkInto(ctx, path, coords, rng, func(size int) ([]byte, error) { return make([]byte, size), nil })
}

// GetChunkInto is GetChunk with the bytes read into the buffer alloc
// returns, with the contract of StoreGetInto's alloc: it must have the
// requested length, it is called once the chunk is found and not at all
// for a missing one, and after an error the buffer it returned, if any, is
// the caller's to release.
func (s *Session) GetChunkInto(ctx context.Context, path Path, coords []uint32, rng storage.ByteRange, alloc func(size int) ([]byte, error)) ([]byte, bool, error) {
	ref, err := s.GetChunkRef(ctx, path, coords)
	if err != nil || ref == nil {
		return nil, false, err
	}
	start, end, err := chunkRange(rng, chunkLength(ref))
	if err != nil {
		return nil, false, errors.Wrapf(err, "reading chunk %v of %q", coords, path)
	}
	buf, err := allocExact(alloc, end-start, func() string { return fmt.Sprintf("chunk %v of %q", coords, path) })
	if err != nil {
		return nil, false, err
	}
	if len(buf) > 0 {
		if err := s.readChunkInto(ctx, ref, start, buf); err != nil {
			return nil, false, errors.Wrapf(err, "reading chunk %v of %q", coords, path)
		}
	}
	return buf, true, nil
}

// readChunkInto fills dst with the bytes of the chunk ref points at from
// start on (start+len(dst) is at most the chunk's length).
func (r *Repository) readChunkInto(ctx context.Context, ref *codec.ChunkRef, start uint64, dst []byte) error {
	switch ref.Kind {
	case codec.ChunkInline:
		copy(dst, ref.Inline[start:])
		return nil
	case codec.ChunkNative:
		return r.assets.readChunkInto(ctx, ref.ChunkID, ref.Offset+start, dst)
	case codec.ChunkVirtual:
		return r.virtual.fetchInto(ctx, ref, ref.Offset+start, dst)
	}
	return errors.Mark(errors.Newf("unknown chunk kind %d", ref.Kind), codec.ErrCorrupt)
}

// chunkLength is the chunk's size in bytes.
func chunkLength(ref *codec.ChunkRef) uint64 {
	if ref.Kind == codec.ChunkInline {
		return uint64(len(ref.Inline))
	}
	return ref.Length
}

// chunkRange resolves a range request against a chunk of length bytes, as
// the seed's construct_valid_byte_range does, except that a start at or past
// the end gives an empty read instead of the last byte.
func chunkRange(rng storage.ByteRange, length uint64) (uint64, uint64, error) {
	if err := rng.Validate(); err != nil {
		return 0, 0, err
	}
	switch rng.Kind {
	case storage.RangeSuffix:
		n := min(uint64(rng.Start), length)
		return length - n, length, nil
	case storage.RangeFrom:
		start := min(uint64(rng.Start), length)
		return start, length, nil
	default:
		start := min(uint64(rng.Start), length)
		end := max(min(uint64(rng.End), length), start)
		return start, end, nil
	}
}

// ChunkInfo is one chunk of an array.
type ChunkInfo struct {
	Path   Path
	NodeID codec.NodeID
	Coords []uint32
	Ref    *codec.ChunkRef
}

// ArrayChunks yields every existing chunk of the array at path: the
// committed ones with the session's changes applied, in no promised order.
func (s *Session) ArrayChunks(ctx context.Context, path Path) iter.Seq2[ChunkInfo, error] {
	return func(yield func(ChunkInfo, error) bool) {
		s.mu.RLock()
		n, err := s.getArrayLocked(ctx, path)
		if err != nil {
			s.mu.RUnlock()
			yield(ChunkInfo{}, err)
			return
		}
		changes := s.changes.sortedChunks(n.ID)
		s.mu.RUnlock()
		s.repo.nodeChunks(ctx, n, changes)(yield)
	}
}

// nodeChunks yields a node's committed chunks merged with changes, which
// are in coordinate order (as sortedChunks returns them).
func (r *Repository) nodeChunks(ctx context.Context, n *Node, changes []chunkChange) iter.Seq2[ChunkInfo, error] {
	return func(yield func(ChunkInfo, error) bool) {
		touched := func(coords []uint32) bool {
			_, found := slices.BinarySearchFunc(changes, coords, func(c chunkChange, coords []uint32) int {
				return codec.CompareCoords(c.Coords, coords)
			})
			return found
		}
		for _, c := range changes {
			if c.Ref != nil && validCoords(n.Array, c.Coords) {
				if !yield(ChunkInfo{Path: Path(n.Path), NodeID: n.ID, Coords: c.Coords, Ref: c.Ref}, nil) {
					return
				}
			}
		}
		// The refs handed out are carved from shared pages, saving an
		// allocation per chunk.
		var page []codec.ChunkRef
		for _, mref := range n.Array.Manifests {
			m, err := r.assets.fetchManifest(ctx, mref.ID)
			if err != nil {
				yield(ChunkInfo{}, err)
				return
			}
			for i := range m.Len() {
				if c := m.Coords(i); !validCoords(n.Array, c) || touched(c) {
					continue
				}
				if len(page) == cap(page) {
					page = make([]codec.ChunkRef, 0, 256)
				}
				page = append(page, m.Ref(i))
				ref := &page[len(page)-1]
				if !yield(ChunkInfo{Path: Path(n.Path), NodeID: n.ID, Coords: ref.Coords, Ref: ref}, nil) {
					return
				}
			}
		}
	}
}

// AllChunks yields every chunk of every array.
func (s *Session) AllChunks(ctx context.Context) iter.Seq2[ChunkInfo, error] {
	return func(yield func(ChunkInfo, error) bool) {
		nodes, err := s.ListNodes(ctx)
		if err != nil {
			yield(ChunkInfo{}, err)
			return
		}
		for _, n := range nodes {
			if n.Type != ArrayNode {
				continue
			}
			for info, err := range s.ArrayChunks(ctx, Path(n.Path)) {
				if !yield(info, err) || err != nil {
					return
				}
			}
		}
	}
}

// ChunkCoordinates yields the coordinates of every chunk of the array.
func (s *Session) ChunkCoordinates(ctx context.Context, path Path) iter.Seq2[[]uint32, error] {
	return func(yield func([]uint32, error) bool) {
		for info, err := range s.ArrayChunks(ctx, path) {
			if !yield(info.Coords, err) || err != nil {
				return
			}
		}
	}
}

// AllVirtualChunkLocations yields every location virtual chunks of the
// session point at, each once, in no promised order.
func (s *Session) AllVirtualChunkLocations(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		seen := map[string]struct{}{}
		for info, err := range s.AllChunks(ctx) {
			if err != nil {
				yield("", err)
				return
			}
			if info.Ref.Kind != codec.ChunkVirtual {
				continue
			}
			if _, dup := seen[info.Ref.Location]; dup {
				continue
			}
			seen[info.Ref.Location] = struct{}{}
			if !yield(info.Ref.Location, nil) {
				return
			}
		}
	}
}
