package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"
	"github.com/google/uuid"

	"github.com/icechunk-go/icechunk-go/storage"
)

func vd(seq storage.SeqNo, data string) storage.VersionedData {
	return storage.VersionedData{SeqNo: seq, Data: []byte(data)}
}

func equalVD(a, b []storage.VersionedData) bool {
	return slices.EqualFunc(a, b, func(x, y storage.VersionedData) bool {
		return x.SeqNo == y.SeqNo && bytes.Equal(x.Data, y.Data)
	})
}

// testConsensus follows seed 003's consensus_impl_test.
func testConsensus(t *testing.T, b Backend) {
	ctx := context.Background()
	c := storage.NewConsensus(open(t, b, b.Fresh(t)), "refs/")
	key := uuid.NewString()

	cas := func(key string, expected storage.SeqNo, next storage.VersionedData, want storage.CaSResult) {
		t.Helper()
		got, err := c.CompareAndSet(ctx, key, expected, next)
		must(t, err)
		if got != want {
			t.Fatalf("compare-and-set %s %d -> %d: got %v want %v", key, expected, next.SeqNo, got, want)
		}
	}
	casErr := func(key string, expected storage.SeqNo, next storage.VersionedData) {
		t.Helper()
		if _, err := c.CompareAndSet(ctx, key, expected, next); err == nil {
			t.Fatalf("compare-and-set %s %d -> %d: want an error", key, expected, next.SeqNo)
		}
	}
	wantHead := func(key string, want *storage.VersionedData) {
		t.Helper()
		got, ok, err := c.Head(ctx, key)
		must(t, err)
		if want == nil {
			if ok {
				t.Fatalf("head of %s: got %v want none", key, got)
			}
			return
		}
		if !ok || got.SeqNo != want.SeqNo || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("head of %s: got %v (%v) want %v", key, got, ok, *want)
		}
	}
	wantScan := func(from storage.SeqNo, limit int, want ...storage.VersionedData) {
		t.Helper()
		got, err := c.Scan(ctx, key, from, limit)
		must(t, err)
		if !equalVD(got, want) {
			t.Fatalf("scan from %d limit %d: got %v want %v", from, limit, got, want)
		}
	}
	wantTruncate := func(seq storage.SeqNo, want int) {
		t.Helper()
		got, err := c.Truncate(ctx, key, seq)
		must(t, err)
		if got != want {
			t.Fatalf("truncate %d: deleted %d want %d", seq, got, want)
		}
	}

	wantHead(key, nil)
	wantScan(0, 0)
	if _, err := c.Truncate(ctx, key, 0); err == nil {
		t.Fatal("truncating an empty log should fail")
	}

	state := vd(5, "abc")
	cas(key, 0, state, storage.ExpectationMismatch)
	cas(key, storage.NoSeqNo, state, storage.Committed)

	var keys []string
	for k, err := range c.ListKeys(ctx) {
		must(t, err)
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{key}) {
		t.Fatalf("list keys: %v", keys)
	}

	wantHead(key, &state)
	wantScan(0, 0, state)
	wantScan(5, 0, state)
	wantScan(6, 0)
	wantTruncate(0, 0)
	wantTruncate(5, 0)
	if _, err := c.Truncate(ctx, key, 6); err == nil {
		t.Fatal("truncating past the head should fail")
	}

	next := vd(10, "def")
	cas(key, 7, next, storage.ExpectationMismatch)
	cas(key, 3, next, storage.ExpectationMismatch)
	casErr(key, 5, vd(5, "invalid"))
	casErr(key, 5, vd(3, "invalid"))
	cas(key, 5, next, storage.Committed)
	wantHead(key, &next)
	wantScan(5, 0, state, next)
	wantScan(6, 0, next)
	wantScan(10, 0, next)
	wantScan(11, 0)
	wantScan(0, 1, state)
	wantScan(5, 1, state)
	wantScan(0, 2, state, next)
	wantScan(4, 100, state, next)
	wantTruncate(6, 1)
	wantScan(0, 0, next)
	wantTruncate(6, 0)

	other := uuid.NewString()
	wantHead(other, nil)
	otherState := vd(1, "einszweidrei")
	cas(other, storage.NoSeqNo, otherState, storage.Committed)
	wantHead(other, &otherState)
	wantHead(key, &next)

	// A stale expectation cannot jump forward.
	cas(key, otherState.SeqNo, vd(11, "invalid"), storage.ExpectationMismatch)

	large := storage.VersionedData{SeqNo: 11, Data: bytes.Repeat([]byte("a"), 10240)}
	cas(key, 10, large, storage.Committed)
	wantHead(key, &large)
	cas(key, 11, vd(12, ""), storage.Committed)
	wantTruncate(12, 2)

	cas(uuid.NewString(), storage.NoSeqNo, vd(0, ""), storage.Committed)
	cas(uuid.NewString(), storage.NoSeqNo, vd(storage.MaxSeqNo, ""), storage.Committed)
	casErr(uuid.NewString(), storage.NoSeqNo, vd(1<<63, ""))
	casErr(uuid.NewString(), storage.NoSeqNo, vd(storage.NoSeqNo, ""))
	casErr("bad/key", storage.NoSeqNo, vd(1, ""))
}

