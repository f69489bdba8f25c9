package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/errors"
)

// SeqNo is the version number of one entry of a Consensus log. Valid
// sequence numbers are in [0, MaxSeqNo].
type SeqNo uint64

// MaxSeqNo is the largest valid sequence number (so that it round-trips
// through signed 64-bit integers in other languages).
const MaxSeqNo = SeqNo(math.MaxInt64)

// NoSeqNo, passed as the expected version to CompareAndSet, means "the log
// holds no entry yet".
const NoSeqNo = SeqNo(math.MaxUint64)

// VersionedData is one entry of a Consensus log.
type VersionedData struct {
	SeqNo SeqNo
	Data  []byte
}

// CaSResult says whether a CompareAndSet took effect.
type CaSResult int

const (
	// Committed: the new entry is now the head.
	Committed CaSResult = iota
	// ExpectationMismatch: the head was not the expected version; nothing
	// was written.
	ExpectationMismatch
)

func (r CaSResult) String() string {
	if r == Committed {
		return "committed"
	}
	return "expectation mismatch"
}

// ErrCorrupt marks a stored consensus entry that fails its checksum or
// cannot be parsed.
var ErrCorrupt = errors.New("corrupt consensus entry")

// Consensus is a set of named, versioned logs with compare-and-set, built on
// any Storage that honours PutIfAbsent (seed 003's Consensus). Branch refs
// use one log per branch: a commit moves a branch from version N to N+1, and
// two writers can never both move it from the same version, across
// goroutines, processes and machines alike.
//
// Layout: the log for key K is a set of objects "<prefix>K/<slot>", one per
// entry, where slot numbers count 0, 1, 2, ... and are written with
// PutIfAbsent, so exactly one writer can create the slot after the head.
// Slot names are the decimal of (MaxUint64 - slot), zero-padded to 20
// digits, so that List, which yields keys in ascending order, yields the
// newest entry first and Head costs one short List and one Get.
//
// Each entry object holds a random write id beside the data. When a
// conditional write fails indeterminately (it might have happened), the
// writer reads the slot back and decides by the write id whether its write
// won, never by guessing.
type Consensus struct {
	store  Storage
	prefix string
}

// NewConsensus returns the logs stored under prefix (such as "refs/") in
// store.
func NewConsensus(store Storage, prefix string) *Consensus {
	return &Consensus{store: store, prefix: prefix}
}

func (c *Consensus) validateKey(key string) error {
	if strings.Contains(key, "/") {
		return errors.Mark(errors.Newf("invalid consensus key %q: contains '/'", key), ErrInvalidKey)
	}
	return ValidateKey(c.prefix + key + "/x")
}

func (c *Consensus) slotKey(key string, slot uint64) string {
	return fmt.Sprintf("%s%s/%020d", c.prefix, key, math.MaxUint64-slot)
}

func (c *Consensus) parseSlot(key, objectKey string) (uint64, error) {
	name := strings.TrimPrefix(objectKey, c.prefix+key+"/")
	n, err := strconv.ParseUint(name, 10, 64)
	if err != nil || len(name) != 20 {
		return 0, errors.Mark(errors.Newf("%s: unexpected object %q in consensus log %q", c.store, objectKey, key), ErrCorrupt)
	}
	return math.MaxUint64 - n, nil
}

// slots yields the slot numbers of a log, newest first.
func (c *Consensus) slots(ctx context.Context, key string) iter.Seq2[uint64, error] {
	return func(yield func(uint64, error) bool) {
		for info, err := range c.store.List(ctx, c.prefix+key+"/", ListOptions{}) {
			if err != nil {
				yield(0, err)
				return
			}
			slot, err := c.parseSlot(key, info.Key)
			if !yield(slot, err) || err != nil {
				return
			}
		}
	}
}

type entry struct {
	VersionedData
	writeID [16]byte
}

// Head returns the newest entry of the log, and false if the log is empty.
func (c *Consensus) Head(ctx context.Context, key string) (VersionedData, bool, error) {
	e, _, ok, err := c.head(ctx, key)
	return e.VersionedData, ok, err
}

