package concurrency

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
)

const arrayPath = "/data"

// setup creates the repository with one array of workers x commits chunks.
func setup(t *testing.T, p place, workers, commits int) {
	ctx := context.Background()
	store, err := p.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := engine.Create(ctx, store, nil, nil)
	if err != nil {
		t.Fatalf("%+v", err)
	}
	s, err := repo.WritableSession(ctx, engine.MainBranch)
	if err != nil {
		t.Fatal(err)
	}
	meta := engine.ArrayMeta{Shape: []uint64{uint64(workers), uint64(commits)}, ChunkShape: []uint64{1, 1}}
	if err := s.AddArray(ctx, engine.MustPath(arrayPath), meta, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, "setup", nil); err != nil {
		t.Fatal(err)
	}
}

func chunkValue(worker, i int) []byte { return []byte(fmt.Sprintf("worker %d commit %d", worker, i)) }

// runChild is a writer process: it makes spec.Commits commits, each writing
// its own chunk (worker, i), and prints one line per attempt:
// "OK <snapshot> <i> <latency ns>" or "CONFLICT <i>".
func runChild(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switch spec.Mode {
	case "crash":
		return runCrashWriter(spec)
	case "linearize":
		return runLinearizeClient(spec)
	}
	return runCommitWriter(spec)
}

func runCommitWriter(spec childSpec) int {
	ctx := context.Background()
	store, err := spec.Place.open(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	repo, err := engine.Open(ctx, store, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for i := range spec.Commits {
		start := time.Now()
		s, err := repo.WritableSession(ctx, engine.MainBranch)
		if err != nil {
			fmt.Fprintf(os.Stderr, "session: %+v\n", err)
			return 2
		}
		if err := s.SetChunk(ctx, engine.MustPath(arrayPath), []uint32{uint32(spec.Worker), uint32(i)}, chunkValue(spec.Worker, i)); err != nil {
			fmt.Fprintf(os.Stderr, "write: %+v\n", err)
			return 2
		}
		msg := fmt.Sprintf("worker %d commit %d", spec.Worker, i)
		var id [12]byte
		if spec.Mode == "rebase" {
			id, err = s.CommitRebasing(ctx, engine.BasicConflictSolver{}, msg, nil, engine.RetryOptions{Attempts: 1000})
		} else {
			id, err = s.Commit(ctx, msg, nil)
		}
		switch {
		case errors.Is(err, engine.ErrConflict):
			fmt.Fprintf(out, "CONFLICT %d\n", i)
		case err != nil:
			fmt.Fprintf(os.Stderr, "commit: %+v\n", err)
			return 2
		default:
			snap, _ := s.SnapshotID().MarshalText()
			_ = id
			fmt.Fprintf(out, "OK %s %d %d\n", snap, i, time.Since(start).Nanoseconds())
		}
	}
	return 0
}

type outcome struct {
	worker   int
	i        int
	snapshot string
	latency  time.Duration
}

// runWriters starts the writer processes and collects their successes.
func runWriters(t *testing.T, p place, mode string, workers, commits int) ([]outcome, int, time.Duration) {
	var mu sync.Mutex
	var oks []outcome
	conflicts := 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		spec := childSpec{Place: p, Mode: mode, Worker: w, Commits: commits}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), spec.env())
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("worker %d: %v\n%s", w, err, stderr.String())
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) == 4 && f[0] == "OK":
					i, _ := strconv.Atoi(f[2])
					ns, _ := strconv.ParseInt(f[3], 10, 64)
					oks = append(oks, outcome{worker: w, i: i, snapshot: f[1], latency: time.Duration(ns)})
				case len(f) == 2 && f[0] == "CONFLICT":
					conflicts++
				default:
					t.Errorf("worker %d printed %q", w, line)
				}
			}
		}()
	}
	wg.Wait()
	return oks, conflicts, time.Since(start)
}

// checkHistory verifies that main's history, past the setup commit, is
// exactly the successful commits, and that every chunk a successful commit
// wrote reads back with its writer's value.
func checkHistory(t *testing.T, p place, oks []outcome) {
	ctx := context.Background()
	store, err := p.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := engine.Open(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	var history []string
	for info, err := range repo.Ancestry(ctx, engine.Version{Branch: engine.MainBranch}) {
		if err != nil {
			t.Fatal(err)
		}
		if info.Message == "setup" {
			break
		}
		id, _ := info.ID.MarshalText()
		history = append(history, string(id))
	}
	var acked []string
	for _, o := range oks {
		acked = append(acked, o.snapshot)
	}
	sort.Strings(history)
	sort.Strings(acked)
	if !slices.Equal(history, acked) {
		t.Fatalf("history holds %d commits, %d were acknowledged; they differ", len(history), len(acked))
	}
	if len(slices.Compact(slices.Clone(history))) != len(history) {
		t.Fatal("history holds a commit twice")
	}
	s, err := repo.ReadonlySession(ctx, engine.Version{Branch: engine.MainBranch})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range oks {
		got, found, err := s.GetChunk(ctx, engine.MustPath(arrayPath), []uint32{uint32(o.worker), uint32(o.i)}, storage.From(0))
		if err != nil || !found || !bytes.Equal(got, chunkValue(o.worker, o.i)) {
			t.Fatalf("chunk (%d,%d): %q %v %v", o.worker, o.i, got, found, err)
		}
	}
}

// Several processes commit to one branch without rebase: each attempt
// either lands or gets a conflict, and the history is exactly the commits
// that landed.
func TestProcessesCommitWithoutRebase(t *testing.T) {
	const workers, commits = 4, 8
	for name, p := range places(t) {
		t.Run(name, func(t *testing.T) {
			setup(t, p, workers, commits)
			oks, conflicts, _ := runWriters(t, p, "plain", workers, commits)
			if len(oks)+conflicts != workers*commits {
				t.Fatalf("%d successes + %d conflicts != %d attempts", len(oks), conflicts, workers*commits)
			}
			if len(oks) == 0 {
				t.Fatal("no commit landed")
			}
			checkHistory(t, p, oks)
			t.Logf("%s: %d commits landed, %d conflicts", name, len(oks), conflicts)
		})
	}
}

// Eight processes commit 25 times each to disjoint chunks of one array,
// committing with retries: all 200 commits land in a linear history and
// every chunk has its writer's value.
func TestProcessesCommitWithRebase(t *testing.T) {
	workers, commits := 8, 25
	if testing.Short() {
		workers, commits = 4, 5
	}
	for name, p := range places(t) {
		t.Run(name, func(t *testing.T) {
			setup(t, p, workers, commits)
			oks, conflicts, elapsed := runWriters(t, p, "rebase", workers, commits)
			if conflicts != 0 || len(oks) != workers*commits {
				t.Fatalf("%d of %d commits landed, %d gave up", len(oks), workers*commits, conflicts)
			}
			checkHistory(t, p, oks)
			lat := make([]time.Duration, len(oks))
			for i, o := range oks {
				lat[i] = o.latency
			}
			slices.Sort(lat)
			t.Logf("%s: %d processes x %d commits in %v: %.1f commits/s, latency p50 %v p99 %v",
				name, workers, commits, elapsed.Round(time.Millisecond), float64(len(oks))/elapsed.Seconds(),
				lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond))
		})
	}
}
