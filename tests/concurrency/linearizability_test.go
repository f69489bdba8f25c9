package concurrency

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/icechunk-go/icechunk-go/storage"
)

// casInput and casOutput are one branch operation: read the tip, or
// compare-and-set it from an expected version to the next.
type casInput struct {
	Read     bool   `json:"read"`
	Expected uint64 `json:"expected"`
	Data     string `json:"data"`
}

type casOutput struct {
	Seq       uint64 `json:"seq"`
	Data      string `json:"data"`
	Committed bool   `json:"committed"`
}

type recordedOp struct {
	Client int       `json:"client"`
	Input  casInput  `json:"input"`
	Output casOutput `json:"output"`
	Call   int64     `json:"call"`
	Return int64     `json:"return"`
}

type branchState struct {
	seq  uint64
	data string
}

// branchModel is a register with versioned compare-and-set: what a branch
// ref must behave as.
var branchModel = porcupine.Model{
	Init: func() any { return branchState{0, "init"} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(branchState), input.(casInput), output.(casOutput)
		if in.Read {
			return out.Seq == s.seq && out.Data == s.data, s
		}
		if s.seq == in.Expected {
			return out.Committed, branchState{in.Expected + 1, in.Data}
		}
		return !out.Committed, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(casInput), output.(casOutput)
		if in.Read {
			return fmt.Sprintf("read -> %d %q", out.Seq, out.Data)
		}
		return fmt.Sprintf("cas %d->%d %q -> %v", in.Expected, in.Expected+1, in.Data, out.Committed)
	},
}

// runLinearizeClient reads the tip and tries compare-and-sets from the
// version it last saw, printing each operation with its wall-clock call
// and return times (one clock: all clients run on this machine).
func runLinearizeClient(spec childSpec) int {
	ctx := context.Background()
	store, err := spec.Place.open(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	c := storage.NewConsensus(store, "refs/")
	rng := rand.New(rand.NewPCG(uint64(spec.Worker), 99))
	seen := uint64(0)
	enc := json.NewEncoder(os.Stdout)
	for i := range spec.Commits {
		op := recordedOp{Client: spec.Worker}
		op.Input.Read = rng.IntN(2) == 0
		op.Call = time.Now().UnixNano()
		if op.Input.Read {
			head, _, err := c.Head(ctx, "lin")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			op.Output = casOutput{Seq: uint64(head.SeqNo), Data: string(head.Data)}
			seen = uint64(head.SeqNo)
		} else {
			op.Input.Expected = seen
			op.Input.Data = fmt.Sprintf("c%d-%d", spec.Worker, i)
			res, err := c.CompareAndSet(ctx, "lin", storage.SeqNo(seen), storage.VersionedData{SeqNo: storage.SeqNo(seen + 1), Data: []byte(op.Input.Data)})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			op.Output.Committed = res == storage.Committed
			if op.Output.Committed {
				seen++
			}
		}
		op.Return = time.Now().UnixNano()
		if err := enc.Encode(op); err != nil {
			return 2
		}
	}
	return 0
}

// Clients in several processes read and compare-and-set one branch-like
// log; the recorded history must be linearizable.
func TestBranchOperationsAreLinearizable(t *testing.T) {
	const clients, ops = 4, 60
	for name, p := range places(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store, err := p.open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := storage.NewConsensus(store, "refs/").CompareAndSet(ctx, "lin", storage.NoSeqNo, storage.VersionedData{SeqNo: 0, Data: []byte("init")}); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var history []porcupine.Operation
			var wg sync.WaitGroup
			for c := range clients {
				spec := childSpec{Place: p, Mode: "linearize", Worker: c, Commits: ops}
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), spec.env())
				wg.Add(1)
				go func() {
					defer wg.Done()
					out, err := cmd.Output()
					if err != nil {
						t.Errorf("client %d: %v", c, err)
						return
					}
					for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
						var op recordedOp
						if err := json.Unmarshal([]byte(line), &op); err != nil {
							t.Errorf("client %d printed %q", c, line)
							continue
						}
						mu.Lock()
						history = append(history, porcupine.Operation{ClientId: op.Client, Input: op.Input, Output: op.Output, Call: op.Call, Return: op.Return})
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(history) != clients*ops {
				t.Fatalf("recorded %d operations, want %d", len(history), clients*ops)
			}
			res := porcupine.CheckOperationsTimeout(branchModel, history, time.Minute)
			if res != porcupine.Ok {
				t.Fatalf("history of %d operations is not linearizable (%v)", len(history), res)
			}
			committed := 0
			for _, op := range history {
				if op.Output.(casOutput).Committed {
					committed++
				}
			}
			t.Logf("%s: %d operations from %d processes, %d committed: linearizable", name, len(history), clients, committed)
		})
	}
}

// The checker is only as good as its model: two compare-and-sets from the
// same version that both report success, one after the other, must be
// rejected.
func TestBranchModelRejectsDoubleMove(t *testing.T) {
	history := []porcupine.Operation{
		{ClientId: 0, Input: casInput{Expected: 0, Data: "a"}, Output: casOutput{Committed: true}, Call: 0, Return: 10},
		{ClientId: 1, Input: casInput{Expected: 0, Data: "b"}, Output: casOutput{Committed: true}, Call: 20, Return: 30},
	}
	if porcupine.CheckOperations(branchModel, history) {
		t.Fatal("a branch moved twice from one version passed the check")
	}
	history[1].Output = casOutput{Committed: false}
	if !porcupine.CheckOperations(branchModel, history) {
		t.Fatal("a correct history failed the check")
	}
}
