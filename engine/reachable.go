package engine

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
)

// manifestFetches bounds the manifests read at once by a walk of the
// reachable manifests.
const manifestFetches = 8

// reachableHistory walks the history of every branch and tag: it returns
// the snapshots the refs reach (tips, tags' snapshots and their ancestors)
// and the manifests those snapshots list, each once. A snapshot that
// cannot be read fails the walk.
func (r *Repository) reachableHistory(ctx context.Context) (snapshots map[codec.SnapshotID]bool, manifests []codec.ManifestID, err error) {
	roots, err := r.refs.targets(ctx)
	if err != nil {
		return nil, nil, err
	}
	snapshots = map[codec.SnapshotID]bool{}
	listed := map[codec.ManifestID]bool{}
	for _, root := range roots {
		// Histories share their older part: stop at the first snapshot
		// already marked.
		if snapshots[root.snapshot] {
			continue
		}
		for snap, err := range r.snapshotsBack(ctx, root.snapshot, codec.SnapshotID{}) {
			if err != nil {
				return nil, nil, err
			}
			if snapshots[snap.ID] {
				break
			}
			snapshots[snap.ID] = true
			for _, m := range snap.ManifestFiles {
				if !listed[m.ID] {
					listed[m.ID] = true
					manifests = append(manifests, m.ID)
				}
			}
		}
	}
	return snapshots, manifests, nil
}

// eachManifest reads the manifests ids, manifestFetches at once, and calls
// visit with each, one call at a time. A manifest that cannot be read
// fails the walk.
func (r *Repository) eachManifest(ctx context.Context, ids []codec.ManifestID, visit func(*codec.Manifest)) error {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(manifestFetches)
	for _, id := range ids {
		goRecovering(g, func() error {
			m, err := r.assets.fetchManifest(gctx, id)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			visit(m)
			return nil
		})
	}
	return g.Wait()
}

// reachableSet holds the ids of every object the refs reach.
type reachableSet struct {
	snapshots map[codec.SnapshotID]bool
	manifests map[codec.ManifestID]bool
	chunks    map[codec.ChunkID]struct{}
}

// reachable marks the snapshots of every branch's and tag's history, the
// manifests they list and the chunk objects those manifests name.
func (r *Repository) reachable(ctx context.Context) (*reachableSet, error) {
	snapshots, manifests, err := r.reachableHistory(ctx)
	if err != nil {
		return nil, err
	}
	live := &reachableSet{
		snapshots: snapshots,
		manifests: make(map[codec.ManifestID]bool, len(manifests)),
		chunks:    map[codec.ChunkID]struct{}{},
	}
	for _, id := range manifests {
		live.manifests[id] = true
	}
	err = r.eachManifest(ctx, manifests, func(m *codec.Manifest) {
		for c := range m.ChunkIDs() {
			live.chunks[c] = struct{}{}
		}
	})
	if err != nil {
		return nil, err
	}
	return live, nil
}
