# The Zarr key-value view of a session, with the methods Zarr.jl's
# AbstractStore asks a store for (getindex returning bytes or nothing,
# setindex!, delete!, subdirs, subkeys, storagesize, isinitialized, a read
# strategy). The glue that makes it a Zarr.AbstractStore is the package
# extension ext/IcechunkGoZarrExt.jl (Julia >= 1.9 with Zarr.jl loaded).

"""
    IcechunkStore

The Zarr v3 key-value view of a [`Session`](@ref) (see [`store`](@ref)):
keys such as `"zarr.json"`, `"a/b/zarr.json"` and chunk keys `"a/b/c/0/1"`.
Writing a zarr.json adds or updates its node; reading a key that holds
nothing gives `nothing`; a key that is not a Zarr key throws
`IcechunkError(:INVALID_KEY)`. Thread-safe, like its session.
"""
struct IcechunkStore
    session::Session
end

"""
    store(session) -> IcechunkStore

The Zarr store of a session (shares the session's handle: closing the
session closes the store).
"""
store(s::Session) = IcechunkStore(s)

"""
    session(store) -> Session
"""
session(st::IcechunkStore) = st.session

Base.isopen(st::IcechunkStore) = isopen(st.session)
Base.show(io::IO, st::IcechunkStore) = print(io, "IcechunkStore(", st.session, ")")

_key(k::AbstractString) = _nonul(k, "a key")
_dir(p::AbstractString) = (q = strip(_nonul(p, "a path"), '/'); isempty(q) ? "" : string(q, "/"))

function _get(st::IcechunkStore, key::AbstractString, range)
    k = _key(key)
    r = _range(range)
    with_handle(st.session) do h
        data = Ref{Ptr{UInt8}}(C_NULL)
        len = Ref{Csize_t}(0)
        found = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        GC.@preserve r begin
            st_ = @ic(:ic_store_get, Int32,
                (UInt64, Cstring, Ptr{CByteRange}, Ref{Ptr{UInt8}}, Ref{Csize_t}, Ref{Int32}, Ref{UInt64}),
                h, k, _rangeptr(r), data, len, found, err)
        end
        _check(st_, err)
        found[] == 0 && return nothing
        _take_buffer(data[], len[])
    end
end

"""
    store[key] -> Union{Vector{UInt8},Nothing}
    store[key, range] -> Union{Vector{UInt8},Nothing}

The value at `key` (or `range` of it: a [`ByteRange`](@ref) or a 0-based
`UnitRange`), `nothing` if the key holds nothing.
"""
Base.getindex(st::IcechunkStore, key::AbstractString) = _get(st, key, nothing)
Base.getindex(st::IcechunkStore, key::AbstractString, range::Union{ByteRange,UnitRange{<:Integer}}) = _get(st, key, range)

Base.get(st::IcechunkStore, key::AbstractString, default) = (v = st[key]; v === nothing ? default : v)

"""
Calls `f(buf, cap, len, found, err)` (an `ic_*_get_into` call) until `buf`
is large enough; returns the value's length or `nothing` if none.
"""
function _get_into(f, buf::Vector{UInt8})
    while true
        len = Ref{Csize_t}(0)
        found = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        st = GC.@preserve buf f(pointer(buf), length(buf), len, found, err)
        if st == IC_ERR_BUFFER_TOO_SMALL
            @ic(:ic_error_free, Int32, (UInt64,), err[])
            resize!(buf, len[])
            continue
        end
        _check(st, err)
        return found[] == 0 ? nothing : Int(len[])
    end
end

"""
    get_into!(buf::Vector{UInt8}, store, key; range=nothing) -> Union{Int,Nothing}

Reads the value at `key` (or `range` of it) into `buf`, growing it with
`resize!` when it is too small, and returns the value's length `n` (the
value is `buf[1:n]`), or `nothing` if the key holds nothing. Reusing one
buffer saves an allocation per read.
"""
function get_into!(buf::Vector{UInt8}, st::IcechunkStore, key::AbstractString; range = nothing)
    k = _key(key)
    r = _range(range)
    with_handle(st.session) do h
        GC.@preserve r _get_into(buf) do p, cap, len, found, err
            @ic(:ic_store_get_into, Int32,
                (UInt64, Cstring, Ptr{CByteRange}, Ptr{UInt8}, Csize_t, Ref{Csize_t}, Ref{Int32}, Ref{UInt64}),
                h, k, _rangeptr(r), p, cap, len, found, err)
        end
    end
end

