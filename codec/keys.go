package codec

// Storage keys of repository objects, relative to the repository root (see
// docs/format.md). Refs are laid out by the storage package and are not
// listed here.
const (
	SnapshotsPrefix    = "snapshots/"
	ManifestsPrefix    = "manifests/"
	TransactionsPrefix = "transactions/"
	ChunksPrefix       = "chunks/"
	RefsPrefix         = "refs/"
	// ConfigKey is the key of the repository's RepoConfig file.
	ConfigKey = "config.msgp"
)

// SnapshotKey returns the key of snapshot id: "snapshots/<id>".
func SnapshotKey(id SnapshotID) string { return SnapshotsPrefix + id.String() }

// ManifestKey returns the key of manifest id: "manifests/<id>".
func ManifestKey(id ManifestID) string { return ManifestsPrefix + id.String() }

// TransactionLogKey returns the key of the transaction log of the commit
// that made snapshot id: "transactions/<id>".
func TransactionLogKey(id SnapshotID) string { return TransactionsPrefix + id.String() }

// ChunkKey returns the key of native chunk id: "chunks/<id>".
func ChunkKey(id ChunkID) string { return ChunksPrefix + id.String() }
