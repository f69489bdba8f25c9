# Finding, loading and calling libicechunk.
#
# The library is found at run time (in __init__), not at precompile time, so
# every call goes through a function pointer looked up once with dlsym: the
# @ic macro gives each C function a slot in _FPTRS when the package is
# compiled, and __init__ fills the slots.

"""
The ABI version this package is written against: `IC_ABI_VERSION` of
`include/icechunk.h`. A library whose `ic_abi_version()` differs is refused.
"""
const IC_ABI_VERSION = 1

"""
    LibraryError(msg)

Thrown (wrapped in Julia's `InitError` when it happens during `using
IcechunkGo`) when libicechunk cannot be found or loaded, or was built for
another ABI version.
"""
struct LibraryError <: Exception
    msg::String
end
Base.showerror(io::IO, e::LibraryError) = print(io, "IcechunkGo: ", e.msg)

const _FNAMES = Symbol[]           # filled while the package is compiled
const _FPTRS = Ptr{Cvoid}[]        # filled by __init__, same order
const _LIBPATH = Ref{String}("")
const _LIBHANDLE = Ref{Ptr{Cvoid}}(C_NULL)

function _slot(name::Symbol)
    i = findfirst(isequal(name), _FNAMES)
    if i === nothing
        push!(_FNAMES, name)
        i = length(_FNAMES)
    end
    return i
end

"""
    @ic(name, ret, (argtypes...), args...)

`ccall` of the libicechunk function `name` (a quoted symbol) through its
function pointer.
"""
macro ic(name, ret, argtypes, args...)
    name isa QuoteNode || error("@ic: the name must be a quoted symbol")
    idx = _slot(name.value)
    fptr = Expr(:ref, GlobalRef(@__MODULE__, :_FPTRS), idx)
    return esc(Expr(:call, :ccall, fptr, ret, argtypes, args...))
end

"""
    default_library_path()

Where the package looks for libicechunk: `ENV["ICECHUNK_GO_LIB"]` when set,
else `build/libicechunk.so` at the root of the repository holding this
package (what `make lib` builds).
"""
function default_library_path()
    p = get(ENV, "ICECHUNK_GO_LIB", "")
    isempty(p) || return p
    return normpath(joinpath(@__DIR__, "..", "..", "..", "build", "libicechunk.so"))
end

"""
    library_path()

The path of the libicechunk the package loaded.
"""
library_path() = _LIBPATH[]

const _BUILD_HINT = "build it with `make lib` at the repository root (or " *
    "`go build -buildmode=c-shared -o build/libicechunk.so ./capi`), or set " *
    "ICECHUNK_GO_LIB to the path of a libicechunk.so"

function _load_library(path::AbstractString)
    fromenv = !isempty(get(ENV, "ICECHUNK_GO_LIB", ""))
    where_ = fromenv ? "ICECHUNK_GO_LIB=$(path)" : path
    isfile(path) || throw(LibraryError("libicechunk not found at $where_: $_BUILD_HINT"))
    h = Libdl.dlopen(path, Libdl.RTLD_NOW | Libdl.RTLD_LOCAL; throw_error = false)
    h === nothing && throw(LibraryError("cannot load $where_: $(_dlerror()); $_BUILD_HINT"))
    abi = Libdl.dlsym(h, :ic_abi_version; throw_error = false)
    abi === nothing && throw(LibraryError("$where_ is not libicechunk (it has no ic_abi_version)"))
    v = ccall(abi, UInt32, ())
    if v != IC_ABI_VERSION
        throw(LibraryError("$where_ has ABI version $v, but IcechunkGo is written for " *
            "ABI version $IC_ABI_VERSION (IC_ABI_VERSION of include/icechunk.h); " *
            "rebuild the library from the same source tree as this package"))
    end
    ptrs = Vector{Ptr{Cvoid}}(undef, length(_FNAMES))
    missing_ = Symbol[]
    for (i, n) in enumerate(_FNAMES)
        p = Libdl.dlsym(h, n; throw_error = false)
        p === nothing ? push!(missing_, n) : (ptrs[i] = p)
    end
    isempty(missing_) || throw(LibraryError("$where_ lacks functions of ABI version " *
        "$IC_ABI_VERSION: $(join(missing_, ", "))"))
    # The handle is never closed: the Go runtime cannot be unloaded.
    resize!(_FPTRS, length(ptrs))
    copyto!(_FPTRS, ptrs)
    _LIBHANDLE[] = h
    _LIBPATH[] = abspath(path)
    return nothing
