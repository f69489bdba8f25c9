package codec

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// Benchmarks for a manifest of one million chunk references, the scale
// manifests must handle. Targets on a 2-core machine: encode+compress and
// decompress+decode under 1 s each, under 25 MB compressed, peak heap under
// 300 MB.
//
// Peak heap is reported as an upper bound: the in-memory size of the input
// (the Manifest for encoding, the file for decoding) plus every byte the
// operation allocates (runtime.MemStats.TotalAlloc), as if the garbage
// collector never ran during it.
//
//	go test ./codec -run '^$' -bench Manifest -benchmem

const benchRefs = 1_000_000 // 100 x 100 x 100 chunks

type benchFixture struct {
	m        *Manifest
	memBytes uint64 // retained heap of m
	data     []byte // m encoded with zstd
}

var benchFixtures sync.Map // kind -> *benchFixture

// nativeBenchManifest: native refs with random chunk ids, offset 0 (a native
// chunk is a whole object) and compressed chunk lengths spread over
// 512 KiB-1.5 MiB.
func nativeBenchManifest(rng *rand.Rand) *Manifest {
	mb := NewManifestBuilder(3, benchRefs)
	for i := range uint32(100) {
		for j := range uint32(100) {
			for k := range uint32(100) {
				r := ChunkRef{Coords: []uint32{i, j, k}, Kind: ChunkNative, Length: 512<<10 + rng.Uint64N(1<<20)}
				for b := 0; b < IDSize; b += 8 {
					v := rng.Uint64()
					for x := b; x < min(b+8, IDSize); x++ {
						r.ChunkID[x] = byte(v >> (8 * (x - b)))
					}
				}
				mb.Append(&r)
			}
		}
	}
	return mustBuild(mb)
}

func mustBuild(mb *ManifestBuilder) *Manifest {
	m, err := mb.Build(NewManifestID(), NewNodeID(), []Extent{{0, 100}, {0, 100}, {0, 100}})
	if err != nil {
		panic(err)
	}
	return m
}

// virtualBenchManifest: virtual refs into 1000 files of 1000 chunks each,
// at increasing offsets with lengths spread over 64-192 KiB, with an ETag
// and modification time per file.
func virtualBenchManifest(rng *rand.Rand) *Manifest {
	mb := NewManifestBuilder(3, benchRefs)
	var offset uint64
	var loc, etag string
	for i := range uint32(100) {
		for j := range uint32(100) {
			file := i*10 + j/10
			if j%10 == 0 {
				loc = fmt.Sprintf("s3://climate-archive/era5/reanalysis/2m_temperature/file-%04d.nc", file)
				etag = fmt.Sprintf(`"%016x"`, rng.Uint64())
				offset = 4096
			}
			for k := range uint32(100) {
				n := 64<<10 + rng.Uint64N(128<<10)
				mb.Append(&ChunkRef{Coords: []uint32{i, j, k}, Kind: ChunkVirtual,
					Location: loc, Offset: offset, Length: n, ETag: etag, LastModified: 1700000000 + int64(file)})
				offset += n
			}
		}
	}
	return mustBuild(mb)
}

func benchFixtureFor(b *testing.B, kind string) *benchFixture {
	if f, ok := benchFixtures.Load(kind); ok {
		return f.(*benchFixture)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var m *Manifest
	mem := retainedBy(func() {
		if kind == "native" {
			m = nativeBenchManifest(rng)
		} else {
			m = virtualBenchManifest(rng)
		}
	})
	data, err := EncodeManifest(m)
	if err != nil {
		b.Fatal(err)
	}
	f := &benchFixture{m: m, memBytes: mem, data: data}
	benchFixtures.Store(kind, f)
	return f
}

// retainedBy returns how much live heap f leaves behind.
func retainedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc
}

// allocatedBy returns how many bytes f allocates.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const mb = 1e6

func benchEncode(b *testing.B, kind string) {
	f := benchFixtureFor(b, kind)
	var data []byte
	var err error
	peak := f.memBytes + allocatedBy(func() { data, err = EncodeManifest(f.m) })
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if data, err = EncodeManifest(f.m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data))/mb, "MB-compressed")
	b.ReportMetric(float64(len(data))/benchRefs, "B/ref")
	b.ReportMetric(float64(peak)/mb, "MB-peak-heap")
	b.ReportMetric(float64(f.memBytes)/mb, "MB-in-memory")
}

func benchDecode(b *testing.B, kind string) {
	f := benchFixtureFor(b, kind)
	var m *Manifest
	var err error
	peak := uint64(len(f.data)) + allocatedBy(func() { m, err = DecodeManifest("manifests/bench", f.data) })
	if err != nil {
		b.Fatal(err)
	}
	if m.Len() != benchRefs {
		b.Fatalf("decoded %d refs", m.Len())
	}
	m = nil
	b.ResetTimer()
	for b.Loop() {
		if _, err := DecodeManifest("manifests/bench", f.data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(f.data))/mb, "MB-compressed")
	b.ReportMetric(float64(peak)/mb, "MB-peak-heap")
}

func BenchmarkManifestEncode(b *testing.B)        { benchEncode(b, "native") }
func BenchmarkManifestDecode(b *testing.B)        { benchDecode(b, "native") }
func BenchmarkManifestVirtualEncode(b *testing.B) { benchEncode(b, "virtual") }
func BenchmarkManifestVirtualDecode(b *testing.B) { benchDecode(b, "virtual") }

func BenchmarkManifestLookup(b *testing.B) {
	f := benchFixtureFor(b, "native")
	rng := rand.New(rand.NewPCG(3, 4))
	probes := make([][]uint32, 4096)
	for i := range probes {
		probes[i] = []uint32{rng.Uint32N(100), rng.Uint32N(100), rng.Uint32N(100)}
	}
	i := 0
	for b.Loop() {
		if _, ok := f.m.Lookup(probes[i%len(probes)]); !ok {
			b.Fatal("chunk not found")
		}
		i++
	}
}