"""
    store[key] = value

Sets the value at `key` (bytes, or a string for metadata documents).
"""
function Base.setindex!(st::IcechunkStore, value, key::AbstractString)
    k = _key(key)
    b = _bytes(value)
    _no_out((h, err) -> @ic(:ic_store_set, Int32, (UInt64, Cstring, Ptr{UInt8}, Csize_t, Ref{UInt64}),
        h, k, b, length(b), err), st.session)
    return st
end

"""
    set_behind!(store, key, value; wait = true) -> Bool

Sets the value at `key` as `store[key] = value` does, without waiting for
storage: a chunk is copied, recorded in the session at once and written
later in the background, packed with the chunks set after it into objects
of a size that suits the storage (3 MiB on S3, 1 MiB files on local disk).
Reads see it at once; [`flush!`](@ref) and `commit!` put it in storage. A
failed background write is thrown by the next `set_behind!`, `flush!` or
`commit!`, and nothing recorded is lost. The memory held is bounded per
session: when it is full, the call waits for a write to finish, or, with
`wait = false`, sets nothing and returns `false`. `value` is not kept.
Other keys, and chunks small enough to be inline, are set as
`store[key] = value` sets them.
"""
function set_behind!(st::IcechunkStore, key::AbstractString, value; wait::Bool = true)
    k = _key(key)
    b = _bytes(value)
    with_handle(st.session) do h
        accepted = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_store_set_behind, Int32, (UInt64, Cstring, Ptr{UInt8}, Csize_t, Int32, Ref{Int32}, Ref{UInt64}),
            h, k, b, length(b), Int32(wait), accepted, err), err)
        accepted[] != 0
    end
end

"""
    set_if_not_exists!(store, key, value) -> Bool

Sets the value only if `key` is missing (atomically); whether it did.
"""
function set_if_not_exists!(st::IcechunkStore, key::AbstractString, value)
    k = _key(key)
    b = _bytes(value)
    with_handle(st.session) do h
        stored = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_store_set_if_not_exists, Int32, (UInt64, Cstring, Ptr{UInt8}, Csize_t, Ref{Int32}, Ref{UInt64}),
            h, k, b, length(b), stored, err), err)
        stored[] != 0
    end
end

"""
    delete!(store, key)

Deletes the value at `key`; a missing key is not an error. Deleting a
zarr.json removes that node (an array with its chunks).
"""
function Base.delete!(st::IcechunkStore, key::AbstractString)
    k = _key(key)
    _no_out((h, err) -> @ic(:ic_store_delete, Int32, (UInt64, Cstring, Ref{UInt64}), h, k, err), st.session)
    return st
end

"""
    delete_dir!(store, prefix)

Deletes every key under the directory `prefix` (`""`: everything).
"""
function delete_dir!(st::IcechunkStore, prefix::AbstractString)
    p = rstrip(_nonul(prefix, "a prefix"), '/')
    _no_out((h, err) -> @ic(:ic_store_delete_dir, Int32, (UInt64, Cstring, Ref{UInt64}), h, p, err), st.session)
    return st
end

"""
    isinitialized(store, key) -> Bool

Whether `key` holds a value (also `haskey(store, key)`).
"""
function isinitialized(st::IcechunkStore, key::AbstractString)
    k = _key(key)
    _flag((h, v, err) -> @ic(:ic_store_exists, Int32, (UInt64, Cstring, Ref{Int32}, Ref{UInt64}), h, k, v, err), st.session)
end
Base.haskey(st::IcechunkStore, key::AbstractString) = isinitialized(st, key)

"""
    getsize(store, key) -> Int

The size in bytes of the value at `key`; `IcechunkError(:NOT_FOUND)` if missing.
"""
function getsize(st::IcechunkStore, key::AbstractString)
    k = _key(key)
    with_handle(st.session) do h
        n = Ref{UInt64}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_store_get_size, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}), h, k, n, err), err)
        Int(n[])
    end
end

"""
    getsize_prefix(store, prefix) -> Int

The total size of the values whose keys start with `prefix`.
"""
function getsize_prefix(st::IcechunkStore, prefix::AbstractString)
    p = _nonul(prefix, "a prefix")
    with_handle(st.session) do h
        n = Ref{UInt64}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_store_get_size_prefix, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}), h, p, n, err), err)
        Int(n[])
    end
end

function _list(f, st::IcechunkStore)
    items = with_handle(st.session) do h
        out = Ref{UInt64}(0)
        err = Ref{UInt64}(0)
        _check(f(h, out, err), err)
        _drain(out[])
    end
    return sort!(String[String(x) for x in items])
