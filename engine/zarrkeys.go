package engine

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// This file maps Zarr v3 store keys to nodes and chunks and back.
//
// A key is either a metadata key, "zarr.json" (the root node) or
// "a/b/zarr.json" (the node /a/b), or a chunk key: the directory of an
// array ("" for a root array, "a/b/" otherwise) followed by the chunk's
// coordinates in the array's own chunk key encoding ("c/0/1", "c.0.1",
// "0.1", "0/1"; "c" or "0" for a 0-d array). The array owning a chunk key
// is found by walking the key's prefixes from the shortest: the first that
// is an array owns the key, since nodes never live inside arrays.

// metadataName is the name of the metadata document of every node.
const metadataName = "zarr.json"

// zarrV2MetadataNames are the metadata keys of Zarr format 2. The engine
// stores Zarr v3 only; reads of these keys find nothing (zarr probes them
// when it opens a node without knowing its format) and writes fail.
var zarrV2MetadataNames = map[string]bool{".zarray": true, ".zgroup": true, ".zattrs": true, ".zmetadata": true}

// invalidKey builds an ErrInvalidKey error naming the key.
func invalidKey(key, why string) error {
	return errors.Mark(errors.Newf("invalid zarr key %q: %s", key, why), ErrInvalidKey)
}

// keyKind says what a parsed key names.
type keyKind uint8

const (
	keyMetadata   keyKind = iota // a node's zarr.json
	keyChunk                     // possibly a chunk: resolved against the arrays
	keyV2Metadata                // a Zarr v2 metadata document: never stored
)

// zarrKey is a key split into segments and classified. It says nothing
// about what exists in the session.
type zarrKey struct {
	key  string
	kind keyKind
	segs []string
	path Path // keyMetadata: the node's path
}

// parseZarrKey checks the shape of a key and classifies it. Keys must be
// relative, valid UTF-8, without NUL or backslash, and made of non-empty
// segments other than "." and ".."; a metadata key must name a valid node
// path. Errors carry ErrInvalidKey.
func parseZarrKey(key string) (zarrKey, error) {
	segs, err := splitKey(key, false)
	if err != nil {
		return zarrKey{}, err
	}
	k := zarrKey{key: key, kind: keyChunk, segs: segs}
	last := segs[len(segs)-1]
	switch {
	case last == metadataName:
		path, err := NewPath(strings.Join(segs[:len(segs)-1], "/"))
		if err != nil {
			return zarrKey{}, errors.Mark(errors.Wrapf(err, "invalid zarr key %q", key), ErrInvalidKey)
		}
		k.kind, k.path = keyMetadata, path
	case zarrV2MetadataNames[last]:
		k.kind = keyV2Metadata
	}
	return k, nil
}

// splitKey validates a key, or with dir set a directory prefix ("" or
// ending in "/" allowed), and returns its segments.
func splitKey(key string, dir bool) ([]string, error) {
	switch {
	case key == "" && !dir:
		return nil, invalidKey(key, "empty key")
	case !utf8.ValidString(key):
		return nil, invalidKey(key, "not valid UTF-8")
	case strings.ContainsAny(key, "\x00\\"):
		return nil, invalidKey(key, "contains NUL or backslash")
	case strings.HasPrefix(key, "/"):
		return nil, invalidKey(key, "keys are relative: no leading /")
	}
	trimmed := key
	if dir {
		trimmed = strings.TrimSuffix(key, "/")
		if trimmed == "" {
			return nil, nil
		}
	}
	segs := strings.Split(trimmed, "/")
	for _, seg := range segs {
		switch seg {
		case "":
			return nil, invalidKey(key, "empty segment")
		case ".", "..":
			return nil, invalidKey(key, "relative segment "+seg)
		}
	}
	return segs, nil
}

// nodeDir is the key prefix of a node's keys: "" for the root, "a/b/" for
// /a/b.
func nodeDir(p Path) string {
	if p == Root {
		return ""
	}
	return p.Key() + "/"
}

// isAncestorDir reports whether the node at path p ("/a") holds the
// directory dirPath ("/a/b/", a directory key with a leading slash) below
// its own: nodeDir(p) is a proper prefix of the directory.
func isAncestorDir(p, dirPath string) bool {
	if p == string(Root) {
		return dirPath != "/"
	}
	return len(dirPath) > len(p)+1 && dirPath[len(p)] == '/' && strings.HasPrefix(dirPath, p)
}

// metadataKey is the key of a node's zarr.json.
func metadataKey(p Path) string { return nodeDir(p) + metadataName }

// prefixPath is the node path made of the first n segments, and false if
// no node can live there (a segment NewPath rejects, such as "__x").
func prefixPath(segs []string, n int) (Path, bool) {
	if n == 0 {
		return Root, true
	}
	p, err := NewPath(strings.Join(segs[:n], "/"))
	return p, err == nil
}

