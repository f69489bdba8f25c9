# Handles. Each Julia object owns one library handle in an atomic slot. It is
# released exactly once, by whichever comes first of `close` and the
# finalizer: both swap the slot to 0 and only the one that saw a non-zero
# value frees it. A call reads the slot while the object is kept alive
# (GC.@preserve), so the finalizer cannot run under it; a `close` from
# another task in the middle of a call is safe too (the library lets that
# call finish, later calls fail with IC_ERR_INVALID_HANDLE).

abstract type Handle end

function _release!(x::Handle)
    h = Threads.atomic_xchg!(x.h, UInt64(0))
    h == 0 && return false
    _free(x, h)
    return true
end

"""
    close(x)

Releases the library handle of a storage, repository, session or iterator
now rather than when the garbage collector finalizes `x`. Later uses of `x`
throw an `IcechunkError` with code `:INVALID_HANDLE`; closing twice is a
no-op. Sessions keep working after their repository is closed, and
repositories after their storage is closed.
"""
Base.close(x::Handle) = (_release!(x); nothing)

"""
    isopen(x)

Whether `x` still holds its library handle (it was not closed).
"""
Base.isopen(x::Handle) = x.h[] != 0

@inline function _h(x::Handle)
    h = x.h[]
    h == 0 && _closed(x)
    return h
end
@noinline _closed(x) = throw(IcechunkError(:INVALID_HANDLE, "this $(nameof(typeof(x))) is closed"))

function _init_handle!(x::Handle)
    finalizer(_release!, x)
    return x
end

"""
    with_handle(f, x)

Calls `f(h)` with the raw handle of `x`, keeping `x` alive meanwhile.
"""
@inline with_handle(f, x::Handle) = GC.@preserve x f(_h(x))

Base.show(io::IO, x::Handle) = print(io, nameof(typeof(x)), isopen(x) ? "" : " (closed)")

# --- JSON iterators -------------------------------------------------------

mutable struct JsonIter <: Handle
    h::Threads.Atomic{UInt64}
    JsonIter(h::UInt64) = _init_handle!(new(Threads.Atomic{UInt64}(h)))
end
_free(::JsonIter, h::UInt64) = @ic(:ic_iter_free, Int32, (UInt64,), h)

"The next `max` items (0: all that remain) of an iterator; empty at the end."
function _next_page(it::JsonIter, max::Integer)
    with_handle(it) do h
        out = Ref{Ptr{UInt8}}(C_NULL)
        n = Ref{Csize_t}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_iter_next_page, Int32, (UInt64, Csize_t, Ref{Ptr{UInt8}}, Ref{Csize_t}, Ref{UInt64}),
            h, max, out, n, err), err)
        v = _take_json(out[])
        return v isa Vector ? v : Any[]
    end
end

"The next item of an iterator, or `nothing` at the end."
function _next(it::JsonIter)
    with_handle(it) do h
        out = Ref{Ptr{UInt8}}(C_NULL)
        done = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_iter_next, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{Int32}, Ref{UInt64}),
            h, out, done, err), err)
        done[] != 0 && return nothing
        return Some(_take_json(out[]))
    end
end

"Every item an iterator handle yields; the iterator is closed afterwards."
function _drain(h::UInt64; page::Integer = 1024)
    it = JsonIter(h)
    try
        items = Any[]
        while true
            p = _next_page(it, page)
            isempty(p) && break
            append!(items, p)
        end
        return items
    finally
        close(it)
    end
end
