# The Zarr.jl glue (ext/IcechunkGoZarrExt.jl) is a package extension: it
# needs Julia >= 1.9 and Zarr.jl. When either is missing the test says so
# and is counted as skipped ("Broken" in the summary), never silently.

@testset "Zarr.jl extension" begin
    extfile = joinpath(PKGDIR, "ext", "IcechunkGoZarrExt.jl")
    @test isfile(extfile)
    # the file is at least valid Julia on this version
    src = read(extfile, String)
    ex = Meta.parse("begin\n" * src * "\nend")
    @test !(ex isa Expr && ex.head in (:error, :incomplete))
    proj = read(joinpath(PKGDIR, "Project.toml"), String)
    @test occursin(r"\[weakdeps\][^\[]*Zarr\s*=\s*\"0a941bbe-ad1d-11e8-39d9-ab76183a1d99\""s, proj)
    @test occursin(r"\[extensions\][^\[]*IcechunkGoZarrExt\s*=\s*\"Zarr\""s, proj)

    haszarr = Base.find_package("Zarr") !== nothing
    reasons = String[]
    VERSION < v"1.9" && push!(reasons, "package extensions need Julia >= 1.9 (this is Julia $VERSION)")
    haszarr || push!(reasons, "Zarr.jl is not installed in this environment")
    if !isempty(reasons)
        @info "SKIPPED: Zarr.jl glue (ext/IcechunkGoZarrExt.jl): " * join(reasons, "; ")
        @test_skip false
        e = caught(() -> IcechunkGo.zarrstore(store(writable_session(fresh_repo(), "main"))))
        @test e isa ErrorException && occursin("Zarr.jl glue is not loaded", e.msg)
    else
        @eval Main using Zarr            # loads the extension
        # included, so that its code runs in the world where the extension exists
        include(joinpath(@__DIR__, "zarr_ext_body.jl"))
    end
end
