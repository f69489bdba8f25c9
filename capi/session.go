package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
)

func lookupSession(h C.ic_session) (*engine.Session, error) {
	return lookup[*engine.Session](uint64(h), kindSession)
}

// withSession runs fn with the session of h.
func withSession(h C.ic_session, errOut *C.ic_error, fn func(s *engine.Session, ctx context.Context) error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupSession(h)
		if err != nil {
			return err
		}
		return withContext(func(ctx context.Context) error { return fn(s, ctx) })
	})
}

func inPath(p *C.ic_cchar) (engine.Path, error) {
	s, err := inString(p, "path")
	if err != nil {
		return "", err
	}
	return engine.NewPath(s)
}

// inRange converts an optional byte range (NULL: all).
func inRange(p *C.ic_crange, what string) (storage.ByteRange, error) {
	if p == nil {
		return storage.From(0), nil
	}
	start, end := int64(p.start), int64(p.end)
	var r storage.ByteRange
	switch p.kind {
	case C.IC_RANGE_ALL:
		return storage.From(0), nil
	case C.IC_RANGE_BOUNDED:
		r = storage.Range(start, end)
	case C.IC_RANGE_FROM:
		r = storage.From(start)
	case C.IC_RANGE_SUFFIX:
		r = storage.Suffix(start)
	default:
		return r, invalidArg("%s.kind is %d, not an ic_range_kind value", what, int(p.kind))
	}
	if err := r.Validate(); err != nil {
		return r, errors.Wrapf(err, "%s", what)
	}
	return r, nil
}

//export ic_session_free
func ic_session_free(session C.ic_session) C.ic_status {
	return call(nil, func() error {
		if session == 0 {
			return nil
		}
		_, err := handles.remove(uint64(session), kindSession)
		return err
	})
}

//export ic_session_branch
func ic_session_branch(session C.ic_session, branch **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, _ context.Context) error {
		if err := needOut(unsafe.Pointer(branch), "branch"); err != nil {
			return err
		}
		return setString(branch, s.Branch())
	})
}

//export ic_session_snapshot_id
func ic_session_snapshot_id(session C.ic_session, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, _ context.Context) error {
		if err := needOut(unsafe.Pointer(snapshotID), "snapshot_id"); err != nil {
			return err
		}
		return setString(snapshotID, s.SnapshotID().String())
	})
}

// boolProp writes one boolean property.
func boolProp(session C.ic_session, out *C.int32_t, name string, errOut *C.ic_error, get func(*engine.Session) bool) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, _ context.Context) error {
		if err := needOut(unsafe.Pointer(out), name); err != nil {
			return err
		}
		*out = cBool(get(s))
		return nil
	})
}

//export ic_session_read_only
func ic_session_read_only(session C.ic_session, readOnly *C.int32_t, errOut *C.ic_error) C.ic_status {
	return boolProp(session, readOnly, "read_only", errOut, (*engine.Session).ReadOnly)
}

//export ic_session_has_changes
func ic_session_has_changes(session C.ic_session, hasChanges *C.int32_t, errOut *C.ic_error) C.ic_status {
	return boolProp(session, hasChanges, "has_changes", errOut, (*engine.Session).HasUncommittedChanges)
}

//export ic_session_is_fork
func ic_session_is_fork(session C.ic_session, isFork *C.int32_t, errOut *C.ic_error) C.ic_status {
	return boolProp(session, isFork, "is_fork", errOut, (*engine.Session).IsFork)
}

// --- Nodes --------------------------------------------------------------

//export ic_session_add_group
func ic_session_add_group(session C.ic_session, path *C.ic_cchar, zarrJSON *C.ic_cu8, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		meta, err := inBytes(zarrJSON, n, "zarr_json")
		if err != nil {
			return err
		}
		return s.AddGroup(ctx, p, meta)
	})
}

// inArrayMeta converts the array definition arguments.
func inArrayMeta(shape, chunkShape *C.ic_cu64, ndim C.size_t, names *C.ic_cstr) (engine.ArrayMeta, error) {
	n, err := checkSize(ndim, "ndim")
	if err != nil {
		return engine.ArrayMeta{}, err
	}
	var m engine.ArrayMeta
	if m.Shape, err = inU64s(shape, n, "shape"); err != nil {
		return m, err
	}
	if m.ChunkShape, err = inU64s(chunkShape, n, "chunk_shape"); err != nil {
		return m, err
	}
	if names != nil {
		if m.DimensionNames, err = inStrings(names, n, "dimension_names", true); err != nil {
			return m, err
		}
	}
	return m, nil
}

