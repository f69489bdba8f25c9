package main

import (
	"sync"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// The registry against a model (the set of live addresses): any sequence
// of allocations and releases, of live, released and foreign pointers,
// releases exactly the live ones, each once. Addresses are reused by
// malloc, so the model is keyed by address, as the registry is.
func TestRegistryMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := liveAllocs()
		live := map[uintptr]unsafe.Pointer{}
		var released []unsafe.Pointer
		var foreign [8]byte
		defer func() {
			for _, p := range live {
				cRelease(p)
			}
		}()
		t.Repeat(map[string]func(*rapid.T){
			"alloc": func(t *rapid.T) {
				p, err := cAlloc(rapid.IntRange(0, 4096).Draw(t, "size"))
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := live[uintptr(p)]; dup {
					t.Fatalf("cAlloc returned %p, which is live", p)
				}
				live[uintptr(p)] = p
			},
			"release live": func(t *rapid.T) {
				if len(live) == 0 {
					t.Skip("nothing live")
				}
				var p unsafe.Pointer
				for _, q := range live { // any one
					p = q
					break
				}
				if !cRelease(p) {
					t.Fatalf("release of live %p refused", p)
				}
				delete(live, uintptr(p))
				released = append(released, p)
			},
			"release again": func(t *rapid.T) {
				if len(released) == 0 {
					t.Skip("nothing released")
				}
				p := rapid.SampledFrom(released).Draw(t, "p")
				_, isLive := live[uintptr(p)] // malloc may have handed it out again
				if got := cRelease(p); got != isLive {
					t.Fatalf("release of %p: %v, want %v", p, got, isLive)
				}
				delete(live, uintptr(p))
			},
			"release foreign": func(t *rapid.T) {
				if cRelease(unsafe.Pointer(&foreign[rapid.IntRange(0, 7).Draw(t, "at")])) {
					t.Fatal("released a pointer the library never returned")
				}
			},
			"": func(t *rapid.T) {
				if got := liveAllocs() - base; got != int64(len(live)) {
					t.Fatalf("%d live allocations counted, %d in the model", got, len(live))
				}
			},
		})
	})
}

// Many threads allocating and releasing at once (enough to grow every
// shard's table several times) leave nothing live and never see a
// release refused.
func TestRegistryConcurrent(t *testing.T) {
	base := liveAllocs()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			held := make([]unsafe.Pointer, 0, 5000)
			for round := range 3 {
				for i := range 5000 {
					p, err := cAlloc(1 + (w*7+i+round)%512)
					if err != nil {
						t.Error(err)
						return
					}
					held = append(held, p)
				}
				// Release in an order other than allocation order, so
				// deletions hit the middle of probe chains.
				for i := range held {
					j := (i * 7919) % len(held)
					held[i], held[j] = held[j], held[i]
				}
				for _, p := range held {
					// (No second release here: another thread may already
					// have been given the same address.)
					if !cRelease(p) {
						t.Errorf("release of live %p refused", p)
					}
				}
				held = held[:0]
			}
		})
	}
	wg.Wait()
	if got := liveAllocs() - base; got != 0 {
		t.Fatalf("%d allocations left live", got)
	}
}
