package s3_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
)

// Benchmarks against the shared MinIO server, with 16 goroutines per CPU
// issuing requests on one Store.

func benchSizes() []int { return []int{1 << 10, 64 << 10, 1 << 20} }

func BenchmarkPut(b *testing.B) {
	for _, size := range benchSizes() {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := newStore(b, configFor(b, shared))
			data := make([]byte, size)
			var n atomic.Int64
			b.SetBytes(int64(size))
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Put(context.Background(), fmt.Sprintf("k/%d", n.Add(1)), data); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes() {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			s := newStore(b, configFor(b, shared))
			const keys = 64
			for i := range keys {
				if err := s.Put(context.Background(), fmt.Sprintf("k/%d", i), make([]byte, size)); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.SetBytes(int64(size))
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.Get(context.Background(), fmt.Sprintf("k/%d", n.Add(1)%keys)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkGetRange(b *testing.B) {
	s := newStore(b, configFor(b, shared))
	if err := s.Put(context.Background(), "big", make([]byte, 8<<20)); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetBytes(4 << 10)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			off := (n.Add(1) * 4096) % (8 << 20)
			if _, err := s.GetRange(context.Background(), "big", storage.Range(off, off+4096)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPutIfAbsent(b *testing.B) {
	s := newStore(b, configFor(b, shared))
	data := make([]byte, 256)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.PutIfAbsent(context.Background(), fmt.Sprintf("k/%d", n.Add(1)), data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