// testConsensusGoroutineRace: in each round every goroutine tries to move
// the log from the round's version to the next; exactly one wins.
func testConsensusGoroutineRace(t *testing.T, b Backend) {
	ctx := context.Background()
	config := b.Fresh(t)
	const workers, rounds = 8, 25
	key := "main"
	c := storage.NewConsensus(open(t, b, config), "refs/")
	if _, err := c.CompareAndSet(ctx, key, storage.NoSeqNo, vd(0, "init")); err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		results := make([]storage.CaSResult, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range workers {
			// Each worker has its own handle, as separate clients would.
			cw := storage.NewConsensus(open(t, b, config), "refs/")
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[w], errs[w] = cw.CompareAndSet(ctx, key, storage.SeqNo(round), vd(storage.SeqNo(round+1), fmt.Sprint(w)))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for w := range workers {
			must(t, errs[w])
			if results[w] == storage.Committed {
				if winner >= 0 {
					t.Fatalf("round %d: workers %d and %d both committed", round, winner, w)
				}
				winner = w
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody committed", round)
		}
		head, _, err := c.Head(ctx, key)
		must(t, err)
		if head.SeqNo != storage.SeqNo(round+1) || string(head.Data) != fmt.Sprint(winner) {
			t.Fatalf("round %d: head is %d %q, want %d %q", round, head.SeqNo, head.Data, round+1, fmt.Sprint(winner))
		}
	}
	all, err := c.Scan(ctx, key, 0, 0)
	must(t, err)
	if len(all) != rounds+1 {
		t.Fatalf("log holds %d entries, want %d", len(all), rounds+1)
	}
	for i, e := range all {
		if e.SeqNo != storage.SeqNo(i) {
			t.Fatalf("entry %d has seqno %d", i, e.SeqNo)
		}
	}
}

// testConsensusHints checks HeadFrom and CompareAndSetAfter, the reads and
// appends that start from an entry read earlier instead of listing.
func testConsensusHints(t *testing.T, b Backend) {
	ctx := context.Background()
	config := b.Fresh(t)
	c := storage.NewConsensus(open(t, b, config), "refs/")
	other := storage.NewConsensus(open(t, b, config), "refs/")
	key := "hints"

	if _, err := c.CompareAndSet(ctx, key, storage.NoSeqNo, vd(0, "v0")); err != nil {
		t.Fatal(err)
	}
	first, ok, err := c.HeadEntry(ctx, key)
	must(t, err)
	if !ok || first.SeqNo != 0 || string(first.Data) != "v0" {
		t.Fatalf("head entry: got %+v (%v)", first, ok)
	}
	wantHead := func(got storage.Entry, seq storage.SeqNo, data string) {
		t.Helper()
		if got.SeqNo != seq || string(got.Data) != data {
			t.Fatalf("head: got %d %q want %d %q", got.SeqNo, got.Data, seq, data)
		}
		listed, ok, err := c.HeadEntry(ctx, key)
		must(t, err)
		if !ok || listed.Slot != got.Slot || listed.SeqNo != got.SeqNo {
			t.Fatalf("head by hint %+v disagrees with head by listing %+v", got, listed)
		}
	}

	// Unmoved: the hint is the head.
	head, err := c.HeadFrom(ctx, key, first, nil)
	must(t, err)
	wantHead(head, 0, "v0")

	// Another client appends three entries; the old hint finds the newest.
	for i := 1; i <= 3; i++ {
		res, err := other.CompareAndSet(ctx, key, storage.SeqNo(i-1), vd(storage.SeqNo(i), fmt.Sprintf("v%d", i)))
		must(t, err)
		if res != storage.Committed {
			t.Fatalf("append %d: %v", i, res)
		}
	}
	var seen []string
	head, err = c.HeadFrom(ctx, key, first, func(e storage.Entry) { seen = append(seen, fmt.Sprintf("%d:%d:%s", e.Slot, e.SeqNo, e.Data)) })
	must(t, err)
	wantHead(head, 3, "v3")
	if got := strings.Join(seen, " "); got != "1:1:v1 2:2:v2 3:3:v3" {
		t.Fatalf("entries seen on the way to the head: %q", got)
	}
	for slot, want := range []string{"v0", "v1", "v2", "v3"} {
		e, err := other.EntryAt(ctx, key, uint64(slot))
		must(t, err)
		if e.Slot != uint64(slot) || e.SeqNo != storage.SeqNo(slot) || string(e.Data) != want {
			t.Fatalf("entry at slot %d: %+v", slot, e)
		}
	}
	if _, err := c.EntryAt(ctx, key, 4); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("entry past the head: got %v, want ErrNotFound", err)
	}

	// A stale hint cannot append; a fresh one can.
	res, _, err := c.CompareAndSetAfter(ctx, key, first, vd(1, "stale"))
	must(t, err)
	if res != storage.ExpectationMismatch {
		t.Fatalf("append after a stale entry: got %v", res)
	}
	if _, _, err := c.CompareAndSetAfter(ctx, key, head, vd(3, "same seqno")); err == nil {
		t.Fatal("append with a sequence number not above the known entry's: want an error")
	}
	res, next, err := c.CompareAndSetAfter(ctx, key, head, vd(4, "v4"))
	must(t, err)
	if res != storage.Committed || next.Slot != head.Slot+1 {
		t.Fatalf("append after the head: got %v %+v", res, next)
	}
	head, err = other.HeadFrom(ctx, key, first, nil)
	must(t, err)
	wantHead(head, 4, "v4")

	// A log that moved further than the probes reach is listed instead.
	seq := storage.SeqNo(4)
	for range 20 {
		res, err := other.CompareAndSet(ctx, key, seq, vd(seq+1, fmt.Sprintf("v%d", seq+1)))
		must(t, err)
		if res != storage.Committed {
			t.Fatalf("append %d: %v", seq+1, res)
		}
		seq++
	}
	seen = nil
	head, err = c.HeadFrom(ctx, key, first, func(e storage.Entry) { seen = append(seen, fmt.Sprintf("%d:%s", e.Slot, e.Data)) })
	must(t, err)
	wantHead(head, seq, fmt.Sprintf("v%d", seq))
	if last := seen[len(seen)-1]; last != fmt.Sprintf("%d:v%d", head.Slot, seq) {
		t.Fatalf("a listed head is not the last entry seen: %q", seen)
	}

	// Racing appenders, each with its own client and its own (possibly
	// stale) hint: exactly one wins each round and every loser learns the
	// new head from its hint.
	const workers, rounds = 6, 8
	hints := make([]storage.Entry, workers)
	clients := make([]*storage.Consensus, workers)
	for w := range workers {
		clients[w] = storage.NewConsensus(open(t, b, config), "refs/")
		hints[w] = first
	}
	for round := range rounds {
		results := make([]storage.CaSResult, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				h, err := clients[w].HeadFrom(ctx, key, hints[w], nil)
				if err != nil {
					errs[w] = err
					return
				}
				hints[w] = h
				res, e, err := clients[w].CompareAndSetAfter(ctx, key, h, vd(h.SeqNo+1, fmt.Sprintf("r%d w%d", round, w)))
				results[w], errs[w] = res, err
				if res == storage.Committed {
					hints[w] = e
				}
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		for w := range workers {
			must(t, errs[w])
			if results[w] == storage.Committed {
				winners++
			}
		}
		// Each round at least one append lands (the first to reach the
		// head); a worker whose hint was behind may win a later slot in
		// the same round, but two can never take one slot.
		if winners == 0 {
			t.Fatalf("round %d: nobody committed", round)
		}
		seq += storage.SeqNo(winners)
	}
	all, err := c.Scan(ctx, key, 0, 0)
	must(t, err)
	if len(all) != int(seq)+1 {
		t.Fatalf("log holds %d entries, want %d", len(all), seq+1)
	}
	for i, e := range all {
		if e.SeqNo != storage.SeqNo(i) {
			t.Fatalf("entry %d has seqno %d: the log is not dense", i, e.SeqNo)
		}
	}
}

// testConsensusReplacedLog checks that HeadFromChecked does not trust an
// entry read earlier once the log no longer holds it: rolled back (a copy
// of the repository restored) or replaced (the repository deleted and made
// again with as many entries or more).
func testConsensusReplacedLog(t *testing.T, b Backend) {
	ctx := context.Background()
	config := b.Fresh(t)
	store := open(t, b, config)
	c := storage.NewConsensus(store, "refs/")
	key := "replaced"
	appendAll := func(from, to int, label string) {
		t.Helper()
		for i := from; i <= to; i++ {
			expected := storage.NoSeqNo
			if i > 0 {
				expected = storage.SeqNo(i - 1)
			}
			res, err := c.CompareAndSet(ctx, key, expected, vd(storage.SeqNo(i), fmt.Sprintf("%s%d", label, i)))
			must(t, err)
			if res != storage.Committed {
				t.Fatalf("append %s%d: %v", label, i, res)
			}
		}
	}
	objects := func() []string {
		t.Helper()
		var keys []string
		for info, err := range store.List(ctx, "refs/"+key+"/", storage.ListOptions{}) {
			must(t, err)
			keys = append(keys, info.Key)
		}
		return keys // newest first
	}
	appendAll(0, 3, "v")
	hint, _, err := c.HeadEntry(ctx, key)
	must(t, err)

	// Unchanged: the hint holds.
	head, err := c.HeadFromChecked(ctx, key, hint, nil)
	must(t, err)
	if head.Slot != hint.Slot {
		t.Fatalf("head %d, want the hint's slot %d", head.Slot, hint.Slot)
	}

	// Rolled back to two entries: the hint's slot is empty.
	must(t, store.Delete(ctx, objects()[:2]...))
	if _, err := c.HeadFromChecked(ctx, key, hint, nil); !errors.Is(err, storage.ErrStaleEntry) {
		t.Fatalf("hint past a rolled-back log: got %v, want ErrStaleEntry", err)
	}
	// Replaced by another log as long or longer: the slot holds another entry.
	must(t, store.Delete(ctx, objects()...))
	appendAll(0, 5, "w")
	if _, err := c.HeadFromChecked(ctx, key, hint, nil); !errors.Is(err, storage.ErrStaleEntry) {
		t.Fatalf("hint into a replaced log: got %v, want ErrStaleEntry", err)
	}
	// HeadFrom, for reads, does not check: it finds the new log's head.
	if head, err = c.HeadFrom(ctx, key, hint, nil); err != nil || head.Slot != 5 {
		t.Fatalf("unchecked head from a replaced log: %+v, %v", head, err)
	}
	// An entry the caller made is not checked (it carries no write id).
	made := storage.Entry{VersionedData: hint.VersionedData, Slot: hint.Slot}
	head, err = c.HeadFromChecked(ctx, key, made, nil)
	must(t, err)
	if head.Slot != 5 || string(head.Data) != "w5" {
		t.Fatalf("head from a made entry: %+v", head)
	}
	// Read afresh, the new log's entries hold.
	fresh, _, err := c.HeadEntry(ctx, key)
	must(t, err)
	if head, err = c.HeadFromChecked(ctx, key, fresh, nil); err != nil || head.Slot != 5 {
		t.Fatalf("head from the new log's entry: %+v, %v", head, err)
	}
}