//export ic_session_add_array
func ic_session_add_array(session C.ic_session, path *C.ic_cchar, shape, chunkShape *C.ic_cu64, ndim C.size_t, dimensionNames *C.ic_cstr, zarrJSON *C.ic_cu8, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		a, err := inArrayMeta(shape, chunkShape, ndim, dimensionNames)
		if err != nil {
			return err
		}
		meta, err := inBytes(zarrJSON, n, "zarr_json")
		if err != nil {
			return err
		}
		return s.AddArray(ctx, p, a, meta)
	})
}

//export ic_session_update_array
func ic_session_update_array(session C.ic_session, path *C.ic_cchar, shape, chunkShape *C.ic_cu64, ndim C.size_t, dimensionNames *C.ic_cstr, zarrJSON *C.ic_cu8, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		a, err := inArrayMeta(shape, chunkShape, ndim, dimensionNames)
		if err != nil {
			return err
		}
		meta, err := inBytes(zarrJSON, n, "zarr_json")
		if err != nil {
			return err
		}
		return s.UpdateArray(ctx, p, a, meta)
	})
}

//export ic_session_update_group
func ic_session_update_group(session C.ic_session, path *C.ic_cchar, zarrJSON *C.ic_cu8, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		meta, err := inBytes(zarrJSON, n, "zarr_json")
		if err != nil {
			return err
		}
		return s.UpdateGroup(ctx, p, meta)
	})
}

// deleteAt runs one of the delete calls on a path.
func deleteAt(session C.ic_session, path *C.ic_cchar, errOut *C.ic_error, del func(*engine.Session, context.Context, engine.Path) error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		return del(s, ctx, p)
	})
}

//export ic_session_delete_array
func ic_session_delete_array(session C.ic_session, path *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return deleteAt(session, path, errOut, (*engine.Session).DeleteArray)
}

//export ic_session_delete_group
func ic_session_delete_group(session C.ic_session, path *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return deleteAt(session, path, errOut, (*engine.Session).DeleteGroup)
}

//export ic_session_delete_node
func ic_session_delete_node(session C.ic_session, path *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return deleteAt(session, path, errOut, (*engine.Session).DeleteNode)
}

//export ic_session_get_node
func ic_session_get_node(session C.ic_session, path *C.ic_cchar, json **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		n, err := s.GetNode(ctx, p)
		if err != nil {
			return err
		}
		return setJSON(json, node(n))
	})
}

//export ic_session_list_nodes
func ic_session_list_nodes(session C.ic_session, json **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		nodes, err := s.ListNodes(ctx)
		if err != nil {
			return err
		}
		out := make([]any, len(nodes))
		for i, n := range nodes {
			out[i] = node(n)
		}
		return setJSON(json, out)
	})
}

// --- Chunks -------------------------------------------------------------

//export ic_session_set_chunk
func ic_session_set_chunk(session C.ic_session, path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t, data *C.ic_cu8, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, c, err := chunkAt(path, coords, ndim)
		if err != nil {
			return err
		}
		b, err := borrowBytes(data, n, "data")
		if err != nil {
			return err
		}
		return s.SetChunk(ctx, p, c, b)
	})
}

// intoCaller returns the alloc of an engine read (StoreGetInto,
// GetChunkInto) that hands out the caller's buffer, so the value is read
// straight into it. It reports the value found and its size first: a
// value larger than capacity is errBufferTooSmall with *n saying how large
// a buffer it needs, and nothing is read. The caller sets *n and
// *foundOut to 0 before the read, for a value that is not found.
func intoCaller(buf *C.uint8_t, capacity int, n *C.size_t, foundOut *C.int32_t) func(int) ([]byte, error) {
	return func(size int) ([]byte, error) {
		*foundOut, *n = 1, C.size_t(size)
		if size > capacity {
			return nil, errors.Mark(errors.Newf("the value has %d bytes, the buffer holds %d", size, capacity), errBufferTooSmall)
		}
		if size == 0 {
			return []byte{}, nil
		}
		return unsafe.Slice((*byte)(unsafe.Pointer(buf)), size), nil
	}
}

// checkInto validates the arguments of a read into a caller's buffer.
func checkInto(buf *C.uint8_t, capacity C.size_t, n *C.size_t, found *C.int32_t) (int, error) {
	c, err := checkSize(capacity, "cap")
	if err != nil {
		return 0, err
	}
	if buf == nil && c > 0 {
		return 0, invalidArg("buf is NULL but cap is %d", c)
	}
	if err := needOut(unsafe.Pointer(n), "len"); err != nil {
		return 0, err
	}
	return c, needOut(unsafe.Pointer(found), "found")
}

func checkReadOut(data **C.uint8_t, n *C.size_t, found *C.int32_t) error {
	if err := needOut(unsafe.Pointer(data), "data"); err != nil {
		return err
	}
	if err := needOut(unsafe.Pointer(n), "len"); err != nil {
		return err
	}
	return needOut(unsafe.Pointer(found), "found")
}

