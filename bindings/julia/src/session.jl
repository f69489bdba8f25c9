# Sessions: a read-only or writable view of one snapshot; nodes, chunks,
# status, commit, rebase, serialization, fork and merge.

"""
    Session

A read-only or writable view of one snapshot of a repository. Thread-safe:
one writable session is meant to be used by many tasks and threads at once
(chunk reads and writes run in parallel inside the library); node changes,
commit and rebase are serialised with them. Get its key-value view with
[`store`](@ref).
"""
mutable struct Session <: Handle
    h::Threads.Atomic{UInt64}
    keep::Any # the repository or session it came from (see Repository's keep)
    Session(h::UInt64, keep = nothing) = _init_handle!(new(Threads.Atomic{UInt64}(h), keep))
end
_free(::Session, h::UInt64) = @ic(:ic_session_free, Int32, (UInt64,), h)

"Calls `f(h, out, err)` with an `Int32` out-parameter and returns its value."
function _int32_out(f, s::Session)
    with_handle(s) do h
        v = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        _check(f(h, v, err), err)
        v[]
    end
end
_flag(f, s::Session) = _int32_out(f, s) != 0

"""
    branch(session) -> Union{String,Nothing}

The branch a writable session commits to; `nothing` for a read-only one.
"""
function branch(s::Session)
    b = _string_out((h, out, err) -> @ic(:ic_session_branch, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), s)
    return isempty(b) ? nothing : b
end

"""
    snapshot_id(session) -> String

The snapshot the session reads (its base).
"""
snapshot_id(s::Session) =
    _string_out((h, out, err) -> @ic(:ic_session_snapshot_id, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), s)

"""
    read_only(session) -> Bool

Whether the session rejects writes (read-only sessions, and writable ones
after they commit).
"""
read_only(s::Session) = _flag((h, v, err) -> @ic(:ic_session_read_only, Int32, (UInt64, Ref{Int32}, Ref{UInt64}), h, v, err), s)

"""
    has_uncommitted_changes(session) -> Bool
"""
has_uncommitted_changes(s::Session) =
    _flag((h, v, err) -> @ic(:ic_session_has_changes, Int32, (UInt64, Ref{Int32}, Ref{UInt64}), h, v, err), s)

"""
    is_fork(session) -> Bool

Whether the session is a fork (see [`fork`](@ref)).
"""
is_fork(s::Session) = _flag((h, v, err) -> @ic(:ic_session_is_fork, Int32, (UInt64, Ref{Int32}, Ref{UInt64}), h, v, err), s)

function Base.show(io::IO, s::Session)
    if !isopen(s)
        print(io, "Session(closed)")
    else
        b = branch(s)
        print(io, "Session(", b === nothing ? "read-only" : "branch=$(repr(b))",
              ", snapshot=", snapshot_id(s), ")")
    end
end

# --- nodes ----------------------------------------------------------------------

_bytes(x::AbstractVector{UInt8}) = x isa Vector{UInt8} ? x : Vector{UInt8}(x)
_bytes(x::AbstractString) = Vector{UInt8}(String(x))
_bytes(x::Union{AbstractDict,NamedTuple}) = Vector{UInt8}(JSON.write_json(x))

"""
    add_group!(session, path, zarr_json)

Adds a group at `path` (`"/"` for the root, `"/a/b"` below); `zarr_json`
(bytes, a string or a `Dict`) is its zarr.json document.
"""
function add_group!(s::Session, path::AbstractString, zarr_json)
    b = _bytes(zarr_json)
    _no_out((h, err) -> @ic(:ic_session_add_group, Int32, (UInt64, Cstring, Ptr{UInt8}, Csize_t, Ref{UInt64}),
        h, path, b, length(b), err), s)
end

"""
    update_group!(session, path, zarr_json)
"""
function update_group!(s::Session, path::AbstractString, zarr_json)
    b = _bytes(zarr_json)
    _no_out((h, err) -> @ic(:ic_session_update_group, Int32, (UInt64, Cstring, Ptr{UInt8}, Csize_t, Ref{UInt64}),
        h, path, b, length(b), err), s)
end