// ownerLocked finds the array owning the chunk-key-shaped segments segs
// (caller holds s.mu): the array at the shortest prefix, with the number
// of segments its path takes. It returns nil if no array owns the key.
func (s *Session) ownerLocked(ctx context.Context, segs []string) (*Node, int, error) {
	for n := 0; n < len(segs); n++ {
		p, ok := prefixPath(segs, n)
		if !ok {
			return nil, 0, nil // no node can live at or below this prefix
		}
		node, err := s.getNodeLocked(ctx, p)
		if errors.Is(err, ErrNodeNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if node.Type == ArrayNode {
			return node, n, nil
		}
	}
	return nil, 0, nil
}

// arrayInfoLocked returns the parsed chunk key encoding of array n, from
// the session's cache when it was parsed from n's current metadata (caller
// holds s.mu, at least for reading, so that an UpdateArray, which deletes
// the entry under the write lock, cannot interleave with the store).
func (s *Session) arrayInfoLocked(n *Node) *zarrArrayInfo {
	if v, ok := s.zarrInfo.Load(n.ID); ok {
		if info := v.(*zarrArrayInfo); info.parsedFrom(n.ZarrMetadata) {
			return info
		}
	}
	info := arrayInfoFromMeta(n.ZarrMetadata)
	s.zarrInfo.Store(n.ID, info)
	return info
}

// chunkTarget is a chunk key resolved against the session: the owning
// array, its key encoding and the chunk's coordinates.
type chunkTarget struct {
	node   *Node
	info   *zarrArrayInfo
	coords []uint32
	inGrid bool // coords lie inside the array's current chunk grid

	// The session's change set entry for the chunk, read under the same
	// lock as the node: refKnown says whether the change set has one (ref
	// nil then means a deleted chunk).
	ref      *codec.ChunkRef
	refKnown bool
}

// chunkRef returns the ref of the resolved chunk, nil if it does not
// exist: the change set's entry if there is one, else the committed one.
func (s *Session) chunkRef(ctx context.Context, t *chunkTarget) (*codec.ChunkRef, error) {
	if !t.inGrid {
		return nil, nil
	}
	if t.refKnown {
		return t.ref, nil
	}
	return s.repo.lookupChunk(ctx, t.node, t.coords)
}

// resolveChunk maps a keyChunk key to its array and coordinates. It returns
// nil, nil if no array owns the key. A key owned by an array but not a
// chunk key of it (bad coordinate, wrong count, wrong separator) is
// ErrInvalidKey.
func (s *Session) resolveChunk(ctx context.Context, k zarrKey) (*chunkTarget, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	node, n, err := s.ownerLocked(ctx, k.segs)
	if err != nil || node == nil {
		return nil, err
	}
	info := s.arrayInfoLocked(node)
	rest := strings.Join(k.segs[n:], "/")
	coords, why := info.decode(rest, len(node.Array.Shape))
	if why != "" {
		return nil, invalidKey(k.key, "not a chunk key of array "+string(node.Path)+" ("+info.describe()+"): "+why)
	}
	t := &chunkTarget{node: node, info: info, coords: coords, inGrid: validCoords(node.Array, coords)}
	t.ref, t.refKnown = s.changes.chunk(node.ID, coords)
	return t, nil
}

// describe names the encoding for messages, e.g. `default encoding with
// separator "/"`.
func (info *zarrArrayInfo) describe() string {
	return info.encoding.String() + " chunk key encoding with separator " + strconv.Quote(string(info.separator))
}

// encode returns the chunk key of coords relative to the array's
// directory.
func (info *zarrArrayInfo) encode(coords []uint32) string {
	var b strings.Builder
	if info.encoding == encodingDefault {
		b.WriteByte('c')
		for _, c := range coords {
			b.WriteByte(info.separator)
			b.WriteString(strconv.FormatUint(uint64(c), 10))
		}
		return b.String()
	}
	if len(coords) == 0 {
		return "0"
	}
	for i, c := range coords {
		if i > 0 {
			b.WriteByte(info.separator)
		}
		b.WriteString(strconv.FormatUint(uint64(c), 10))
	}
	return b.String()
}

// decode parses a chunk key relative to the array's directory into
// coordinates for an array of the given rank. On failure it returns a
// reason instead.
func (info *zarrArrayInfo) decode(rest string, rank int) ([]uint32, string) {
	if info.separator == '.' && strings.Contains(rest, "/") {
		return nil, `contains "/" but the separator is "."`
	}
	if info.encoding == encodingDefault {
		if rest == "c" {
			if rank != 0 {
				return nil, "no coordinates for a " + strconv.Itoa(rank) + "-d array"
			}
			return []uint32{}, ""
		}
		after, ok := strings.CutPrefix(rest, "c"+string(info.separator))
		if !ok {
			return nil, `does not start with "c` + string(info.separator) + `"`
		}
		rest = after
	} else if rank == 0 {
		if rest != "0" {
			return nil, `a 0-d array has one chunk, "0"`
		}
		return []uint32{}, ""
	}
	parts := strings.Split(rest, string(info.separator))
	if len(parts) != rank {
		return nil, strconv.Itoa(len(parts)) + " coordinates for a " + strconv.Itoa(rank) + "-d array"
	}
	coords := make([]uint32, rank)
	for i, p := range parts {
		c, ok := parseCoord(p)
		if !ok {
			return nil, "coordinate " + strconv.Quote(p) + " is not a non-negative integer without leading zeros"
		}
		coords[i] = c
	}
	return coords, ""
}

// parseCoord parses a canonical decimal coordinate: digits only, no sign,
// no leading zero (so that each chunk has exactly one key), fitting in 32
// bits.
func parseCoord(s string) (uint32, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return uint32(v), err == nil
}

// chunkKey is the full store key of a chunk of the array at path.
func chunkKey(path Path, info *zarrArrayInfo, coords []uint32) string {
	return nodeDir(path) + info.encode(coords)
}
