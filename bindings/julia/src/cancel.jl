# Cancellation tokens (icechunk.h, "Cancellation"): calls made while a token
# is bound to their thread stop with an IcechunkError of code :CANCELLED
# once it is triggered.

"""
    CancelToken()

A cancellation token. Calls made inside [`with_cancel`](@ref) with it, on
that thread, stop when [`cancel!`](@ref) triggers it (from another thread):
requests to storage in flight are abandoned, and the call throws an
`IcechunkError` with code `:CANCELLED`. A commit that has begun to write
its branch's ref is not stopped; one stopped before leaves the branch as
it was and the session's changes in place. A triggered token stays
triggered. Release it with `close` (or leave it to the finalizer).
"""
mutable struct CancelToken <: Handle
    h::Threads.Atomic{UInt64}
    CancelToken(h::UInt64) = _init_handle!(new(Threads.Atomic{UInt64}(h)))
end
_free(::CancelToken, h::UInt64) = @ic(:ic_cancel_free, Int32, (UInt64,), h)

function CancelToken()
    out = Ref{UInt64}(0)
    err = Ref{UInt64}(0)
    _check(@ic(:ic_cancel_new, Int32, (Ref{UInt64}, Ref{UInt64}), out, err), err)
    return CancelToken(out[])
end

"""
    cancel!(token::CancelToken)

Triggers `token`: the calls made under it stop, now and later. Safe from
any thread, any number of times.
"""
function cancel!(t::CancelToken)
    with_handle(t) do h
        err = Ref{UInt64}(0)
        _check(@ic(:ic_cancel_trigger, Int32, (UInt64, Ref{UInt64}), h, err), err)
    end
    return t
end

"""
    iscancelled(token::CancelToken)

Whether `token` was triggered.
"""
function iscancelled(t::CancelToken)
    with_handle(t) do h
        out = Ref{Int32}(0)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_cancel_triggered, Int32, (UInt64, Ref{Int32}, Ref{UInt64}), h, out, err), err)
        out[] != 0
    end
end

function _bind(h::UInt64)
    err = Ref{UInt64}(0)
    _check(@ic(:ic_cancel_bind, Int32, (UInt64, Ref{UInt64}), h, err), err)
end

"""
    with_cancel(f, token::CancelToken)

Calls `f()` with `token` bound to the current thread, so that the library
calls `f` makes there stop when `token` is triggered; unbinds it after,
also when `f` throws. The binding is per OS thread: tasks that `f` starts,
and other tasks that run on this thread while `f` waits, are not meant to
call the library under it.
"""
function with_cancel(f, t::CancelToken)
    GC.@preserve t begin
        _bind(_h(t))
        try
            return f()
        finally
            _bind(UInt64(0))
        end
    end
end