function _array_call(f, s::Session, path, shape, chunk_shape, dimension_names, zarr_json)
    length(shape) == length(chunk_shape) || throw(ArgumentError("shape and chunk_shape differ in length"))
    sh = UInt64[UInt64(x) for x in shape]
    cs = UInt64[UInt64(x) for x in chunk_shape]
    b = _bytes(zarr_json)
    if dimension_names === nothing
        names = Ptr{UInt8}[]
        strs = String[]
    else
        length(dimension_names) == length(shape) || throw(ArgumentError("dimension_names must have one name per dimension"))
        strs = String[n === nothing ? "" : _nonul(n, "a dimension name") for n in dimension_names]
        names = Ptr{UInt8}[n === nothing ? Ptr{UInt8}(C_NULL) : pointer(strs[i]) for (i, n) in enumerate(dimension_names)]
    end
    GC.@preserve strs names begin
        namesp = dimension_names === nothing ? Ptr{Ptr{UInt8}}(C_NULL) : pointer(names)
        _no_out((h, err) -> f(h, path, sh, cs, length(sh), namesp, b, length(b), err), s)
    end
end

"""
    add_array!(session, path; shape, chunk_shape, zarr_json, dimension_names=nothing)

Adds an array with the given shape and chunk shape (one integer per
dimension each); `dimension_names` is `nothing` or one name (or `nothing`)
per dimension.
"""
add_array!(s::Session, path::AbstractString; shape, chunk_shape, zarr_json, dimension_names = nothing) =
    _array_call(s, path, shape, chunk_shape, dimension_names, zarr_json) do h, p, sh, cs, nd, dn, b, nb, err
        @ic(:ic_session_add_array, Int32, (UInt64, Cstring, Ptr{UInt64}, Ptr{UInt64}, Csize_t, Ptr{Ptr{UInt8}}, Ptr{UInt8}, Csize_t, Ref{UInt64}),
            h, p, sh, cs, nd, dn, b, nb, err)
    end

"""
    update_array!(session, path; shape, chunk_shape, zarr_json, dimension_names=nothing)

Replaces the definition of the array at `path`; chunks outside a smaller
grid disappear.
"""
update_array!(s::Session, path::AbstractString; shape, chunk_shape, zarr_json, dimension_names = nothing) =
    _array_call(s, path, shape, chunk_shape, dimension_names, zarr_json) do h, p, sh, cs, nd, dn, b, nb, err
        @ic(:ic_session_update_array, Int32, (UInt64, Cstring, Ptr{UInt64}, Ptr{UInt64}, Csize_t, Ptr{Ptr{UInt8}}, Ptr{UInt8}, Csize_t, Ref{UInt64}),
            h, p, sh, cs, nd, dn, b, nb, err)
    end

"""
    delete_array!(session, path)

Deletes the array at `path`; a missing array is not an error.
"""
delete_array!(s::Session, path::AbstractString) =
    _no_out((h, err) -> @ic(:ic_session_delete_array, Int32, (UInt64, Cstring, Ref{UInt64}), h, path, err), s)

"""
    delete_group!(session, path)

Deletes the group at `path` and everything below; a missing group is not an error.
"""
delete_group!(s::Session, path::AbstractString) =
    _no_out((h, err) -> @ic(:ic_session_delete_group, Int32, (UInt64, Cstring, Ref{UInt64}), h, path, err), s)

"""
    delete_node!(session, path)

Deletes whatever node is at `path`, with its descendants.
"""
delete_node!(s::Session, path::AbstractString) =
    _no_out((h, err) -> @ic(:ic_session_delete_node, Int32, (UInt64, Cstring, Ref{UInt64}), h, path, err), s)

