# The Zarr.jl glue: makes an IcechunkStore usable as a Zarr.AbstractStore.
# A package extension (Julia >= 1.9): loaded when Zarr.jl and IcechunkGo are
# both loaded. Use it as
#
#     using IcechunkGo, Zarr
#     zs = IcechunkGo.zarrstore(store(session))
#     z = zopen(zs, "w"; path = "a")      # or zcreate / zgroup with zs
#
# Zarr.jl probes keys that a Zarr v3 store cannot hold (".zarray",
# ".zgroup", ...): through this glue such keys read as missing, as they do
# in any other store, instead of throwing IcechunkError(:INVALID_KEY).
module IcechunkGoZarrExt

using IcechunkGo
using IcechunkGo: IcechunkStore, IcechunkError
import Zarr

# Where the store interface lives: Zarr.jl 0.10 moved it to its ZarrCore
# subpackage (and re-exports only the public names); older versions have
# it in Zarr itself.
const _Z = isdefined(Zarr, :ZarrCore) ? getfield(Zarr, :ZarrCore) : Zarr

# Zarr.jl >= 0.9 parametrises AbstractStore by the dimension separator.
const _StoreSuper = _Z.AbstractStore isa UnionAll ? _Z.AbstractStore{'/'} : _Z.AbstractStore

"""
    IcechunkZarrStore(store::IcechunkStore)

An [`IcechunkStore`](@ref) as a `Zarr.AbstractStore`; build it with
`IcechunkGo.zarrstore(store)`.
"""
struct IcechunkZarrStore <: _StoreSuper
    store::IcechunkStore
end

IcechunkGo.zarrstore(st::IcechunkStore) = IcechunkZarrStore(st)
IcechunkGo.zarrstore(s::IcechunkGo.Session) = IcechunkZarrStore(IcechunkGo.store(s))

Base.show(io::IO, z::IcechunkZarrStore) = print(io, "IcechunkZarrStore(", z.store.session, ")")

_invalid_key(e) = e isa IcechunkError && e.code === :INVALID_KEY

function Base.getindex(z::IcechunkZarrStore, k::AbstractString)
    try
        return z.store[String(k)]
    catch e
        _invalid_key(e) && return nothing
        rethrow()
    end
end

Base.setindex!(z::IcechunkZarrStore, v, k::AbstractString) = (z.store[String(k)] = v; z)
Base.delete!(z::IcechunkZarrStore, k::AbstractString) = (delete!(z.store, String(k)); z)

function _Z.isinitialized(z::IcechunkZarrStore, k::AbstractString)
    try
        return IcechunkGo.isinitialized(z.store, String(k))
    catch e
        _invalid_key(e) && return false
        rethrow()
    end
end

_Z.subdirs(z::IcechunkZarrStore, p) = IcechunkGo.subdirs(z.store, string(p))
_Z.subkeys(z::IcechunkZarrStore, p) = IcechunkGo.subkeys(z.store, string(p))
_Z.storagesize(z::IcechunkZarrStore, p) = IcechunkGo.storagesize(z.store, string(p))

if isdefined(_Z, :store_read_strategy) && isdefined(_Z, :ConcurrentRead)
    _Z.store_read_strategy(::IcechunkZarrStore) = _Z.ConcurrentRead(IcechunkGo.concurrent_io_tasks[])
end

# Zarr.jl reads a ConcurrentRead store with asyncmap: tasks on one thread,
# each blocked in its ccall in turn. Spread the reads over Julia's threads
# instead, so they run in parallel inside the library.
if isdefined(_Z, :read_items!) && isdefined(_Z, :ConcurrentRead)
    function _Z.read_items!(z::IcechunkZarrStore, c::AbstractChannel, r::_Z.ConcurrentRead, p, i)
        items = collect(i)
        isempty(items) && return nothing
        nparts = max(1, min(r.ntasks, Threads.nthreads(), length(items)))
        parts = Iterators.partition(items, cld(length(items), nparts))
        tasks = [Threads.@spawn(for ii in part
                     put!(c, ii => z[p, ii])
                 end) for part in parts]
        foreach(wait, tasks)
        return nothing
    end
end

end # module IcechunkGoZarrExt
