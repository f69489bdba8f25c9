package engine

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/cockroachdb/errors"
	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// RepackOptions say which chunk objects RepackChunks copies chunks out of.
type RepackOptions struct {
	// MaxLiveFraction: an object is repacked when the bytes of it the
	// branch's tip uses are at most this fraction of its size (and not
	// all of it: at 1, every object with a byte the tip does not use).
	// Zero means DefaultRepackLiveFraction; it must be in (0, 1].
	MaxLiveFraction float64
	// DryRun measures what a repack would move and free, and copies and
	// commits nothing.
	DryRun bool
}

// DefaultRepackLiveFraction repacks objects at most half used: what stays
// unpacked then wastes at most as much as it holds.
const DefaultRepackLiveFraction = 0.5

// RepackSummary says what RepackChunks did.
type RepackSummary struct {
	// Snapshot is the commit's id; zero when no object qualified, or in a
	// dry run: nothing was committed.
	Snapshot codec.SnapshotID
	// ObjectsRepacked counts the chunk objects the tip no longer uses.
	ObjectsRepacked int
	// ChunksMoved and BytesMoved count the chunks copied into new objects.
	ChunksMoved int
	BytesMoved  int64
	// BytesFreeable is the size of the repacked objects less the bytes
	// moved out of them: what a garbage collection frees once no branch or
	// tag reaches a snapshot before the commit.
	BytesFreeable int64
}

// repackReads bounds the chunk objects read at once.
const repackReads = 4

// repackRunBytes and repackGapBytes shape the reads of a repacked object:
// chunks closer than repackGapBytes are read with one request, of at most
// repackRunBytes (unless one chunk is larger).
const (
	repackRunBytes = 4 << 20
	repackGapBytes = 64 << 10
)

// RepackChunks commits on branch a snapshot with the same nodes and data
// as its tip, in which the chunks that sit in mostly unused chunk objects
// are copied into new ones. A chunk object is stored whole, so one the tip
// uses little of (its other chunks rewritten since, by later commits) keeps
// all its bytes while any snapshot uses any of them; garbage collection
// cannot free part of it. After a repack, the old objects are used only by
// snapshots before the commit: expiring those (ExpireSnapshots with the
// commit's time) and collecting garbage frees them, once no branch or tag
// reaches a snapshot before the commit. The collection's cutoff is still
// bound by GCOptions' rule (older than every writing session's start).
//
// An object is repacked when the tip's chunks in it (native chunks of every
// array) take at most opts.MaxLiveFraction of its size, and not all of it.
// Objects are measured by listing the repository's chunk objects. Chunks
// are copied as the write-behind path writes them, into packs of the
// storage's size; a chunk larger than a pack gets an object of its own.
//
// The commit's message is message; its metadata is meta over the handle's
// default commit metadata. Its transaction log records no change, since no
// value changes: diffs pass over it, and a session that committed meanwhile
// rebases over it, its own chunks winning. No objects qualifying commits
// nothing (a zero Snapshot); nor does a dry run, which only measures.
//
// Errors: ErrInvalidArgument for a fraction outside (0, 1];
// ErrBranchNotFound; ErrChunkNotFound, naming one, if chunk objects the
// tip uses are not in storage (nothing is copied); a *ConflictError
// (ErrConflict) if the branch moved while the chunks were copied (nothing
// is committed; run it again, since a rebase could put old chunk values
// over newer ones); a chunk object of the tip that cannot be read; those
// of Commit.
func (r *Repository) RepackChunks(ctx context.Context, branch, message string, meta map[string]any, opts RepackOptions) (RepackSummary, error) {
	fraction := cmp.Or(opts.MaxLiveFraction, DefaultRepackLiveFraction)
	if !(fraction > 0 && fraction <= 1) {
		return RepackSummary{}, invalidArgument("repacking chunks: the largest live fraction must be in (0, 1], not %v", opts.MaxLiveFraction)
	}
	s, err := r.WritableSession(ctx, branch)
	if err != nil {
		return RepackSummary{}, err
	}
	s.unlogged = true
	moves, sum, err := s.planRepack(ctx, fraction)
	if err != nil {
		return RepackSummary{}, errors.Wrapf(err, "repacking the chunks of branch %q", branch)
	}
	if len(moves) == 0 || opts.DryRun {
		return sum, nil
	}
	if err := s.copyChunks(ctx, moves); err != nil {
		s.DiscardChanges()
		return RepackSummary{}, errors.Wrapf(err, "repacking the chunks of branch %q", branch)
	}
	id, err := s.Commit(ctx, message, meta)
	if err != nil {
		s.DiscardChanges()
		return RepackSummary{}, err
	}
	sum.Snapshot = id
	return sum, nil
}

// chunkMove is a chunk of the tip to copy into a new object: where it is
// and what it is in an array.
type chunkMove struct {
	node   codec.NodeID
	coords []uint32
	offset uint64
	length uint64
}

