package engine

import (
	"context"
	"maps"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
)

// RewriteManifests commits on branch a snapshot with the same nodes and
// chunks as its tip, whose arrays' chunk references are rewritten into
// manifests of the block shape the config gives each array now: that of
// its first matching splitting rule (codec.ManifestConfig), else
// ManifestBlockChunks chunks per manifest (upstream Icechunk's
// rewrite_manifests). Use it after changing the splitting rules: a commit
// keeps an array's block shape and rewrites only the blocks it touches.
//
// The commit's metadata is meta (over the handle's default commit
// metadata) with "splitting_config" set to the rules, when there are any.
// Its transaction log records no change, so diffs and rebases pass over it.
//
// Errors: ErrBranchNotFound; a *ConflictError (ErrConflict) if the branch
// moved while the manifests were written (nothing is committed; run it
// again); those of Commit.
func (r *Repository) RewriteManifests(ctx context.Context, branch, message string, meta map[string]any) (codec.SnapshotID, error) {
	s, err := r.WritableSession(ctx, branch)
	if err != nil {
		return codec.SnapshotID{}, err
	}
	s.rewriteManifests = true
	if m := r.cfg().Manifest; m != nil && len(m.Splitting) > 0 {
		meta = maps.Clone(meta) // the caller's map is not ours to change
		if meta == nil {
			meta = map[string]any{}
		}
		meta["splitting_config"] = m.Splitting
	}
	return s.Commit(ctx, message, meta)
}

// planReblock gives the array the block shape the config gives it now and
// schedules on g the writing of all its chunk references, old and changed,
// into manifests of that shape.
func (f *flusher) planReblock(ctx context.Context, g *errgroup.Group, n *Node, a *codec.ArrayData, cs *ChangeSet) {
	old := slices.DeleteFunc(slices.Clone(a.Manifests), func(m codec.ManifestRef) bool { return len(m.Extents) != len(a.Shape) })
	a.BlockShape = f.repo.newBlockShape(n.Path, a)
	a.Manifests = nil
	chunks := cs.chunks[n.ID]
	changes := map[string]*chunkBlock{}
	if chunks != nil {
		changes = chunks.blocks(len(a.Shape), a.BlockShape)
	}
	// One job per array reads the old manifests, sorts their refs into the
	// new blocks, and writes each block as a commit writes any block,
	// merging in the session's changes. The old refs of the whole array
	// are held at once. The job schedules nothing itself: jobs waiting on
	// g for room for more jobs could fill it.
	f.schedule(g, func(_ func()) error {
		noop := func() {}
		// Each new block: the coordinates of one chunk in it (which name
		// it) and its old refs.
		type block struct {
			first []uint32
			refs  []codec.ChunkRef
		}
		blocks := map[string]*block{}
		for _, mref := range old {
			m, err := f.repo.assets.fetchManifest(ctx, mref.ID)
			if err != nil {
				return err
			}
			for _, ref := range m.All() {
				k := blockKey(ref.Coords, a.BlockShape)
				b := blocks[k]
				if b == nil {
					b = &block{first: ref.Coords}
					blocks[k] = b
				}
				b.refs = append(b.refs, ref)
			}
		}
		for k, pending := range changes {
			if blocks[k] == nil {
				blocks[k] = &block{first: pending.first}
			}
		}
		for k, b := range blocks {
			refs := b.refs
			slices.SortFunc(refs, func(x, y codec.ChunkRef) int { return codec.CompareCoords(x.Coords, y.Coords) })
			var prior *codec.Manifest
			if len(refs) > 0 {
				b := codec.NewManifestBuilder(len(a.Shape), len(refs))
				for i := range refs {
					b.Append(&refs[i])
				}
				m, err := b.Build(codec.NewManifestID(), n.ID, nil)
				if err != nil {
					return err
				}
				prior = m
			}
			b.refs = nil // done with: let the block's copies go
			if err := f.write(ctx, n.ID, a, blockExtents(b.first, a.BlockShape), mergeRefs(prior, chunks, changes[k], a), noop); err != nil {
				return err
			}
		}
		return nil
	})
}
