package engine

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/logs"
	"github.com/icechunk-go/icechunk-go/storage"
)

// Branch and tag layout under refs/ (see docs/format.md):
//
//   - branch B is the consensus log "refs/branch.B/": each entry a Ref, the
//     head is the tip; a commit is a compare-and-set from the tip's version
//     to the next. A deleted branch's head is an entry with an empty
//     payload (a tombstone), so the log keeps its history and a later branch of the
//     same name continues it.
//   - tag T is the object "refs/tag.T/ref", written create-only, so a tag
//     never moves. Deleting writes "refs/tag.T/deleted" beside it; the
//     ref object stays, so the name can never be used again.
const (
	branchPrefix = "branch."
	tagPrefix    = "tag."
	// MainBranch is the branch every repository starts with.
	MainBranch = "main"
)

func tagRefKey(name string) string     { return codec.RefsPrefix + tagPrefix + name + "/ref" }
func tagDeletedKey(name string) string { return codec.RefsPrefix + tagPrefix + name + "/deleted" }

// validateRefName checks a branch or tag name: 1 to 255 bytes of
// printable UTF-8 (letters, digits, punctuation, symbols and spaces), with
// no '/' or '\\' and not starting with '.'. A name is one segment of a
// storage key, so it can never reach outside the refs folder.
func validateRefName(kind, name string) error {
	ok := name != "" && len(name) <= 255 && name[0] != '.' && utf8.ValidString(name)
	for _, r := range name {
		if !unicode.IsPrint(r) || r == '/' || r == '\\' {
			ok = false
		}
	}
	if !ok {
		return invalidArgument("invalid %s name %q: use 1-255 bytes of printable characters without '/' or '\\', not starting with '.'", kind, name)
	}
	return nil
}

// refs manages branches and tags.
//
// It remembers the last entry it read or wrote of each branch log. Branch
// logs are never truncated, so that entry is a safe starting point: the
// tip is then found with one Get of the slot after it (more if the branch
// moved) and a commit appends with one conditional Put, where listing the
// log would cost a List, the most expensive request on object stores.
type refs struct {
	store     storage.Storage
	consensus *storage.Consensus

	// adopt, when set, takes the files a branch's head entry carries
	// (assets.adoptInline).
	adopt func(ctx context.Context, object string, ref *codec.Ref)

	mu     sync.Mutex
	known  map[string]storage.Entry        // branch log key -> newest entry seen
	recent map[string]map[uint64]keptEntry // branch log key -> slot -> entry (see branchlog.go)
	// commits indexes the kept entries written by commits (with a parent)
	// by their snapshot, for entryOf.
	commits map[codec.SnapshotID]logPosition
	// contended holds the branches whose last commit through this handle
	// found the branch moved (see Session.Commit).
	contended map[string]bool
}

func newRefs(store storage.Storage) *refs {
	return &refs{store: store, consensus: storage.NewConsensus(store, codec.RefsPrefix), known: map[string]storage.Entry{}, recent: map[string]map[uint64]keptEntry{}, commits: map[codec.SnapshotID]logPosition{}, contended: map[string]bool{}}
}

// wasContended says whether the last commit on branch through this handle
// found that another writer had moved it.
func (r *refs) wasContended(branch string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.contended[branch]
}

// noteCommit records how a commit on branch ended: landed, or beaten by
// another writer (moved); other failures say nothing about contention.
func (r *refs) noteCommit(branch string, moved bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if moved {
		r.contended[branch] = true
	} else {
		delete(r.contended, branch)
	}
}

func (r *refs) knownEntry(key string) (storage.Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.known[key]
	return e, ok
}

// slotAfter returns the slot a commit on base would take in branch's log:
// the one after the newest entry this handle has seen, when that entry is
// base's. A commit only lands there if nobody moved the branch since, so
// the answer is a hint (codec.Snapshot.LogSlot), not a promise.
func (r *refs) slotAfter(branch string, base codec.SnapshotID) (uint64, bool) {
	key := branchPrefix + branch
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.known[key]
	if !ok || e.Slot == math.MaxUint64 {
		return 0, false
	}
	if kept, ok := r.recent[key][e.Slot]; !ok || kept.ref == nil || kept.ref.Snapshot != base {
		return 0, false
	}
	return e.Slot + 1, true
}