// planRepack finds the chunk objects the session's base uses at most
// fraction of, and returns the chunks to move, by object. Two walks over
// the chunks keep only the candidates' chunks in memory.
func (s *Session) planRepack(ctx context.Context, fraction float64) (map[codec.ChunkID][]chunkMove, RepackSummary, error) {
	var sum RepackSummary
	used := map[codec.ChunkID]uint64{}
	for info, err := range s.AllChunks(ctx) {
		if err != nil {
			return nil, sum, err
		}
		if info.Ref.Kind == codec.ChunkNative {
			used[info.Ref.ChunkID] += info.Ref.Length
		}
	}
	if len(used) == 0 {
		return nil, sum, nil
	}
	candidates := map[codec.ChunkID]int64{} // object -> its size
	listed := 0
	for info, err := range s.repo.store.List(ctx, codec.ChunksPrefix, storage.ListOptions{}) {
		if err != nil {
			return nil, sum, errors.Wrap(err, "listing the chunk objects")
		}
		id, perr := codec.ParseObjectID(strings.TrimPrefix(info.Key, codec.ChunksPrefix))
		if perr != nil {
			continue
		}
		live, ok := used[codec.ChunkID(id)]
		if !ok {
			continue
		}
		listed++
		// An object the tip uses whole has nothing to free, whatever
		// the fraction.
		if live < uint64(info.Size) && float64(live) <= fraction*float64(info.Size) {
			candidates[codec.ChunkID(id)] = info.Size
		}
	}
	if listed < len(used) {
		return nil, sum, s.missingObjects(ctx, used)
	}
	if len(candidates) == 0 {
		return nil, sum, nil
	}
	moves := map[codec.ChunkID][]chunkMove{}
	for info, err := range s.AllChunks(ctx) {
		if err != nil {
			return nil, sum, err
		}
		ref := info.Ref
		if ref.Kind != codec.ChunkNative {
			continue
		}
		if _, ok := candidates[ref.ChunkID]; ok {
			moves[ref.ChunkID] = append(moves[ref.ChunkID], chunkMove{node: info.NodeID, coords: slices.Clone(info.Coords), offset: ref.Offset, length: ref.Length})
		}
	}
	for id, size := range candidates {
		sum.ObjectsRepacked++
		var moved int64
		for _, m := range moves[id] {
			moved += int64(m.length)
		}
		sum.ChunksMoved += len(moves[id])
		sum.BytesMoved += moved
		sum.BytesFreeable += max(size-moved, 0)
	}
	return moves, sum, nil
}

// missingObjects names the objects of used that storage does not hold:
// the tip is damaged, and a repack would skip their chunks unnoticed.
func (s *Session) missingObjects(ctx context.Context, used map[codec.ChunkID]uint64) error {
	var missing []codec.ChunkID
	for id := range used {
		_, err := s.repo.store.Stat(ctx, codec.ChunkKey(id))
		if errors.Is(err, storage.ErrNotFound) {
			missing = append(missing, id)
		} else if err != nil {
			return errors.Wrapf(err, "looking for chunk object %s", id)
		}
	}
	if len(missing) == 0 { // written meanwhile: listings lag only on such storage
		return errors.Newf("the listing of the chunk objects missed some the tip uses; run it again")
	}
	slices.SortFunc(missing, func(a, b codec.ChunkID) int { return strings.Compare(a.String(), b.String()) })
	return errors.Mark(errors.Newf("the tip uses %d chunk objects that are not in storage (%s first); nothing was copied", len(missing), missing[0]), ErrChunkNotFound)
}

// copyChunks reads the chunks of each object and sets each, written
// behind, at its place, repackReads objects at once. The last packs are
// left for the commit to flush.
func (s *Session) copyChunks(ctx context.Context, moves map[codec.ChunkID][]chunkMove) error {
	w := s.behind()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(repackReads)
	for id, chunks := range moves {
		goRecovering(g, func() error {
			slices.SortFunc(chunks, func(a, b chunkMove) int { return cmp.Compare(a.offset, b.offset) })
			for len(chunks) > 0 {
				n := runLength(chunks)
				run := chunks[:n]
				chunks = chunks[n:]
				start := run[0].offset
				buf := make([]byte, run[n-1].offset+run[n-1].length-start)
				if err := s.repo.assets.readChunkInto(gctx, id, start, buf); err != nil {
					return err
				}
				for _, m := range run {
					if err := s.setMoved(gctx, w, m, buf[m.offset-start:][:m.length]); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	return g.Wait() // the commit flushes the packs, beside its own writes
}

// runLength is how many of chunks (sorted by offset) one read takes: those
// separated by small gaps, up to repackRunBytes, and at least one.
func runLength(chunks []chunkMove) int {
	start, end := chunks[0].offset, chunks[0].offset+chunks[0].length
	n := 1
	for n < len(chunks) {
		c := chunks[n]
		if c.offset < end || c.offset-end > repackGapBytes || c.offset+c.length-start > repackRunBytes {
			break
		}
		end = c.offset + c.length
		n++
	}
	return n
}

// setMoved writes data as the chunk m, behind unless it is larger than a
// pack, and records its new ref.
func (s *Session) setMoved(ctx context.Context, w *writeBehind, m chunkMove, data []byte) error {
	var ref codec.ChunkRef
	if len(data) > w.packBytes {
		r, err := s.repo.assets.writeChunk(ctx, data)
		if err != nil {
			return err
		}
		ref = *r
	} else {
		var err error
		if ref, _, err = w.add(ctx, data, true); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes.setChunk(m.node, &ref, m.coords)
	return nil
}
