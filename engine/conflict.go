package engine

import (
	"fmt"
	"strings"

	"github.com/icechunk-go/icechunk-go/codec"
)

// ConflictKind names one way a session's changes can clash with a commit
// that landed on the branch after the session's base.
type ConflictKind int

// Conflict kinds. "We" are the session being rebased, "they" the commit it
// is replayed over.
const (
	// NewNodeConflictsWithExistingNode: we created a node where they
	// created one.
	NewNodeConflictsWithExistingNode ConflictKind = iota + 1
	// NewNodeInInvalidGroup: we created a node inside what is now an array,
	// or inside a group they deleted (Path is that array or group; Deleted
	// tells which).
	NewNodeInInvalidGroup
	// ZarrMetadataDoubleUpdate: both sides changed a node's zarr metadata.
	ZarrMetadataDoubleUpdate
	// ZarrMetadataUpdateOfDeletedArray: we changed the metadata of an
	// array they deleted.
	ZarrMetadataUpdateOfDeletedArray
	// ZarrMetadataUpdateOfDeletedGroup: we changed the metadata of a group
	// they deleted.
	ZarrMetadataUpdateOfDeletedGroup
	// ChunkDoubleUpdate: both sides wrote the same chunks (Coords).
	ChunkDoubleUpdate
	// ChunksUpdatedInDeletedArray: we wrote chunks of an array they
	// deleted.
	ChunksUpdatedInDeletedArray
	// ChunksUpdatedInUpdatedArray: we wrote chunks of an array whose
	// metadata they changed in more than its attributes (shape, chunking,
	// data type, codecs, fill value...; an attributes-only change is no
	// conflict).
	ChunksUpdatedInUpdatedArray
	// DeleteOfUpdatedArray: we deleted an array whose metadata or chunks
	// they changed.
	DeleteOfUpdatedArray
	// DeleteOfUpdatedGroup: we deleted a group whose metadata they changed.
	DeleteOfUpdatedGroup
	// DeleteOfGroupWithNewChildren: we deleted a group under which they
	// created nodes. Applied as is, our delete would leave their new nodes
	// orphaned in a deleted group.
	DeleteOfGroupWithNewChildren
)

var conflictNames = map[ConflictKind]string{
	NewNodeConflictsWithExistingNode: "NewNodeConflictsWithExistingNode",
	NewNodeInInvalidGroup:            "NewNodeInInvalidGroup",
	ZarrMetadataDoubleUpdate:         "ZarrMetadataDoubleUpdate",
	ZarrMetadataUpdateOfDeletedArray: "ZarrMetadataUpdateOfDeletedArray",
	ZarrMetadataUpdateOfDeletedGroup: "ZarrMetadataUpdateOfDeletedGroup",
	ChunkDoubleUpdate:                "ChunkDoubleUpdate",
	ChunksUpdatedInDeletedArray:      "ChunksUpdatedInDeletedArray",
	ChunksUpdatedInUpdatedArray:      "ChunksUpdatedInUpdatedArray",
	DeleteOfUpdatedArray:             "DeleteOfUpdatedArray",
	DeleteOfUpdatedGroup:             "DeleteOfUpdatedGroup",
	DeleteOfGroupWithNewChildren:     "DeleteOfGroupWithNewChildren",
}

func (k ConflictKind) String() string {
	if n, ok := conflictNames[k]; ok {
		return n
	}
	return fmt.Sprintf("ConflictKind(%d)", int(k))
}

// Conflict is one clash found while rebasing, with what is needed to
// explain it: where, what kind, and which commit it clashed with.
type Conflict struct {
	Kind   ConflictKind
	Path   Path
	NodeID codec.NodeID // zero where the kind is about a path, not a node
	// Coords lists the chunks involved, for ChunkDoubleUpdate.
	Coords [][]uint32
	// Children lists their new nodes, for DeleteOfGroupWithNewChildren.
	Children []Path
	// Deleted is set on a NewNodeInInvalidGroup whose group they deleted.
	Deleted bool
	// Changed names what they changed in the array's metadata, for
	// ChunksUpdatedInUpdatedArray ("shape", "codecs and fill_value", ...).
	Changed string
	// Commit and CommitMessage identify their commit.
	Commit        codec.SnapshotID
	CommitMessage string
}