"""
    get_node(session, path) -> Dict{String,Any}

The node at `path`: `"path"`, `"type"` (`"group"` or `"array"`), `"id"`,
`"zarr_metadata"`, and for arrays `"shape"`, `"chunk_shape"`,
`"dimension_names"`. `IcechunkError(:NOT_FOUND)` if there is none.
"""
get_node(s::Session, path::AbstractString) =
    _json_out((h, out, err) -> @ic(:ic_session_get_node, Int32, (UInt64, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, path, out, err), s)

"""
    list_nodes(session) -> Vector{Dict{String,Any}}

Every node, sorted by path (as [`get_node`](@ref) describes them).
"""
list_nodes(s::Session) =
    Vector{Any}(_json_out((h, out, err) -> @ic(:ic_session_list_nodes, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, out, err), s))

# --- chunks -----------------------------------------------------------------------

_coords(c) = UInt32[UInt32(x) for x in c]

"""
    ByteRange

How much of a value to read: `ByteRange(start, stop)` (bytes `start` to
`stop - 1`, 0-based, as a `start:stop-1` range also gives),
`ByteRange(start=n)` (from `n` to the end), `ByteRange(suffix=n)` (the last
`n` bytes). Ranges are cut at the end of the value.
"""
struct ByteRange
    kind::Int32
    start::Int64
    stop::Int64
end
ByteRange(start::Integer, stop::Integer) = ByteRange(IC_RANGE_BOUNDED, start, stop)
function ByteRange(; start::Union{Nothing,Integer} = nothing, suffix::Union{Nothing,Integer} = nothing)
    (start === nothing) == (suffix === nothing) && throw(ArgumentError("give one of start and suffix"))
    return start !== nothing ? ByteRange(IC_RANGE_FROM, start, 0) : ByteRange(IC_RANGE_SUFFIX, suffix, 0)
end
_range(::Nothing) = nothing
_range(r::ByteRange) = Ref(CByteRange(r.kind, r.start, r.stop))
_range(r::UnitRange{<:Integer}) = Ref(CByteRange(IC_RANGE_BOUNDED, first(r), last(r) + 1))
_rangeptr(::Nothing) = Ptr{CByteRange}(C_NULL)
_rangeptr(r::Ref{CByteRange}) = Base.unsafe_convert(Ptr{CByteRange}, r)

"""
    set_chunk!(session, path, coords, data)

Writes `data` (bytes) as the chunk at `coords` (0-based chunk indices) of
the array at `path`. `IcechunkError(:INVALID_INDEX)` outside the grid.
"""
function set_chunk!(s::Session, path::AbstractString, coords, data::AbstractVector{UInt8})
    c = _coords(coords)
    b = _bytes(data)
    _no_out((h, err) -> @ic(:ic_session_set_chunk, Int32, (UInt64, Cstring, Ptr{UInt32}, Csize_t, Ptr{UInt8}, Csize_t, Ref{UInt64}),
        h, path, c, length(c), b, length(b), err), s)
end

"""
    get_chunk(session, path, coords; range=nothing) -> Union{Vector{UInt8},Nothing}

The chunk at `coords` (or `range` of it, a [`ByteRange`](@ref) or a
0-based `UnitRange`); `nothing` if it was never written.
"""
function get_chunk(s::Session, path::AbstractString, coords; range = nothing)
    c = _coords(coords)
    r = _range(range)
    with_handle(s) do h
        data = Ref{Ptr{UInt8}}(C_NULL)
        len = Ref{Csize_t}(0)
        found = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        GC.@preserve r begin
            st = @ic(:ic_session_get_chunk, Int32,
                (UInt64, Cstring, Ptr{UInt32}, Csize_t, Ptr{CByteRange}, Ref{Ptr{UInt8}}, Ref{Csize_t}, Ref{Int32}, Ref{UInt64}),
                h, path, c, length(c), _rangeptr(r), data, len, found, err)
        end
        _check(st, err)
        found[] == 0 && return nothing
        _take_buffer(data[], len[])
    end
end

"""
    get_chunk_into!(buf::Vector{UInt8}, session, path, coords; range=nothing) -> Union{Int,Nothing}

As [`get_chunk`](@ref), into `buf` (grown when too small); returns the
length `n` of the data (`buf[1:n]`), or `nothing` if the chunk was never written.
"""
function get_chunk_into!(buf::Vector{UInt8}, s::Session, path::AbstractString, coords; range = nothing)
    c = _coords(coords)
    r = _range(range)
    with_handle(s) do h
        GC.@preserve r _get_into(buf) do p, cap, len, found, err
            @ic(:ic_session_get_chunk_into, Int32,
                (UInt64, Cstring, Ptr{UInt32}, Csize_t, Ptr{CByteRange}, Ptr{UInt8}, Csize_t, Ref{Csize_t}, Ref{Int32}, Ref{UInt64}),
                h, path, c, length(c), _rangeptr(r), p, cap, len, found, err)
        end
    end
end

"""
    delete_chunks!(session, path, coords_list)

Deletes the chunks at each coordinate tuple of `coords_list`.
"""
function delete_chunks!(s::Session, path::AbstractString, coords_list)
    isempty(coords_list) && return nothing
    ndim = length(first(coords_list))
    flat = UInt32[]
    for c in coords_list
        length(c) == ndim || throw(ArgumentError("coordinate tuples differ in length"))
        append!(flat, _coords(c))
    end
    _no_out((h, err) -> @ic(:ic_session_delete_chunks, Int32, (UInt64, Cstring, Ptr{UInt32}, Csize_t, Csize_t, Ref{UInt64}),
        h, path, flat, length(coords_list), ndim, err), s)
end

"""
    set_virtual_ref!(session, path, coords, location; offset, length, last_modified=0)

Records a virtual chunk: `length` bytes at `offset` of the object at
`location` (a URL under a virtual chunk container), pinned to its
modification time `last_modified` (Unix seconds; 0: not checked).
"""
function set_virtual_ref!(s::Session, path::AbstractString, coords, location::AbstractString;
                          offset::Integer, length::Integer, last_modified::Integer = 0)
    c = _coords(coords)
    _no_out((h, err) -> @ic(:ic_session_set_virtual_ref, Int32,
        (UInt64, Cstring, Ptr{UInt32}, Csize_t, Cstring, UInt64, UInt64, Int64, Ref{UInt64}),
        h, path, c, Base.length(c), location, offset, length, last_modified, err), s)
end

"""
    VirtualChunkSpec(coords, location; offset, length, etag=nothing, last_modified=0)

One virtual chunk for [`set_virtual_refs!`](@ref): `length` bytes at
`offset` of the object at `location` (a URL), for the chunk at `coords`
(0-based chunk indices). `etag` (the object's entity tag, quoted or not)
and `last_modified` (Unix seconds; 0: not checked) pin the object's
version: reading a chunk whose object is another version throws
`IcechunkError(:VIRTUAL_CHUNK)`.
"""
struct VirtualChunkSpec
    coords::Vector{Int}
    location::String
    offset::UInt64
    length::UInt64
    etag::Union{String,Nothing}
    last_modified::Int64
end
VirtualChunkSpec(coords, location::AbstractString; offset::Integer, length::Integer,
                 etag::Union{AbstractString,Nothing} = nothing, last_modified::Integer = 0) =
    VirtualChunkSpec(Int[Int(i) for i in coords], String(location), offset, length,
        etag === nothing ? nothing : String(etag), last_modified)

function _json_dict(v::VirtualChunkSpec)
    d = Dict{String,Any}("coords" => v.coords, "location" => v.location, "offset" => v.offset, "length" => v.length)
    v.etag === nothing || (d["etag"] = v.etag)
    v.last_modified == 0 || (d["last_modified"] = v.last_modified)
    return d
end

"""
    set_virtual_refs!(session, path, refs; validate_containers=true) -> Vector{Vector{Int}}

Records many virtual chunks of the array at `path` (`refs`, a vector of
[`VirtualChunkSpec`](@ref)) and returns the coordinates of those not
recorded. With `validate_containers`, a chunk whose location is under no
virtual chunk container of the configuration is not recorded and its
coordinates are returned, in the order of `refs`; without it every chunk is
recorded (a location outside every container is refused when read).
Coordinates outside the grid (`IcechunkError(:INVALID_INDEX)`) or an empty
location (`:INVALID_ARGUMENT`) fail the whole call: nothing is recorded.
"""
function set_virtual_refs!(s::Session, path::AbstractString, refs::AbstractVector{VirtualChunkSpec};
                           validate_containers::Bool = true)
    js = JSON.write_json(Any[_json_dict(r) for r in refs])
    failed = _json_out((h, out, err) -> @ic(:ic_session_set_virtual_refs, Int32,
        (UInt64, Cstring, Cstring, Int32, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, path, js, Int32(validate_containers), out, err), s)
    return Vector{Int}[Int[Int(i) for i in c] for c in failed]
end

"""
    virtual_chunk_locations(session) -> Vector{String}

The locations the session's virtual chunks point at (its uncommitted
changes included), each once, sorted.
"""
function virtual_chunk_locations(s::Session)
    raw = with_handle(s) do h
        out = Ref{UInt64}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_session_virtual_chunk_locations, Int32, (UInt64, Ref{UInt64}, Ref{UInt64}), h, out, err), err)
        out[]
    end
    return sort!(String[String(l) for l in _drain(raw)])
