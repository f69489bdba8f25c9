package concurrency

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
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
func setup(t testing.TB, p place, workers, commits int) {
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

// chunkBytes is the size of every chunk a writer commits: 64 KiB, as in the
// bench suite's W6, so that chunks are objects of their own (not inline).
const chunkBytes = 64 << 10

func chunkValue(worker, i int) []byte {
	v := make([]byte, chunkBytes)
	copy(v, fmt.Sprintf("worker %d commit %d", worker, i))
	return v
}

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
	inner, err := spec.Place.open(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	store := storage.NewCounting(inner)
	repo, err := engine.Open(ctx, store, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	store.Record(true) // from here on: the commits' requests, not the opening's
	rebases := 0
	defer func() {
		printRequests(out, store)
		fmt.Fprintf(out, "REBASES %d\n", rebases)
	}()
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
			id, err = s.CommitRebasing(ctx, engine.BasicConflictSolver{}, msg, nil, engine.RetryOptions{Attempts: 1000, BeforeRebase: func(int) { rebases++ }})
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

// printRequests prints one line "REQUESTS op:kind=n ..." of the calls
// recorded, by operation and kind of object (the key's first folder).
func printRequests(out *bufio.Writer, store *storage.Counting) {
	counts := map[string]int{}
	for _, c := range store.Calls() {
		kind, _, _ := strings.Cut(strings.TrimPrefix(c.Key, "/"), "/")
		counts[string(c.Op)+":"+kind]++
	}
	fmt.Fprint(out, "REQUESTS")
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(out, " %s=%d", k, counts[k])
	}
	fmt.Fprintln(out)
}

type outcome struct {
	worker   int
	i        int
	snapshot string
	latency  time.Duration
}

// A run is what the writer processes of one runWriters did.
type run struct {
	oks       []outcome
	conflicts int
	elapsed   time.Duration
	requests  map[string]int // "op:kind" -> storage calls of all writers' commits
	rebases   int
}

// writerLogsEnv names a folder where runWriters keeps each writer's
// standard error as writer-N.log: with ICECHUNK_LOG=debug, the timeline of
// every commit attempt, rebase and request of a contended run.
const writerLogsEnv = "ICECHUNK_WRITER_LOGS"

// runWriters starts the writer processes and collects their successes.
func runWriters(t testing.TB, p place, mode string, workers, commits int) run {
	var mu sync.Mutex
	var oks []outcome
	conflicts, rebases := 0, 0
	requests := map[string]int{}
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
			if dir := os.Getenv(writerLogsEnv); dir != "" {
				if werr := os.WriteFile(filepath.Join(dir, fmt.Sprintf("writer-%d.log", w)), stderr.Bytes(), 0o644); werr != nil {
					t.Errorf("keeping worker %d's standard error: %v", w, werr)
				}
			}
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
				case len(f) == 2 && f[0] == "REBASES":
					n, _ := strconv.Atoi(f[1])
					rebases += n
				case len(f) >= 1 && f[0] == "REQUESTS":
					for _, kv := range f[1:] {
						k, v, _ := strings.Cut(kv, "=")
						n, _ := strconv.Atoi(v)
						requests[k] += n
					}
				default:
					t.Errorf("worker %d printed %q", w, line)
				}
			}
		}()
	}
	wg.Wait()
	return run{oks: oks, conflicts: conflicts, elapsed: time.Since(start), requests: requests, rebases: rebases}
}

// checkHistory verifies that main's history, past the setup commit, is
// exactly the successful commits, and that every chunk a successful commit
// wrote reads back with its writer's value.
func checkHistory(t testing.TB, p place, oks []outcome) {
	ctx := context.Background()
	repo := openRepo(t, p)
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
			r := runWriters(t, p, "plain", workers, commits)
			oks, conflicts := r.oks, r.conflicts
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
			r := runWriters(t, p, "rebase", workers, commits)
			oks, conflicts, elapsed := r.oks, r.conflicts, r.elapsed
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

// BenchmarkProcessesCommitWithRebaseS3 is the bench suite's W6 without
// Python: 8 processes commit 20 times each to disjoint chunks of one array
// on MinIO, with rebase. It reports commits per second, the commit latency
// and the storage requests per commit, by operation and kind of object
// (such as get:refs), as the writers counted them.
func BenchmarkProcessesCommitWithRebaseS3(b *testing.B) {
	const workers, commits = 8, 20
	var total run
	total.requests = map[string]int{}
	var lat []time.Duration
	base := places(b)["s3"]
	for i := 0; b.Loop(); i++ {
		p := base
		p.S3.Prefix += fmt.Sprintf("-%d", i)
		setup(b, p, workers, commits)
		r := runWriters(b, p, "rebase", workers, commits)
		if r.conflicts != 0 || len(r.oks) != workers*commits {
			b.Fatalf("%d of %d commits landed, %d gave up", len(r.oks), workers*commits, r.conflicts)
		}
		total.oks = append(total.oks, r.oks...)
		total.elapsed += r.elapsed
		total.rebases += r.rebases
		for k, n := range r.requests {
			total.requests[k] += n
		}
		for _, o := range r.oks {
			lat = append(lat, o.latency)
		}
	}
	n := float64(len(total.oks))
	slices.Sort(lat)
	b.ReportMetric(n/total.elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	all := 0
	for k, c := range total.requests {
		all += c
		b.ReportMetric(float64(c)/n, k+"/commit")
	}
	b.ReportMetric(float64(all)/n, "requests/commit")
	b.ReportMetric(float64(total.rebases)/n, "rebases/commit")
}
