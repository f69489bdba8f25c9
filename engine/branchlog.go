package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cockroachdb/errors"
	"golang.org/x/sync/errgroup"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// A branch log's entries are its commits, newest last: an entry written by
// a commit names its parent (the snapshot of the entry before) and, when it
// is small, carries the commit's transaction log. A rebase therefore finds
// the commits it must replay in the log, which finding the tip has just
// read, instead of walking the snapshots' parents one read at a time, and
// replays a small commit without reading its transaction log. Entries never
// change once written and logs are never truncated, so they are kept by
// slot.

// recentEntries bounds the entries kept of each branch log: enough for a
// rebase over the commits of many writers since a session began.
const recentEntries = 1024

// keptEntry is what is kept of a branch log entry: its ref decoded once,
// without the snapshot and manifest copies it carries (they serve only a
// writer that finds the entry at the tip, assets.adoptInline), so that the
// kept entries of a busy branch stay small; or why it does not decode, for
// the walk that reads it to report.
type keptEntry struct {
	ref *codec.Ref // nil with err nil: a tombstone
	err error
}

// keptOf decodes entry e of the log at key for keeping.
func keptOf(key string, e storage.Entry) keptEntry {
	if len(e.Data) == 0 {
		return keptEntry{}
	}
	ref, err := codec.DecodeRef(branchEntryName(strings.TrimPrefix(key, branchPrefix), e.Slot), e.Data)
	if err != nil {
		return keptEntry{err: err}
	}
	ref.SnapshotFile, ref.ManifestFiles = nil, nil
	return keptEntry{ref: ref}
}

// keep records entry e of the log.
func (r *refs) keep(key string, e storage.Entry) {
	kept := keptOf(key, e) // decoded outside the lock
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keepLocked(key, e.Slot, kept)
}

// logPosition is where an entry is in the branch logs: its log's key and
// slot.
type logPosition struct {
	key  string
	slot uint64
}

// keepLocked records kept, the keptOf the entry at slot (caller holds
// r.mu).
func (r *refs) keepLocked(key string, slot uint64, kept keptEntry) {
	log := r.recent[key]
	if kept.ref == nil && kept.err == nil {
		// A tombstone: the branch was deleted. No walk back from a later
		// head passes it (a branch made again starts with an entry that
		// names no parent), so what was kept before it is dropped, and a
		// deleted branch holds one empty entry. Entries after it, which a
		// read back through the log may have kept first, stay.
		for s := range log {
			if s < slot {
				r.forgetLocked(key, s)
			}
		}
	}
	if log == nil {
		log = map[uint64]keptEntry{}
		r.recent[key] = log
	}
	log[slot] = kept
	if kept.ref != nil && !kept.ref.Parent.IsZero() {
		r.commits[kept.ref.Snapshot] = logPosition{key, slot}
	}
	if len(log) > recentEntries {
		// Forget the oldest half: the walk back from the tip needs the
		// newest, and trimming in batches keeps this cheap.
		slots := slices.Sorted(maps.Keys(log))
		for _, s := range slots[:len(slots)-recentEntries/2] {
			r.forgetLocked(key, s)
		}
	}
}

// forgetLocked drops the kept entry at slot of the log at key, and its
// place in the index of commits (caller holds r.mu).
func (r *refs) forgetLocked(key string, slot uint64) {
	if e := r.recent[key][slot]; e.ref != nil && r.commits[e.ref.Snapshot] == (logPosition{key, slot}) {
		delete(r.commits, e.ref.Snapshot)
	}
	delete(r.recent[key], slot)
}

// walkBatch is how many entries a walk back through a log reads at once
// when they are not kept: a session far behind its branch then waits for
// one round trip per batch, not per commit.
const walkBatch = 8