// Entry is a log entry with the slot it occupies in its log. A caller keeps
// the last Entry it read or wrote as a hint, so that it can later find the
// head (HeadFrom) and append (CompareAndSetAfter) with a few Gets and no
// List, which is the costly request on object stores.
//
// The hint methods assume the log is never truncated: on a log that
// Truncate may have shortened after the hint was taken, CompareAndSetAfter
// can write into a deleted slot. HeadFromChecked checks that the hint's
// slot still holds its entry (ErrStaleEntry if not), which catches a log
// replaced or rolled back from outside. Branch logs are never truncated.
type Entry struct {
	VersionedData
	Slot uint64
	// writeID is the entry's write id, when it was read or written here
	// (zero in an Entry made by a caller): HeadFromChecked checks that the slot
	// still holds this entry.
	writeID [16]byte
}

// HeadEntry is Head with the head's slot: one List and one Get.
func (c *Consensus) HeadEntry(ctx context.Context, key string) (Entry, bool, error) {
	e, slot, ok, err := c.head(ctx, key)
	return Entry{VersionedData: e.VersionedData, Slot: slot, writeID: e.writeID}, ok, err
}

// maxProbes bounds the slots HeadFrom reads one by one before it lists.
const maxProbes = 16

// HeadFrom returns the newest entry of a log, starting from known, an entry
// read from (or written to) this log earlier. It reads the slots after
// known one Get at a time until one is missing, so a log that moved by n
// entries costs n+1 small Gets. A log that moved by many entries is listed
// instead. The read that finds the next slot missing is the moment the
// result was the head, so HeadFrom is as linearizable as Head. seen, when
// not nil, is given each entry read on the way, oldest first (the head
// included), so that a caller can keep the log's recent history. The log
// must not be truncated (see Entry).
func (c *Consensus) HeadFrom(ctx context.Context, key string, known Entry, seen func(Entry)) (Entry, error) {
	return c.headFrom(ctx, key, known, seen, false)
}

// HeadFromChecked is HeadFrom for a caller about to write after the head
// it returns. Beside the first read it reads the head of known's slot (a
// few bytes) to check that it still holds known: if the log was replaced
// or rolled back since known was read (its repository deleted and made
// again, or restored from a copy), the error is marked ErrStaleEntry, and
// the caller must forget what it remembers of the log and read it again
// (HeadEntry), instead of appending after an entry that is gone. An Entry
// made by the caller, not read or written here, is not checked.
func (c *Consensus) HeadFromChecked(ctx context.Context, key string, known Entry, seen func(Entry)) (Entry, error) {
	return c.headFrom(ctx, key, known, seen, true)
}

func (c *Consensus) headFrom(ctx context.Context, key string, known Entry, seen func(Entry), check bool) (Entry, error) {
	if err := c.validateKey(key); err != nil {
		return Entry{}, err
	}
	var checked chan error
	if check && known.writeID != ([16]byte{}) {
		checked = make(chan error, 1)
		go func() { checked <- c.checkEntry(ctx, key, known) }()
	}
	head, err := c.probe(ctx, key, known, seen)
	if checked != nil {
		if cerr := <-checked; cerr != nil {
			return Entry{}, cerr
		}
	}
	return head, err
}

// checkEntry checks that known's slot still holds known, reading only the
// entry's header (its write id).
func (c *Consensus) checkEntry(ctx context.Context, key string, known Entry) error {
	objectKey := c.slotKey(key, known.Slot)
	b, err := c.store.GetRange(ctx, objectKey, Range(0, entryHeader))
	switch {
	case errors.Is(err, ErrNotFound):
		return errors.Mark(errors.Newf("%s: consensus log %q no longer holds entry %d read earlier: the log was replaced or rolled back since", c.store, key, known.Slot), ErrStaleEntry)
	case err != nil:
		return err
	case len(b) < entryHeader || string(b[:4]) != entryMagic:
		return errors.Mark(errors.Newf("%s: consensus entry %q is corrupt: truncated or bad magic bytes", c.store, objectKey), ErrCorrupt)
	case !bytes.Equal(b[13:29], known.writeID[:]):
		return errors.Mark(errors.Newf("%s: consensus log %q holds another entry in slot %d than the one read earlier: the log was replaced or rolled back since", c.store, key, known.Slot), ErrStaleEntry)
	}
	return nil
}

// probe reads the slots after known, for headFrom.
func (c *Consensus) probe(ctx context.Context, key string, known Entry, seen func(Entry)) (Entry, error) {
	head := known
	for range maxProbes {
		e, err := c.read(ctx, key, head.Slot+1)
		if errors.Is(err, ErrNotFound) {
			return head, nil
		}
		if err != nil {
			return Entry{}, err
		}
		head = Entry{VersionedData: e.VersionedData, Slot: head.Slot + 1, writeID: e.writeID}
		if seen != nil {
			seen(head)
		}
	}
	e, ok, err := c.HeadEntry(ctx, key)
	if err != nil {
		return Entry{}, err
	}
	if !ok || e.Slot < head.Slot {
		return Entry{}, errors.Mark(errors.Newf("%s: consensus log %q lost entries: slot %d was read, the log now ends before it", c.store, key, head.Slot), ErrCorrupt)
	}
	if seen != nil {
		seen(e)
	}
	return e, nil
}

