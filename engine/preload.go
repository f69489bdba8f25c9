package engine

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
)

// preloadWorkers bounds the manifests one session preloads at once.
const preloadWorkers = 4

// preloadTimeout bounds a session's preloading: it is a warm-up, not work
// anyone waits for.
const preloadTimeout = 5 * time.Minute

// preload starts loading into the manifest cache, in the background, the
// manifests of snap that the config's preload condition selects, taken in
// snapshot order while their chunk references fit in its bound (upstream
// Icechunk's manifest preloading), so that a new session's first reads of
// those arrays find them there. The returned channel is closed when it is
// done. A manifest that fails to load is left for the read that needs it
// to report.
func (r *Repository) preload(snap *codec.Snapshot) <-chan struct{} {
	ids := preloadList(r.cfg().Manifest, snap)
	if len(ids) == 0 {
		return nothingToPreload
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), preloadTimeout)
		defer cancel()
		var g errgroup.Group
		g.SetLimit(preloadWorkers)
		for _, id := range ids {
			g.Go(func() error {
				_, err := r.assets.fetchManifest(ctx, id)
				return err
			})
		}
		_ = g.Wait()
	}()
	return done
}

// nothingToPreload is the closed channel of every session that preloads
// nothing (the usual case): opening a session allocates none.
var nothingToPreload = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// preloadList returns the manifests of snap that m's preload condition
// selects, in snapshot order, skipping those whose chunk references would
// take the total past the bound.
func preloadList(m *codec.ManifestConfig, snap *codec.Snapshot) []codec.ManifestID {
	if m == nil || m.Preload == nil || m.Preload.If == nil {
		return nil
	}
	budget := uint64(codec.DefaultPreloadMaxTotalRefs)
	if m.Preload.MaxTotalRefs != nil {
		budget = *m.Preload.MaxTotalRefs
	}
	var ids []codec.ManifestID
	seen := map[codec.ManifestID]bool{}
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		if n.Array == nil {
			continue
		}
		for _, mref := range n.Array.Manifests {
			info, ok := snap.ManifestFile(mref.ID)
			if !ok || seen[mref.ID] || info.NumChunkRefs > budget || !m.Preload.If.Matches(n.Path, info.NumChunkRefs) {
				continue
			}
			seen[mref.ID] = true
			budget -= info.NumChunkRefs
			ids = append(ids, mref.ID)
		}
	}
	return ids
}