// chunkAt converts the path of an array and the coordinates of one of its
// chunks.
func chunkAt(path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t) (engine.Path, []uint32, error) {
	p, err := inPath(path)
	if err != nil {
		return "", nil, err
	}
	c, err := inU32s(coords, ndim, "coords")
	return p, c, err
}

// chunkArgs converts the common arguments of the chunk reads.
func chunkArgs(path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t, rng *C.ic_crange) (engine.Path, []uint32, storage.ByteRange, error) {
	p, c, err := chunkAt(path, coords, ndim)
	if err != nil {
		return "", nil, storage.ByteRange{}, err
	}
	r, err := inRange(rng, "range")
	return p, c, r, err
}

//export ic_session_get_chunk
func ic_session_get_chunk(session C.ic_session, path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t, rng *C.ic_crange, data **C.uint8_t, n *C.size_t, found *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, c, r, err := chunkArgs(path, coords, ndim, rng)
		if err != nil {
			return err
		}
		if err := checkReadOut(data, n, found); err != nil {
			return err
		}
		// The chunk goes straight into the C buffer handed out.
		var out unsafe.Pointer
		b, ok, err := s.GetChunkInto(ctx, p, c, r, cAllocTo(&out, nil))
		if err != nil {
			if out != nil {
				cRelease(out)
			}
			return err
		}
		if !ok {
			*data, *n, *found = nil, 0, 0
			return nil
		}
		*data, *n, *found = (*C.uint8_t)(out), C.size_t(len(b)), 1
		return nil
	})
}

//export ic_session_get_chunk_into
func ic_session_get_chunk_into(session C.ic_session, path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t, rng *C.ic_crange, buf *C.uint8_t, capacity C.size_t, n *C.size_t, found *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, c, r, err := chunkArgs(path, coords, ndim, rng)
		if err != nil {
			return err
		}
		capBytes, err := checkInto(buf, capacity, n, found)
		if err != nil {
			return err
		}
		*n, *found = 0, 0
		_, _, err = s.GetChunkInto(ctx, p, c, r, intoCaller(buf, capBytes, n, found))
		return err
	})
}

//export ic_session_delete_chunks
func ic_session_delete_chunks(session C.ic_session, path *C.ic_cchar, coords *C.ic_cu32, count, ndim C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		cnt, err := checkSize(count, "count")
		if err != nil {
			return err
		}
		rank, err := checkSize(ndim, "ndim")
		if err != nil {
			return err
		}
		if rank != 0 && uint64(cnt) > maxSize/uint64(rank) {
			return invalidArg("count * ndim (%d * %d) is larger than IC_MAX_SIZE", cnt, rank)
		}
		if rank == 0 {
			// Empty tuples all name the one chunk of a scalar array (a
			// count of them reads no memory, so it is not a bound).
			return s.DeleteChunks(ctx, p, [][]uint32{{}}[:min(cnt, 1)])
		}
		flat, err := inU32s(coords, C.size_t(cnt*rank), "coords")
		if err != nil {
			return err
		}
		list := make([][]uint32, cnt)
		for i := range list {
			list[i] = flat[i*rank : (i+1)*rank : (i+1)*rank]
		}
		return s.DeleteChunks(ctx, p, list)
	})
}

//export ic_session_set_virtual_ref
func ic_session_set_virtual_ref(session C.ic_session, path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t, location *C.ic_cchar, offset, length C.uint64_t, lastModified C.int64_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, c, err := chunkAt(path, coords, ndim)
		if err != nil {
			return err
		}
		loc, err := inString(location, "location")
		if err != nil {
			return err
		}
		return s.SetVirtualChunkRef(ctx, p, engine.VirtualChunkSpec{Coords: c, Location: loc,
			Offset: uint64(offset), Length: uint64(length), LastModified: int64(lastModified)})
	})
}

//export ic_session_set_virtual_refs
func ic_session_set_virtual_refs(session C.ic_session, path, refsJSON *C.ic_cchar, validateContainers C.int32_t, failedJSON **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		var in []*virtualRefJSON
		if err := inJSON(refsJSON, "refs_json", &in); err != nil {
			return err
		}
		refs, err := virtualRefs(in, "refs_json")
		if err != nil {
			return err
		}
		failed, err := s.SetVirtualChunkRefs(ctx, p, refs, validateContainers != 0)
		if err != nil || failedJSON == nil {
			return err
		}
		return setJSON(failedJSON, append([][]uint32{}, failed...))
	})
}

