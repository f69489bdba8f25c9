package concurrency

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
)

// crashValue is what iteration i of worker w writes: large enough every
// third time to be a chunk object rather than inline.
func crashValue(w, i int) []byte {
	v := fmt.Sprintf("crash w%d i%d ", w, i)
	if i%3 == 0 {
		return bytes.Repeat([]byte(v), 100)
	}
	return []byte(v)
}

const crashSlots = 64

// runCrashWriter commits forever (until killed), writing chunk (w, i mod
// 64) each time, with retries; after each commit it prints
// "ACK <snapshot> <i>" unbuffered, so what the parent reads was committed.
func runCrashWriter(spec childSpec) int {
	ctx := context.Background()
	store, err := spec.Place.open(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	repo, err := engine.Open(ctx, store, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "open: %+v\n", err)
		return 2
	}
	for i := spec.Commits; ; i++ {
		s, err := repo.WritableSession(ctx, engine.MainBranch)
		if err != nil {
			fmt.Fprintf(os.Stderr, "session: %+v\n", err)
			return 2
		}
		if err := s.SetChunk(ctx, engine.MustPath(arrayPath), []uint32{uint32(spec.Worker), uint32(i % crashSlots)}, crashValue(spec.Worker, i)); err != nil {
			fmt.Fprintf(os.Stderr, "write: %+v\n", err)
			return 2
		}
		if _, err := s.CommitRebasing(ctx, engine.BasicConflictSolver{}, fmt.Sprint("crash ", i), nil, engine.RetryOptions{Attempts: 1000}); err != nil {
			fmt.Fprintf(os.Stderr, "commit: %+v\n", err)
			return 2
		}
		id, _ := s.SnapshotID().MarshalText()
		fmt.Fprintf(os.Stdout, "ACK %s %d\n", id, i)
	}
}

type crashAck struct {
	snapshot string
	worker   int
	i        int
}

// Two writer processes commit in a loop and are killed with SIGKILL at
// random moments, round after round. After each round the repository
// opens, the branch tip is a complete snapshot whose every chunk reads,
// and every commit acknowledged so far is in the history with its data.
func TestCrashSafety(t *testing.T) {
	rounds := 12
	if os.Getenv("ICECHUNK_STRESS") != "" {
		rounds = 200
	}
	for name, p := range places(t) {
		t.Run(name, func(t *testing.T) {
			setup(t, p, 2, crashSlots)
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
			var acks []crashAck
			h := &crashHistory{known: map[string]bool{}}
			next := 0
			kills := 0
			for round := range rounds {
				roundAcks := runCrashRound(t, p, rng, next)
				kills += 2
				acks = append(acks, roundAcks...)
				next += 1000
				// Every acknowledged commit must still be in the history;
				// the data of this round's commits is read back (earlier
				// rounds' data was checked when they ended, and snapshots
				// are immutable).
				verifyAfterCrash(t, p, h, acks, roundAcks, round)
			}
			t.Logf("%s: %d rounds, %d kills, %d acknowledged commits, all intact", name, rounds, kills, len(acks))
			collectAfterCrashes(t, p, h, acks, rounds)
		})
	}
}

// runCrashRound starts two writers and kills each at a random moment.
func runCrashRound(t *testing.T, p place, rng *rand.Rand, first int) []crashAck {
	type proc struct {
		cmd  *exec.Cmd
		acks chan crashAck
	}
	var procs []proc
	for w := range 2 {
		spec := childSpec{Place: p, Mode: "crash", Worker: w, Commits: first}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), spec.env())
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acks := make(chan crashAck, 1000)
		go func() {
			defer close(acks)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) == 3 && f[0] == "ACK" {
					i, _ := strconv.Atoi(f[2])
					acks <- crashAck{snapshot: f[1], worker: w, i: i}
				}
			}
		}()
		procs = append(procs, proc{cmd, acks})
	}
	var got []crashAck
	for _, pr := range procs {
		// Kill somewhere between process start-up and a few commits in.
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		_ = pr.cmd.Process.Signal(syscall.SIGKILL)
	}
	for _, pr := range procs {
		_ = pr.cmd.Wait()
		for a := range pr.acks {
			got = append(got, a)
		}
	}
	return got
}

