# Repositories: refs (branches, tags), history, diffs, and the sessions that
# read and write them.

"""
    Repository

An open repository. Open one with [`create_repository`](@ref),
[`open_repository`](@ref) or [`open_or_create_repository`](@ref).
Thread-safe.
"""
mutable struct Repository <: Handle
    h::Threads.Atomic{UInt64}
    keep::Any # the storage it was opened through, whose credentials it signs with
    Repository(h::UInt64, keep = nothing) = _init_handle!(new(Threads.Atomic{UInt64}(h), keep))
end
_free(::Repository, h::UInt64) = @ic(:ic_repo_free, Int32, (UInt64,), h)

"""
    ManifestFileInfo

A manifest file a snapshot lists: `id`, `size_bytes` (as stored) and
`num_chunk_refs` (inline and virtual references included).
"""
struct ManifestFileInfo
    id::String
    size_bytes::Int64
    num_chunk_refs::Int64
end

"""
    SnapshotInfo

A commit: `id`, `parent_id` (`nothing` for the first), `written_at`
(`DateTime`, UTC, millisecond precision), `written_at_unix_nanos`,
`message`, `metadata::Dict{String,Any}` and `manifests`, the
[`ManifestFileInfo`](@ref)s of the manifest files it lists, sorted by id.
"""
struct SnapshotInfo
    id::String
    parent_id::Union{String,Nothing}
    written_at::DateTime
    written_at_unix_nanos::Int64
    message::String
    metadata::Dict{String,Any}
    manifests::Vector{ManifestFileInfo}
end
function SnapshotInfo(d::AbstractDict)
    ns = Int64(get(d, "written_at_unix_nanos", 0))
    p = get(d, "parent_id", nothing)
    md = get(d, "metadata", nothing)
    ms = something(get(d, "manifests", nothing), Any[])
    return SnapshotInfo(String(d["id"]), p === nothing ? nothing : String(p),
        DateTime(1970) + Millisecond(fld(ns, 1_000_000)), ns,
        String(get(d, "message", "")), md isa AbstractDict ? Dict{String,Any}(md) : Dict{String,Any}(),
        ManifestFileInfo[ManifestFileInfo(String(m["id"]), Int64(m["size_bytes"]), Int64(m["num_chunk_refs"])) for m in ms])
end
Base.show(io::IO, s::SnapshotInfo) = print(io, "SnapshotInfo(", s.id, ", ", repr(s.message), ", ", s.written_at, ")")

"""
    Diff

What changed between two versions (or in a session, see [`status`](@ref)):
`new_groups`, `new_arrays`, `deleted_groups`, `deleted_arrays`,
`updated_groups`, `updated_arrays` (sorted node paths) and
`updated_chunks::Dict{String,Vector{Vector{Int}}}` (array path => sorted
0-based chunk coordinates). `isempty(d)` says whether nothing changed.
"""
struct Diff
    new_groups::Vector{String}
    new_arrays::Vector{String}
    deleted_groups::Vector{String}
    deleted_arrays::Vector{String}
    updated_groups::Vector{String}
    updated_arrays::Vector{String}
    updated_chunks::Dict{String,Vector{Vector{Int}}}
end
_strings(v) = v === nothing ? String[] : String[String(x) for x in v]
function Diff(d::AbstractDict)
    uc = Dict{String,Vector{Vector{Int}}}()
    for (k, v) in something(get(d, "updated_chunks", nothing), Dict{String,Any}())
        uc[String(k)] = [Int[Int(i) for i in c] for c in v]
    end
    return Diff(_strings(get(d, "new_groups", nothing)), _strings(get(d, "new_arrays", nothing)),
        _strings(get(d, "deleted_groups", nothing)), _strings(get(d, "deleted_arrays", nothing)),
        _strings(get(d, "updated_groups", nothing)), _strings(get(d, "updated_arrays", nothing)), uc)
end
Base.isempty(d::Diff) = all(isempty, (d.new_groups, d.new_arrays, d.deleted_groups,
    d.deleted_arrays, d.updated_groups, d.updated_arrays, d.updated_chunks))
