package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// Diff is what changed between two versions, or in a session: paths of the
// nodes created, deleted or updated (zarr metadata), and per array the
// chunks written or deleted. Paths are sorted; a node created and deleted
// within the range does not appear.
type Diff struct {
	NewGroups     []Path
	NewArrays     []Path
	DeletedGroups []Path
	DeletedArrays []Path
	UpdatedGroups []Path
	UpdatedArrays []Path
	// UpdatedChunks lists, per array path, the sorted coordinates of the
	// chunks written or deleted.
	UpdatedChunks map[Path][][]uint32
}

// IsEmpty reports whether nothing changed.
func (d *Diff) IsEmpty() bool {
	return len(d.NewGroups)+len(d.NewArrays)+len(d.DeletedGroups)+len(d.DeletedArrays)+
		len(d.UpdatedGroups)+len(d.UpdatedArrays)+len(d.UpdatedChunks) == 0
}

// String renders the diff as a list of changed paths, one per line, in the
// way a status report shows them.
func (d *Diff) String() string {
	if d.IsEmpty() {
		return "No changes\n"
	}
	var b strings.Builder
	section := func(title string, paths []Path) {
		if len(paths) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for _, p := range paths {
			fmt.Fprintf(&b, "  %s\n", p)
		}
		b.WriteString("\n")
	}
	section("Groups created", d.NewGroups)
	section("Arrays created", d.NewArrays)
	section("Group definitions updated", d.UpdatedGroups)
	section("Array definitions updated", d.UpdatedArrays)
	section("Groups deleted", d.DeletedGroups)
	section("Arrays deleted", d.DeletedArrays)
	if len(d.UpdatedChunks) > 0 {
		b.WriteString("Chunks updated:\n")
		for _, p := range slices.Sorted(maps.Keys(d.UpdatedChunks)) {
			coords := d.UpdatedChunks[p]
			const shown = 10
			list := formatCoords(coords[:min(len(coords), shown)])
			if len(coords) > shown {
				list += fmt.Sprintf(" ... and %d more", len(coords)-shown)
			}
			fmt.Fprintf(&b, "  %s: %s\n", p, list)
		}
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// diffBuilder folds transaction logs, oldest first, into a Diff by node id.
type diffBuilder struct {
	created, deleted, updated map[codec.NodeID]bool
	kind                      map[codec.NodeID]NodeType
	path                      map[codec.NodeID]string
	chunks                    map[codec.NodeID]map[string][]uint32
}

func newDiffBuilder() *diffBuilder {
	return &diffBuilder{
		created: map[codec.NodeID]bool{}, deleted: map[codec.NodeID]bool{}, updated: map[codec.NodeID]bool{},
		kind: map[codec.NodeID]NodeType{}, path: map[codec.NodeID]string{}, chunks: map[codec.NodeID]map[string][]uint32{},
	}
}

func (b *diffBuilder) add(t *codec.TransactionLog) {
	note := func(list []codec.NodeChange, typ NodeType, set map[codec.NodeID]bool) {
		for _, c := range list {
			set[c.ID] = true
			b.kind[c.ID] = typ
			b.path[c.ID] = c.Path
		}
	}
	note(t.NewGroups, GroupNode, b.created)
	note(t.NewArrays, ArrayNode, b.created)
	note(t.DeletedGroups, GroupNode, b.deleted)
	note(t.DeletedArrays, ArrayNode, b.deleted)
	note(t.UpdatedGroups, GroupNode, b.updated)
	note(t.UpdatedArrays, ArrayNode, b.updated)
	for _, ac := range t.UpdatedChunks {
		m, ok := b.chunks[ac.ID]
		if !ok {
			m = map[string][]uint32{}
			b.chunks[ac.ID] = m
		}
		b.kind[ac.ID] = ArrayNode
		if _, ok := b.path[ac.ID]; !ok {
			b.path[ac.ID] = ac.Path
		}
		for _, c := range ac.Coords {
			m[coordKey(c)] = c
		}
	}
}

func (b *diffBuilder) diff() *Diff {
	d := &Diff{UpdatedChunks: map[Path][][]uint32{}}
	for id, typ := range b.kind {
		p := Path(b.path[id])
		created, deleted := b.created[id], b.deleted[id]
		switch {
		case created && deleted:
			continue
		case created && typ == GroupNode:
			d.NewGroups = append(d.NewGroups, p)
			if b.updated[id] { // created, then updated by a later commit (as in the seed)
				d.UpdatedGroups = append(d.UpdatedGroups, p)
			}
		case created:
			d.NewArrays = append(d.NewArrays, p)
			if b.updated[id] {
				d.UpdatedArrays = append(d.UpdatedArrays, p)
			}
		case deleted && typ == GroupNode:
			d.DeletedGroups = append(d.DeletedGroups, p)
		case deleted:
			d.DeletedArrays = append(d.DeletedArrays, p)
			continue
		case b.updated[id] && typ == GroupNode:
			d.UpdatedGroups = append(d.UpdatedGroups, p)
		case b.updated[id]:
			d.UpdatedArrays = append(d.UpdatedArrays, p)
		}
		if m := b.chunks[id]; len(m) > 0 && typ == ArrayNode {
			coords := slices.Collect(maps.Values(m))
			slices.SortFunc(coords, codec.CompareCoords)
			d.UpdatedChunks[p] = coords
		}
	}
	for _, l := range []*[]Path{&d.NewGroups, &d.NewArrays, &d.DeletedGroups, &d.DeletedArrays, &d.UpdatedGroups, &d.UpdatedArrays} {
		slices.Sort(*l)
	}
	return d
}

// Diff returns what changed from one version to another, built from the
// transaction logs of the commits in between. from must be an ancestor of
// to, and the range must not span a snapshot whose older history was
// expired (ErrBadSnapshotChain otherwise); without transaction logs the
// diff is unavailable (ErrTxLogsDisabled).
func (r *Repository) Diff(ctx context.Context, from, to Version) (*Diff, error) {
	fromID, err := r.Resolve(ctx, from)
	if err != nil {
		return nil, err
	}
	toID, err := r.Resolve(ctx, to)
	if err != nil {
		return nil, err
	}
	var chain []codec.SnapshotID // newest first, excluding from
	var cut codec.SnapshotID     // the oldest of them whose history was expired
	found := fromID == toID
	for info, err := range r.ancestryUntil(ctx, toID, fromID) {
		if err != nil {
			return nil, err
		}
		if info.ID == fromID {
			found = true
			break
		}
		chain = append(chain, info.ID)
		if info.HistoryCut {
			cut = info.ID
		}
	}
	if !found {
		return nil, errors.Mark(errors.Newf("cannot diff: the ancestry of `to` (%s) doesn't include `from` (%s); from must be an ancestor of to", to, from), ErrBadSnapshotChain)
	}
	if !cut.IsZero() {
		return nil, cutError(cut, "diff")
	}
	b := newDiffBuilder()
	for i := len(chain) - 1; i >= 0; i-- {
		t, err := r.assets.fetchTransactionLog(ctx, chain[i])
		if err != nil {
			return nil, errors.Wrap(err, "diff needs the transaction log of every commit in the range")
		}
		b.add(t)
	}
	return b.diff(), nil
}

// Status returns the session's uncommitted changes as a Diff.
func (s *Session) Status(ctx context.Context) (*Diff, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	nodes, err := s.listNodesLocked(ctx)
	if err != nil {
		return nil, err
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	b := newDiffBuilder()
	b.add(transactionLog(codec.NewSnapshotID(), s.changes, nodes, snap))
	return b.diff(), nil
}

// cutError says that what (a diff, a rebase) cannot span snapshot id, whose
// history before it was expired: its transaction log describes a change
// from a snapshot that is no longer its parent.
func cutError(id codec.SnapshotID, what string) error {
	return errors.Mark(errors.Newf("cannot %s across snapshot %s: the history before it was expired", what, id), ErrBadSnapshotChain)
}
