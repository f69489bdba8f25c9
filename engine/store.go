package engine

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// This file is the Zarr v3 store a session exposes to bindings (the Python
// zarr.abc.store.Store, the Julia store): operations on plain string keys
// and byte values. Keys are mapped to nodes and chunks by zarrkeys.go;
// zarr.json documents are parsed by zarrmeta.go.
//
// Semantics shared by every Store method:
//
//   - Keys are relative ("a/b/zarr.json", "a/b/c/0/1"), valid UTF-8, with no
//     empty, "." or ".." segment. A key of another shape is ErrInvalidKey.
//   - A chunk key belongs to the array at its shortest prefix that is an
//     array, and is decoded with that array's chunk key encoding. A key that
//     such an array owns but that is not one of its chunk keys (a
//     non-numeric coordinate, a wrong number of coordinates, a leading zero)
//     is ErrInvalidKey, for reads and writes alike.
//   - Reads (StoreGet, StoreExists, StoreGetSize) of a key no array owns,
//     of a chunk outside its array's grid, or of the Zarr v2 metadata names
//     (".zarray", ".zgroup", ".zattrs", ".zmetadata"; zarr probes them when
//     it opens a node of unknown format) find nothing: they are missing, not
//     errors. Writes of such keys fail: ErrInvalidKey when no array owns the
//     key or it is a v2 name, ErrInvalidIndex outside the grid.
//   - Writes on a read-only session fail with ErrReadOnly before anything
//     else is checked.
//   - Every method is safe for concurrent use; chunk reads and writes of
//     many goroutines run in parallel (uploads hold no session lock).

// ErrKeyNotFound marks the error of StoreGetSize for a missing key. Such an
// error also carries ErrNodeNotFound (no node owns the key, or the node of
// a zarr.json key is missing) or ErrChunkNotFound (the array exists, the
// chunk does not).
var ErrKeyNotFound = errors.New("zarr key not found")

func keyNotFound(key string, kind error) error {
	return errors.Mark(errors.Mark(errors.Newf("zarr key not found: %q", key), kind), ErrKeyNotFound)
}

// storeParallelism bounds the goroutines of one StoreGetMany or
// StoreSetMany call.
const storeParallelism = 32

// StoreSet stores value at key.
//
// A zarr.json key is parsed (ErrInvalidMetadata if it is not valid Zarr v3
// group or array metadata, see parseZarrJSON). Where no node exists the
// node is added; where a node of the same type exists it is updated (an
// array keeps its chunks, and may change shape: chunks outside the new
// grid disappear); where a node of the other type exists the set fails
// with ErrAlreadyExists (zarr deletes a node before replacing it with one
// of another type). Setting exactly the current document (and, for an
// array, definition) records nothing. An array cannot be added above
// existing nodes (ErrAlreadyExists), nor a node below an array
// (ErrNotAGroup).
//
// A chunk key is written as that chunk (ErrInvalidIndex outside the grid).
//
// value is not kept once StoreSet returns: the caller may reuse or free it
// (the C library passes its caller's buffers without copying them).
func (s *Session) StoreSet(ctx context.Context, key string, value []byte) error {
	if s.ReadOnly() {
		return readOnly(fmt.Sprintf("set zarr key %q", key))
	}
	k, err := parseZarrKey(key)
	if err != nil {
		return err
	}
	switch k.kind {
	case keyV2Metadata:
		return invalidKey(key, "Zarr format 2 metadata cannot be stored: the repository holds Zarr v3")
	case keyMetadata:
		return s.storeSetMetadata(ctx, k, value)
	}
	t, err := s.writableChunkTarget(ctx, k)
	if err != nil {
		return err
	}
	// The target is checked: upload, then record (SetChunkRef checks the
	// array again, in case it changed meanwhile).
	ref, err := s.WriteChunk(ctx, value)
	if err == nil {
		err = s.SetChunkRef(ctx, Path(t.node.Path), t.coords, ref)
	}
	if err != nil {
		return errors.Wrapf(err, "setting %q", key)
	}
	return nil
}

