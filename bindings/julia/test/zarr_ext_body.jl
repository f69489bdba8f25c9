# The Zarr.jl glue, when Zarr.jl is loaded (Julia >= 1.9); included by
# test_zarr_ext.jl after `using Zarr`.

@testset "Zarr.AbstractStore glue" begin
    @test Base.get_extension(IcechunkGo, :IcechunkGoZarrExt) !== nothing
    repo = fresh_repo()
    s = writable_session(repo, "main")
    zs = IcechunkGo.zarrstore(store(s))
    @test zs isa Zarr.AbstractStore
    zs["a/c/0/0"] = chunk(1)
    @test zs["a/c/0/0"] == chunk(1)
    @test zs["a/.zarray"] === nothing                  # a v2 probe reads as missing
    @test Zarr.isinitialized(zs, "a/zarr.json")
    @test !Zarr.isinitialized(zs, "a/.zarray")
    @test sort(Zarr.subdirs(zs, "")) == ["a"]
    @test sort(Zarr.subkeys(zs, "")) == ["zarr.json"]
    @test Zarr.storagesize(zs, "a") == 4
    @test Zarr.store_read_strategy(zs) isa Zarr.ConcurrentRead
    c = Channel{Any}(Inf)
    Zarr.read_items!(zs, c, Zarr.ConcurrentRead(4), "a", ["c/0/0", "c/1/1"])
    close(c)
    @test Dict(collect(c)) == Dict("c/0/0" => chunk(1), "c/1/1" => nothing)
    delete!(zs, "a/c/0/0")
    @test zs["a/c/0/0"] === nothing
end