// EntryAt reads the entry in a slot of a log: ErrNotFound if the slot is
// empty (past the head, or truncated).
func (c *Consensus) EntryAt(ctx context.Context, key string, slot uint64) (Entry, error) {
	if err := c.validateKey(key); err != nil {
		return Entry{}, err
	}
	e, err := c.read(ctx, key, slot)
	if err != nil {
		return Entry{}, err
	}
	return Entry{VersionedData: e.VersionedData, Slot: slot, writeID: e.writeID}, nil
}

// EntryID returns the write id of the entry in a slot of a log: random,
// shared with no other entry of any log, and never changed, so the first
// entry's names the log. ErrNotFound if the slot is empty.
func (c *Consensus) EntryID(ctx context.Context, key string, slot uint64) ([16]byte, error) {
	if err := c.validateKey(key); err != nil {
		return [16]byte{}, err
	}
	e, err := c.read(ctx, key, slot)
	if err != nil {
		return [16]byte{}, err
	}
	return e.writeID, nil
}

// CompareAndSetAfter appends next to the log iff known (an entry read from
// this log earlier) is still its head: it creates the slot after known's
// with PutIfAbsent, so it costs one conditional write and no List. It
// returns Committed with the new entry, or ExpectationMismatch if another
// entry follows known. next.SeqNo must be greater than known.SeqNo and at
// most MaxSeqNo. Errors and indeterminate outcomes are as for
// CompareAndSet. The log must not be truncated (see Entry).
func (c *Consensus) CompareAndSetAfter(ctx context.Context, key string, known Entry, next VersionedData) (CaSResult, Entry, error) {
	if err := c.validateKey(key); err != nil {
		return ExpectationMismatch, Entry{}, err
	}
	if next.SeqNo > MaxSeqNo || next.SeqNo <= known.SeqNo {
		return ExpectationMismatch, Entry{}, errors.Newf("invalid sequence number %d: must be in (%d, %d]", next.SeqNo, known.SeqNo, MaxSeqNo)
	}
	if known.Slot == math.MaxUint64 {
		return ExpectationMismatch, Entry{}, errors.Newf("consensus log %q is full", key)
	}
	res, id, err := c.append(ctx, key, known.Slot+1, next)
	if res != Committed || err != nil {
		return res, Entry{}, err
	}
	return res, Entry{VersionedData: next, Slot: known.Slot + 1, writeID: id}, nil
}

func (c *Consensus) head(ctx context.Context, key string) (entry, uint64, bool, error) {
	if err := c.validateKey(key); err != nil {
		return entry{}, 0, false, err
	}
	// The head slot is never deleted (Truncate keeps it), so a listed slot
	// that vanished before the read was an older one truncated meanwhile;
	// listing again finds the head.
	for attempt := 0; attempt < 10; attempt++ {
		slot, found, err := c.newestSlot(ctx, key)
		if err != nil || !found {
			return entry{}, 0, false, err
		}
		e, err := c.read(ctx, key, slot)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return entry{}, 0, false, err
		}
		return e, slot, true, nil
	}
	return entry{}, 0, false, errors.Newf("%s: consensus log %q keeps changing under reads", c.store, key)
}

// NewestSlot returns the slot of the log's newest entry without reading
// it, and false if the log is empty: where an entry that cannot be read
// (ErrCorrupt) sits, so that a writer may append after it
// (CompareAndSetAfter with an Entry of that Slot).
func (c *Consensus) NewestSlot(ctx context.Context, key string) (uint64, bool, error) {
	if err := c.validateKey(key); err != nil {
		return 0, false, err
	}
	return c.newestSlot(ctx, key)
}

func (c *Consensus) newestSlot(ctx context.Context, key string) (uint64, bool, error) {
	for slot, err := range c.slots(ctx, key) {
		return slot, err == nil, err
	}
	return 0, false, nil
}