end

function _dlerror()
    p = ccall(:dlerror, Cstring, ())
    return p == C_NULL ? "unknown error" : unsafe_string(p)
end

# --- C structs (layouts of include/icechunk.h) ------------------------------

struct CByteRange       # ic_byte_range
    kind::Int32
    start::Int64
    stop::Int64
end

struct CVersion         # ic_version
    kind::Int32
    name::Ptr{UInt8}
    as_of_unix_nanos::Int64
end

struct CSolver          # ic_solver
    kind::Int32
    on_chunk_conflict::Int32
    fail_on_delete_of_updated_array::Int32
    fail_on_delete_of_updated_group::Int32
end

struct CGetResult       # ic_get_result
    status::Int32
    found::Int32
    offset::Csize_t
    len::Csize_t
end

struct CS3Options       # ic_s3_options
    bucket::Ptr{UInt8}
    prefix::Ptr{UInt8}
    region::Ptr{UInt8}
    endpoint::Ptr{UInt8}
    force_path_style::Int32
    allow_http::Int32
    credentials::Int32
    access_key_id::Ptr{UInt8}
    secret_access_key::Ptr{UInt8}
    session_token::Ptr{UInt8}
    max_connections::Int32
end

const IC_S3_CREDENTIALS_STATIC = Int32(1)
const IC_S3_CREDENTIALS_FROM_ENV = Int32(2)
const IC_S3_CREDENTIALS_ANONYMOUS = Int32(3)

struct CConflict        # ic_conflict
    kind::Int32
    kind_name::Ptr{UInt8}
    path::Ptr{UInt8}
    node_id::Ptr{UInt8}
    commit_id::Ptr{UInt8}
    commit_message::Ptr{UInt8}
    sentence::Ptr{UInt8}
    coords_count::Csize_t
    coords_rank::Csize_t
    coords::Ptr{UInt32}
    children_count::Csize_t
    children::Ptr{Ptr{UInt8}}
end
CConflict() = CConflict(0, C_NULL, C_NULL, C_NULL, C_NULL, C_NULL, C_NULL, 0, 0, C_NULL, 0, C_NULL)

const IC_RANGE_ALL = Int32(0)
const IC_RANGE_BOUNDED = Int32(1)
const IC_RANGE_FROM = Int32(2)
const IC_RANGE_SUFFIX = Int32(3)

const IC_AT_BRANCH = Int32(1)
const IC_AT_TAG = Int32(2)
const IC_AT_SNAPSHOT = Int32(3)

# --- strings and buffers from the library ------------------------------------

"A nullable C string argument: `nothing` is NULL."
_cstr(::Nothing) = Cstring(C_NULL)
_cstr(s::AbstractString) = s

"Copies a library-owned string and releases it with ic_string_free."
function _take_string(p::Ptr{UInt8})
    p == C_NULL && return ""
    s = unsafe_string(p)
    @ic(:ic_string_free, Int32, (Ptr{UInt8},), p)
    return s
end

"Copies a library-owned buffer and releases it with ic_buffer_free."
function _take_buffer(p::Ptr{UInt8}, n::Integer)
    v = Vector{UInt8}(undef, n)
    n > 0 && unsafe_copyto!(pointer(v), p, n)
    p != C_NULL && @ic(:ic_buffer_free, Int32, (Ptr{UInt8},), p)
    return v
end

_take_json(p::Ptr{UInt8}) = JSON.parse_json(_take_string(p))

