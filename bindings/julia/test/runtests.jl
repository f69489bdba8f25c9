# IcechunkGo tests: standard library only (Julia's package registry is not
# needed). Run with
#     julia --project=bindings/julia -e 'using Pkg; Pkg.test()'
# or, without Pkg,
#     julia --project=bindings/julia bindings/julia/test/runtests.jl

using Test
using IcechunkGo

include("helpers.jl")

@info "IcechunkGo tests: Julia $VERSION, $(Threads.nthreads()) thread(s), libicechunk $(IcechunkGo.version()) " *
      "(ABI $(IcechunkGo.abi_version())) at $(IcechunkGo.library_path())"

@testset "IcechunkGo" begin
    include("test_library.jl")
    include("test_json.jl")
    include("test_roundtrip.jl")
    include("test_store.jl")
    include("test_conflicts.jl")
    include("test_gc.jl")
    include("test_expire.jl")
    include("test_repack.jl")
    include("test_snapshots.jl")
    include("test_virtual.jl")
    include("test_misuse.jl")
    include("test_cancel.jl")
    include("test_s3.jl")
    include("test_threads.jl")
    include("test_zarr_ext.jl")
end
