# Exceptions. Every failing C call comes back as one of these: the status
# code is the class, the error object's message and JSON details are copied
# into the exception, and the error object is freed at once.

"""
The supertype of the exceptions this package throws for library errors.
"""
abstract type IcechunkException <: Exception end

"""
    IcechunkError

A failure of the library. Fields:
- `code::Symbol`: the status without its `IC_ERR_` prefix (`:NOT_FOUND`,
  `:INVALID_HANDLE`, `:INVALID_KEY`, `:READ_ONLY`, `:NO_CHANGES`, ...);
- `status::Int32`: the numeric `ic_status`;
- `message::String`: what failed and why;
- `details::Dict{String,Any}`: the error's JSON form (`ic_error_json`), with
  keys such as `"indeterminate"` and `"transient"` for storage errors.
"""
struct IcechunkError <: IcechunkException
    code::Symbol
    status::Int32
    message::String
    details::Dict{String,Any}
end
IcechunkError(code::Symbol, msg::AbstractString) =
    IcechunkError(code, get(_CODES, code, Int32(-1)), String(msg), Dict{String,Any}())

Base.showerror(io::IO, e::IcechunkError) = print(io, "IcechunkError(:", e.code, "): ", e.message)

"""
    ConflictError

A commit found that its branch moved since the session's base: rebase the
session (see [`rebase!`](@ref)) and commit again, or commit with
`rebase_with`. Fields `message`, `branch`, `expected_parent` (the session's
base) and `actual_parent` (the branch tip found); the last three are
`nothing` when the library did not say.
"""
struct ConflictError <: IcechunkException
    message::String
    branch::Union{String,Nothing}
    expected_parent::Union{String,Nothing}
    actual_parent::Union{String,Nothing}
end
Base.showerror(io::IO, e::ConflictError) = print(io, "ConflictError: ", e.message)

module ConflictKind
@enum T::Int32 begin
    NewNodeConflictsWithExistingNode = 1
    NewNodeInInvalidGroup = 2
    ZarrMetadataDoubleUpdate = 3
    ZarrMetadataUpdateOfDeletedArray = 4
    ZarrMetadataUpdateOfDeletedGroup = 5
    ChunkDoubleUpdate = 6
    ChunksUpdatedInDeletedArray = 7
    ChunksUpdatedInUpdatedArray = 8
    DeleteOfUpdatedArray = 9
    DeleteOfUpdatedGroup = 10
    DeleteOfGroupWithNewChildren = 11
end
end

"""
    Conflict

One conflict of a failed rebase. Fields:
- `kind::ConflictKind.T` (such as `ConflictKind.ChunkDoubleUpdate`) and
  `kind_name::String` (`"ChunkDoubleUpdate"`);
- `path::String`: the node (`"/a/b"`); `node_id::String` (`""` when the
  kind is about a path);
- `commit_id`, `commit_message`: their commit (the one being replayed over);
- `sentence::String`: one human sentence explaining it;
- `coords::Vector{Vector{Int}}`: chunk coordinates (0-based) of a
  `ChunkDoubleUpdate`, else empty;
- `children::Vector{String}`: their new nodes in a group we delete.
"""
struct Conflict
    kind::ConflictKind.T
    kind_name::String
    path::String
    node_id::String
    commit_id::String
    commit_message::String
    sentence::String
    coords::Vector{Vector{Int}}
    children::Vector{String}
end
Base.show(io::IO, c::Conflict) = print(io, "Conflict(", c.kind_name, ", ", repr(c.path),
    isempty(c.coords) ? "" : string(", coords=", c.coords), ")")

"""
    RebaseFailedError

A rebase met conflicts its solver could not solve. Fields `message`,
`snapshot_id` (their commit where it stopped) and `conflicts::Vector{Conflict}`.
The session keeps its changes, based on the last commit it passed.
"""
struct RebaseFailedError <: IcechunkException
    message::String
    snapshot_id::String
    conflicts::Vector{Conflict}
end
function Base.showerror(io::IO, e::RebaseFailedError)
    print(io, "RebaseFailedError: ", e.message)
end