// writableChunkTarget resolves a chunk key for a write: no owner is
// ErrInvalidKey, coordinates outside the grid ErrInvalidIndex.
func (s *Session) writableChunkTarget(ctx context.Context, k zarrKey) (*chunkTarget, error) {
	t, err := s.resolveChunk(ctx, k)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, invalidKey(k.key, "neither a zarr.json key nor a chunk key of an existing array")
	}
	if !t.inGrid {
		return nil, errors.Wrapf(invalidIndex(Path(t.node.Path), t.node.Array, t.coords), "setting %q", k.key)
	}
	return t, nil
}

// storeSetMetadata adds or updates the node of a zarr.json key. A node
// added or deleted concurrently between the lookup and the change makes
// it try again, a few times.
func (s *Session) storeSetMetadata(ctx context.Context, k zarrKey, value []byte) error {
	meta, err := parseZarrJSON(k.key, value)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		n, found, err := s.lookupNode(ctx, k.path)
		raced := false
		switch {
		case err != nil:
			return err
		case found:
			if n.Type != meta.typ {
				return alreadyExists(k.path, n.Type, fmt.Sprintf("cannot set %q to %s metadata: delete the node first", k.key, meta.typ))
			}
			if sameDefinition(n, meta, value) {
				return nil
			}
			if meta.typ == GroupNode {
				err = s.UpdateGroup(ctx, k.path, value)
			} else {
				err = s.UpdateArray(ctx, k.path, meta.array, value)
			}
			raced = errors.Is(err, ErrNodeNotFound)
		default:
			if meta.typ == GroupNode {
				err = s.AddGroup(ctx, k.path, value)
			} else {
				if err := s.checkNoDescendant(ctx, k.path); err != nil {
					return err
				}
				err = s.AddArray(ctx, k.path, meta.array, value)
			}
			raced = errors.Is(err, ErrAlreadyExists)
		}
		if !raced || attempt == 3 {
			return err
		}
	}
}

// sameDefinition reports whether setting value would change nothing.
func sameDefinition(n *Node, meta *zarrNodeMeta, value []byte) bool {
	if !bytes.Equal(n.ZarrMetadata, value) {
		return false
	}
	if n.Type != ArrayNode {
		return true
	}
	a := n.Array
	return a != nil && slices.Equal(a.Shape, meta.array.Shape) && slices.Equal(a.ChunkShape, meta.array.ChunkShape) &&
		a.HasDimensionNames == (meta.array.DimensionNames != nil) && slices.Equal(a.DimensionNames, meta.array.DimensionNames)
}

// checkNoDescendant refuses an array at path when nodes exist below it.
func (s *Session) checkNoDescendant(ctx context.Context, path Path) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	below := func(p Path) error {
		return errors.Mark(errors.Newf("cannot create an array at %q: node %q exists below it, and nodes cannot live inside arrays", path, p), ErrAlreadyExists)
	}
	for p := range s.changes.newNodes {
		if p != path && path.Contains(p) {
			return below(p)
		}
	}
	snap, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	for _, d := range snap.Descendants(string(path)) {
		if !s.changes.isDeleted(d.ID) {
			return below(Path(d.Path))
		}
	}
	return nil
}