function Base.show(io::IO, d::Diff)
    print(io, "Diff(")
    first = true
    for f in fieldnames(Diff)
        v = getfield(d, f)
        isempty(v) && continue
        first || print(io, ", ")
        first = false
        print(io, f, "=", v)
    end
    print(io, ")")
end

# --- opening ----------------------------------------------------------------

function _new_repo(f, storage::Storage)
    out = Ref{UInt64}(0)
    err = Ref{UInt64}(0)
    _check(f(out, err), err)
    return Repository(out[], storage)
end

_config_json(::Nothing) = nothing
_config_json(c::AbstractString) = c
_config_json(c::Union{AbstractDict,NamedTuple}) = JSON.write_json(c)

"""
    create_repository(storage; config=nothing) -> Repository

Creates a repository in `storage` with an initial empty commit on branch
`"main"`. `config` is `nothing` (defaults), a `Dict`/`NamedTuple` or a JSON
string (see [`config`](@ref)). Throws `IcechunkError(:REPO_EXISTS)` if the
storage already holds one.
"""
function create_repository(storage::Storage; config = nothing)
    cj = _config_json(config)
    with_handle(storage) do sh
        _new_repo((out, err) -> @ic(:ic_repo_create, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}),
            sh, _cstr(cj), out, err), storage)
    end
end

"""
    open_repository(storage; config=nothing) -> Repository

Opens the repository in `storage`; `IcechunkError(:REPO_NOT_FOUND)` if none.
`config` (a Dict or JSON string, as `use_config!` takes it) is used by this
handle over the stored configuration without being stored; its storage
settings are in force from the first read, so a retry bound given here
bounds the open too.
"""
function open_repository(storage::Storage; config = nothing)
    cj = _config_json(config)
    with_handle(storage) do sh
        _new_repo((out, err) -> @ic(:ic_repo_open_config, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}),
            sh, _cstr(cj), out, err), storage)
    end
end

"""
    open_or_create_repository(storage; config=nothing) -> Repository

Opens the repository in `storage`, creating it (with `config`) if there is none.
"""
function open_or_create_repository(storage::Storage; config = nothing)
    cj = _config_json(config)
    with_handle(storage) do sh
        _new_repo((out, err) -> @ic(:ic_repo_open_or_create, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}),
            sh, _cstr(cj), out, err), storage)
    end
end

"""
    repository_exists(storage) -> Bool

Whether `storage` holds a repository.
"""
function repository_exists(storage::Storage)
    with_handle(storage) do sh
        ex = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_repo_exists, Int32, (UInt64, Ref{Int32}, Ref{UInt64}), sh, ex, err), err)
        ex[] != 0
    end
end

# --- helpers ----------------------------------------------------------------

function _string_out(f, x::Handle)
    with_handle(x) do h
        out = Ref{Ptr{UInt8}}(C_NULL)
        err = Ref{UInt64}(0)
        _check(f(h, out, err), err)
        _take_string(out[])
    end
end
_json_out(f, x::Handle) = JSON.parse_json(_string_out(f, x))

function _no_out(f, x::Handle)
    with_handle(x) do h
        err = Ref{UInt64}(0)
        _check(f(h, err), err)
        nothing
    end
end

function _nonul(s::AbstractString, what)
    occursin('\0', s) && throw(ArgumentError("$what contains a NUL character: $(repr(s))"))
    return String(s)
end

_unix_nanos(::Nothing) = Int64(0)
_unix_nanos(t::Integer) = Int64(t)
"A `DateTime` read as UTC, exactly, in Unix nanoseconds (years 1677 to 2262)."
function _unix_nanos(t::DateTime)
    ns, overflow = Base.Checked.mul_with_overflow(Int64(Dates.value(t - DateTime(1970))), Int64(1_000_000))
    overflow && throw(ArgumentError("$t is outside the times Unix nanoseconds in an Int64 can hold " *
        "($(DateTime(1970) + Millisecond(fld(typemin(Int64), 1_000_000) + 1)) to " *
        "$(DateTime(1970) + Millisecond(fld(typemax(Int64), 1_000_000))))"))
    return ns
