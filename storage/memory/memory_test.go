package memory_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
	"github.com/icechunk-go/icechunk-go/storage/storagetest"
)

var (
	mu     sync.Mutex
	places = map[string]*memory.Store{}
	next   atomic.Int64
)

var backend = storagetest.Backend{
	Name: "memory",
	Fresh: func(t *testing.T) string {
		name := fmt.Sprintf("place%d", next.Add(1))
		mu.Lock()
		places[name] = memory.New(name)
		mu.Unlock()
		return name
	},
	Open: func(config string) (storage.Storage, error) {
		mu.Lock()
		defer mu.Unlock()
		s, ok := places[config]
		if !ok {
			return nil, fmt.Errorf("no memory store %q", config)
		}
		return s, nil
	},
}

func TestMain(m *testing.M) { storagetest.Main(m, backend) }

func TestConformance(t *testing.T) { storagetest.Run(t, backend) }