// StoreSetMany sets keys[i] to values[i] for every i. zarr.json keys are
// set first, one at a time in the order given (so a batch may create an
// array and write its chunks). The chunks are then written together: those
// at or below the inline threshold inline, the others packed, in input
// order, into as few chunk objects as maxPackBytes allows (one object, one
// request, for a typical batch), which are written in parallel; each chunk
// is a range of its object. The order between two entries for the same
// chunk is not defined. Every entry is attempted; the error is that of the
// first failing entry in input order, and the other entries may have been
// set. As with StoreSet, no value is kept once it returns.
func (s *Session) StoreSetMany(ctx context.Context, keys []string, values [][]byte) error {
	if len(keys) != len(values) {
		return invalidArgument("%d values for %d keys", len(values), len(keys))
	}
	if s.ReadOnly() {
		return readOnly(fmt.Sprintf("set %d zarr keys", len(keys)))
	}
	errs := make([]error, len(keys))
	var chunks []int
	for i, key := range keys {
		if key == metadataName || strings.HasSuffix(key, "/"+metadataName) {
			errs[i] = s.StoreSet(ctx, key, values[i])
		} else {
			chunks = append(chunks, i)
		}
	}
	s.setChunks(ctx, keys, values, chunks, errs)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// maxPackBytes bounds the chunk object StoreSetMany packs a batch's chunks
// into. Packing saves a request (and, on disk, a file) per chunk; the bound
// keeps a large batch spread over several objects written in parallel. A
// single larger chunk gets an object of its own.
const maxPackBytes = 8 << 20

// setChunks sets the chunk keys keys[i], i in idx, for StoreSetMany, and
// puts each entry's failure in errs[i].
func (s *Session) setChunks(ctx context.Context, keys []string, values [][]byte, idx []int, errs []error) {
	targets := make([]*chunkTarget, len(keys))
	refs := make([]*codec.ChunkRef, len(keys))
	inline := int(s.repo.cfg().InlineChunkThreshold)
	var packs [][]int // indices of the values of each chunk object
	packBytes := 0
	for _, i := range idx {
		k, err := parseZarrKey(keys[i])
		if err != nil || k.kind != keyChunk {
			errs[i] = s.StoreSet(ctx, keys[i], values[i]) // fails, or sets metadata, as for a single key
			continue
		}
		if targets[i], err = s.writableChunkTarget(ctx, k); err != nil {
			errs[i] = err
			continue
		}
		v := values[i]
		if len(v) <= inline {
			refs[i] = &codec.ChunkRef{Kind: codec.ChunkInline, Inline: slices.Clone(v)}
			continue
		}
		if len(packs) == 0 || packBytes+len(v) > maxPackBytes {
			packs, packBytes = append(packs, nil), 0
		}
		packs[len(packs)-1] = append(packs[len(packs)-1], i)
		packBytes += len(v)
	}
	for p, err := range runParallel(ctx, len(packs), func(p int) error {
		parts := make([][]byte, len(packs[p]))
		for j, i := range packs[p] {
			parts[j] = values[i]
		}
		written, err := s.repo.assets.writeChunks(ctx, parts)
		if err != nil {
			return err
		}
		for j, i := range packs[p] {
			refs[i] = &written[j]
		}
		return nil
	}) {
		if err == nil {
			continue
		}
		for _, i := range packs[p] {
			errs[i] = errors.Wrapf(err, "setting %q", keys[i])
		}
	}
	// Record the refs; SetChunkRef checks each array again, in case it
	// changed while the chunks were written.
	for _, i := range idx {
		if refs[i] == nil {
			continue
		}
		if err := s.SetChunkRef(ctx, Path(targets[i].node.Path), targets[i].coords, refs[i]); err != nil {
			errs[i] = errors.Wrapf(err, "setting %q", keys[i])
		}
	}
}

// StoreSetIfNotExists stores value at key only if the key is missing, and
// reports whether it did. The check and the set are atomic within the
// session: of concurrent calls for one key, one stores. Errors are those
// of StoreSet; an invalid zarr.json is an error even if the key exists.
func (s *Session) StoreSetIfNotExists(ctx context.Context, key string, value []byte) (bool, error) {
	if s.ReadOnly() {
		return false, readOnly(fmt.Sprintf("set zarr key %q", key))
	}
	k, err := parseZarrKey(key)
	if err != nil {
		return false, err
	}
	switch k.kind {
	case keyV2Metadata:
		return false, invalidKey(key, "Zarr format 2 metadata cannot be stored: the repository holds Zarr v3")
	case keyMetadata:
		meta, err := parseZarrJSON(key, value)
		if err != nil {
			return false, err
		}
		// zarr sets every parent group's zarr.json this way on each create:
		// a node already there is the common case, answered by a lookup.
		if _, found, err := s.lookupNode(ctx, k.path); err != nil || found {
			return false, err
		}
		if meta.typ == GroupNode {
			err = s.AddGroup(ctx, k.path, value)
		} else {
			if err := s.checkNoDescendant(ctx, k.path); err != nil {
				return false, err
			}
			err = s.AddArray(ctx, k.path, meta.array, value)
		}
		if errors.Is(err, ErrAlreadyExists) {
			if _, gerr := s.GetNode(ctx, k.path); gerr == nil {
				return false, nil // the node is there: this key exists
			}
		}
		return err == nil, err
	}
	t, err := s.writableChunkTarget(ctx, k)
	if err != nil {
		return false, err
	}
	path := Path(t.node.Path)
	if ref, err := s.chunkRef(ctx, t); err != nil || ref != nil {
		return false, err
	}
	ref, err := s.WriteChunk(ctx, value)
	if err != nil {
		return false, errors.Wrapf(err, "setting %q", key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkWritable(fmt.Sprintf("set zarr key %q", key)); err != nil {
		return false, err
	}
	n, err := s.getArrayLocked(ctx, path)
	if err != nil {
		return false, err
	}
	if old, ok := s.changes.chunk(n.ID, t.coords); ok {
		if old != nil {
			return false, nil
		}
	} else {
		// The manifests were just read above, so this lookup under the
		// lock is served from the cache.
		old, err := s.repo.lookupChunk(ctx, n, t.coords)
		if err != nil || old != nil {
			return false, err
		}
	}
	if err := s.setChunkRefLocked(n, t.coords, ref); err != nil {
		return false, err
	}
	return true, nil
}

// StoreDelete deletes the value at key; deleting a missing key (including
// a key no array owns, or a chunk outside the grid) succeeds.
//
// Deleting a zarr.json key removes that node only, as deleting one key of
// a key-value store removes one key: for an array, with its chunks (they
// cannot outlive it); for a group, its children stay. Use StoreDeleteDir
// to remove a subtree, as zarr does.
func (s *Session) StoreDelete(ctx context.Context, key string) error {
	if s.ReadOnly() {
		return readOnly(fmt.Sprintf("delete zarr key %q", key))
	}
	k, err := parseZarrKey(key)
	if err != nil {
		return err
	}
	switch k.kind {
	case keyV2Metadata:
		return nil
	case keyMetadata:
		// The node with everything under it, as upstream Icechunk's store
		// does: a group's children without the group would make a
		// hierarchy zarr cannot open from its root.
		return s.DeleteNode(ctx, k.path)
	}
	t, err := s.resolveChunk(ctx, k)
	if err != nil || t == nil || !t.inGrid {
		return err
	}
	ref, err := s.chunkRef(ctx, t)
	if err != nil || ref == nil {
		return err // nothing to delete: record no change
	}
	err = s.DeleteChunks(ctx, Path(t.node.Path), [][]uint32{t.coords})
	if errors.Is(err, ErrNodeNotFound) {
		return nil // deleted meanwhile
	}
	return err
}

// StoreDeleteDir deletes every key under the directory prefix ("" or "/"
// for everything, "a/b" and "a/b/" alike for the keys starting with
// "a/b/"): the nodes at and below the directory, and, when the directory
// lies inside an array's keys (such as "arr/c"), the chunks of that array
// whose keys start with it.
func (s *Session) StoreDeleteDir(ctx context.Context, prefix string) error {
	if s.ReadOnly() {
		return readOnly(fmt.Sprintf("delete zarr directory %q", prefix))
	}
	segs, err := splitDir(prefix)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return s.Clear(ctx)
	}
	if p, ok := prefixPath(segs, len(segs)); ok {
		if err := s.DeleteNode(ctx, p); err != nil {
			return err
		}
	}
	s.mu.RLock()
	owner, _, err := s.ownerLocked(ctx, segs)
	s.mu.RUnlock()
	if err != nil || owner == nil {
		return err
	}
	dir := strings.Join(segs, "/") + "/"
	path := Path(owner.Path)
	var coords [][]uint32
	for e, err := range s.arrayChunkEntries(ctx, path) {
		if err != nil {
			return err
		}
		if strings.HasPrefix(e.key, dir) {
			coords = append(coords, e.coords)
		}
	}
	if len(coords) == 0 {
		return nil
	}
	err = s.DeleteChunks(ctx, path, coords)
	if errors.Is(err, ErrNodeNotFound) {
		return nil
	}
	return err
}

// StoreExists reports whether key holds a value.
func (s *Session) StoreExists(ctx context.Context, key string) (bool, error) {
	_, err := s.StoreGetSize(ctx, key)
	if errors.Is(err, ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// StoreGetSize returns the length in bytes of the value at key. A missing
// key is an error carrying ErrKeyNotFound and ErrNodeNotFound or
// ErrChunkNotFound (see ErrKeyNotFound).
func (s *Session) StoreGetSize(ctx context.Context, key string) (int64, error) {
	k, err := parseZarrKey(key)
	if err != nil {
		return 0, err
	}
	switch k.kind {
	case keyV2Metadata:
		return 0, keyNotFound(key, ErrNodeNotFound)
	case keyMetadata:
		n, found, err := s.lookupNode(ctx, k.path)
		if err != nil {
			return 0, err
		}
		if !found {
			return 0, keyNotFound(key, ErrNodeNotFound)
		}
		return int64(len(n.ZarrMetadata)), nil
	}
	t, err := s.resolveChunk(ctx, k)
	if err != nil {
		return 0, err
	}
	if t == nil {
		return 0, keyNotFound(key, ErrNodeNotFound)
	}
	if !t.inGrid {
		return 0, keyNotFound(key, ErrChunkNotFound)
	}
	ref, err := s.chunkRef(ctx, t)
	if err != nil {
		return 0, err
	}
	if ref == nil {
		return 0, keyNotFound(key, ErrChunkNotFound)
	}
	return int64(chunkLength(ref)), nil
}

// splitDir validates a directory prefix ("" or "/" for the top, "a/b" or
// "a/b/" below it) and returns its segments.
func splitDir(prefix string) ([]string, error) {
	if prefix == "/" {
		prefix = ""
	}
	return splitKey(prefix, true)
}

// storeEntry is one key of a listing, with the size of its value.
type storeEntry struct {
	key    string
	size   int64
	coords []uint32 // chunks only
}

// StoreList yields every key: each node's zarr.json and each existing
// chunk's key, each once, in no promised order (nodes come in path order,
// each followed by its chunks). The listing reads the nodes at its start;
// a write made while it runs may or may not show.
func (s *Session) StoreList(ctx context.Context) iter.Seq2[string, error] {
	return s.StoreListPrefix(ctx, "")
}

// StoreListPrefix yields the keys that start with prefix, a plain string
// prefix ("a/b" matches "a/b/zarr.json" and "a/bc/zarr.json"), as
// StoreList does.
func (s *Session) StoreListPrefix(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for e, err := range s.storeEntries(ctx, prefix) {
			if !yield(e.key, err) || err != nil {
				return
			}
		}
	}
}

// StoreGetSizePrefix returns the total size of the values whose keys start
// with prefix (a plain string prefix, as in StoreListPrefix).
func (s *Session) StoreGetSizePrefix(ctx context.Context, prefix string) (int64, error) {
	var total int64
	for e, err := range s.storeEntries(ctx, prefix) {
		if err != nil {
			return 0, err
		}
		total += e.size
	}
	return total, nil
}

// StoreIsEmpty reports whether no key lies under the directory prefix (""
// or "/" for the whole store, or "a/b" and "a/b/" alike for the keys starting with "a/b/"). It stops
// at the first key found.
func (s *Session) StoreIsEmpty(ctx context.Context, prefix string) (bool, error) {
	if prefix == "/" {
		prefix = ""
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	for _, err := range s.storeEntries(ctx, prefix) {
		return false, err
	}
	return true, nil
}

// StoreClear deletes every node and chunk.
func (s *Session) StoreClear(ctx context.Context) error {
	if s.ReadOnly() {
		return readOnly("clear the store")
	}
	return s.Clear(ctx)
}

// storeEntries yields every key starting with prefix, with its size.
func (s *Session) storeEntries(ctx context.Context, prefix string) iter.Seq2[storeEntry, error] {
	return func(yield func(storeEntry, error) bool) {
		nodes, err := s.ListNodes(ctx)
		if err != nil {
			yield(storeEntry{}, err)
			return
		}
		for _, n := range nodes {
			if err := ctx.Err(); err != nil {
				yield(storeEntry{}, err)
				return
			}
			dir := nodeDir(Path(n.Path))
			if !strings.HasPrefix(dir, prefix) && !strings.HasPrefix(prefix, dir) {
				continue // no key of this node can start with prefix
			}
			if mk := dir + metadataName; strings.HasPrefix(mk, prefix) {
				if !yield(storeEntry{key: mk, size: int64(len(n.ZarrMetadata))}, nil) {
					return
				}
			}
			if n.Type != ArrayNode {
				continue
			}
			for e, err := range s.arrayChunkEntries(ctx, Path(n.Path)) {
				if err != nil {
					yield(storeEntry{}, err)
					return
				}
				if strings.HasPrefix(e.key, prefix) && !yield(e, nil) {
					return
				}
			}
		}
	}
}

// arrayChunkEntries yields the key, size and coordinates of every existing
// chunk of the array at path, in no promised order. An array that no
// longer exists yields nothing.
func (s *Session) arrayChunkEntries(ctx context.Context, path Path) iter.Seq2[storeEntry, error] {
	return func(yield func(storeEntry, error) bool) {
		s.mu.RLock()
		n, err := s.getArrayLocked(ctx, path)
		if err != nil {
			s.mu.RUnlock()
			if !errors.Is(err, ErrNodeNotFound) && !errors.Is(err, ErrNotAnArray) {
				yield(storeEntry{}, err)
			}
			return
		}
		info := s.arrayInfoLocked(n)
		changes := s.changes.sortedChunks(n.ID)
		s.mu.RUnlock()
		dir := nodeDir(path)
		for c, err := range s.repo.nodeChunks(ctx, n, changes) {
			if err != nil {
				yield(storeEntry{}, err)
				return
			}
			e := storeEntry{key: dir + info.encode(c.Coords), size: int64(chunkLength(c.Ref)), coords: c.Coords}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// StoreListGroupDir lists the directory of a group ("" or "/" for the
// root, "a/b" or "a/b/" for the group /a/b) as StoreListDir does. Nodes
// never live inside arrays, so a group's directory holds no chunk keys and
// its names come from the nodes alone: once the base snapshot is in memory
// (see LoadBase) this never reads storage, which lets bindings call it
// without a thread hand-off. ok is false, with nothing listed, if prefix
// is not the directory of an existing group.
func (s *Session) StoreListGroupDir(ctx context.Context, prefix string) (names []string, ok bool, err error) {
	dir := strings.TrimSuffix(prefix, "/")
	if strings.HasPrefix(dir, "/") {
		return nil, false, nil
	}
	path, err := NewPath(dir)
	if err != nil {
		return nil, false, nil
	}
	if _, err := s.GetGroup(ctx, path); err != nil {
		if errors.Is(err, ErrNodeNotFound) || errors.Is(err, ErrNotAGroup) {
			return nil, false, nil
		}
		return nil, false, err
	}
	names = []string{}
	for name, err := range s.StoreListDir(ctx, prefix) {
		if err != nil {
			return nil, false, err
		}
		names = append(names, name)
	}
	return names, true, nil
}

// StoreListDir yields the names of the immediate children of the
// directory prefix ("" for the top; "a/b" and "a/b/" alike): the next
// segment of every key below it, each once, in no promised order. For an
// array at "a/b" with the default encoding, "a/b/" yields "zarr.json" and
// "c", and "a/b/c/" the first coordinates of its chunks. A directory
// inside an array's keys is listed from its chunks, stopping as soon as
// every possible name has been seen (one chunk proves "c"); a name that is
// a whole chunk key (such as "c.0.1" with separator ".") costs one name per
// chunk.
func (s *Session) StoreListDir(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		segs, err := splitDir(prefix)
		if err != nil {
			yield("", err)
			return
		}
		dir := ""
		if len(segs) > 0 {
			dir = strings.Join(segs, "/") + "/"
		}
		// A node's keys are under nodeDir(path); the comparisons below use
		// the path itself ("/a/b" for "a/b/"), so that a listing does not
		// build a string per node of the hierarchy, and only the nodes in
		// or above the directory are kept.
		dirPath := "/" + dir                        // "/a/b/", or "/" for the top
		dirNode := dirPath[:max(len(dirPath)-1, 1)] // "/a/b": the node whose keys are in dir
		var nodes []*Node
		s.mu.RLock()
		err = s.eachNodeLocked(ctx, func(n *Node) {
			if strings.HasPrefix(n.Path, dirNode) || n.Type == ArrayNode && isAncestorDir(n.Path, dirPath) {
				nodes = append(nodes, n)
			}
		})
		s.mu.RUnlock()
		if err != nil {
			yield("", err)
			return
		}
		slices.SortFunc(nodes, func(a, b *Node) int { return strings.Compare(a.Path, b.Path) })
		seen := map[string]bool{}
		emit := func(name string) bool {
			if seen[name] {
				return true
			}
			seen[name] = true
			return yield(name, nil)
		}
		for _, n := range nodes {
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			p := n.Path
			switch {
			case p == dirNode:
				if !emit(metadataName) {
					return
				}
				if n.Type == ArrayNode && !s.listChunkDir(ctx, Path(p), dir, 0, emit, yield) {
					return
				}
			case strings.HasPrefix(p, dirPath): // below dir
				seg, _, _ := strings.Cut(p[len(dirPath):], "/")
				if !emit(seg) {
					return
				}
			case n.Type == ArrayNode && isAncestorDir(p, dirPath):
				ndLen := len(p) // len(nodeDir(p)): "a/b/" is as long as "/a/b"
				if p == string(Root) {
					ndLen = 0
				}
				if !s.listChunkDir(ctx, Path(p), dir, strings.Count(dir[ndLen:], "/"), emit, yield) {
					return
				}
			}
		}
	}
}

// listChunkDir lists the names at segment index depth of the chunk keys of
// the array at path that start with dir (a directory inside or at the
// array's keys). It returns false if the listing must stop (the consumer
// stopped or an error was yielded).
func (s *Session) listChunkDir(ctx context.Context, path Path, dir string, depth int, emit func(string) bool, yield func(string, error) bool) bool {
	s.mu.RLock()
	n, err := s.getArrayLocked(ctx, path)
	var info *zarrArrayInfo
	if err == nil {
		info = s.arrayInfoLocked(n)
	}
	s.mu.RUnlock()
	if errors.Is(err, ErrNodeNotFound) || errors.Is(err, ErrNotAnArray) {
		return true
	}
	if err != nil {
		return yield("", err)
	}
	// Chunk keys relative to the array have these many "/"-separated
	// segments; the name at index i can take at most distinct(i) values.
	rank := len(n.Array.Shape)
	grid := gridShape(n.Array)
	segments, distinct := 1, func(int) int { return 1 }
	if info.separator == '/' {
		switch {
		case info.encoding == encodingDefault:
			segments = 1 + rank
			distinct = func(i int) int {
				if i == 0 {
					return 1
				}
				return int(grid[i-1])
			}
		case rank > 0:
			segments = rank
			distinct = func(i int) int { return int(grid[i]) }
		}
	}
	if depth >= segments {
		return true
	}
	leaf := depth == segments-1
	limit := distinct(depth)
	found := map[string]bool{}
	for e, err := range s.arrayChunkEntries(ctx, path) {
		if err != nil {
			return yield("", err)
		}
		rest, ok := strings.CutPrefix(e.key, dir)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		if leaf {
			// Each chunk has its own name here: no need to remember them.
			if !yield(name, nil) {
				return false
			}
			continue
		}
		if !found[name] {
			found[name] = true
			if !emit(name) {
				return false
			}
			if len(found) >= limit {
				break
			}
		}
	}
	return true
}

// runParallel calls fn(i) for i in [0, n), at most storeParallelism at a
// time, and returns the errors by index. A panic in fn becomes that
// index's error; once ctx is done the calls not started fail with its
// error.
func runParallel(ctx context.Context, n int, fn func(i int) error) []error {
	return runParallelN(ctx, n, storeParallelism, fn)
}

// runParallelN is runParallel with at most limit calls at a time.
func runParallelN(ctx context.Context, n, limit int, fn func(i int) error) []error {
	errs := make([]error, n)
	if n == 1 {
		errs[0] = callRecovering(fn, 0)
		return errs
	}
	// A fixed pool of workers takes the indices in turn: no goroutine (and
	// stack) per key.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(min(n, limit), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				errs[i] = callRecovering(fn, i)
			}
		}()
	}
	wg.Wait()
	return errs
}

func callRecovering(fn func(int) error, i int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.AssertionFailedf("panic in store operation: %v", r)
		}
	}()
	return fn(i)
}
