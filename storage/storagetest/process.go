package storagetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icechunk-go/icechunk-go/storage"
)

const (
	childEnv  = "ICECHUNK_STORAGETEST_CHILD"
	configEnv = "ICECHUNK_STORAGETEST_CONFIG"
	roundsEnv = "ICECHUNK_STORAGETEST_ROUNDS"
)

// Main is called from a backend's TestMain. In a child process started by
// the cross-process race it runs the child's part and exits; otherwise it
// runs the tests.
func Main(m *testing.M, b Backend) {
	if id := os.Getenv(childEnv); id != "" {
		os.Exit(runChild(b, id))
	}
	os.Exit(m.Run())
}

// runChild races for every round: it waits until the log reaches the
// round's version, then tries to move it one further, and prints the rounds
// it won.
func runChild(b Backend, id string) int {
	rounds, _ := strconv.Atoi(os.Getenv(roundsEnv))
	s, err := b.Open(os.Getenv(configEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := storage.NewConsensus(s, "refs/")
	var won []string
	for round := range rounds {
		for {
			head, ok, err := c.Head(ctx, "main")
			if err != nil {
				fmt.Fprintln(os.Stderr, "child: head:", err)
				return 2
			}
			if ok && head.SeqNo >= storage.SeqNo(round) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		res, err := c.CompareAndSet(ctx, "main", storage.SeqNo(round), vd(storage.SeqNo(round+1), id))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: compare-and-set:", err)
			return 2
		}
		if res == storage.Committed {
			won = append(won, strconv.Itoa(round))
		}
	}
	fmt.Println("WON " + strings.Join(won, " "))
	return 0
}

// testConsensusProcessRace: several OS processes race on one log for many
// rounds; every round has exactly one winner, and the log agrees.
func testConsensusProcessRace(t *testing.T, b Backend) {
	if !b.CrossProcess {
		t.Skipf("%s storage is private to one process", b.Name)
	}
	const procs, rounds = 4, 30
	config := b.Fresh(t)
	ctx := context.Background()
	c := storage.NewConsensus(open(t, b, config), "refs/")
	if _, err := c.CompareAndSet(ctx, "main", storage.NoSeqNo, vd(0, "init")); err != nil {
		t.Fatal(err)
	}
	winners := make(map[int]string)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for p := range procs {
		id := fmt.Sprintf("proc%d", p)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+id, configEnv+"="+config, roundsEnv+"="+strconv.Itoa(rounds))
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := cmd.Output()
			if err != nil {
				stderr := ""
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Errorf("%s: %v\n%s", id, err, stderr)
				return
			}
			for _, line := range strings.Split(string(out), "\n") {
				rest, ok := strings.CutPrefix(line, "WON")
				if !ok {
					continue
				}
				for _, f := range strings.Fields(rest) {
					r, _ := strconv.Atoi(f)
					mu.Lock()
					if prev, dup := winners[r]; dup {
						t.Errorf("round %d won by both %s and %s", r, prev, id)
					}
					winners[r] = id
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(winners) != rounds {
		t.Fatalf("%d of %d rounds had a winner", len(winners), rounds)
	}
	all, err := c.Scan(ctx, "main", 0, 0)
	must(t, err)
	if len(all) != rounds+1 {
		t.Fatalf("log holds %d entries, want %d", len(all), rounds+1)
	}
	for r := range rounds {
		e := all[r+1]
		if e.SeqNo != storage.SeqNo(r+1) || string(e.Data) != winners[r] {
			t.Fatalf("entry %d is %d %q; round %d was won by %s", r+1, e.SeqNo, e.Data, r, winners[r])
		}
	}
}

// IsChild reports whether this process is a child started by the
// cross-process race; a backend's TestMain uses it to skip shared setup
// (such as starting a server) that only the parent should do.
func IsChild() bool { return os.Getenv(childEnv) != "" }