end

"""
    ChunkType.Uninitialized / Native / Virtual / Inline

Where a chunk is stored, with the values of upstream Icechunk's
`ChunkType`: nowhere (`Uninitialized`: never written, or deleted), in a
chunk object of the repository (`Native`), in an object outside it
(`Virtual`), or in the manifest itself (`Inline`).
"""
module ChunkType
@enum T::Int32 Uninitialized = 0 Native = 1 Virtual = 2 Inline = 3
end

"""
    chunk_type(session, path, coords) -> ChunkType.T

Where the chunk at `coords` (0-based chunk indices) of the array at `path`
is stored, as the session sees it. Coordinates outside the grid, or of
another rank, throw `IcechunkError(:INVALID_ARGUMENT)`.
"""
function chunk_type(s::Session, path::AbstractString, coords)
    c = _coords(coords)
    ChunkType.T(_int32_out((h, k, err) -> @ic(:ic_session_chunk_type, Int32,
        (UInt64, Cstring, Ptr{UInt32}, Csize_t, Ref{Int32}, Ref{UInt64}), h, path, c, length(c), k, err), s))
end

"""
    chunk_coordinates(session, path) -> Vector{Vector{Int}}

The coordinates of every chunk of the array at `path`, sorted.
"""
function chunk_coordinates(s::Session, path::AbstractString)
    it = with_handle(s) do h
        out = Ref{UInt64}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_session_chunk_coordinates, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}), h, path, out, err), err)
        JsonIter(out[])
    end
    coords = Vector{Int}[]
    try
        while (item = _next(it)) !== nothing      # one item per call
            push!(coords, Int[Int(i) for i in something(item)])
        end
    finally
        close(it)
    end
    return sort!(coords)
