// Package storagetest is the conformance suite every storage backend runs:
// the Storage contract (like seed 003's blob_impl_test), the Consensus
// contract built on it (like consensus_impl_test), and races between many
// goroutines and several OS processes on compare-and-set.
package storagetest

import (
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
)

// Backend tells the suite how to reach one kind of storage.
type Backend struct {
	// Name labels the backend in messages ("memory", "local", "s3").
	Name string
	// Fresh prepares an empty place to store objects and returns a config
	// string that Open understands. Every call gives a new, empty place.
	Fresh func(t *testing.T) string
	// Open returns a handle to the place a config names. Two handles opened
	// from one config see the same objects. When CrossProcess is set, Open
	// is also called in child processes of the test binary.
	Open func(config string) (storage.Storage, error)
	// CrossProcess says whether handles opened in other OS processes see
	// the same objects (false for memory storage).
	CrossProcess bool
}
