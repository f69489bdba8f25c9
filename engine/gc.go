package engine

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
	"github.com/icechunk-go/icechunk-go/storage"
)

// GCOptions say which unreachable objects GarbageCollect may delete.
type GCOptions struct {
	// DeleteOlderThan is required: only objects last written before it
	// (by the storage's clock) are deleted. Objects written after it are
	// kept even when nothing refers to them yet, since a session may be
	// about to commit them. It must be older than the start of every
	// session still writing: chunks such a session wrote before it are
	// not yet named by any snapshot, and deleting them would make its
	// commit name missing objects.
	DeleteOlderThan time.Time
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
}

// GCSummary counts the objects a garbage collection deleted (or, in a dry
// run, would delete).
type GCSummary struct {
	SnapshotsDeleted       int
	ManifestsDeleted       int
	TransactionLogsDeleted int
	// ChunksDeleted counts chunk objects; one object may hold many chunks.
	ChunksDeleted int
	BytesDeleted  int64
}

// gcDeleteBatch is the number of keys per Storage.Delete call (S3 deletes
// up to 1,000 keys per request).
const gcDeleteBatch = 1000

// GarbageCollect deletes the objects no branch or tag can reach: snapshots
// that are not the tip of a branch, a tag's snapshot or an ancestor of one;
// their transaction logs; manifests no reachable snapshot lists; chunk
// objects no reachable manifest refers to (among them the chunks of
// sessions that never committed, and the files of write-behind packs left
// by a crash). Refs, the configuration and keys that are not the
// repository's objects are never touched.
//
// Everything reachable is found before anything is deleted: a snapshot or
// manifest of the reachable history that cannot be read fails the
// collection and nothing is deleted. Deletes go snapshots first, then
// transaction logs, manifests and chunks, so a collection that stops
// part-way has removed unreachable snapshots before what they name;
// running it again finishes the job.
//
// Only objects last written before opts.DeleteOlderThan are deleted (see
// GCOptions for how to choose it), and not those stamped just before it:
// storage timestamps are coarser than the clock a cutoff is taken from (S3
// lists them to the second, filesystems stamp files with the kernel's
// tick), so an object written just after the cutoff can carry a time just
// before it. The storage's storage.ModTimeSlack says how close is kept;
// a later collection deletes what this one kept. Read-only sessions open at a snapshot
// that becomes unreachable (of a deleted branch, or a branch reset away
// from it) fail on their next read of a deleted object. r forgets the
// objects it deleted; other handles may still serve ones they had cached.
func (r *Repository) GarbageCollect(ctx context.Context, opts GCOptions) (GCSummary, error) {
	if opts.DeleteOlderThan.IsZero() {
		return GCSummary{}, invalidArgument("garbage collection needs a time before which unreachable objects may be deleted")
	}
	live, err := r.reachable(ctx)
	if err != nil {
		return GCSummary{}, errors.Wrap(err, "garbage collection: finding the reachable objects (nothing was deleted)")
	}
	var sum GCSummary
	a := r.assets
	sweeps := []struct {
		prefix  string
		live    func(codec.ObjectID) bool
		forget  func(codec.ObjectID) // drops a deleted object from this handle's cache
		deleted *int
	}{
		{codec.SnapshotsPrefix, func(id codec.ObjectID) bool { return live.snapshots[codec.SnapshotID(id)] },
			func(id codec.ObjectID) { a.snapshots.forget(codec.SnapshotID(id)) }, &sum.SnapshotsDeleted},
		{codec.TransactionsPrefix, func(id codec.ObjectID) bool { return live.snapshots[codec.SnapshotID(id)] },
			func(id codec.ObjectID) { a.txlogs.forget(codec.SnapshotID(id)) }, &sum.TransactionLogsDeleted},
		{codec.ManifestsPrefix, func(id codec.ObjectID) bool { return live.manifests[codec.ManifestID(id)] },
			func(id codec.ObjectID) { a.manifests.forget(codec.ManifestID(id)) }, &sum.ManifestsDeleted},
		{codec.ChunksPrefix, func(id codec.ObjectID) bool { _, ok := live.chunks[codec.ChunkID(id)]; return ok },
			func(codec.ObjectID) {}, &sum.ChunksDeleted},
	}
	for _, s := range sweeps {
		n, bytes, err := r.sweep(ctx, s.prefix, s.live, s.forget, opts)
		*s.deleted += n
		sum.BytesDeleted += bytes
		if err != nil {
			return sum, errors.Wrapf(err, "garbage collection: deleting unreachable objects under %s", s.prefix)
		}
	}
	if logOn(ctx, slog.LevelInfo) {
		logs.Engine.InfoContext(ctx, "garbage collected", "snapshots", sum.SnapshotsDeleted, "manifests", sum.ManifestsDeleted,
			"transaction_logs", sum.TransactionLogsDeleted, "chunk_objects", sum.ChunksDeleted, "bytes", sum.BytesDeleted)
	}
	return sum, nil
}

// sweep deletes (or, in a dry run, counts) the objects under prefix that
// are not live and were last written before opts.DeleteOlderThan. Keys that
// are not an object id (nothing the engine writes) are left alone.
func (r *Repository) sweep(ctx context.Context, prefix string, live func(codec.ObjectID) bool, forget func(codec.ObjectID), opts GCOptions) (deleted int, bytes int64, err error) {
	deleteBefore := opts.DeleteOlderThan.Add(-storage.ModTimeSlack(r.store))
	var batch []string
	var ids []codec.ObjectID
	var batchBytes int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if !opts.DryRun {
			err := r.store.Delete(ctx, batch...)
			// Even after a failed delete some keys may be gone: this
			// handle must not go on serving them from its cache.
			for _, id := range ids {
				forget(id)
			}
			if err != nil {
				return err
			}
		}
		deleted += len(batch)
		bytes += batchBytes
		batch, ids, batchBytes = batch[:0], ids[:0], 0
		return nil
	}
	for info, err := range r.store.List(ctx, prefix, storage.ListOptions{}) {
		if err != nil {
			return deleted, bytes, err
		}
		id, perr := codec.ParseObjectID(strings.TrimPrefix(info.Key, prefix))
		if perr != nil || live(id) || !info.ModTime.Before(deleteBefore) {
			continue
		}
		batch = append(batch, info.Key)
		ids = append(ids, id)
		batchBytes += info.Size
		if len(batch) == gcDeleteBatch {
			if err := flush(); err != nil {
				return deleted, bytes, err
			}
		}
	}
	return deleted, bytes, flush()
}