//export ic_session_chunk_type
func ic_session_chunk_type(session C.ic_session, path *C.ic_cchar, coords *C.ic_cu32, ndim C.size_t, kind *C.int32_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, c, err := chunkAt(path, coords, ndim)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(kind), "kind"); err != nil {
			return err
		}
		k, err := s.ChunkType(ctx, p, c)
		if err != nil {
			return err
		}
		*kind = chunkType(k)
		return nil
	})
}

// chunkType is the ic_chunk_type value of a chunk kind (0: no chunk).
func chunkType(k codec.ChunkKind) C.int32_t {
	switch k {
	case codec.ChunkNative:
		return C.IC_CHUNK_NATIVE
	case codec.ChunkVirtual:
		return C.IC_CHUNK_VIRTUAL
	case codec.ChunkInline:
		return C.IC_CHUNK_INLINE
	}
	return C.IC_CHUNK_UNINITIALIZED
}

//export ic_session_chunk_coordinates
func ic_session_chunk_coordinates(session C.ic_session, path *C.ic_cchar, out *C.ic_iter, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		p, err := inPath(path)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		if _, err := s.GetArray(ctx, p); err != nil {
			return err
		}
		return newIter(ctx, s.ChunkCoordinates(ctx, p), func(c []uint32) any { return c }, out)
	})
}

//export ic_session_virtual_chunk_locations
func ic_session_virtual_chunk_locations(session C.ic_session, out *C.ic_iter, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		return newIter(ctx, s.AllVirtualChunkLocations(ctx), func(l string) any { return l }, out)
	})
}

// --- Status, commit, serialization, fork and merge ----------------------

//export ic_session_status
func ic_session_status(session C.ic_session, json **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		d, err := s.Status(ctx)
		if err != nil {
			return err
		}
		return setJSON(json, diff(d))
	})
}

//export ic_session_discard_changes
func ic_session_discard_changes(session C.ic_session, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, _ context.Context) error {
		s.DiscardChanges()
		return nil
	})
}

// inCommit converts the message and metadata of a commit.
func inCommit(message, metadataJSON *C.ic_cchar) (string, map[string]any, error) {
	msg, err := inString(message, "message")
	if err != nil {
		return "", nil, err
	}
	s, ok, err := inOptString(metadataJSON, "metadata_json")
	if err != nil || !ok {
		return msg, nil, err
	}
	meta, err := jsonObject(s, "metadata_json")
	return msg, meta, err
}

//export ic_session_flush
func ic_session_flush(session C.ic_session, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		return s.FlushWrites(ctx)
	})
}

// writeSnapshot runs one of the calls that write the session's changes as
// a snapshot (Commit, Flush) and hands out its id unless snapshotID is NULL.
func writeSnapshot(session C.ic_session, message, metadataJSON *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error,
	write func(*engine.Session, context.Context, string, map[string]any) (codec.SnapshotID, error)) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		msg, meta, err := inCommit(message, metadataJSON)
		if err != nil {
			return err
		}
		id, err := write(s, ctx, msg, meta)
		if err != nil {
			return err
		}
		if snapshotID == nil {
			return nil
		}
		return setString(snapshotID, id.String())
	})
}

//export ic_session_commit
func ic_session_commit(session C.ic_session, message, metadataJSON *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return writeSnapshot(session, message, metadataJSON, snapshotID, errOut, (*engine.Session).Commit)
}

//export ic_session_flush_snapshot
func ic_session_flush_snapshot(session C.ic_session, message, metadataJSON *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return writeSnapshot(session, message, metadataJSON, snapshotID, errOut, (*engine.Session).Flush)
}

//export ic_session_to_bytes
func ic_session_to_bytes(session C.ic_session, data **C.uint8_t, n *C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(data), "data"); err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(n), "len"); err != nil {
			return err
		}
		b, err := s.Bytes(ctx)
		if err != nil {
			return err
		}
		p, err := cBytes(b)
		if err != nil {
			return err
		}
		*data, *n = (*C.uint8_t)(p), C.size_t(len(b))
		return nil
	})
}

//export ic_session_fork
func ic_session_fork(session C.ic_session, out *C.ic_session, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		f, err := s.Fork(ctx)
		if err != nil {
			return err
		}
		return newSessionHandle(f, out)
	})
}

//export ic_session_merge
func ic_session_merge(session C.ic_session, forks *C.ic_csession, n C.size_t, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		count, err := checkSize(n, "n")
		if err != nil {
			return err
		}
		if count > 0 && forks == nil {
			return invalidArg("forks is NULL but n is %d", count)
		}
		list := make([]*engine.Session, count)
		for i, h := range unsafe.Slice((*C.ic_session)(unsafe.Pointer(forks)), count) {
			f, err := lookupSession(h)
			if err != nil {
				return errors.Wrapf(err, "forks[%d]", i)
			}
			list[i] = f
		}
		return s.Merge(ctx, list...)
	})
}
