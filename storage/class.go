package storage

import "context"

type storageClassKey struct{}

// WithStorageClass returns a context whose writes ask the storage for
// that storage class (S3's STANDARD_IA, INTELLIGENT_TIERING, ...). Storages
// without classes (local files, memory) ignore it; an S3 server that does
// not offer the class refuses the write. An empty class asks for the
// storage's default.
func WithStorageClass(ctx context.Context, class string) context.Context {
	if class == "" && StorageClass(ctx) == "" {
		return ctx
	}
	return context.WithValue(ctx, storageClassKey{}, class)
}

// StorageClass returns the storage class ctx asks writes for, or "".
func StorageClass(ctx context.Context) string {
	c, _ := ctx.Value(storageClassKey{}).(string)
	return c
}