// forget drops what the handle remembers of a log: its newest entry and
// its recent entries, with the commits they index.
func (r *refs) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.known, key)
	for _, kept := range r.recent[key] {
		if kept.ref != nil {
			if pos, ok := r.commits[kept.ref.Snapshot]; ok && pos.key == key {
				delete(r.commits, kept.ref.Snapshot)
			}
		}
	}
	delete(r.recent, key)
}

// remember records e as the newest entry seen of the log, unless a newer
// one is already known (goroutines race to record), and keeps it among the
// log's recent entries.
func (r *refs) remember(key string, e storage.Entry) {
	r.mu.Lock()
	_, have := r.recent[key][e.Slot]
	r.mu.Unlock()
	var kept keptEntry
	if !have { // the head is remembered at every read: decode it once
		kept = keptOf(key, e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.known[key]; !ok || old.Slot < e.Slot {
		r.known[key] = e
	}
	if !have {
		r.keepLocked(key, e.Slot, kept)
	}
}

// head reads the newest entry of a branch log, from the remembered entry
// when there is one. toWrite: the caller will write after the head, so the
// remembered entry is checked to be still in the log (one more small read,
// beside the first).
func (r *refs) head(ctx context.Context, key string, toWrite bool) (storage.Entry, bool, error) {
	var head storage.Entry
	var err error
	ok := true
	if known, found := r.knownEntry(key); found {
		keep := func(e storage.Entry) { r.keep(key, e) }
		if toWrite {
			head, err = r.consensus.HeadFromChecked(ctx, key, known, keep)
		} else {
			head, err = r.consensus.HeadFrom(ctx, key, known, keep)
		}
		if errors.Is(err, storage.ErrStaleEntry) {
			// The log was replaced or rolled back under this handle: what
			// it remembers of it is wrong, and a commit after the entry
			// it knew would leave a gap. Read the log afresh.
			logs.Engine.WarnContext(ctx, "a branch log changed under this repository handle (the repository was made again or restored?); reading it again", "log", key, "err", err)
			r.forget(key)
			head, ok, err = r.consensus.HeadEntry(ctx, key)
		}
	} else {
		head, ok, err = r.consensus.HeadEntry(ctx, key)
	}
	if err != nil || !ok {
		return storage.Entry{}, false, err
	}
	r.remember(key, head)
	return head, true, nil
}

// branchTip returns the branch's tip and the log version it is at.
// ErrBranchNotFound if the branch does not exist.
func (r *refs) branchTip(ctx context.Context, name string) (codec.SnapshotID, storage.SeqNo, error) {
	return r.tipAt(ctx, name, false)
}

// branchTipToWrite is branchTip for a caller that will write the branch's
// next entry after the version it returns (see head's toWrite).
func (r *refs) branchTipToWrite(ctx context.Context, name string) (codec.SnapshotID, storage.SeqNo, error) {
	return r.tipAt(ctx, name, true)
}

func (r *refs) tipAt(ctx context.Context, name string, toWrite bool) (codec.SnapshotID, storage.SeqNo, error) {
	head, ref, err := r.branchHeadAt(ctx, name, toWrite)
	if err != nil {
		return codec.SnapshotID{}, head.SeqNo, err
	}
	return ref.Snapshot, head.SeqNo, nil
}

// branchHead returns the head entry of the branch's log and its ref.
// ErrBranchNotFound if the branch does not exist; the entry's SeqNo is then
// the version to create it after (NoSeqNo if it never existed).
func (r *refs) branchHead(ctx context.Context, name string) (storage.Entry, *codec.Ref, error) {
	return r.branchHeadAt(ctx, name, false)
}

func (r *refs) branchHeadAt(ctx context.Context, name string, toWrite bool) (storage.Entry, *codec.Ref, error) {
	if err := validateRefName("branch", name); err != nil {
		return storage.Entry{}, nil, err
	}
	head, ok, err := r.head(ctx, branchPrefix+name, toWrite)
	if errors.Is(err, storage.ErrCorrupt) {
		// One corruption marker for callers, whichever layer found it.
		err = errors.Mark(err, codec.ErrCorrupt)
	}
	if err != nil {
		return storage.Entry{}, nil, errors.Wrapf(err, "reading branch %q", name)
	}
	if !ok {
		return storage.Entry{VersionedData: storage.VersionedData{SeqNo: storage.NoSeqNo}}, nil, errors.Mark(errors.Newf("branch %q does not exist", name), ErrBranchNotFound)
	}
	if len(head.Data) == 0 {
		return head, nil, errors.Mark(errors.Newf("branch %q does not exist (deleted)", name), ErrBranchNotFound)
	}
	object := branchEntryName(name, head.Slot)
	ref, err := codec.DecodeRef(object, head.Data)
	if err != nil {
		return storage.Entry{}, nil, err
	}
	if r.adopt != nil {
		r.adopt(ctx, object, ref)
	}
	return head, ref, nil
}

// moveBranch sets the branch to snap iff its tip is still expected (zero:
// the branch must not exist). On a lost race it returns a *ConflictError
// naming the actual tip.
func (r *refs) moveBranch(ctx context.Context, name string, expected, snap codec.SnapshotID) error {
	tip, seq, err := r.branchTipToWrite(ctx, name)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrBranchNotFound) {
		return err
	}
	if expected.IsZero() == exists || (exists && tip != expected) {
		return &ConflictError{Branch: name, ExpectedParent: expected, ActualParent: tip}
	}
	err = r.appendRef(ctx, name, seq, codec.Ref{Snapshot: snap})
	var ce *ConflictError
	if errors.As(err, &ce) {
		// The tip moved between the read above and the compare-and-set.
		ce.ExpectedParent = expected
	}
	return err
}

// refWriteContext is the context of a ref's write: ctx's values, not its
// cancellation. A write of a ref, once begun, runs to its outcome (with
// its retries), so that a caller who gives up never leaves it unknown
// whether a branch moved or a tag exists; what led up to it stays
// cancellable.
func refWriteContext(ctx context.Context) context.Context {
	return context.WithoutCancel(ctx)
}

// appendRef writes ref as the branch's next log entry after version seq; a
// ref to the zero snapshot writes the tombstone of a deleted branch (an
// empty payload: a Ref file never holds the zero id).
func (r *refs) appendRef(ctx context.Context, name string, seq storage.SeqNo, ref codec.Ref) error {
	ctx = refWriteContext(ctx)
	data, err := refPayload(ref)
	if err != nil {
		return err
	}
	next := storage.SeqNo(0)
	if seq != storage.NoSeqNo {
		next = seq + 1
	}
	key := branchPrefix + name
	entry := storage.VersionedData{SeqNo: next, Data: data}
	var res storage.CaSResult
	if known, ok := r.knownEntry(key); ok && seq != storage.NoSeqNo && known.SeqNo == seq {
		// The version the caller read is the remembered entry: append
		// right after it; if anything followed it, the write fails.
		var written storage.Entry
		res, written, err = r.consensus.CompareAndSetAfter(ctx, key, known, entry)
		if err == nil && res == storage.Committed {
			r.remember(key, written)
		}
	} else {
		res, err = r.consensus.CompareAndSet(ctx, key, seq, entry)
	}
	if err != nil {
		return errors.Wrapf(err, "updating branch %q", name)
	}
	if res != storage.Committed {
		tip, _, terr := r.branchTip(ctx, name)
		if terr != nil && !errors.Is(terr, ErrBranchNotFound) {
			return terr
		}
		return &ConflictError{Branch: name, ActualParent: tip}
	}
	return nil
}

// refPayload is the data of a branch log entry holding ref: the encoded
// ref, or nothing for the zero snapshot (a deleted branch's tombstone).
func refPayload(ref codec.Ref) ([]byte, error) {
	if ref.Snapshot.IsZero() {
		return nil, nil
	}
	return codec.EncodeRef(&ref)
}

// createBranch makes a new branch at snap; ErrBranchExists if it exists.
func (r *refs) createBranch(ctx context.Context, name string, snap codec.SnapshotID) error {
	_, seq, err := r.branchTipToWrite(ctx, name)
	if err == nil {
		return errors.Mark(errors.Newf("branch %q already exists", name), ErrBranchExists)
	}
	if !errors.Is(err, ErrBranchNotFound) {
		return err
	}
	if err := r.appendRef(ctx, name, seq, codec.Ref{Snapshot: snap}); err != nil {
		if errors.Is(err, ErrConflict) {
			return errors.Mark(errors.Newf("branch %q was created concurrently", name), ErrBranchExists)
		}
		return err
	}
	return nil
}

// deleteBranch writes the branch's tombstone, after a damaged head too.
func (r *refs) deleteBranch(ctx context.Context, name string) error {
	if name == MainBranch {
		return invalidArgument("cannot delete the %q branch", MainBranch)
	}
	_, seq, err := r.branchTipToWrite(ctx, name)
	if errors.Is(err, codec.ErrCorrupt) {
		return r.replaceDamagedHead(ctx, name, codec.Ref{}, err)
	}
	if err != nil {
		return err
	}
	if err := r.appendRef(ctx, name, seq, codec.Ref{}); err != nil {
		return errors.Wrapf(err, "deleting branch %q", name)
	}
	return nil
}

// replaceDamagedHead writes ref (the zero snapshot: the tombstone) as the
// entry after the newest of the branch's log, whose head could not be read
// (damaged: an entry failing its checksum, or a ref that does not decode;
// damage is that error). It is how a reset without an expected tip, or a
// delete, repairs a branch: nothing can be compared with an unreadable
// head, and the damaged entry stays in the log, before the new head. A
// writer appending meanwhile makes it a *ConflictError.
func (r *refs) replaceDamagedHead(ctx context.Context, name string, ref codec.Ref, damage error) error {
	key := branchPrefix + name
	slot, ok, err := r.consensus.NewestSlot(ctx, key)
	if err != nil {
		return errors.Wrapf(err, "reading branch %q", name)
	}
	if !ok {
		return errors.Mark(errors.Newf("branch %q does not exist", name), ErrBranchNotFound)
	}
	if slot == math.MaxUint64 {
		return errors.Newf("the log of branch %q is full", name)
	}
	data, err := refPayload(ref)
	if err != nil {
		return err
	}
	// An engine's log numbers its entries by slot.
	after := storage.Entry{VersionedData: storage.VersionedData{SeqNo: storage.SeqNo(slot)}, Slot: slot}
	res, written, err := r.consensus.CompareAndSetAfter(refWriteContext(ctx), key, after, storage.VersionedData{SeqNo: storage.SeqNo(slot) + 1, Data: data})
	if err != nil {
		return errors.Wrapf(err, "updating branch %q", name)
	}
	if res != storage.Committed {
		return &ConflictError{Branch: name}
	}
	r.remember(key, written)
	logs.Engine.WarnContext(ctx, "wrote a new head after the damaged head entry of a branch", "branch", name, "damage", damage)
	return nil
}

// listBranches returns the names of the existing branches, sorted. A
// branch whose head entry is corrupt is listed: its log exists, and the
// corruption is reported when the branch is used, so that one damaged
// branch does not hide the others.
func (r *refs) listBranches(ctx context.Context) ([]string, error) {
	tips, err := r.branchTips(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(tips))
	for i, t := range tips {
		out[i] = t.name
	}
	return out, nil
}

// refTarget is a branch or tag and the snapshot it names.
type refTarget struct {
	tag      bool
	name     string
	snapshot codec.SnapshotID
}

func (t refTarget) String() string {
	if t.tag {
		return "tag " + t.name
	}
	return "branch " + t.name
}

// branchTips returns the existing branches, sorted by name, with their
// tips: the tip is read anyway to tell a live branch from a deleted one.
// A corrupt head entry fails the call unless keepCorrupt is set, which
// lists that branch with a zero tip.
func (r *refs) branchTips(ctx context.Context, keepCorrupt bool) ([]refTarget, error) {
	var out []refTarget
	for key, err := range r.consensus.ListKeys(ctx) {
		if err != nil {
			return nil, err
		}
		name, ok := strings.CutPrefix(key, branchPrefix)
		if !ok {
			continue
		}
		tip, _, err := r.branchTip(ctx, name)
		switch {
		case err == nil, keepCorrupt && errors.Is(err, codec.ErrCorrupt):
			out = append(out, refTarget{name: name, snapshot: tip})
		case !errors.Is(err, ErrBranchNotFound):
			return nil, err
		}
	}
	// The logs come in the order of their objects' keys, which puts
	// "dev-2" before "dev".
	slices.SortFunc(out, func(a, b refTarget) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// targets returns every tag (first, sorted) and branch (sorted) with the
// snapshot it names. A tag deleted while they are listed is left out.
func (r *refs) targets(ctx context.Context) ([]refTarget, error) {
	tags, err := r.listTags(ctx)
	if err != nil {
		return nil, errors.Wrap(err, "listing tags")
	}
	var out []refTarget
	for _, name := range tags {
		id, err := r.tag(ctx, name)
		if errors.Is(err, ErrTagNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, refTarget{tag: true, name: name, snapshot: id})
	}
	branches, err := r.branchTips(ctx, false)
	if err != nil {
		return nil, errors.Wrap(err, "listing branches")
	}
	return append(out, branches...), nil
}

// createTag makes an immutable tag; ErrTagExists if the name was ever used.
func (r *refs) createTag(ctx context.Context, name string, snap codec.SnapshotID) error {
	if err := validateRefName("tag", name); err != nil {
		return err
	}
	data, err := codec.EncodeRef(&codec.Ref{Snapshot: snap})
	if err != nil {
		return err
	}
	ctx = refWriteContext(ctx)
	err = r.store.PutIfAbsent(ctx, tagRefKey(name), data)
	if errors.Is(err, storage.ErrPreconditionFailed) {
		if _, derr := r.store.Stat(ctx, tagDeletedKey(name)); derr == nil {
			return errors.Mark(errors.Newf("tag %q was deleted; tag names are never reused", name), ErrTagExists)
		}
		return errors.Mark(errors.Newf("tag %q already exists", name), ErrTagExists)
	}
	return errors.Wrapf(err, "creating tag %q", name)
}

func (r *refs) tag(ctx context.Context, name string) (codec.SnapshotID, error) {
	if err := validateRefName("tag", name); err != nil {
		return codec.SnapshotID{}, err
	}
	data, err := r.store.Get(ctx, tagRefKey(name))
	if errors.Is(err, storage.ErrNotFound) {
		return codec.SnapshotID{}, errors.Mark(errors.Newf("tag %q does not exist", name), ErrTagNotFound)
	}
	if err != nil {
		return codec.SnapshotID{}, errors.Wrapf(err, "reading tag %q", name)
	}
	if _, err := r.store.Stat(ctx, tagDeletedKey(name)); err == nil {
		return codec.SnapshotID{}, errors.Mark(errors.Newf("tag %q was deleted", name), ErrTagNotFound)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return codec.SnapshotID{}, errors.Wrapf(err, "reading tag %q", name)
	}
	ref, err := codec.DecodeRef(tagRefKey(name), data)
	if err != nil {
		return codec.SnapshotID{}, err
	}
	return ref.Snapshot, nil
}

func (r *refs) deleteTag(ctx context.Context, name string) error {
	if _, err := r.tag(ctx, name); err != nil {
		return err
	}
	ctx = refWriteContext(ctx)
	err := r.store.PutIfAbsent(ctx, tagDeletedKey(name), []byte{})
	if errors.Is(err, storage.ErrPreconditionFailed) {
		return errors.Mark(errors.Newf("tag %q was deleted", name), ErrTagNotFound)
	}
	return errors.Wrapf(err, "deleting tag %q", name)
}

// listTags returns the names of the tags that exist, sorted.
func (r *refs) listTags(ctx context.Context) ([]string, error) {
	var out []string
	deleted := map[string]bool{}
	for info, err := range r.store.List(ctx, codec.RefsPrefix+tagPrefix, storage.ListOptions{}) {
		if err != nil {
			return nil, err
		}
		rest := strings.TrimPrefix(info.Key, codec.RefsPrefix+tagPrefix)
		name, file, _ := strings.Cut(rest, "/")
		switch file {
		case "ref":
			out = append(out, name)
		case "deleted":
			deleted[name] = true
		}
	}
	out = slices.DeleteFunc(out, func(n string) bool { return deleted[n] })
	slices.Sort(out) // listed in the order of the keys, "v1-rc/ref" before "v1/ref"
	return out, nil
}