end

"""
Calls `f(ref)` with a `Ref{CVersion}` for the version named by exactly one of
`branch`, `tag`, `snapshot_id` (`as_of`: a `DateTime` in UTC or Unix
nanoseconds, with `branch` only).
"""
function _with_version(f, prefix::String, branch, tag, snapshot_id, as_of)
    given = count(x -> x !== nothing, (branch, tag, snapshot_id))
    given == 1 || throw(ArgumentError("give exactly one of $(prefix)branch, $(prefix)tag and $(prefix)snapshot_id"))
    as_of === nothing || branch !== nothing ||
        throw(ArgumentError("$(prefix)as_of needs $(prefix)branch"))
    kind, name = branch !== nothing ? (IC_AT_BRANCH, branch) :
                 tag !== nothing ? (IC_AT_TAG, tag) : (IC_AT_SNAPSHOT, snapshot_id)
    name = _nonul(name, "a version name")
    GC.@preserve name begin
        return f(Ref(CVersion(kind, pointer(name), _unix_nanos(as_of))))
    end
end

# --- configuration ------------------------------------------------------------

"""
    config(repo) -> Dict{String,Any}

The repository's configuration: `inline_chunk_threshold`,
`manifest_block_chunks`, `snapshot_cache_bytes`, `manifest_cache_bytes`,
`disable_transaction_logs`, `virtual_chunk_containers`.
"""
config(repo::Repository) =
    _json_out((h, out, err) -> @ic(:ic_repo_config_get, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), repo)

"""
    set_config!(repo, config)

Stores a new configuration: `config` (a `Dict`, `NamedTuple` or JSON string)
is applied over the current one. Handles opened afterwards use it.
"""
function set_config!(repo::Repository, cfg)
    js = _config_json(cfg)
    _no_out((h, err) -> @ic(:ic_repo_config_set, Int32, (UInt64, Cstring, Ref{UInt64}), h, js, err), repo)
end

"""
    use_config!(repo, config)

Uses a configuration in this handle only, without storing it: `config` (as
for [`set_config!`](@ref)) is applied over the handle's current one, and
sessions opened afterwards use it. Other handles do not see it; it needs no
write access to the storage.
"""
function use_config!(repo::Repository, cfg)
    js = _config_json(cfg)
    _no_out((h, err) -> @ic(:ic_repo_use_config, Int32, (UInt64, Cstring, Ref{UInt64}), h, js, err), repo)
end

"""
    default_commit_metadata(repo) -> Dict{String,Any}
"""
default_commit_metadata(repo::Repository) =
    _json_out((h, out, err) -> @ic(:ic_repo_default_commit_metadata, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), repo)

"""
    set_default_commit_metadata!(repo, metadata)

Metadata merged into every commit of sessions created afterwards from
`repo`; a commit's own keys win.
"""
function set_default_commit_metadata!(repo::Repository, md)
    js = _config_json(md)
    _no_out((h, err) -> @ic(:ic_repo_set_default_commit_metadata, Int32, (UInt64, Cstring, Ref{UInt64}), h, js, err), repo)
end

"""
    set_virtual_chunk_storage!(repo, url_prefix, storage)

Registers the storage serving virtual chunks whose location starts with
`url_prefix` (a virtual chunk container of the configuration).
"""
function set_virtual_chunk_storage!(repo::Repository, url_prefix::AbstractString, storage::Storage)
    with_handle(storage) do sh
        _no_out((h, err) -> @ic(:ic_repo_set_virtual_chunk_storage, Int32, (UInt64, Cstring, UInt64, Ref{UInt64}),
            h, url_prefix, sh, err), repo)
    end
end

# --- branches and tags ----------------------------------------------------------

"""
    list_branches(repo) -> Vector{String}

The branch names, sorted.
"""
list_branches(repo::Repository) = String.(_json_out((h, out, err) ->
    @ic(:ic_repo_list_branches, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), repo))