end

# --- status, commit, rebase ---------------------------------------------------------

"""
    status(session) -> Diff

The session's uncommitted changes.
"""
status(s::Session) =
    Diff(_json_out((h, out, err) -> @ic(:ic_session_status, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), s))

"""
    discard_changes!(session)

Drops the session's uncommitted changes.
"""
discard_changes!(s::Session) =
    _no_out((h, err) -> @ic(:ic_session_discard_changes, Int32, (UInt64, Ref{UInt64}), h, err), s)

"""
    flush!(session)

Writes every chunk set with [`set_behind!`](@ref) to storage (again for
those whose background write failed) and waits for it. Throws the first
failure; those chunks stay in memory for the next flush or commit.
`commit!`, `to_bytes`, `fork` and merging flush by themselves.
"""
flush!(s::Session) =
    _no_out((h, err) -> @ic(:ic_session_flush, Int32, (UInt64, Ref{UInt64}), h, err), s)

"""
    commit!(session, message; metadata=nothing, rebase_with=nothing,
            rebase_tries=1000) -> String

Commits the session's changes as a new snapshot on its branch and returns
its id; afterwards the session is read-only at the new snapshot.
`metadata` (a `Dict`) is merged over the default commit metadata.

If the branch moved since the session's base this throws
[`ConflictError`](@ref); with `rebase_with` (a [`ConflictSolver`](@ref)) it
instead rebases with that solver and tries again, up to `rebase_tries`
times (a failed rebase throws [`RebaseFailedError`](@ref)). Other failures:
`IcechunkError` with code `:NO_CHANGES` or `:READ_ONLY`. On any error nothing
is committed and the session keeps its changes.
"""
function commit!(s::Session, message::AbstractString; metadata = nothing,
                 rebase_with::Union{Nothing,ConflictSolver} = nothing, rebase_tries::Integer = 1000,
                 base_delay_ms::Integer = 0, max_delay_ms::Integer = 0)
    md = metadata === nothing ? nothing : _config_json(metadata)
    if rebase_with === nothing
        return _string_out((h, out, err) -> @ic(:ic_session_commit, Int32,
            (UInt64, Cstring, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}), h, message, _cstr(md), out, err), s)
    end
    solver = Ref(_csolver(rebase_with))
    return _string_out((h, out, err) -> @ic(:ic_session_commit_rebasing, Int32,
        (UInt64, Ref{CSolver}, Cstring, Cstring, UInt32, UInt64, UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, solver, message, _cstr(md), rebase_tries, base_delay_ms, max_delay_ms, out, err), s)
end

"""
    flush_snapshot!(session, message; metadata=nothing) -> String

Writes the session's changes as a new snapshot whose parent is the
session's base, as [`commit!`](@ref) does, and returns its id, but moves no
branch: the snapshot is anonymous (upstream Icechunk's `Session.flush`).
Afterwards the session is read-only at the new snapshot. Open it with
`readonly_session(repo; snapshot_id = id)` or point a branch or tag at it;
until then no ref reaches it and [`garbage_collect`](@ref) may delete it.
Throws `IcechunkError` with code `:NO_CHANGES` or `:READ_ONLY` (and
`:INVALID_ARGUMENT` for a fork); the session then keeps its changes.
(Not to be confused with [`flush!`](@ref), which writes the chunks set with
[`set_behind!`](@ref).)
"""
function flush_snapshot!(s::Session, message::AbstractString; metadata = nothing)
    md = metadata === nothing ? nothing : _config_json(metadata)
    return _string_out((h, out, err) -> @ic(:ic_session_flush_snapshot, Int32,
        (UInt64, Cstring, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}), h, message, _cstr(md), out, err), s)