func (c *Consensus) read(ctx context.Context, key string, slot uint64) (entry, error) {
	objectKey := c.slotKey(key, slot)
	data, err := c.store.Get(ctx, objectKey)
	if err != nil {
		return entry{}, err
	}
	return decodeEntry(c.store, objectKey, data)
}

// CompareAndSet appends next to the log iff its head is exactly expected
// (NoSeqNo: the log is empty). next.SeqNo must be greater than expected and
// at most MaxSeqNo; otherwise the call fails without writing.
//
// It returns Committed or ExpectationMismatch. An error means the outcome
// could not be established; after an indeterminate storage failure the
// entry is read back to decide, and only if that keeps failing is an error
// carrying ErrIndeterminate returned.
func (c *Consensus) CompareAndSet(ctx context.Context, key string, expected SeqNo, next VersionedData) (CaSResult, error) {
	if err := c.validateKey(key); err != nil {
		return ExpectationMismatch, err
	}
	if next.SeqNo > MaxSeqNo {
		return ExpectationMismatch, errors.Newf("invalid sequence number %d: must be in [0, %d]", next.SeqNo, MaxSeqNo)
	}
	if expected != NoSeqNo && next.SeqNo <= expected {
		return ExpectationMismatch, errors.Newf("new seqno must be strictly greater than expected. Got new: %d expected: %d", next.SeqNo, expected)
	}
	head, slot, ok, err := c.head(ctx, key)
	if err != nil {
		return ExpectationMismatch, err
	}
	var target uint64
	switch {
	case expected == NoSeqNo && ok:
		return ExpectationMismatch, nil
	case expected == NoSeqNo:
		target = 0
	case !ok || head.SeqNo != expected:
		return ExpectationMismatch, nil
	default:
		target = slot + 1
	}
	res, _, err := c.append(ctx, key, target, next)
	return res, err
}

// append writes next into slot under a fresh write id, which it returns.
func (c *Consensus) append(ctx context.Context, key string, slot uint64, next VersionedData) (CaSResult, [16]byte, error) {
	e := entry{VersionedData: next}
	if _, err := rand.Read(e.writeID[:]); err != nil {
		return ExpectationMismatch, e.writeID, errors.Wrap(err, "generating a write id")
	}
	res, err := c.write(ctx, key, slot, e)
	return res, e.writeID, err
}

// write creates the slot, resolving indeterminate outcomes by reading back.
func (c *Consensus) write(ctx context.Context, key string, slot uint64, e entry) (CaSResult, error) {
	objectKey := c.slotKey(key, slot)
	data := encodeEntry(e)
	var lastErr error
	mayBeOurs := false // whether an earlier try of ours may have landed
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			if err := SleepBackoff(ctx, attempt, 10*time.Millisecond, time.Second); err != nil {
				return ExpectationMismatch, Indeterminate(errors.Wrapf(lastErr, "resolving write of %s", objectKey))
			}
		}
		err := c.store.PutIfAbsent(ctx, objectKey, data)
		switch {
		case err == nil:
			return Committed, nil
		case errors.Is(err, ErrPreconditionFailed):
			// Somebody holds the slot: maybe us, if an earlier attempt of
			// ours landed after reporting a failure. Otherwise another
			// writer won, and the slot's reader learns who (backends do not
			// retry by themselves, so a first try's failure is not ours).
			if !mayBeOurs {
				return ExpectationMismatch, nil
			}
		case IsIndeterminate(err) || IsTransient(err):
			lastErr = err
			mayBeOurs = true
		default:
			return ExpectationMismatch, err
		}
		stored, rerr := c.read(ctx, key, slot)
		switch {
		case rerr == nil && stored.writeID == e.writeID:
			return Committed, nil
		case rerr == nil:
			return ExpectationMismatch, nil
		case errors.Is(rerr, ErrNotFound):
			// Our write did not land (yet): try it again.
			lastErr = err
		case IsIndeterminate(rerr) || IsTransient(rerr):
			lastErr = rerr
		default:
			return ExpectationMismatch, rerr
		}
	}
	return ExpectationMismatch, Indeterminate(errors.Wrapf(lastErr, "%s: outcome of compare-and-set on %q unknown after retries", c.store, key))
}

