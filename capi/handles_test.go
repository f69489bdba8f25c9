package main

import (
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/errors"
)

func TestHandleLifecycle(t *testing.T) {
	h, err := handles.add(kindSession, "s")
	if err != nil {
		t.Fatal(err)
	}
	if h == 0 || handleKind(h>>56) != kindSession {
		t.Fatalf("handle %#x: want a non-zero session handle", h)
	}
	if got, err := lookup[string](h, kindSession); err != nil || got != "s" {
		t.Fatalf("lookup: %q, %v", got, err)
	}
	if _, err := lookup[string](h, kindRepo); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("wrong kind: %v", err)
	}
	if _, err := handles.remove(h, kindSession); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup[string](h, kindSession); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("after free: %v", err)
	}
	if _, err := handles.remove(h, kindSession); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("double free: %v", err)
	}
}

func TestHandleStaleAfterReuse(t *testing.T) {
	first, _ := handles.add(kindIter, 1)
	if _, err := handles.remove(first, kindIter); err != nil {
		t.Fatal(err)
	}
	// Churn until the slot of first is issued again.
	reused := false
	for i := 0; i < 4*minFree && !reused; i++ {
		h, _ := handles.add(kindIter, 2)
		reused = uint32(h) == uint32(first)
		if reused {
			if h == first {
				t.Fatalf("slot reissued with the same handle %#x", h)
			}
			if _, err := lookup[int](first, kindIter); !errors.Is(err, errInvalidHandle) {
				t.Fatalf("stale handle resolved: %v", err)
			}
		}
		if _, err := handles.remove(h, kindIter); err != nil {
			t.Fatal(err)
		}
	}
	if !reused {
		t.Fatal("slot never reused")
	}
}

func TestHandleForged(t *testing.T) {
	live, _ := handles.add(kindRepo, "r")
	defer func() { _, _ = handles.remove(live, kindRepo) }()
	for _, h := range []uint64{0, 1, 1 << 63, ^uint64(0), uint64(kindRepo)<<56 | 1<<32 | maxSlots, live ^ 1<<32, live ^ 1<<40,
		uint64(kindLimit)<<56 | (live & (1<<56 - 1))} {
		if _, err := lookup[string](h, kindRepo); !errors.Is(err, errInvalidHandle) {
			t.Errorf("forged %#x: %v", h, err)
		}
	}
}

func TestHandleConcurrentFree(t *testing.T) {
	for range 100 {
		h, _ := handles.add(kindSession, 0)
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if _, err := handles.remove(h, kindSession); err == nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("%d frees succeeded", ok.Load())
		}
	}
}

func TestClassify(t *testing.T) {
	if got := classify(errors.New("x")); got != 5 { // IC_ERR_INTERNAL
		t.Errorf("unclassified: %d", got)
	}
	if got := classify(invalidArg("bad")); got != 1 { // IC_ERR_INVALID_ARGUMENT
		t.Errorf("invalid argument: %d", got)
	}
}

// The library's collector target is half Go's default unless GOGC says
// otherwise.
func TestLibraryGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	debug.SetGCPercent(prev)
	if _, set := os.LookupEnv("GOGC"); !set && prev != gcPercent {
		t.Fatalf("the collector's target is %d%%, want %d%%", prev, gcPercent)
	}
}
