package storage

// BulkWriter is implemented by a Storage that knows what suits data
// written in bulk, such as the chunk objects a session writes behind its
// caller (engine.Session.StoreSetBehind): objects of about ObjectBytes,
// Parallel of them written at once. It is a hint about cost, not a limit:
// on S3 each request costs far more than its bytes, so objects are large;
// on a local disk small files cost little, while large writes into the
// page cache can cost more per byte.
type BulkWriter interface {
	BulkWrite() (objectBytes, parallel int)
}

// Bulk-write sizes for storages without a BulkWriter.
const (
	DefaultBulkObjectBytes = 1 << 20
	DefaultBulkParallel    = 4
)

// BulkWrite returns s's bulk-write hint, or the defaults.
func BulkWrite(s Storage) (objectBytes, parallel int) {
	if b, ok := s.(BulkWriter); ok {
		if n, p := b.BulkWrite(); n > 0 && p > 0 {
			return n, p
		}
	}
	return DefaultBulkObjectBytes, DefaultBulkParallel
}
