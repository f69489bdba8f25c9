package engine

import "github.com/icechunk-go/icechunk-go/codec"

//go:generate msgp -io=false -tests=false -unexported -file session_wire.go -o session_wire_gen.go

// The serialized form of a session (see Session.Bytes), kept apart from the
// in-memory types so those can use maps keyed by ids. Wrapped in the
// codec's envelope (file type session), so a corrupt or foreign blob gives
// a typed error.

type wireSession struct {
	Branch   string           `msg:"branch"`
	Snapshot codec.SnapshotID `msg:"snapshot"`
	Fork     bool             `msg:"fork"`
	Metadata []byte           `msg:"metadata,allownil"` // default commit metadata, JSON
	Changes  wireChangeSet    `msg:"changes"`
	// Repository names the repository the session was made in (see
	// Repository.identity); absent when it could not be read, and in
	// bytes written before it was recorded.
	Repository []byte `msg:"repository,omitempty"`
}

type wireChangeSet struct {
	NewNodes      []wireNewNode      `msg:"new_nodes"`
	UpdatedNodes  []wireUpdatedNode  `msg:"updated_nodes"`
	DeletedGroups []codec.NodeChange `msg:"deleted_groups"`
	DeletedArrays []codec.NodeChange `msg:"deleted_arrays"`
	Chunks        []wireArrayChunks  `msg:"chunks"`
}

type wireArray struct {
	Shape          []uint64 `msg:"shape"`
	ChunkShape     []uint64 `msg:"chunk_shape"`
	DimensionNames []string `msg:"dimension_names,allownil"`
	HasNames       bool     `msg:"has_names"`
}

type wireNewNode struct {
	Path  string       `msg:"path"`
	ID    codec.NodeID `msg:"id"`
	Type  uint8        `msg:"type"`
	Meta  []byte       `msg:"meta,allownil"`
	Array *wireArray   `msg:"array"`
}

type wireUpdatedNode struct {
	ID    codec.NodeID `msg:"id"`
	Path  string       `msg:"path"`
	Meta  []byte       `msg:"meta,allownil"`
	Array *wireArray   `msg:"array"`
}

type wireArrayChunks struct {
	ID     codec.NodeID `msg:"id"`
	Chunks []wireChunk  `msg:"chunks"`
}

type wireChunk struct {
	Coords       []uint32      `msg:"coords"`
	Deleted      bool          `msg:"deleted"`
	Kind         uint8         `msg:"kind"`
	Inline       []byte        `msg:"inline,allownil"`
	ChunkID      codec.ChunkID `msg:"chunk_id"`
	Location     string        `msg:"location"`
	Offset       uint64        `msg:"offset"`
	Length       uint64        `msg:"length"`
	ETag         string        `msg:"etag"`
	LastModified int64         `msg:"last_modified"`
}
