package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
	"github.com/icechunk-go/icechunk-go/storage"
)

// assets reads and writes the repository's immutable objects (snapshots,
// manifests, transaction logs, chunks), with caches for the decoded
// metadata. Every object is written once under a fresh random id and never
// changed, so cached copies never go stale.
type assets struct {
	store     storage.Storage
	cfg       func() *codec.RepoConfig // the config in force; nil: the defaults
	readAhead int                      // the storage's read-ahead budget (storage.ReadAhead), asked once
	snapshots *cache[codec.SnapshotID, *codec.Snapshot]
	// Copies of snapshots and manifests that came in branch log entries
	// (adoptInline), for fetchBase and baseManifest alone.
	snapshotCopies *cache[codec.SnapshotID, *codec.Snapshot]
	manifestCopies *cache[codec.ManifestID, *codec.Manifest]
	manifests      *cache[codec.ManifestID, *codec.Manifest]
	txlogs         *cache[codec.SnapshotID, *codec.TransactionLog]

	badMu     sync.Mutex
	badCopies map[codec.SnapshotID]struct{} // entries whose copies do not decode (adoptInline)
}

// maxBadCopies bounds the entries remembered for copies that do not decode.
const maxBadCopies = 64

// Decoded snapshots and transaction logs take more memory than their
// compressed files; this factor turns file sizes into cache costs.
// Manifests report their own size (codec.Manifest.MemSize).
const snapshotCostFactor = 4

// copyCacheBytes bounds the snapshots, and the manifests, kept from branch
// log entries: a few branch tips, each at most codec.MaxInlineFiles bytes
// stored.
const copyCacheBytes = 64 * snapshotCostFactor * codec.MaxInlineFiles

func newAssets(store storage.Storage, cfg *codec.RepoConfig) *assets {
	return &assets{
		store:          store,
		readAhead:      storage.ReadAhead(store),
		snapshots:      newCache[codec.SnapshotID, *codec.Snapshot](int64(cfg.SnapshotCacheBytes)),
		snapshotCopies: newCache[codec.SnapshotID, *codec.Snapshot](copyCacheBytes),
		manifestCopies: newCache[codec.ManifestID, *codec.Manifest](copyCacheBytes),
		manifests:      newCache[codec.ManifestID, *codec.Manifest](int64(cfg.ManifestCacheBytes)),
		txlogs:         newCache[codec.SnapshotID, *codec.TransactionLog](int64(cfg.SnapshotCacheBytes / 4)),
		badCopies:      map[codec.SnapshotID]struct{}{},
	}
}

// sizeCaches bounds the caches as cfg says: in upstream's counts where its
// caching settings give them, else in bytes. Entries past a smaller bound
// are dropped.
func (a *assets) sizeCaches(cfg *codec.RepoConfig) {
	var c codec.CachingConfig
	if cfg.Caching != nil {
		c = *cfg.Caching
	}
	if c.NumSnapshotNodes != nil {
		a.snapshots.resize(clampInt64(*c.NumSnapshotNodes), func(s *codec.Snapshot) int64 { return int64(len(s.Nodes)) })
	} else {
		a.snapshots.resize(clampInt64(cfg.SnapshotCacheBytes), nil)
	}
	if c.NumChunkRefs != nil {
		a.manifests.resize(clampInt64(*c.NumChunkRefs), func(m *codec.Manifest) int64 { return int64(m.Len()) })
	} else {
		a.manifests.resize(clampInt64(cfg.ManifestCacheBytes), nil)
	}
	if c.NumTransactionChanges != nil {
		a.txlogs.resize(clampInt64(*c.NumTransactionChanges), transactionChanges)
	} else {
		a.txlogs.resize(clampInt64(cfg.SnapshotCacheBytes/4), nil)
	}
}

// transactionChanges counts the nodes and chunks a transaction log records.
func transactionChanges(t *codec.TransactionLog) int64 {
	n := len(t.NewGroups) + len(t.NewArrays) + len(t.DeletedGroups) + len(t.DeletedArrays) + len(t.UpdatedGroups) + len(t.UpdatedArrays)
	for _, a := range t.UpdatedChunks {
		n += len(a.Coords)
	}
	return int64(n)
}

func clampInt64(v uint64) int64 { return int64(min(v, math.MaxInt64)) }

// level is the zstd level the config asks metadata files to be written
// at (0: the codec's choice by file).
func (a *assets) level() int {
	if a.cfg == nil {
		return 0
	}
	return int(a.cfg().CompressionLevel)
}

func (a *assets) fetchSnapshot(ctx context.Context, id codec.SnapshotID) (*codec.Snapshot, error) {
	return a.snapshots.get(id, func() (*codec.Snapshot, int64, error) {
		key := codec.SnapshotKey(id)
		data, err := a.store.Get(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, 0, errors.Mark(errors.Newf("snapshot not found: %s", id), ErrSnapshotNotFound)
		}
		if err != nil {
			return nil, 0, errors.Wrapf(err, "reading snapshot %s", id)
		}
		snap, err := codec.DecodeSnapshot(key, data)
		if err != nil {
			return nil, 0, err
		}
		if snap.ID != id {
			return nil, 0, errors.Mark(errors.Newf("%s holds snapshot %s", key, snap.ID), codec.ErrCorrupt)
		}
		return snap, int64(len(data)) * snapshotCostFactor, nil
	})
}

