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
// malloc and by the cache of large buffers, so the model is keyed by
// address, as the registry is. Every buffer is filled with its own byte
// when allocated and checked when released: two live buffers that overlap
// (a cached buffer handed out twice, or one too small) show.
func TestRegistryMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := liveAllocs()
		live := map[uintptr]unsafe.Pointer{}
		fill := map[uintptr][]byte{}
		var tag byte
		var released []unsafe.Pointer
		var foreign [8]byte
		defer func() {
			for _, p := range live {
				cRelease(p)
			}
		}()
		t.Repeat(map[string]func(*rapid.T){
			"alloc": func(t *rapid.T) {
				n := rapid.OneOf(rapid.IntRange(0, 4096), rapid.IntRange(1<<20, 3<<20)).Draw(t, "size")
				p, err := cAlloc(n)
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := live[uintptr(p)]; dup {
					t.Fatalf("cAlloc returned %p, which is live", p)
				}
				live[uintptr(p)] = p
				tag++
				b := unsafe.Slice((*byte)(p), n)
				for i := range b {
					b[i] = tag
				}
				fill[uintptr(p)] = b
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
				b := fill[uintptr(p)]
				for i := range b {
					if b[i] != b[0] || b[len(b)-1] != b[0] {
						t.Fatalf("live buffer %p of %d bytes was written by another allocation", p, len(b))
					}
				}
				if !cRelease(p) {
					t.Fatalf("release of live %p refused", p)
				}
				delete(live, uintptr(p))
				delete(fill, uintptr(p))
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
				delete(fill, uintptr(p))
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

// Large buffers are reused: a released one serves the next request of
// about its size, not one much smaller, and the cache keeps only a few.
func TestRegistryReusesLargeBuffers(t *testing.T) {
	base := liveAllocs()
	alloc := func(n int) unsafe.Pointer {
		p, err := cAlloc(n)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	release := func(p unsafe.Pointer) {
		if !cRelease(p) {
			t.Fatalf("release of live %p refused", p)
		}
	}
	// Empty the cache: other tests leave buffers of 1 to 3 MiB in it, and a
	// request takes one of its size to half as much again.
	var held []unsafe.Pointer
	for range 3 {
		for _, n := range []int{1 << 20, 3 << 19, 2 << 20} {
			held = append(held, alloc(n))
		}
	}
	if got := largeCached(); got != 0 {
		t.Fatalf("%d large buffers still cached", got)
	}
	a := alloc(2 << 20)
	release(a)
	if got := largeCached(); got != 1 {
		t.Fatalf("a released 2 MiB buffer was not cached (%d cached)", got)
	}
	b := alloc(2<<20 - 100)
	if b != a {
		t.Fatalf("the cached 2 MiB buffer %p was not reused for the next 2 MiB (got %p)", a, b)
	}
	release(b)
	small := alloc(1 << 20) // half the cached size: not the cached buffer
	if small == a {
		t.Fatal("a 2 MiB buffer was handed out for 1 MiB")
	}
	if cRelease(a) {
		t.Fatal("a cached buffer could be released: it is not live")
	}
	release(small)

	for _, p := range held {
		release(p)
	}

	// Eight released: the cache keeps three.
	var ps [8]unsafe.Pointer
	for i := range ps {
		ps[i] = alloc(2 << 20)
	}
	for _, p := range ps {
		release(p)
	}
	if got := largeCached(); got != 3 {
		t.Fatalf("%d large buffers cached after eight were released, want 3", got)
	}
	if got := liveAllocs() - base; got != 0 {
		t.Fatalf("%d allocations left live", got)
	}
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

// TestRegistryShrinksAfterABurst checks that the registry's tables, grown
// for many live buffers at once, shrink back once they are released.
func TestRegistryShrinksAfterABurst(t *testing.T) {
	const n = 50_000
	before := registrySlots()
	ptrs := make([]unsafe.Pointer, n)
	for i := range ptrs {
		p, err := cAlloc(16)
		if err != nil {
			t.Fatal(err)
		}
		ptrs[i] = p
	}
	if grown := registrySlots(); grown < 2*n {
		t.Fatalf("%d live buffers in tables of %d slots: want them at most half full", n, grown)
	}
	for _, p := range ptrs {
		if !cRelease(p) {
			t.Fatalf("releasing %p failed", p)
		}
	}
	const floor = 64 * 64 // every shard back at its first size
	if after := registrySlots(); after > max(before, floor) {
		t.Fatalf("after releasing the burst the tables hold %d slots (%d before it); want at most %d", after, before, max(before, floor))
	}
}
