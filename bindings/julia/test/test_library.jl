# The library: found, loaded, of the ABI version of the header.

@testset "library" begin
    @test isfile(IcechunkGo.library_path())
    @test IcechunkGo.abi_version() == IcechunkGo.IC_ABI_VERSION
    @test IcechunkGo.version() isa VersionNumber
    v = IcechunkGo.version()
    @test IcechunkGo.version_number() == v.major * 1_000_000 + v.minor * 1000 + v.patch
    @test IcechunkGo.format_version() == 1  # docs/format.md
    @test IcechunkGo.status_name(32) == "IC_ERR_CONFLICT"
    @test IcechunkGo.status_name(12345) == "IC_ERR_UNKNOWN"

    @testset "IC_ABI_VERSION matches include/icechunk.h" begin
        if isfile(HEADER)
            m = match(r"#define\s+IC_ABI_VERSION\s+(\d+)", read(HEADER, String))
            @test m !== nothing
            @test parse(Int, m.captures[1]) == IcechunkGo.IC_ABI_VERSION
            # and every status code the header names is one the package knows
            for m in eachmatch(r"IC_ERR_([A-Z_]+)\s*=\s*(\d+)", read(HEADER, String))
                @test IcechunkGo._CODES[Symbol(m.captures[1])] == parse(Int, m.captures[2])
            end
        else
            @info "SKIPPED: header check: $HEADER not found (package used outside its repository)"
            @test_skip false
        end
    end

    @testset "settings" begin
        prev = IcechunkGo.set_max_threads(0)   # 0: unchanged
        @test prev >= 1
        @test IcechunkGo.set_max_threads(prev) == prev
        lim = IcechunkGo.set_memory_limit(-1)  # < 0: unchanged
        @test IcechunkGo.set_memory_limit(-1) == lim
    end

    @testset "logs filter" begin
        before = IcechunkGo.set_logs_filter("engine=info")
        @test IcechunkGo.set_logs_filter("storage=debug, engine=off") == "engine=info"
        @test errcode(() -> IcechunkGo.set_logs_filter("storage=loud")) === :INVALID_ARGUMENT
        e = caught(() -> IcechunkGo.set_logs_filter("network=debug"))
        @test occursin("unknown component \"network\"", sprint(showerror, e))
        @test IcechunkGo.set_logs_filter("off") == "storage=debug, engine=off"
        withenv("ICECHUNK_LOG" => "engine=debug") do
            IcechunkGo.set_logs_filter(nothing)
        end
        @test IcechunkGo.set_logs_filter(before) == "engine=debug"

        # Lines reach standard error, from ICECHUNK_LOG at load.
        code, out = run_julia("""
            using IcechunkGo
            repo = create_repository(in_memory_storage())
            s = writable_session(repo, "main")
            store(s)["zarr.json"] = "{\\"zarr_format\\":3,\\"node_type\\":\\"group\\"}"
            commit!(s, "logged")
            """; env = Dict("ICECHUNK_LOG" => "engine=info"))
        @test code == 0
        @test occursin(r"level=INFO msg=committed component=engine branch=main snapshot=\w+", out)
    end

    @testset "missing library: clear error" begin
        code, out = run_julia("using IcechunkGo"; env = Dict("ICECHUNK_GO_LIB" => "/nonexistent/libicechunk.so"))
        @test code != 0
        @test occursin("libicechunk not found at ICECHUNK_GO_LIB=/nonexistent/libicechunk.so", out)
        @test occursin("make lib", out)
    end

    @testset "library of another ABI version: clear error" begin
        cc = Sys.which("cc")
        if cc === nothing
            @info "SKIPPED: wrong-ABI check: no C compiler (cc) to build a fake library"
            @test_skip false
        else
            mktempdir() do dir
                src = joinpath(dir, "fake.c")
                lib = joinpath(dir, "libfake.so")
                write(src, "unsigned int ic_abi_version(void) { return 999; }\n")
                run(`$cc -shared -fPIC -o $lib $src`)
                code, out = run_julia("using IcechunkGo"; env = Dict("ICECHUNK_GO_LIB" => lib))
                @test code != 0
                @test occursin("has ABI version 999, but IcechunkGo is written for ABI version $(IcechunkGo.IC_ABI_VERSION)", out)

                write(src, "int something_else(void) { return 0; }\n")
                run(`$cc -shared -fPIC -o $lib $src`)
                code, out = run_julia("using IcechunkGo"; env = Dict("ICECHUNK_GO_LIB" => lib))
                @test code != 0
                @test occursin("is not libicechunk", out)
            end
        end
    end
end