"""
    create_branch!(repo, name, snapshot_id)

Creates branch `name` at `snapshot_id`.
"""
create_branch!(repo::Repository, name::AbstractString, snapshot_id::AbstractString) =
    _no_out((h, err) -> @ic(:ic_repo_create_branch, Int32, (UInt64, Cstring, Cstring, Ref{UInt64}),
        h, name, snapshot_id, err), repo)

"""
    lookup_branch(repo, name) -> String

The snapshot id at the tip of branch `name`.
"""
lookup_branch(repo::Repository, name::AbstractString) =
    _string_out((h, out, err) -> @ic(:ic_repo_lookup_branch, Int32, (UInt64, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, name, out, err), repo)

"""
    delete_branch!(repo, name)

Deletes a branch (not `"main"`), even one whose head entry is damaged.
"""
delete_branch!(repo::Repository, name::AbstractString) =
    _no_out((h, err) -> @ic(:ic_repo_delete_branch, Int32, (UInt64, Cstring, Ref{UInt64}), h, name, err), repo)

"""
    reset_branch!(repo, name, snapshot_id; expected_tip=nothing)

Points branch `name` at `snapshot_id`; with `expected_tip`, only while the
tip is still that (else `ConflictError`). Without it, it also repairs a
branch whose head entry is damaged (every read of it throws
`IcechunkError(:CORRUPT)`): the new head follows the damaged entry, which
stays in the branch's log.
"""
reset_branch!(repo::Repository, name::AbstractString, snapshot_id::AbstractString;
              expected_tip::Union{Nothing,AbstractString} = nothing) =
    _no_out((h, err) -> @ic(:ic_repo_reset_branch, Int32, (UInt64, Cstring, Cstring, Cstring, Ref{UInt64}),
        h, name, snapshot_id, _cstr(expected_tip), err), repo)

"""
    rewrite_manifests!(repo, message; branch, metadata=nothing) -> String

Commits on `branch` a snapshot with the tip's nodes and chunks whose arrays'
chunk references are rewritten into manifests split as the configuration's
`"manifest"` splitting rules say now (the default split for arrays no rule
matches), and returns its id. `metadata` (a `Dict`, `NamedTuple` or JSON
string) is merged over the default commit metadata, with
`"splitting_config"` set to the rules when there are any. Throws
`IcechunkError(:BRANCH_NOT_FOUND)`, or a `ConflictError` if the branch moved
meanwhile (nothing committed).
"""
function rewrite_manifests!(repo::Repository, message::AbstractString; branch::AbstractString, metadata = nothing)
    md = metadata === nothing ? nothing : _config_json(metadata)
    return _string_out((h, out, err) -> @ic(:ic_repo_rewrite_manifests, Int32,
        (UInt64, Cstring, Cstring, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}), h, branch, message, _cstr(md), out, err), repo)
end

"""
    RepackSummary

What [`repack_chunks!`](@ref) did: `snapshot_id` (the commit's id, or
`nothing` when nothing was committed: no chunk object qualified, or a dry
run), `objects_repacked`, `chunks_moved`, `bytes_moved`, `bytes_freeable`
(the repacked objects' size less the bytes moved: what
[`garbage_collect`](@ref) frees once no branch or tag reaches a snapshot
before the commit) and `dry_run::Bool`.
"""
struct RepackSummary
    snapshot_id::Union{Nothing,String}
    objects_repacked::Int
    chunks_moved::Int
    bytes_moved::Int64
    bytes_freeable::Int64
    dry_run::Bool
end
RepackSummary(d::AbstractDict) = RepackSummary(d["snapshot_id"] === nothing ? nothing : String(d["snapshot_id"]),
    Int(d["objects_repacked"]), Int(d["chunks_moved"]), Int64(d["bytes_moved"]), Int64(d["bytes_freeable"]),
    d["dry_run"] === true)
Base.show(io::IO, r::RepackSummary) = _show_fields(io, r)

