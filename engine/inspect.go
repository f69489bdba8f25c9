package engine

import (
	"context"
	"time"

	"github.com/icechunk-go/icechunk-go/codec"
)

// inspectTimeFormat is how SnapshotInspection writes times: RFC 3339 in
// UTC with microseconds, as upstream Icechunk's inspect_snapshot does.
const inspectTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// SnapshotInspection describes a snapshot file: its commit, the manifest
// files it lists and its nodes with the manifests of each array. Encoded
// with encoding/json it has the shape of upstream Icechunk's
// inspect_snapshot output.
type SnapshotInspection struct {
	ID       codec.SnapshotID  `json:"id"`
	ParentID *codec.SnapshotID `json:"parent_id"` // nil for the repository's initial snapshot
	// FlushedAt is when the snapshot was written, RFC 3339 in UTC with
	// microseconds ("2026-11-22T08:26:18.611622Z").
	FlushedAt     string         `json:"flushed_at"`
	CommitMessage string         `json:"commit_message"`
	Metadata      map[string]any `json:"metadata"` // numbers are json.Number
	// HistoryCut is set on a snapshot whose older history was expired
	// (see ExpireSnapshots); left out of the JSON when not set.
	HistoryCut bool                `json:"history_cut,omitempty"`
	Manifests  []InspectedManifest `json:"manifests"`
	Nodes      []InspectedNode     `json:"nodes"`
}

// InspectedManifest is a manifest file a snapshot lists.
type InspectedManifest struct {
	ID           codec.ManifestID `json:"id"`
	SizeBytes    uint64           `json:"size_bytes"`
	NumChunkRefs uint64           `json:"num_chunk_refs"`
}

// InspectedNode is a group or an array of a snapshot.
type InspectedNode struct {
	ID       codec.NodeID `json:"id"`
	Path     string       `json:"path"`
	NodeType string       `json:"node_type"` // "group" or "array"
	// ManifestRefs are an array's manifests (empty, not nil, for an array
	// without chunks); nil for a group, and then left out of the JSON.
	ManifestRefs []InspectedManifestRef `json:"manifest_refs,omitzero"`
}

// InspectedManifestRef is one manifest of an array with the region of
// chunk space it covers: per dimension, the chunk indices [start, end).
type InspectedManifestRef struct {
	ID      codec.ManifestID `json:"id"`
	Extents [][2]uint32      `json:"extents"`
}

// InspectSnapshot describes the snapshot id as it is stored
// (ErrSnapshotNotFound if there is none).
func (r *Repository) InspectSnapshot(ctx context.Context, id codec.SnapshotID) (*SnapshotInspection, error) {
	s, err := r.assets.fetchSnapshot(ctx, id)
	if err != nil {
		return nil, err
	}
	info, err := snapshotInfo(s)
	if err != nil {
		return nil, err
	}
	out := &SnapshotInspection{
		ID: s.ID, FlushedAt: info.WrittenAt.UTC().Truncate(time.Microsecond).Format(inspectTimeFormat),
		CommitMessage: s.Message, Metadata: info.Metadata, HistoryCut: s.HistoryCut,
		Manifests: make([]InspectedManifest, len(s.ManifestFiles)), Nodes: make([]InspectedNode, len(s.Nodes)),
	}
	if !s.ParentID.IsZero() {
		parent := s.ParentID
		out.ParentID = &parent
	}
	for i, m := range s.ManifestFiles {
		out.Manifests[i] = InspectedManifest{ID: m.ID, SizeBytes: m.SizeBytes, NumChunkRefs: m.NumChunkRefs}
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		node := InspectedNode{ID: n.ID, Path: n.Path, NodeType: n.Type.String()}
		if n.Array != nil {
			node.ManifestRefs = make([]InspectedManifestRef, len(n.Array.Manifests))
			for j, m := range n.Array.Manifests {
				extents := make([][2]uint32, len(m.Extents))
				for d, e := range m.Extents {
					extents[d] = [2]uint32{e.From, e.To}
				}
				node.ManifestRefs[j] = InspectedManifestRef{ID: m.ID, Extents: extents}
			}
		}
		out.Nodes[i] = node
	}
	return out, nil
}