// Scan returns up to limit entries with SeqNo >= from, oldest first.
// limit <= 0 means no limit.
func (c *Consensus) Scan(ctx context.Context, key string, from SeqNo, limit int) ([]VersionedData, error) {
	if err := c.validateKey(key); err != nil {
		return nil, err
	}
	var newestFirst []VersionedData
	for slot, err := range c.slots(ctx, key) {
		if err != nil {
			return nil, err
		}
		e, err := c.read(ctx, key, slot)
		if errors.Is(err, ErrNotFound) {
			continue // truncated while we listed
		}
		if err != nil {
			return nil, err
		}
		if e.SeqNo < from {
			break
		}
		newestFirst = append(newestFirst, e.VersionedData)
	}
	out := make([]VersionedData, 0, len(newestFirst))
	for i := len(newestFirst) - 1; i >= 0; i-- {
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, newestFirst[i])
	}
	return out, nil
}

// Truncate deletes the entries with SeqNo < seqno and returns how many it
// deleted. It fails if the log is empty (ErrNotFound) or seqno is greater
// than the head's; the head is never deleted. It is idempotent. It must not
// be used on a log that is read or written through Entry hints (HeadFrom,
// CompareAndSetAfter).
func (c *Consensus) Truncate(ctx context.Context, key string, seqno SeqNo) (int, error) {
	head, headSlot, ok, err := c.head(ctx, key)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errors.Mark(errors.Newf("%s: cannot truncate consensus log %q: it holds no data", c.store, key), ErrNotFound)
	}
	if seqno > head.SeqNo {
		return 0, errors.Newf("%s: cannot truncate consensus log %q to %d: head is %d", c.store, key, seqno, head.SeqNo)
	}
	var doomed []string
	for slot, err := range c.slots(ctx, key) {
		if err != nil {
			return 0, err
		}
		if slot >= headSlot {
			continue
		}
		e, err := c.read(ctx, key, slot)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if e.SeqNo < seqno {
			doomed = append(doomed, c.slotKey(key, slot))
		}
	}
	if err := c.store.Delete(ctx, doomed...); err != nil {
		return 0, err
	}
	return len(doomed), nil
}

// listPastLog is how many objects of one log a listing of the logs passes
// over before it starts again past that log: listing every slot of a long
// log would cost a page of listing (a request on S3) per thousand entries.
// A variable for tests.
var listPastLog = 1000

// ListKeys yields the name of every log that holds an entry, in the order
// of their objects' keys (a name followed by '/': "a-x" and "a.b" before
// "a", "a0" after it).
func (c *Consensus) ListKeys(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		last, startAfter := "", ""
		for {
			restart, passed := false, 0
			for info, err := range c.store.List(ctx, c.prefix, ListOptions{StartAfter: startAfter}) {
				if err != nil {
					yield("", err)
					return
				}
				rest := strings.TrimPrefix(info.Key, c.prefix)
				name, _, found := strings.Cut(rest, "/")
				if !found {
					continue
				}
				if name == last {
					if passed++; passed >= listPastLog {
						// Every slot of the log sorts before name+"0": slots
						// follow a "/", which sorts before "0", and a log
						// whose name goes on sorts after.
						startAfter, restart = c.prefix+name+"0", true
						break
					}
					continue
				}
				last, passed = name, 0
				if !yield(name, nil) {
					return
				}
			}
			if !restart {
				return
			}
		}
	}
}

// Entry layout: "ICCS" | version (1) | seqno (8, big endian) | write id (16)
// | data | CRC-32C of everything before it (4, big endian).
const (
	entryMagic   = "ICCS"
	entryVersion = 1
	entryHeader  = 4 + 1 + 8 + 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeEntry(e entry) []byte {
	buf := make([]byte, 0, entryHeader+len(e.Data)+4)
	buf = append(buf, entryMagic...)
	buf = append(buf, entryVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.SeqNo))
	buf = append(buf, e.writeID[:]...)
	buf = append(buf, e.Data...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

func decodeEntry(store Storage, objectKey string, b []byte) (entry, error) {
	corrupt := func(why string) (entry, error) {
		return entry{}, errors.Mark(errors.Newf("%s: consensus entry %q is corrupt: %s", store, objectKey, why), ErrCorrupt)
	}
	if len(b) < entryHeader+4 {
		return corrupt("truncated")
	}
	if string(b[:4]) != entryMagic {
		return corrupt("bad magic bytes")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return corrupt("checksum mismatch")
	}
	if b[4] != entryVersion {
		return corrupt(fmt.Sprintf("unsupported entry version %d", b[4]))
	}
	var e entry
	e.SeqNo = SeqNo(binary.BigEndian.Uint64(b[5:13]))
	copy(e.writeID[:], b[13:29])
	e.Data = append([]byte{}, body[entryHeader:]...)
	return e, nil
}