"""
    repack_chunks!(repo; branch="main", message="repack chunks", max_live_fraction=0.5,
                   metadata=nothing, dry_run=false) -> RepackSummary

Commits on `branch` a snapshot with the same data as its tip, in which the
chunks that sit in mostly unused chunk objects are copied into new ones.
Chunks written together share one object, deleted whole: once later commits
rewrote most of an object's chunks, [`garbage_collect`](@ref) cannot free
the rest while any snapshot uses any of it. After a repack only snapshots
before the commit use such objects; [`expire_snapshots`](@ref) with the
commit's time, then a collection, frees them once no branch or tag reaches
a snapshot before the commit. The collection's cutoff is still bound by
[`garbage_collect`](@ref)'s rule (older than the start of every session
writing), and objects written just before it are kept for a later one.

An object is repacked when the tip's chunks in it take at most
`max_live_fraction` (in (0, 1]) of its size, and not all of it (at 1, every
object with a byte the tip does not use). `metadata` is merged over the
default commit metadata. The commit records no change: diffs across it are
empty, and a session that committed meanwhile rebases over it. With
`dry_run = true` nothing is copied or committed: the summary says what a
repack would do. Throws
`IcechunkError(:BRANCH_NOT_FOUND)`, `IcechunkError(:INVALID_ARGUMENT)` for a
fraction out of range, or a `ConflictError` if the branch moved meanwhile
(nothing committed: call again).
"""
function repack_chunks!(repo::Repository; branch::AbstractString = "main", message::AbstractString = "repack chunks",
                        max_live_fraction::Real = 0.5, metadata = nothing, dry_run::Bool = false)
    f = Float64(max_live_fraction)
    f == 0 && throw(IcechunkError(:INVALID_ARGUMENT, "max_live_fraction is 0; it must be in (0, 1]"))
    md = metadata === nothing ? nothing : _config_json(metadata)
    RepackSummary(_json_out((h, out, err) -> @ic(:ic_repo_repack_chunks, Int32,
        (UInt64, Cstring, Cstring, Cstring, Cdouble, Int32, Ref{Ptr{UInt8}}, Ref{UInt64}), h, branch, message,
        _cstr(md), f, Int32(dry_run), out, err), repo))
end

"""
    list_tags(repo) -> Vector{String}

The tag names, sorted.
"""
list_tags(repo::Repository) = String.(_json_out((h, out, err) ->
    @ic(:ic_repo_list_tags, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), repo))

"""
    create_tag!(repo, name, snapshot_id)

Creates the immutable tag `name` at `snapshot_id`.
"""
create_tag!(repo::Repository, name::AbstractString, snapshot_id::AbstractString) =
    _no_out((h, err) -> @ic(:ic_repo_create_tag, Int32, (UInt64, Cstring, Cstring, Ref{UInt64}),
        h, name, snapshot_id, err), repo)