end

"""
    keys(store) -> Vector{String}

Every key, sorted.
"""
Base.keys(st::IcechunkStore) =
    _list((h, out, err) -> @ic(:ic_store_list, Int32, (UInt64, Ref{UInt64}, Ref{UInt64}), h, out, err), st)

"""
    list_prefix(store, prefix) -> Vector{String}

The keys starting with `prefix` (a plain string prefix), sorted.
"""
function list_prefix(st::IcechunkStore, prefix::AbstractString)
    p = _nonul(prefix, "a prefix")
    _list((h, out, err) -> @ic(:ic_store_list_prefix, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}), h, p, out, err), st)
end

"""
    list_dir(store, prefix) -> Vector{String}

The names of the immediate children of the directory `prefix` (`""` for
the top): the next segment of every key below it, once, sorted.
"""
function list_dir(st::IcechunkStore, prefix::AbstractString)
    p = rstrip(_nonul(prefix, "a prefix"), '/')
    _list((h, out, err) -> @ic(:ic_store_list_dir, Int32, (UInt64, Cstring, Ref{UInt64}, Ref{UInt64}), h, p, out, err), st)
end

"""
    isempty(store) / is_empty(store, prefix) -> Bool

Whether no key lies under the directory `prefix` (`""`: the whole store).
"""
function is_empty(st::IcechunkStore, prefix::AbstractString)
    p = rstrip(_nonul(prefix, "a prefix"), '/')
    _flag((h, v, err) -> @ic(:ic_store_is_empty, Int32, (UInt64, Cstring, Ref{Int32}, Ref{UInt64}), h, p, v, err), st.session)
end
Base.isempty(st::IcechunkStore) = is_empty(st, "")

"""
    empty!(store)

Deletes every node and chunk.
"""
function Base.empty!(st::IcechunkStore)
    _no_out((h, err) -> @ic(:ic_store_clear, Int32, (UInt64, Ref{UInt64}), h, err), st.session)
    return st
end

# --- Zarr.jl's AbstractStore interface ---------------------------------------------

const _METADATA_NAMES = ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")

"""
    subdirs(store, p) -> Vector{String}

The names of the child directories of the directory `p` (Zarr.jl's
`subdirs`): children under which some key lies.
"""
function subdirs(st::IcechunkStore, p::AbstractString)
    d = _dir(p)
    return String[n for n in list_dir(st, d) if !is_empty(st, d * n)]
end

"""
    subkeys(store, p) -> Vector{String}

The names of the keys directly in the directory `p` (Zarr.jl's `subkeys`).
"""
function subkeys(st::IcechunkStore, p::AbstractString)
    d = _dir(p)
    return String[n for n in list_dir(st, d) if _holds(st, d * n)]
end

# Whether key holds a value; a name that is not a Zarr key (such as the "c"
# folder of chunk keys) holds none.
function _holds(st::IcechunkStore, key::String)
    try
        return isinitialized(st, key)
    catch e
        e isa IcechunkError && e.code === :INVALID_KEY && return false
        rethrow()
    end
end

"""
    storagesize(store, p) -> Int

The total size of the data (not metadata documents) under the directory
`p` (Zarr.jl's `storagesize`).
"""
function storagesize(st::IcechunkStore, p::AbstractString)
    d = _dir(p)
    total = getsize_prefix(st, d)
    for k in list_prefix(st, d)
        if last(split(k, '/')) in _METADATA_NAMES
            total -= getsize(st, k)
        end
    end
    return total
end

"Read keys one after the other (Zarr.jl's `SequentialRead`)."
struct SequentialRead end

"Read keys concurrently, up to `ntasks` at once (Zarr.jl's `ConcurrentRead`)."
struct ConcurrentRead
    ntasks::Int
end

"How many keys a concurrent read fetches at once; see [`store_read_strategy`](@ref)."
const concurrent_io_tasks = Ref(64)

"""
    store_read_strategy(store) -> ConcurrentRead

Zarr.jl's read strategy for this store: concurrent, `concurrent_io_tasks[]`
keys at a time. The reads of one batch cross into the library in one call
([`getmany`](@ref)) and run in parallel there.
"""
store_read_strategy(::IcechunkStore) = ConcurrentRead(concurrent_io_tasks[])