// entryAt returns the ref at a slot of a branch log (nil: a tombstone),
// kept or read. A read also fetches the walkBatch-1 slots before it, which
// a walk back from the tip asks for next.
func (r *refs) entryAt(ctx context.Context, key string, slot uint64) (*codec.Ref, error) {
	r.mu.Lock()
	kept, ok := r.recent[key][slot]
	r.mu.Unlock()
	if ok {
		return kept.ref, kept.err
	}
	var target error
	var g errgroup.Group
	for s := slot - min(slot, walkBatch-1); s <= slot; s++ {
		r.mu.Lock()
		_, found := r.recent[key][s]
		r.mu.Unlock()
		if found {
			continue // slot itself is not: checked above
		}
		g.Go(func() error {
			e, err := r.consensus.EntryAt(ctx, key, s)
			var k keptEntry
			if err == nil {
				k = keptOf(key, e)
				r.mu.Lock()
				r.keepLocked(key, s, k)
				r.mu.Unlock()
			}
			if s == slot {
				kept, target = k, err
			}
			return nil // the others are only read ahead
		})
	}
	_ = g.Wait()
	if target != nil {
		return nil, target
	}
	return kept.ref, kept.err
}

// readBack reads the newest entries of the log at key, up to depth of them
// and walkBatch at a time, and keeps them, so that a walk through history
// finds the commits they name (entryOf). It stops at a tombstone, at an
// entry it cannot read, or when ctx ends.
func (r *refs) readBack(ctx context.Context, key string, depth uint64) {
	head, ok, err := r.head(ctx, key, false)
	if err != nil || !ok || len(head.Data) == 0 {
		return
	}
	for oldest := head.Slot; oldest > 0 && head.Slot-oldest < depth; {
		next := oldest - 1 // the newest slot not read yet
		ref, err := r.entryAt(ctx, key, next)
		if err != nil || ref == nil {
			return
		}
		oldest = next - min(next, walkBatch-1) // entryAt read the slots below next too
	}
}

// entryOf finds a kept branch log entry that names snapshot id as a commit
// (an entry with a parent): the log key, its slot and ref. A walk through
// id's history reads the entries before it as hints.
func (r *refs) entryOf(id codec.SnapshotID) (key string, slot uint64, ref *codec.Ref, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pos, ok := r.commits[id]
	if !ok {
		return "", 0, nil, false
	}
	return pos.key, pos.slot, r.recent[pos.key][pos.slot].ref, true
}

// branchEntryName names slot of a branch's log in errors.
func branchEntryName(branch string, slot uint64) string {
	return fmt.Sprintf("%s%s%s (entry %d)", codec.RefsPrefix, branchPrefix, branch, slot)
}

// loggedCommit is a commit found in a branch log.
type loggedCommit struct {
	snapshot codec.SnapshotID
	txlog    *codec.TransactionLog // nil: not carried by the entry
}

// commitsSince returns the commits that took the branch from base to head
// (its log's head entry, whose ref branchHead decoded as headRef), oldest
// first, from the log alone: walking back
// from head, every entry must be a commit made on the entry before it,
// until an entry of base. ok is false when the log cannot tell (it reaches
// an entry that is not a commit, such as a creation, a reset, a tombstone
// or an entry written before commits named their parents, without meeting
// base); the caller then walks the snapshots' parents.
func (r *refs) commitsSince(ctx context.Context, branch string, head storage.Entry, headRef *codec.Ref, base codec.SnapshotID) (_ []loggedCommit, ok bool, _ error) {
	key := branchPrefix + branch
	var out []loggedCommit
	var want codec.SnapshotID // the parent the entry before the last must hold
	slot, ref := head.Slot, headRef
	for {
		name := branchEntryName(branch, slot)
		if !want.IsZero() && ref.Snapshot != want {
			return nil, false, nil
		}
		if ref.Snapshot == base {
			slices.Reverse(out)
			return out, true, nil
		}
		if ref.Parent.IsZero() || slot == 0 {
			return nil, false, nil
		}
		txlog, err := ref.InlineTxLog(name)
		if err != nil {
			return nil, false, err
		}
		out = append(out, loggedCommit{snapshot: ref.Snapshot, txlog: txlog})
		want, slot = ref.Parent, slot-1
		ref, err = r.entryAt(ctx, key, slot)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, false, nil
		}
		if errors.Is(err, codec.ErrCorrupt) {
			return nil, false, err // a payload that does not decode names its entry
		}
		if errors.Is(err, storage.ErrCorrupt) {
			err = errors.Mark(err, codec.ErrCorrupt) // one marker, as branchHead's
		}
		if err != nil {
			return nil, false, errors.Wrapf(err, "reading the log of branch %q", branch)
		}
		if ref == nil { // a tombstone
			return nil, false, nil
		}
	}
}