// crashHistory is the part of main's history already verified: the
// snapshots in it and the tip it ended at.
type crashHistory struct {
	known map[string]bool
	tip   string
}

func verifyAfterCrash(t *testing.T, p place, h *crashHistory, acks, fresh []crashAck, round int) {
	ctx := context.Background()
	repo := openRepo(t, p)
	// Walk back from the tip to the previous round's tip: reaching it shows
	// that nothing verified before was lost; what lies between is new.
	reached := h.tip == ""
	newTip := ""
	for info, err := range repo.Ancestry(ctx, engine.Version{Branch: engine.MainBranch}) {
		if err != nil {
			t.Fatalf("round %d: history: %+v", round, err)
		}
		id, _ := info.ID.MarshalText()
		if newTip == "" {
			newTip = string(id)
		}
		if string(id) == h.tip {
			reached = true
			break
		}
		h.known[string(id)] = true
	}
	if !reached {
		t.Fatalf("round %d: the previous tip %s is no longer in main's history", round, h.tip)
	}
	h.tip = newTip
	history := h.known
	tip, err := repo.ReadonlySession(ctx, engine.Version{Branch: engine.MainBranch})
	if err != nil {
		t.Fatalf("round %d: tip: %+v", round, err)
	}
	for c, err := range tip.AllChunks(ctx) {
		if err != nil {
			t.Fatalf("round %d: listing chunks: %+v", round, err)
		}
		if _, _, err := tip.GetChunk(ctx, c.Path, c.Coords, storage.From(0)); err != nil {
			t.Fatalf("round %d: tip chunk %v unreadable: %+v", round, c.Coords, err)
		}
	}
	for _, a := range acks {
		if !history[a.snapshot] {
			t.Fatalf("round %d: acknowledged commit %s (worker %d, %d) lost", round, a.snapshot, a.worker, a.i)
		}
	}
	for _, a := range fresh {
		id, err := codec.ParseSnapshotID(a.snapshot)
		if err != nil {
			t.Fatal(err)
		}
		at, err := repo.ReadonlySession(ctx, engine.Version{Snapshot: id})
		if err != nil {
			t.Fatalf("round %d: %+v", round, err)
		}
		got, found, err := at.GetChunk(ctx, engine.MustPath(arrayPath), []uint32{uint32(a.worker), uint32(a.i % crashSlots)}, storage.From(0))
		if err != nil || !found || !bytes.Equal(got, crashValue(a.worker, a.i)) {
			t.Fatalf("round %d: commit %s lost its chunk: found %v err %v", round, a.snapshot, found, err)
		}
	}
}

// collectAfterCrashes collects the garbage the killed writers left (chunks
// of commits that never landed, snapshots of lost races) with no writer
// running, and checks that every acknowledged commit still reads whole and
// that a second collection finds nothing. round labels the check in
// messages (the rounds already run).
func collectAfterCrashes(t *testing.T, p place, h *crashHistory, acks []crashAck, round int) {
	ctx := context.Background()
	repo := openRepo(t, p)
	sum, err := repo.GarbageCollect(ctx, engine.GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("garbage collection: %+v", err)
	}
	t.Logf("garbage collection after the crashes: %+v", sum)
	verifyAfterCrash(t, p, h, acks, acks, round)
	again, err := repo.GarbageCollect(ctx, engine.GCOptions{DeleteOlderThan: time.Now().Add(time.Hour)})
	if err != nil || again != (engine.GCSummary{}) {
		t.Fatalf("second garbage collection: %+v %+v, want nothing deleted", again, err)
	}
}