"""
    lookup_tag(repo, name) -> String

The snapshot id tag `name` points at.
"""
lookup_tag(repo::Repository, name::AbstractString) =
    _string_out((h, out, err) -> @ic(:ic_repo_lookup_tag, Int32, (UInt64, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, name, out, err), repo)

"""
    delete_tag!(repo, name)

Deletes a tag; its name can never be used again.
"""
delete_tag!(repo::Repository, name::AbstractString) =
    _no_out((h, err) -> @ic(:ic_repo_delete_tag, Int32, (UInt64, Cstring, Ref{UInt64}), h, name, err), repo)

# --- history ------------------------------------------------------------------

"""
    resolve(repo; branch|tag|snapshot_id, as_of=nothing) -> String

The snapshot id a version names.
"""
function resolve(repo::Repository; branch = nothing, tag = nothing, snapshot_id = nothing, as_of = nothing)
    _with_version("", branch, tag, snapshot_id, as_of) do v
        _string_out((h, out, err) -> @ic(:ic_repo_resolve, Int32, (UInt64, Ref{CVersion}, Ref{Ptr{UInt8}}, Ref{UInt64}),
            h, v, out, err), repo)
    end
end

"""
    snapshot_info(repo, snapshot_id) -> SnapshotInfo
"""
snapshot_info(repo::Repository, id::AbstractString) =
    SnapshotInfo(_json_out((h, out, err) -> @ic(:ic_repo_snapshot_info, Int32, (UInt64, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, id, out, err), repo))

"""
    ancestry(repo; branch|tag|snapshot_id, as_of=nothing, limit=0) -> Vector{SnapshotInfo}

The version's snapshot and its ancestors, newest first; `limit > 0` keeps
the first `limit`. Read through the library's iterator, a page at a time.
"""
function ancestry(repo::Repository; branch = nothing, tag = nothing, snapshot_id = nothing,
                  as_of = nothing, limit::Integer = 0)
    limit >= 0 || throw(ArgumentError("limit must be >= 0"))
    _with_version("", branch, tag, snapshot_id, as_of) do v
        if limit > 0    # one call: the first `limit` entries as one JSON array
            return SnapshotInfo[SnapshotInfo(d) for d in _json_out((h, out, err) -> @ic(:ic_repo_ancestry_json, Int32,
                (UInt64, Ref{CVersion}, Csize_t, Ref{Ptr{UInt8}}, Ref{UInt64}), h, v, limit, out, err), repo)]
        end
        with_handle(repo) do h
            out = Ref{UInt64}(0)
            err = Ref{UInt64}(0)
            _check(@ic(:ic_repo_ancestry, Int32, (UInt64, Ref{CVersion}, Ref{UInt64}, Ref{UInt64}), h, v, out, err), err)
            it = JsonIter(out[])
            res = SnapshotInfo[]
            try
                while true
                    page = _next_page(it, 256)
                    isempty(page) && break
                    append!(res, SnapshotInfo.(page))
                end
            finally
                close(it)
            end
            res
        end
    end
end

"""
    diff(repo; from_branch|from_tag|from_snapshot_id, to_branch|to_tag|to_snapshot_id) -> Diff

What changed from one version to a later one (`from` must be an ancestor of
`to`, else `IcechunkError(:BAD_SNAPSHOT_CHAIN)`).
"""
function Base.diff(repo::Repository; from_branch = nothing, from_tag = nothing, from_snapshot_id = nothing,
                   from_as_of = nothing, to_branch = nothing, to_tag = nothing, to_snapshot_id = nothing,
                   to_as_of = nothing)
    _with_version("from_", from_branch, from_tag, from_snapshot_id, from_as_of) do vf
        _with_version("to_", to_branch, to_tag, to_snapshot_id, to_as_of) do vt
            Diff(_json_out((h, out, err) -> @ic(:ic_repo_diff, Int32,
                (UInt64, Ref{CVersion}, Ref{CVersion}, Ref{Ptr{UInt8}}, Ref{UInt64}), h, vf, vt, out, err), repo))
        end
    end
end

# --- garbage collection and expiring history -----------------------------------

"""
    GCSummary

What [`garbage_collect`](@ref) deleted (with `dry_run = true`: would
delete): `snapshots_deleted`, `manifests_deleted`,
`transaction_logs_deleted`, `chunks_deleted` (chunk objects; one may hold
many chunks), `bytes_deleted` and `dry_run::Bool`.
"""
struct GCSummary
    snapshots_deleted::Int
    manifests_deleted::Int
    transaction_logs_deleted::Int
    chunks_deleted::Int
    bytes_deleted::Int64
    dry_run::Bool
end
GCSummary(d::AbstractDict) = GCSummary(Int(d["snapshots_deleted"]), Int(d["manifests_deleted"]),
    Int(d["transaction_logs_deleted"]), Int(d["chunks_deleted"]), Int64(d["bytes_deleted"]),
    d["dry_run"] === true)
"Shows a result struct as `Name(field=value, ...)`."
function _show_fields(io::IO, x)
    print(io, nameof(typeof(x)), "(")
    join(io, (string(f, "=", getfield(x, f)) for f in fieldnames(typeof(x))), ", ")
    print(io, ")")
end
Base.show(io::IO, g::GCSummary) = _show_fields(io, g)

"""
    garbage_collect(repo, delete_older_than::DateTime; dry_run=false) -> GCSummary

Deletes the objects no branch or tag reaches: snapshots that are neither a
branch tip, a tag's snapshot nor an ancestor of one, their transaction logs,
manifests no reachable snapshot lists, and chunk objects no reachable
manifest names (among them the chunks of sessions that never committed).
Refs and the configuration are never touched. Only objects last written
(by the storage's clock) before `delete_older_than` are deleted.

`delete_older_than` is taken as UTC, as `Dates.now(Dates.UTC)` gives (not
`Dates.now()`, which is local time), and converted exactly to Unix
nanoseconds; a time not after 1970 throws `IcechunkError(:INVALID_ARGUMENT)`.
Choose it older than the start of every session still writing to the
repository: the chunks such a session wrote are not yet named by any
snapshot, and deleting them would make its commit name missing objects.
Read-only sessions at a snapshot that becomes unreachable fail on their next
read of a deleted object.

Everything reachable is found before anything is deleted: if part of the
reachable history cannot be read, the call throws and deletes nothing. With
`dry_run = true` nothing is deleted and the counts say what would be. A
failure part-way leaves only unreachable objects deleted; calling again
finishes the job.

```julia
garbage_collect(repo, Dates.now(Dates.UTC) - Dates.Day(7))   # unreachable for a week
```
"""
function garbage_collect(repo::Repository, delete_older_than::DateTime; dry_run::Bool = false)
    ns = _unix_nanos(delete_older_than)
    GCSummary(_json_out((h, out, err) -> @ic(:ic_repo_garbage_collect, Int32,
        (UInt64, Int64, Int32, Ref{Ptr{UInt8}}, Ref{UInt64}), h, ns, Int32(dry_run), out, err), repo))
end

"""
    expire_snapshots(repo, older_than::DateTime; delete_expired_branches=false,
                     delete_expired_tags=false) -> Set{String}

Cuts the snapshots written before `older_than` out of the history of every
branch and tag, and returns the ids of the expired snapshots. Nothing is
deleted here: [`garbage_collect`](@ref) afterwards deletes them, with the
manifests and chunks only they use, once no ref reaches them.

For each branch or tag whose snapshot is not itself expired, the oldest
snapshot it keeps is rewritten in place with the repository's initial
snapshot as its parent: ids, contents and newer snapshots do not change. A
[`diff`](@ref) across such a rewritten snapshot throws
`IcechunkError(:BAD_SNAPSHOT_CHAIN)` rather than replay a change from a
parent it no longer has. [`rebase!`](@ref) takes the commits it passes from
the branch's log, so a session based before the cut still rebases while
their transaction logs exist; where the log cannot tell (the branch was
reset since the session's base) it throws `RebaseFailedError` at the cut.
A branch or tag whose
snapshot is expired keeps that snapshot but not the history behind it (the
snapshot gets the initial snapshot as parent), unless
`delete_expired_branches` / `delete_expired_tags` is set (`"main"` is never
deleted).

`older_than` is taken as UTC and converted to Unix nanoseconds as in
[`garbage_collect`](@ref); a time not after 1970 throws
`IcechunkError(:INVALID_ARGUMENT)`. An administrative operation: do not run
it beside another expiration, a garbage collection, or branch resets and
deletes; other handles may see the old history from their caches until
opened again.

```julia
cutoff = Dates.now(Dates.UTC) - Dates.Day(30)
expired = expire_snapshots(repo, cutoff; delete_expired_branches = true, delete_expired_tags = true)
garbage_collect(repo, cutoff)     # deletes what no ref reaches any more
```
"""
function expire_snapshots(repo::Repository, older_than::DateTime; delete_expired_branches::Bool = false,
                          delete_expired_tags::Bool = false)
    ns = _unix_nanos(older_than)
    d = _json_out((h, out, err) -> @ic(:ic_repo_expire_snapshots, Int32,
        (UInt64, Int64, Int32, Int32, Ref{Ptr{UInt8}}, Ref{UInt64}), h, ns, Int32(delete_expired_branches),
        Int32(delete_expired_tags), out, err), repo)
    Set{String}(String(x) for x in d["expired_snapshots"])
end

# --- statistics and inspection -------------------------------------------------

"""
    ChunkStorageStats

The bytes of the chunks the history of every branch and tag refers to (see
[`chunk_storage_stats`](@ref)): `native_bytes` (in the repository's chunk
objects), `virtual_bytes` (read from objects elsewhere) and
`inlined_bytes` (held in manifests).
"""
struct ChunkStorageStats
    native_bytes::Int64
    virtual_bytes::Int64
    inlined_bytes::Int64
end
ChunkStorageStats(d::AbstractDict) =
    ChunkStorageStats(Int64(d["native_bytes"]), Int64(d["virtual_bytes"]), Int64(d["inlined_bytes"]))
Base.show(io::IO, s::ChunkStorageStats) = _show_fields(io, s)

"""
    chunk_storage_stats(repo) -> ChunkStorageStats

Adds up the chunks of every snapshot a branch or tag reaches (upstream
Icechunk's `chunk_storage_stats`): each native chunk once however many
snapshots share it (chunks packed into one object each at its own offset),
each virtual chunk once per location, offset and length, inline chunks once
per manifest. Snapshots no ref reaches (left by a reset, a deleted branch,
an expiration, or [`flush_snapshot!`](@ref)) do not count. Reads every
reachable snapshot and manifest.
"""
chunk_storage_stats(repo::Repository) = ChunkStorageStats(_json_out((h, out, err) ->
    @ic(:ic_repo_chunk_storage_stats, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), repo))

"""
    inspect_snapshot(repo, snapshot_id) -> Dict{String,Any}

The snapshot file as it is stored, as upstream Icechunk's `inspect_snapshot`
describes it: `"id"`, `"parent_id"` (`nothing` for the initial snapshot),
`"flushed_at"` (RFC 3339 in UTC with microseconds), `"commit_message"`,
`"metadata"`, `"manifests"` (each `"id"`, `"size_bytes"`,
`"num_chunk_refs"`) and `"nodes"` (each `"id"`, `"path"`, `"node_type"`,
and for arrays `"manifest_refs"`: each manifest's `"id"` and `"extents"`,
per dimension the chunk indices `[start, end)`); `"history_cut" => true`
on a snapshot an expiration rewrote. `IcechunkError(:SNAPSHOT_NOT_FOUND)`
for an unknown id.
"""
inspect_snapshot(repo::Repository, id::AbstractString) =
    _json_out((h, out, err) -> @ic(:ic_repo_inspect_snapshot, Int32, (UInt64, Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}),
        h, id, out, err), repo)

# --- sessions -----------------------------------------------------------------

function _new_session(f, x::Handle)
    with_handle(x) do h
        out = Ref{UInt64}(0)
        err = Ref{UInt64}(0)
        _check(f(h, out, err), err)
        Session(out[], x)
    end
end

"""
    readonly_session(repo; branch|tag|snapshot_id, as_of=nothing) -> Session

A read-only session at a version.
"""
function readonly_session(repo::Repository; branch = nothing, tag = nothing, snapshot_id = nothing, as_of = nothing)
    _with_version("", branch, tag, snapshot_id, as_of) do v
        _new_session((h, out, err) -> @ic(:ic_repo_readonly_session, Int32, (UInt64, Ref{CVersion}, Ref{UInt64}, Ref{UInt64}),
            h, v, out, err), repo)
    end
end

"""
    writable_session(repo, branch) -> Session

A writable session on `branch`, based on its tip.
"""
writable_session(repo::Repository, branch::AbstractString) =
    _new_session((h, out, err) -> @ic(:ic_repo_writable_session, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}),
        h, branch, out, err), repo)

"""
    session_from_bytes(repo, bytes) -> Session

Restores a session serialized with [`to_bytes`](@ref) (in this process or
another) into `repo`. `IcechunkError(:INVALID_SESSION_BYTES)` for bad bytes.
"""
function session_from_bytes(repo::Repository, bytes::AbstractVector{UInt8})
    b = Vector{UInt8}(bytes)
    _new_session((h, out, err) -> @ic(:ic_repo_session_from_bytes, Int32,
        (UInt64, Ptr{UInt8}, Csize_t, Ref{UInt64}, Ref{UInt64}), h, b, length(b), out, err), repo)
end
