package storage_test

import (
	"context"
	"iter"
	"slices"
	"testing"

	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// listCounting counts the objects its listings hand out.
type listCounting struct {
	storage.Storage
	listed int
}

func (l *listCounting) List(ctx context.Context, prefix string, opts storage.ListOptions) iter.Seq2[storage.ObjectInfo, error] {
	return func(yield func(storage.ObjectInfo, error) bool) {
		for info, err := range l.Storage.List(ctx, prefix, opts) {
			l.listed++
			if !yield(info, err) {
				return
			}
		}
	}
}

// ListKeys names every log once, in order, whatever names sort around a
// long log's slots, and passes over a bounded number of a long log's slots
// (listPastLog, 10 here) instead of listing them all.
func TestListKeysPassesOverLongLogs(t *testing.T) {
	dir := t.TempDir()
	disk, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer storage.SetListPastLog(10)()
	for name, store := range map[string]storage.Storage{"memory": memory.New(t.Name()), "local": disk} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			counted := &listCounting{Storage: store}
			c := storage.NewConsensus(counted, "refs/")
			long := 3*10 + 5
			logs := map[string]int{"a": long, "a-x": 2, "a.b": 2, "a0": 2, "b": long, "c": 1}
			for key, n := range logs {
				for seq := range n {
					expected := storage.SeqNo(seq - 1)
					if seq == 0 {
						expected = storage.NoSeqNo
					}
					res, err := c.CompareAndSet(ctx, key, expected, storage.VersionedData{SeqNo: storage.SeqNo(seq), Data: []byte{1}})
					if err != nil || res != storage.Committed {
						t.Fatalf("appending to %s: %v %v", key, res, err)
					}
				}
			}
			counted.listed = 0
			var got []string
			for key, err := range c.ListKeys(ctx) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, key)
			}
			if want := []string{"a-x", "a.b", "a", "a0", "b", "c"}; !slices.Equal(got, want) {
				t.Fatalf("logs %v, want %v", got, want)
			}
			if counted.listed > 2*10+20 {
				t.Fatalf("listed %d objects to name 6 logs, two of them of %d entries", counted.listed, long)
			}
		})
	}
}
