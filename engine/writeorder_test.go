package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/memory"
)

// A commit writes chunks, then manifests and the transaction log (side by
// side: nothing refers to them yet), then the snapshot, makes them durable,
// and only then moves the branch: a crash (or power loss) at any point
// leaves the branch on a complete snapshot.
func TestCommitWriteOrder(t *testing.T) {
	ctx := context.Background()
	counting := storage.NewCounting(memory.New(t.Name()))
	repo, err := Create(ctx, counting, nil, nil)
	ok(t, err)
	s, err := repo.WritableSession(ctx, MainBranch)
	ok(t, err)
	ok(t, s.AddArray(ctx, MustPath("/a"), ArrayMeta{Shape: []uint64{2}, ChunkShape: []uint64{1}}, nil))
	counting.Reset()
	counting.Record(true)
	ok(t, s.SetChunk(ctx, MustPath("/a"), []uint32{0}, make([]byte, 4096)))
	_, err = s.Commit(ctx, "ordered", nil)
	ok(t, err)
	counting.Record(false)

	stage := func(c storage.Call) string {
		switch {
		case c.Op == storage.OpSync:
			return "sync"
		case c.Op != storage.OpPut && c.Op != storage.OpPutIfAbsent:
			return ""
		case strings.HasPrefix(c.Key, codec.ChunksPrefix):
			return "chunk"
		case strings.HasPrefix(c.Key, codec.ManifestsPrefix), strings.HasPrefix(c.Key, codec.TransactionsPrefix):
			return "manifests+txlog"
		case strings.HasPrefix(c.Key, codec.SnapshotsPrefix):
			return "snapshot"
		case strings.HasPrefix(c.Key, codec.RefsPrefix):
			return "ref"
		}
		return "other " + c.Key
	}
	var order []string
	for _, c := range counting.Calls() {
		if st := stage(c); st != "" && (len(order) == 0 || order[len(order)-1] != st) {
			order = append(order, st)
		}
	}
	want := []string{"chunk", "manifests+txlog", "snapshot", "sync", "ref"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Fatalf("commit wrote in order %v, want %v", order, want)
	}
}