// fetchBase returns snapshot id for a session based on it or a commit on top
// of it, which use its nodes, manifests, time and message: the copy a
// branch log entry carried when there is one (adoptInline), else the
// object. A copy may predate an expiration that rewrote the object's
// parent and HistoryCut in place, so walks through history use
// fetchSnapshot; and only objects, never copies, show that the history a
// garbage collection keeps is whole.
func (a *assets) fetchBase(ctx context.Context, id codec.SnapshotID) (*codec.Snapshot, error) {
	if snap, ok := a.snapshotCopies.peek(id); ok {
		return snap, nil
	}
	return a.fetchSnapshot(ctx, id)
}

// baseManifest returns manifest id for a commit that merges its changes
// into it: the copy a branch log entry carried when there is one, else the
// object (see fetchBase).
func (a *assets) baseManifest(ctx context.Context, id codec.ManifestID) (*codec.Manifest, error) {
	if m, ok := a.manifestCopies.peek(id); ok {
		return m, nil
	}
	return a.fetchManifest(ctx, id)
}

// writeSnapshot stores snap and returns its file as stored.
func (a *assets) writeSnapshot(ctx context.Context, snap *codec.Snapshot) ([]byte, error) {
	data, err := codec.EncodeLevel(codec.FileTypeSnapshot, a.level(), snap)
	if err != nil {
		return nil, errors.Wrapf(err, "encoding snapshot %s", snap.ID)
	}
	if err := a.store.PutIfAbsent(ctx, codec.SnapshotKey(snap.ID), data); err != nil {
		return nil, errors.Wrapf(err, "writing snapshot %s", snap.ID)
	}
	a.snapshots.put(snap.ID, snap, int64(len(data))*snapshotCostFactor)
	return data, nil
}

// adoptInline keeps the snapshot and manifest files a branch log entry
// carries (codec.Ref) as copies for fetchBase and baseManifest: a session
// opened at the entry, or a commit on top of it, would otherwise read
// them. An entry whose snapshot is cached already was adopted before, or
// written here, and is not decoded again. A copy that does not decode is
// skipped with a warning: the object it copies is read when needed. The
// entry is then remembered, so that the head's every read does not decode
// it and warn again.
func (a *assets) adoptInline(ctx context.Context, object string, ref *codec.Ref) {
	if len(ref.SnapshotFile) == 0 && len(ref.ManifestFiles) == 0 || a.snapshotCopies.contains(ref.Snapshot) || a.snapshots.contains(ref.Snapshot) || a.knownBad(ref.Snapshot) {
		return
	}
	snap, err := ref.InlineSnapshot(object)
	if err == nil && snap != nil {
		a.snapshotCopies.offer(snap.ID, snap, int64(len(ref.SnapshotFile))*snapshotCostFactor)
	}
	var manifests []*codec.Manifest
	if err == nil {
		manifests, err = ref.InlineManifests(object)
	}
	for _, m := range manifests {
		a.manifestCopies.offer(m.ID, m, m.MemSize())
	}
	if err == nil {
		return
	}
	a.badMu.Lock()
	if len(a.badCopies) >= maxBadCopies {
		clear(a.badCopies)
	}
	a.badCopies[ref.Snapshot] = struct{}{}
	a.badMu.Unlock()
	if logs.Engine.Enabled(ctx, slog.LevelWarn) {
		logs.Engine.WarnContext(ctx, "a branch log entry carries a file that does not decode; the object is read instead", "entry", object, "err", err)
	}
}

// knownBad reports whether the copies of the entry of snapshot id were
// found not to decode.
func (a *assets) knownBad(id codec.SnapshotID) bool {
	a.badMu.Lock()
	defer a.badMu.Unlock()
	_, bad := a.badCopies[id]
	return bad
}

func (a *assets) fetchManifest(ctx context.Context, id codec.ManifestID) (*codec.Manifest, error) {
	return a.manifests.get(id, func() (*codec.Manifest, int64, error) {
		key := codec.ManifestKey(id)
		data, err := a.store.Get(ctx, key)
		if err != nil {
			return nil, 0, errors.Wrapf(err, "reading manifest %s", id)
		}
		m, err := codec.DecodeManifest(key, data)
		if err != nil {
			return nil, 0, err
		}
		return m, m.MemSize(), nil
	})
}

// encodeManifest encodes m for putManifest: a commit encodes its manifests
// first, so that it knows their sizes for the snapshot, and then writes
// them side by side with the snapshot.
func (a *assets) encodeManifest(m *codec.Manifest) ([]byte, error) {
	data, err := codec.EncodeLevel(codec.FileTypeManifest, a.level(), m)
	if err != nil {
		return nil, errors.Wrapf(err, "encoding manifest %s", m.ID)
	}
	return data, nil
}

