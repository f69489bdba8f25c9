package engine

import (
	"context"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// ChunkStorageStats are the bytes of the chunks the repository's history
// refers to, by where they are stored.
type ChunkStorageStats struct {
	// NativeBytes are the bytes of chunks in the repository's chunk
	// objects. Bytes of a chunk object that no reachable chunk covers
	// (chunks rewritten or deleted since) are not counted.
	NativeBytes uint64
	// VirtualBytes are the bytes virtual chunks read from objects outside
	// the repository.
	VirtualBytes uint64
	// InlineBytes are the bytes of chunks held inside manifests.
	InlineBytes uint64
}

// nativeSpan is the part of a chunk object one native chunk covers.
type nativeSpan struct {
	id             codec.ChunkID
	offset, length uint64
}

// virtualSpan is the part of an outside object one virtual chunk covers.
type virtualSpan struct {
	location       string
	offset, length uint64
}

// ChunkStorageStats adds up the chunks of every snapshot reachable from a
// branch or a tag (upstream Icechunk's chunk_storage_stats): snapshots
// left behind by a reset, a deleted branch or an expiration do not count.
// Each manifest counts once however many snapshots list it; a native
// chunk counts once however many manifests refer to it (by chunk object,
// offset and length: the chunks of a batch share one object, each at its
// own offset), and a virtual chunk once by location, offset and length.
// Inline chunks count once per manifest holding them.
//
// It reads every reachable snapshot and manifest, as a garbage collection
// marks them; a snapshot or manifest that cannot be read fails the call.
func (r *Repository) ChunkStorageStats(ctx context.Context) (ChunkStorageStats, error) {
	_, manifests, err := r.reachableHistory(ctx)
	if err != nil {
		return ChunkStorageStats{}, errors.Wrap(err, "chunk storage statistics")
	}
	var stats ChunkStorageStats
	native := map[nativeSpan]struct{}{}
	virtual := map[virtualSpan]struct{}{}
	err = r.eachManifest(ctx, manifests, func(m *codec.Manifest) {
		for _, ref := range m.All() {
			switch ref.Kind {
			case codec.ChunkNative:
				countOnce(native, nativeSpan{ref.ChunkID, ref.Offset, ref.Length}, ref.Length, &stats.NativeBytes)
			case codec.ChunkVirtual:
				countOnce(virtual, virtualSpan{ref.Location, ref.Offset, ref.Length}, ref.Length, &stats.VirtualBytes)
			case codec.ChunkInline:
				stats.InlineBytes += uint64(len(ref.Inline))
			}
		}
	})
	if err != nil {
		return ChunkStorageStats{}, errors.Wrap(err, "chunk storage statistics")
	}
	return stats, nil
}

// countOnce adds n to *total the first time span is seen.
func countOnce[K comparable](seen map[K]struct{}, span K, n uint64, total *uint64) {
	if _, ok := seen[span]; !ok {
		seen[span] = struct{}{}
		*total += n
	}
}