"""
    getmany(store, keys; ranges=nothing, invalid_key_is_missing=false)
        -> Vector{Union{Vector{UInt8},Nothing}}

The values of many keys in one call (read in parallel inside the library);
`nothing` for keys that hold nothing. The first failing key's error is
thrown; with `invalid_key_is_missing`, keys that are not Zarr keys read as
`nothing` instead.
"""
function getmany(st::IcechunkStore, keys::AbstractVector{<:AbstractString};
                 ranges = nothing, invalid_key_is_missing::Bool = false)
    n = length(keys)
    n == 0 && return Union{Vector{UInt8},Nothing}[]
    ks = String[_key(k) for k in keys]
    rs = ranges === nothing ? CByteRange[] : CByteRange[_range(r)[] for r in ranges]
    ranges === nothing || length(rs) == n || throw(ArgumentError("give one range per key"))
    results = Vector{CGetResult}(undef, n)
    errs = zeros(UInt64, n)
    data = Ref{Ptr{UInt8}}(C_NULL)
    dlen = Ref{Csize_t}(0)
    GC.@preserve ks begin
        ptrs = Ptr{UInt8}[pointer(k) for k in ks]
        with_handle(st.session) do h
            err = Ref{UInt64}(0)
            _check(@ic(:ic_store_get_many, Int32,
                (UInt64, Ptr{Ptr{UInt8}}, Ptr{CByteRange}, Csize_t, Ptr{CGetResult}, Ref{Ptr{UInt8}}, Ref{Csize_t}, Ptr{UInt64}, Ref{UInt64}),
                h, ptrs, ranges === nothing ? Ptr{CByteRange}(C_NULL) : pointer(rs), n, results, data, dlen, errs, err), err)
        end
    end
    out = Vector{Union{Vector{UInt8},Nothing}}(undef, n)
    failure = nothing
    try
        for i in 1:n
            r = results[i]
            if r.status != 0
                e = _exception(r.status, errs[i])   # frees errs[i]
                errs[i] = 0
                if invalid_key_is_missing && e isa IcechunkError && e.code === :INVALID_KEY
                    out[i] = nothing
                elseif failure === nothing
                    failure = e
                end
            elseif r.found == 0
                out[i] = nothing
            else
                v = Vector{UInt8}(undef, r.len)
                r.len > 0 && unsafe_copyto!(pointer(v), data[] + r.offset, r.len)
                out[i] = v
            end
        end
    finally
        for e in errs
            e != 0 && @ic(:ic_error_free, Int32, (UInt64,), e)
        end
        data[] != C_NULL && @ic(:ic_buffer_free, Int32, (Ptr{UInt8},), data[])
    end
    failure === nothing || throw(failure)
    return out
end

"""
    setmany!(store, pairs)

Sets many keys in one call (`pairs`: `key => value` pairs or a `Dict`).
zarr.json keys are set first, so one batch can create an array and write
its chunks; chunks are then written in parallel. Every entry is tried; the
first failure is thrown.
"""
function setmany!(st::IcechunkStore, kvs)
    ks = String[]
    vs = Vector{UInt8}[]
    for (k, v) in kvs
        push!(ks, _key(k))
        push!(vs, _bytes(v))
    end
    n = length(ks)
    n == 0 && return st
    GC.@preserve ks vs begin
        kp = Ptr{UInt8}[pointer(k) for k in ks]
        vp = Ptr{UInt8}[pointer(v) for v in vs]
        lens = Csize_t[length(v) for v in vs]
        _no_out((h, err) -> @ic(:ic_store_set_many, Int32,
            (UInt64, Ptr{Ptr{UInt8}}, Ptr{Ptr{UInt8}}, Ptr{Csize_t}, Csize_t, Ref{UInt64}),
            h, kp, vp, lens, n, err), st.session)
    end
    return st
end

"""
    read_items!(store, channel, p, names)

Zarr.jl's batch read: puts `name => value` (value `nothing` when missing)
on `channel` for every key `p/name`, fetching `concurrent_io_tasks[]` keys
per library call, in parallel inside the library.
"""
function read_items!(st::IcechunkStore, c::AbstractChannel, p::AbstractString, names;
                     invalid_key_is_missing::Bool = false)
    d = _dir(p)
    batch = max(1, concurrent_io_tasks[])
    items = collect(names)
    for chunk in Iterators.partition(items, batch)
        vals = getmany(st, String[d * string(n) for n in chunk]; invalid_key_is_missing = invalid_key_is_missing)
        for (n, v) in zip(chunk, vals)
            put!(c, n => v)
        end
    end
    return nothing
end