"""
    version() -> VersionNumber

The version of the loaded libicechunk.
"""
version() = VersionNumber(unsafe_string(@ic(:ic_version_string, Cstring, ())))

"""
    version_number() -> Int

The loaded library's version as MAJOR * 1000000 + MINOR * 1000 + PATCH.
"""
version_number() = Int(@ic(:ic_version_number, UInt32, ()))

"""
    abi_version() -> Int

The ABI version of the loaded libicechunk (equal to `IcechunkGo.IC_ABI_VERSION`).
"""
abi_version() = Int(@ic(:ic_abi_version, UInt32, ()))

"""
    format_version() -> Int

The version of the repository format the loaded library writes, and the
newest it reads (upstream Icechunk's `spec_version`).
"""
format_version() = Int(@ic(:ic_format_version, UInt32, ()))

"""
    status_name(code) -> String

The name of a status code, such as `"IC_ERR_CONFLICT"`.
"""
status_name(code::Integer) = unsafe_string(@ic(:ic_status_name, Cstring, (Int32,), code))

"""
    set_max_threads(n) -> Int

Sets how many threads run library code at once (Go's GOMAXPROCS; `n < 1`
leaves it as is) and returns the previous setting.
"""
function set_max_threads(n::Integer)
    prev = Ref{Int32}(0)
    err = Ref{UInt64}(0)
    _check(@ic(:ic_set_max_threads, Int32, (Int32, Ref{Int32}, Ref{UInt64}), n, prev, err), err)
    return Int(prev[])
end

"""
    set_memory_limit(bytes) -> Int

Sets the soft memory limit of the library's runtime (`bytes < 0` leaves it as
is) and returns the previous limit.
"""
function set_memory_limit(n::Integer)
    prev = Ref{Int64}(0)
    err = Ref{UInt64}(0)
    _check(@ic(:ic_set_memory_limit, Int32, (Int64, Ref{Int64}, Ref{UInt64}), n, prev, err), err)
    return Int(prev[])
end

"""
    set_logs_filter(filter) -> String

Sets the filter of the library's diagnostic log and returns the one it
replaces. The log is lines on standard error (file descriptor 2) about what
results do not show: requests retried, races for a branch lost, rebases,
commits. The filter is a comma-separated list of directives: a level
(`off`, `error`, `warn`, `info`, `debug`) for every component, or
`component=level` for one. Components: `storage` (debug: every request to
the store and its time; info: retries) and `engine` (info: commits, flushes,
branch and tag changes, expiration and garbage collection; debug: conflicts,
lost races, waits and rebases). Later directives win: `"debug,storage=info"`.
Upstream Icechunk's values mean the same: level `trace` is `debug`, target
`icechunk` is every component, `icechunk::storage` is `storage`, any other
`icechunk::` target is `engine`.

`nothing` reads the `ICECHUNK_LOG` environment variable again; an empty
filter (or an unset variable) means `"warn"`, the default, under which the
library is silent unless something is wrong. A filter that does not parse
throws an `IcechunkError` (`:INVALID_ARGUMENT`) naming the directive, and
changes nothing.
"""
function set_logs_filter(filter::Union{Nothing,AbstractString})
    prev = Ref{Ptr{UInt8}}(C_NULL)
    err = Ref{UInt64}(0)
    _check(@ic(:ic_set_logs_filter, Int32, (Cstring, Ref{Ptr{UInt8}}, Ref{UInt64}), _cstr(filter), prev, err), err)
    return _take_string(prev[])
end

"""
    live_objects() -> (handles, buffers)

What the library still holds for callers: live handles of every type and
buffers/strings not released. For tests and leak hunting.
"""
function live_objects()
    h = Ref{UInt64}(0)
    b = Ref{UInt64}(0)
    @ic(:ic_debug_live_objects, Int32, (Ref{UInt64}, Ref{UInt64}), h, b)
    return (handles = Int(h[]), buffers = Int(b[]))
end
