"""
    IcechunkGo

Julia binding of libicechunk (icechunk-go), a transactional storage engine
for Zarr v3 data: versioned hierarchies in memory, on a local disk or in S3,
with branches, tags, history, diffs, conflict detection and rebase.

It wraps the C interface of `include/icechunk.h` with `ccall` only. The
library is found through `ENV["ICECHUNK_GO_LIB"]`, else at
`build/libicechunk.so` of the repository (see [`default_library_path`](@ref)),
and must have the ABI version this package expects (`IC_ABI_VERSION`).

The names follow upstream Icechunk's Python API in Julia style:

```julia
using IcechunkGo
repo = create_repository(local_filesystem_storage("/tmp/repo"))
s = writable_session(repo, "main")
st = store(s)
st["zarr.json"] = "{\\"zarr_format\\":3,\\"node_type\\":\\"group\\"}"
snap = commit!(s, "first commit")
```

Forking the process after the library is loaded is unsafe (use separate
processes started with `run`, not `fork`); the library is never unloaded.
"""
module IcechunkGo

using Dates
using Libdl

export LibraryError, IcechunkException, IcechunkError, ConflictError, RebaseFailedError,
    Conflict, ConflictKind, CancelToken, cancel!, iscancelled, with_cancel,
    Storage, in_memory_storage, local_filesystem_storage, s3_storage, S3Credentials, http_storage, describe,
    Repository, create_repository, open_repository, open_or_create_repository, repository_exists,
    config, set_config!, use_config!, default_commit_metadata, set_default_commit_metadata!,
    set_virtual_chunk_storage!,
    list_branches, create_branch!, lookup_branch, delete_branch!, reset_branch!, rewrite_manifests!,
    repack_chunks!, RepackSummary,
    list_tags, create_tag!, lookup_tag, delete_tag!,
    resolve, snapshot_info, ancestry, SnapshotInfo, ManifestFileInfo, Diff,
    garbage_collect, GCSummary, expire_snapshots, chunk_storage_stats, ChunkStorageStats, inspect_snapshot,
    Session, readonly_session, writable_session, session_from_bytes,
    branch, snapshot_id, read_only, has_uncommitted_changes, is_fork,
    add_group!, update_group!, add_array!, update_array!, delete_array!, delete_group!,
    delete_node!, get_node, list_nodes,
    ByteRange, set_chunk!, get_chunk, get_chunk_into!, delete_chunks!, set_virtual_ref!, chunk_coordinates,
    VirtualChunkSpec, set_virtual_refs!, virtual_chunk_locations, ChunkType, chunk_type,
    status, discard_changes!, flush!, flush_snapshot!, commit!, rebase!, to_bytes, fork,
    VersionSelection, ConflictSolver, ConflictDetector, BasicConflictSolver,
    IcechunkStore, store, session, get_into!, set_behind!, set_if_not_exists!, delete_dir!, isinitialized,
    getsize, getsize_prefix, list_prefix, list_dir, is_empty, subdirs, subkeys, storagesize,
    getmany, setmany!, read_items!, store_read_strategy, SequentialRead, ConcurrentRead,
    zarrstore

include("json.jl")
include("lib.jl")
include("errors.jl")
include("handles.jl")
include("cancel.jl")
include("storage.jl")
include("solvers.jl")
include("repository.jl")
include("session.jl")
include("store.jl")

"""
    zarrstore(store::IcechunkStore)

The store as a `Zarr.AbstractStore`, for `zopen`/`zcreate`/`zgroup` of
Zarr.jl. Provided by the package extension `IcechunkGoZarrExt`, loaded when
Zarr.jl is loaded next to IcechunkGo on Julia >= 1.9.
"""
function zarrstore(x)
    why = VERSION < v"1.9" ?
        "package extensions need Julia >= 1.9 (this is Julia $VERSION)" :
        "load Zarr.jl (`using Zarr`) to activate the extension IcechunkGoZarrExt"
    throw(ErrorException("IcechunkGo.zarrstore: the Zarr.jl glue is not loaded: $why"))
end

function __init__()
    _load_library(default_library_path())
end

end # module IcechunkGo