// Error renders the conflict as one sentence naming the path, the kind and
// what the other commit did.
func (c Conflict) Error() string { return c.Sentence() }

// Sentence explains the conflict in one human sentence.
func (c Conflict) Sentence() string {
	by := fmt.Sprintf("commit %s %q", shortID(c.Commit), c.CommitMessage)
	switch c.Kind {
	case NewNodeConflictsWithExistingNode:
		return fmt.Sprintf("node conflict at %s: this session creates it, but %s already created a node there", c.Path, by)
	case NewNodeInInvalidGroup:
		if c.Deleted {
			return fmt.Sprintf("node conflict under %s: this session creates a node inside the group, but %s deleted it", c.Path, by)
		}
		return fmt.Sprintf("node conflict under %s: this session creates a node inside it, but %s made it an array", c.Path, by)
	case ZarrMetadataDoubleUpdate:
		return fmt.Sprintf("metadata conflict at %s: its zarr metadata was also updated by %s", c.Path, by)
	case ZarrMetadataUpdateOfDeletedArray:
		return fmt.Sprintf("metadata conflict at %s: this session updates the array, but %s deleted it", c.Path, by)
	case ZarrMetadataUpdateOfDeletedGroup:
		return fmt.Sprintf("metadata conflict at %s: this session updates the group, but %s deleted it", c.Path, by)
	case ChunkDoubleUpdate:
		list := formatCoords(c.Coords[:min(len(c.Coords), 10)])
		if len(c.Coords) > 10 {
			list += fmt.Sprintf(" and %d more", len(c.Coords)-10)
		}
		noun := "chunks"
		verb := "were"
		if len(c.Coords) == 1 {
			noun, verb = "chunk", "was"
		}
		return fmt.Sprintf("chunk conflict in %s: %s %s %s also written by %s", c.Path, noun, list, verb, by)
	case ChunksUpdatedInDeletedArray:
		return fmt.Sprintf("chunk conflict in %s: this session writes chunks of the array, but %s deleted it", c.Path, by)
	case ChunksUpdatedInUpdatedArray:
		what := c.Changed
		if what == "" {
			what = "metadata"
		}
		return fmt.Sprintf("chunk conflict in %s: this session writes chunks, but %s changed the array's %s", c.Path, by, what)
	case DeleteOfUpdatedArray:
		return fmt.Sprintf("delete conflict at %s: this session deletes the array, but %s updated it", c.Path, by)
	case DeleteOfUpdatedGroup:
		return fmt.Sprintf("delete conflict at %s: this session deletes the group, but %s updated it", c.Path, by)
	case DeleteOfGroupWithNewChildren:
		names := make([]string, len(c.Children))
		for i, p := range c.Children {
			names[i] = string(p)
		}
		return fmt.Sprintf("delete conflict at %s: this session deletes the group, but %s created %s inside it", c.Path, by, strings.Join(names, ", "))
	}
	return fmt.Sprintf("%s at %s with %s", c.Kind, c.Path, by)
}

func shortID(id codec.SnapshotID) string {
	s := id.String()
	if len(s) > 8 {
		return s[:8] + "…"
	}
	return s
}

// RebaseFailedError says a rebase stopped at a commit it could not replay
// the session over. It matches ErrRebaseFailed. The session is left based
// on the last commit it passed, its changes as they were before the
// failing step.
type RebaseFailedError struct {
	Snapshot  codec.SnapshotID
	Conflicts []Conflict
}

func (e *RebaseFailedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cannot rebase on top of snapshot %s: %d conflict", e.Snapshot, len(e.Conflicts))
	if len(e.Conflicts) != 1 {
		b.WriteString("s")
	}
	for _, c := range e.Conflicts {
		b.WriteString("\n  - ")
		b.WriteString(c.Sentence())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRebaseFailed) true.
func (e *RebaseFailedError) Is(target error) bool { return target == ErrRebaseFailed }
