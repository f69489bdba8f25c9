package engine

import (
	"context"
	"encoding/json"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// Bytes serializes the session (base snapshot, branch, fork flag, default
// commit metadata and change set) so that it can travel to another process
// or machine, where Repository.SessionFromBytes restores it. Chunk data is
// not included: native chunks are already in storage, inline ones are in
// their refs (write-behind chunks are flushed first, under ctx: a
// cancelled call leaves them for the next flush).
func (s *Session) Bytes(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flushLocked(ctx); err != nil {
		return nil, err
	}
	w := wireSession{Branch: s.branch, Snapshot: s.snapshotID, Fork: s.fork, Repository: s.origin}
	if w.Repository == nil {
		if id, ok := s.repo.identity(ctx); ok {
			w.Repository = id[:]
		}
	}
	if len(s.meta) > 0 {
		meta, err := json.Marshal(s.meta)
		if err != nil {
			return nil, invalidArgument("default commit metadata is not JSON-serialisable: %v", err)
		}
		w.Metadata = meta
	}
	w.Changes = s.changes.wire()
	return codec.Encode(codec.FileTypeSession, &w)
}

// SessionFromBytes restores a session serialized with Session.Bytes. The
// session must belong to this repository: its base snapshot must exist
// here. Bad bytes give an error matching ErrInvalidSessionBytes (and
// codec.ErrCorrupt where the data is damaged).
func (r *Repository) SessionFromBytes(data []byte) (*Session, error) {
	var w wireSession
	if err := codec.Decode(codec.FileTypeSession, "serialized session", data, &w); err != nil {
		return nil, errors.Mark(err, ErrInvalidSessionBytes)
	}
	cs, err := changeSetFromWire(&w.Changes)
	if err != nil {
		return nil, errors.Mark(err, ErrInvalidSessionBytes)
	}
	s := &Session{repo: r, branch: w.Branch, snapshotID: w.Snapshot, fork: w.Fork, changes: cs, origin: w.Repository}
	if len(w.Metadata) > 0 {
		if err := json.Unmarshal(w.Metadata, &s.meta); err != nil {
			return nil, errors.Mark(errors.Wrap(err, "serialized session has invalid commit metadata"), ErrInvalidSessionBytes)
		}
	}
	return s, nil
}

func wireArrayOf(a *ArrayMeta) *wireArray {
	if a == nil {
		return nil
	}
	return &wireArray{Shape: a.Shape, ChunkShape: a.ChunkShape, DimensionNames: a.DimensionNames, HasNames: a.DimensionNames != nil}
}

func (w *wireArray) meta() *ArrayMeta {
	if w == nil {
		return nil
	}
	m := &ArrayMeta{Shape: w.Shape, ChunkShape: w.ChunkShape}
	if w.HasNames {
		m.DimensionNames = w.DimensionNames
		if m.DimensionNames == nil {
			m.DimensionNames = []string{}
		}
	}
	return m
}

func (cs *ChangeSet) wire() wireChangeSet {
	var w wireChangeSet
	for _, p := range sortedNewPaths(cs) {
		n := cs.newNodes[p]
		w.NewNodes = append(w.NewNodes, wireNewNode{Path: string(p), ID: n.id, Type: uint8(n.typ), Meta: n.meta, Array: wireArrayOf(n.array)})
	}
	for _, id := range sortedIDs(cs.updatedNodes) {
		u := cs.updatedNodes[id]
		w.UpdatedNodes = append(w.UpdatedNodes, wireUpdatedNode{ID: id, Path: string(u.path), Meta: u.meta, Array: wireArrayOf(u.array)})
	}
	for _, id := range sortedIDs(cs.deletedGroups) {
		w.DeletedGroups = append(w.DeletedGroups, codec.NodeChange{ID: id, Path: string(cs.deletedGroups[id])})
	}
	for _, id := range sortedIDs(cs.deletedArrays) {
		w.DeletedArrays = append(w.DeletedArrays, codec.NodeChange{ID: id, Path: string(cs.deletedArrays[id])})
	}
	var arena coordArena
	for _, id := range sortedIDs(cs.chunks) {
		a := cs.chunks[id]
		ac := wireArrayChunks{ID: id, Chunks: make([]wireChunk, 0, a.len())}
		for coords, ref := range a.sorted() {
			c := wireChunk{Coords: arena.copy(coords), Deleted: ref == nil}
			if ref != nil {
				c.Kind, c.Inline, c.ChunkID, c.Location = uint8(ref.Kind), ref.Inline, ref.ChunkID, ref.Location
				c.Offset, c.Length, c.ETag, c.LastModified = ref.Offset, ref.Length, ref.ETag, ref.LastModified
			}
			ac.Chunks = append(ac.Chunks, c)
		}
		w.Chunks = append(w.Chunks, ac)
	}
	return w
}

func changeSetFromWire(w *wireChangeSet) (*ChangeSet, error) {
	cs := NewChangeSet()
	for _, n := range w.NewNodes {
		p, err := NewPath(n.Path)
		if err != nil {
			return nil, err
		}
		typ := codec.NodeType(n.Type)
		if typ != GroupNode && typ != ArrayNode || (typ == ArrayNode) != (n.Array != nil) {
			return nil, errors.Newf("serialized session: node %s has an invalid type %d", p, n.Type)
		}
		cs.newNodes[p] = &newNode{id: n.ID, typ: typ, meta: n.Meta, array: n.Array.meta()}
	}
	for _, u := range w.UpdatedNodes {
		p, err := NewPath(u.Path)
		if err != nil {
			return nil, err
		}
		cs.updatedNodes[u.ID] = &updatedNode{path: p, meta: u.Meta, array: u.Array.meta()}
	}
	for _, d := range w.DeletedGroups {
		cs.deletedGroups[d.ID] = Path(d.Path)
	}
	for _, d := range w.DeletedArrays {
		cs.deletedArrays[d.ID] = Path(d.Path)
	}
	for _, ac := range w.Chunks {
		for _, c := range ac.Chunks {
			if c.Deleted {
				cs.setChunk(ac.ID, nil, c.Coords)
				continue
			}
			ref := &codec.ChunkRef{Coords: c.Coords, Kind: codec.ChunkKind(c.Kind), Inline: c.Inline, ChunkID: c.ChunkID, Location: c.Location,
				Offset: c.Offset, Length: c.Length, ETag: c.ETag, LastModified: c.LastModified}
			if err := ref.Validate(); err != nil {
				return nil, errors.Wrapf(err, "serialized session: chunk %v", c.Coords)
			}
			cs.setChunk(ac.ID, ref, c.Coords)
		}
	}
	return cs, nil
}