const _CODES = Dict{Symbol,Int32}(
    :INVALID_ARGUMENT => 1, :INVALID_HANDLE => 2, :BUFFER_TOO_SMALL => 3,
    :OUT_OF_MEMORY => 4, :INTERNAL => 5, :CANCELLED => 6, :REPO_NOT_FOUND => 10, :REPO_EXISTS => 11,
    :BRANCH_NOT_FOUND => 12, :BRANCH_EXISTS => 13, :TAG_NOT_FOUND => 14,
    :TAG_EXISTS => 15, :SNAPSHOT_NOT_FOUND => 16, :NOT_FOUND => 20,
    :ALREADY_EXISTS => 21, :NOT_AN_ARRAY => 22, :NOT_A_GROUP => 23,
    :INVALID_KEY => 24, :INVALID_PATH => 25, :INVALID_METADATA => 26,
    :INVALID_INDEX => 27, :INVALID_RANGE => 28, :READ_ONLY => 30,
    :NO_CHANGES => 31, :CONFLICT => 32, :REBASE_FAILED => 33,
    :BAD_SNAPSHOT_CHAIN => 34, :TX_LOGS_DISABLED => 35, :INVALID_TIMESTAMP => 36,
    :INVALID_SESSION_BYTES => 37, :VIRTUAL_CHUNK => 38, :STORAGE => 40,
    :CORRUPT => 41, :UNSUPPORTED_VERSION => 42)

const IC_ERR_CONFLICT = Int32(32)
const IC_ERR_REBASE_FAILED = Int32(33)
const IC_ERR_BUFFER_TOO_SMALL = Int32(3)

function _code_symbol(status::Int32)
    name = status_name(status)
    return Symbol(startswith(name, "IC_ERR_") ? name[8:end] : name)
end

_str(p::Ptr{UInt8}) = p == C_NULL ? "" : unsafe_string(p)
_strornothing(d, k) = (v = get(d, k, nothing); v isa AbstractString && !isempty(v) ? String(v) : nothing)

function _conflicts(e::UInt64)
    n = @ic(:ic_error_conflict_count, Csize_t, (UInt64,), e)
    out = Conflict[]
    for i in 0:Int(n)-1
        c = Ref(CConflict())
        st = @ic(:ic_error_conflict, Int32, (UInt64, Csize_t, Ref{CConflict}), e, i, c)
        st == 0 || break
        cc = c[]
        coords = Vector{Vector{Int}}()
        for t in 0:Int(cc.coords_count)-1
            push!(coords, [Int(unsafe_load(cc.coords, t * Int(cc.coords_rank) + j))
                           for j in 1:Int(cc.coords_rank)])
        end
        children = [_str(unsafe_load(cc.children, j)) for j in 1:Int(cc.children_count)]
        push!(out, Conflict(ConflictKind.T(cc.kind), _str(cc.kind_name), _str(cc.path),
            _str(cc.node_id), _str(cc.commit_id), _str(cc.commit_message),
            _str(cc.sentence), coords, children))
    end
    return out
end

"""
Builds the exception for a failed call from its status and error object,
and frees the error object.
"""
function _exception(status::Int32, e::UInt64)
    if e == 0
        return IcechunkError(_code_symbol(status), status, status_name(status), Dict{String,Any}())
    end
    try
        c = @ic(:ic_error_code, Int32, (UInt64,), e)
        c > 0 && (status = c)        # the error object's own code (the same, normally)
        msg = unsafe_string(@ic(:ic_error_message, Cstring, (UInt64,), e))
        details = Dict{String,Any}()
        p = Ref{Ptr{UInt8}}(C_NULL)
        if @ic(:ic_error_json, Int32, (UInt64, Ref{Ptr{UInt8}}), e, p) == 0
            d = _take_json(p[])
            d isa Dict && (details = d)
        end
        if status == IC_ERR_CONFLICT
            return ConflictError(msg, _strornothing(details, "branch"),
                _strornothing(details, "expected_parent"), _strornothing(details, "actual_parent"))
        elseif status == IC_ERR_REBASE_FAILED
            sid = _strornothing(details, "snapshot_id")
            return RebaseFailedError(msg, sid === nothing ? "" : sid, _conflicts(e))
        end
        return IcechunkError(_code_symbol(status), status, msg, details)
    finally
        @ic(:ic_error_free, Int32, (UInt64,), e)
    end
end

"Throws the exception for a failed call; frees the error object."
@inline function _check(status::Int32, err::Ref{UInt64})
    status == 0 && return nothing
    _throw(status, err[])
end
@noinline _throw(status::Int32, e::UInt64) = throw(_exception(status, e))