end

"""
    rebase!(session, solver::ConflictSolver)

Replays the session's changes over the commits that landed on its branch
since its base, oldest first, letting `solver` patch conflicts. On success
the session is based on the branch tip; else [`RebaseFailedError`](@ref)
lists the conflicts and the session keeps its changes.
"""
function rebase!(s::Session, solver::ConflictSolver)
    cs = Ref(_csolver(solver))
    _no_out((h, err) -> @ic(:ic_session_rebase, Int32, (UInt64, Ref{CSolver}, Ref{UInt64}), h, cs, err), s)
end

# --- serialization, fork, merge -------------------------------------------------------

"""
    to_bytes(session) -> Vector{UInt8}

Serializes the session (base, branch, uncommitted changes; not chunk data,
which is already in storage) for [`session_from_bytes`](@ref), in this
process or another.
"""
function to_bytes(s::Session)
    with_handle(s) do h
        data = Ref{Ptr{UInt8}}(C_NULL)
        len = Ref{Csize_t}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_session_to_bytes, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{Csize_t}, Ref{UInt64}), h, data, len, err), err)
        _take_buffer(data[], len[])
    end
end

"""
    fork(session) -> Session

A writable copy of `session` (which must have no uncommitted changes) for
another worker. A fork cannot commit; bring its changes back with
[`merge!`](@ref).
"""
fork(s::Session) = _new_session((h, out, err) -> @ic(:ic_session_fork, Int32, (UInt64, Ref{UInt64}, Ref{UInt64}), h, out, err), s)

"""
    merge!(session, forks::Session...)

Folds the changes of forks (same branch and base) into `session`. Where two
forks set the same chunk the last merged one's value is kept, as upstream's
merge does, and a warning goes to the diagnostic log (stderr): writes not
aligned to chunks lose data that way.
"""
function Base.merge!(s::Session, forks::Session...)
    GC.@preserve forks begin
        hs = UInt64[_h(f) for f in forks]
        _no_out((h, err) -> @ic(:ic_session_merge, Int32, (UInt64, Ptr{UInt64}, Csize_t, Ref{UInt64}), h, hs, length(hs), err), s)
    end
    return s
end