// putManifest stores m, encoded as data by encodeManifest. It also caches
// m: the session that commits goes on reading at the new snapshot, and the
// next commit on this repository merges its changes into these manifests,
// both without reading them back.
func (a *assets) putManifest(ctx context.Context, m *codec.Manifest, data []byte) error {
	if err := a.store.Put(ctx, codec.ManifestKey(m.ID), data); err != nil {
		return errors.Wrapf(err, "writing manifest %s", m.ID)
	}
	a.manifests.put(m.ID, m, m.MemSize())
	return nil
}

func (a *assets) fetchTransactionLog(ctx context.Context, id codec.SnapshotID) (*codec.TransactionLog, error) {
	return a.txlogs.get(id, func() (*codec.TransactionLog, int64, error) {
		key := codec.TransactionLogKey(id)
		data, err := a.store.Get(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, 0, errors.Mark(errors.Newf("no transaction log for snapshot %s (transaction logs may be disabled in this repository)", id), ErrTxLogsDisabled)
		}
		if err != nil {
			return nil, 0, errors.Wrapf(err, "reading transaction log %s", id)
		}
		t, err := codec.DecodeTransactionLog(key, data)
		if err != nil {
			return nil, 0, err
		}
		return t, int64(len(data)) * snapshotCostFactor, nil
	})
}

// writeTransactionLog stores t and returns its file as stored.
func (a *assets) writeTransactionLog(ctx context.Context, t *codec.TransactionLog) ([]byte, error) {
	data, err := codec.EncodeLevel(codec.FileTypeTransactionLog, a.level(), t)
	if err != nil {
		return nil, errors.Wrapf(err, "encoding transaction log %s", t.ID)
	}
	if err := a.store.Put(ctx, codec.TransactionLogKey(t.ID), data); err != nil {
		return nil, errors.Wrapf(err, "writing transaction log %s", t.ID)
	}
	a.txlogs.put(t.ID, t, int64(len(data))*snapshotCostFactor)
	return data, nil
}

// writeChunk stores chunk bytes as a new chunk object and returns its ref.
func (a *assets) writeChunk(ctx context.Context, data []byte) (*codec.ChunkRef, error) {
	refs, err := a.writeChunks(ctx, [][]byte{data})
	if err != nil {
		return nil, err
	}
	return &refs[0], nil
}

// writeChunks stores several chunks as one new chunk object, one after the
// other, straight from their memory, and returns a native ref for each:
// one chunk id, each chunk at its own offset.
func (a *assets) writeChunks(ctx context.Context, chunks [][]byte) ([]codec.ChunkRef, error) {
	id := codec.NewChunkID()
	if err := a.putChunkObject(ctx, id, chunks); err != nil {
		return nil, err
	}
	refs := make([]codec.ChunkRef, len(chunks))
	var off uint64
	for i, c := range chunks {
		refs[i] = codec.ChunkRef{Kind: codec.ChunkNative, ChunkID: id, Offset: off, Length: uint64(len(c))}
		off += uint64(len(c))
	}
	return refs, nil
}

// putChunkObject stores parts, one after the other, as the chunk object id.
func (a *assets) putChunkObject(ctx context.Context, id codec.ChunkID, parts [][]byte) error {
	if err := storage.PutParts(ctx, a.store, codec.ChunkKey(id), parts); err != nil {
		return errors.Wrapf(err, "writing chunk %s", id)
	}
	return nil
}

// putChunkPiece writes data at offset of native chunk object id, which is
// built in pieces (storage.PieceWriter).
func (a *assets) putChunkPiece(ctx context.Context, id codec.ChunkID, offset uint64, data []byte) error {
	if err := storage.PutPiece(ctx, a.store, codec.ChunkKey(id), int64(offset), data); err != nil {
		return errors.Wrapf(err, "writing %d bytes at %d of chunk %s", len(data), offset, id)
	}
	return nil
}

// readChunkInto fills dst with the bytes of a native chunk object from
// offset on, with no buffer of its own.
func (a *assets) readChunkInto(ctx context.Context, id codec.ChunkID, offset uint64, dst []byte) error {
	return chunkReadErr(id, storage.ReadRange(ctx, a.store, codec.ChunkKey(id), int64(offset), dst))
}

// chunkReadErr classifies a failed read of a chunk object: a missing object
// is ErrChunkNotFound, one shorter than its reference says is corrupt.
func chunkReadErr(id codec.ChunkID, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return errors.Mark(errors.Wrapf(err, "chunk object %s is missing", id), ErrChunkNotFound)
	case errors.Is(err, storage.ErrInvalidRange):
		// Corrupt, and no longer a bad range: the caller's range was
		// valid, the object is what is wrong.
		return errors.Mark(errors.Newf("chunk object %s is shorter than its reference says: %s", id, err.Error()), codec.ErrCorrupt)
	}
	return errors.Wrapf(err, "reading chunk %s", id)
}

func panicError(r any) error {
	if err, ok := r.(error); ok {
		return errors.WithStack(errors.Wrap(err, "panic"))
	}
	return errors.WithStack(fmt.Errorf("panic: %v", r))
}
