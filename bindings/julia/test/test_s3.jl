# S3 storage: settings checked without contacting anything; a round trip
# against a real MinIO server when one is installed (MINIO_BIN, PATH, or the
# Go path's bin folder, where `make tools` puts it), else reported skipped.

using Sockets
using Dates

"The MinIO binary, or `nothing` and why not."
function find_minio()
    p = get(ENV, "MINIO_BIN", "")
    isempty(p) || return isfile(p) ? (p, "") : (nothing, "MINIO_BIN=$p does not exist (run `make tools`)")
    p = Sys.which("minio")
    p === nothing || return (p, "")
    go = Sys.which("go")
    gopath = go === nothing ? "" : (try readchomp(`$go env GOPATH`) catch; "" end)
    for d in split(gopath, ':', keepempty = false)
        c = joinpath(d, "bin", "minio")
        isfile(c) && return (c, "")
    end
    return (nothing, "no minio binary in MINIO_BIN, PATH or the Go path's bin folder (run `make tools`)")
end

"Two free TCP ports on 127.0.0.1."
function free_ports()
    p1, s1 = Sockets.listenany(ip"127.0.0.1", 20000)
    p2, s2 = Sockets.listenany(ip"127.0.0.1", Int(p1) + 1)
    close(s1)
    close(s2)
    return Int(p1), Int(p2)
end

@testset "s3 storage" begin
    s = s3_storage(bucket = "bucket", prefix = "repos/r1", region = "us-east-1",
                   endpoint_url = "http://127.0.0.1:1", allow_http = true, force_path_style = true,
                   access_key_id = "AKIDEXAMPLE", secret_access_key = "very-secret")
    @test describe(s) == "s3://bucket/repos/r1"
    @test !occursin("very-secret", sprint(show, s))
    @test caught(() -> s3_storage(bucket = "")) isa IcechunkError
    e = caught(() -> s3_storage(bucket = "b", from_env = true, anonymous = true))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT
    e = caught(() -> s3_storage(bucket = "b", endpoint_url = "http://x:9000", anonymous = true))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT    # plain http without allow_http
    @test s3_storage(bucket = "b", anonymous = true) isa Storage
    @test s3_storage(bucket = "b", region = "eu-west-1", from_env = true) isa Storage
    # the JSON form
    sj = s3_storage(Dict("bucket" => "b2", "prefix" => "p", "anonymous" => true))
    @test describe(sj) == "s3://b2/p"
    e = caught(() -> s3_storage("""{"bucket": "b", "anonymous": true, "no_such_field": 1}"""))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT
    # files over HTTP, for virtual chunk containers: named without credentials
    @test describe(http_storage("https://user:pw@example.com/data")) == "https://example.com/data/"
    e = caught(() -> http_storage("ftp://example.com/data/"))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT
    # upstream's client options
    tuned = http_storage("https://example.com/data"; options = Dict("timeout" => "2min 30s", "user_agent" => "survey/1"))
    @test describe(tuned) == "https://example.com/data/"
    e = caught(() -> http_storage("https://example.com/data"; options = Dict("timeout" => "soon")))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT && occursin("timeout", e.message)
    e = caught(() -> http_storage("https://example.com/data"; options = Dict("timeout" => 30)))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT

    minio, why = find_minio()
    if minio === nothing
        @info "SKIPPED: S3 round trip against MinIO: $why"
        @test_skip false
    else
        @testset "round trip against MinIO ($minio)" begin
            mktempdir() do dir
                mkpath(joinpath(dir, "data", "icechunk"))      # the bucket
                port, console = free_ports()
                log = joinpath(dir, "minio.log")
                env = copy(ENV)
                filter!(kv -> !startswith(kv.first, "MINIO_"), env)
                env["MINIO_ROOT_USER"] = "icechunkadmin"
                env["MINIO_ROOT_PASSWORD"] = "icechunkadmin-secret"
                cmd = setenv(`$minio server --address 127.0.0.1:$port --console-address 127.0.0.1:$console --quiet $(joinpath(dir, "data"))`, env)
                proc = run(pipeline(cmd; stdout = log, stderr = log); wait = false)
                try
                    mk() = s3_storage(bucket = "icechunk", prefix = "julia/repo", region = "us-east-1",
                        endpoint_url = "http://127.0.0.1:$port", allow_http = true, force_path_style = true,
                        access_key_id = "icechunkadmin", secret_access_key = "icechunkadmin-secret")
                    storage = mk()
                    ready = false
                    for _ in 1:200
                        process_running(proc) || break
                        try
                            repository_exists(storage)
                            ready = true
                            break
                        catch
                            sleep(0.1)
                        end
                    end
                    ready || println(read(log, String))
                    @test ready
                    if ready
                        repo = create_repository(storage)
                        s = writable_session(repo, "main")
                        st = store(s)
                        st["zarr.json"] = group_json()
                        st["a/zarr.json"] = array_json((4, 4), (2, 2))
                        big = rand(UInt8, 10_000)
                        st["a/c/1/1"] = big
                        id = commit!(s, "on s3")
                        create_tag!(repo, "s3-v1", id)
                        repo2 = open_repository(mk())
                        @test store(readonly_session(repo2; tag = "s3-v1"))["a/c/1/1"] == big
                        @test [a.message for a in ancestry(repo2; branch = "main")] == ["on s3", "Repository initialized"]

                        # Credentials from a function: fetched once at once,
                        # again before they expire by the refresh task; a
                        # refresh that throws is logged and tried again.
                        calls = Threads.Atomic{Int}(0)
                        failing = Threads.Atomic{Bool}(false)
                        function fetch_credentials()
                            Threads.atomic_add!(calls, 1)
                            failing[] && error("the token service is down")
                            S3Credentials("icechunkadmin", "icechunkadmin-secret";
                                expires_after = now(UTC) + Millisecond(2500))
                        end
                        # The repository is all that refers to its storage.
                        rrepo = open_repository(s3_storage(bucket = "icechunk", prefix = "julia/repo",
                            region = "us-east-1", endpoint_url = "http://127.0.0.1:$port", allow_http = true,
                            force_path_style = true, credentials = fetch_credentials))
                        @test calls[] == 1
                        @test store(readonly_session(rrepo; tag = "s3-v1"))["a/c/1/1"] == big
                        sleep(4)                            # past the first expiry
                        @test calls[] >= 2
                        @test store(readonly_session(rrepo; tag = "s3-v1"))["a/c/1/1"] == big
                        # Refreshes fail: once the credentials set last expire,
                        # requests say so.
                        failing[] = true
                        sleep(4)
                        e = caught(() -> list_branches(rrepo))
                        @test e isa IcechunkError && e.code === :STORAGE && occursin("expired at", e.message)
                        failing[] = false
                        sleep(2)                            # the retries, a second apart, succeed
                        @test list_branches(rrepo) == ["main"]
                        # The repository keeps its storage, and so the
                        # refresh task, alive.
                        GC.gc(); GC.gc()
                        before = calls[]
                        sleep(3)
                        @test calls[] > before
                        @test list_branches(rrepo) == ["main"]
                        # what the function returns, and what it throws
                        e = caught(() -> s3_storage(bucket = "b", credentials = () -> "keys"))
                        @test e isa IcechunkError && e.code === :INVALID_ARGUMENT
                        @test_throws ErrorException s3_storage(bucket = "b", credentials = () -> error("no token"))
                        e = caught(() -> s3_storage(bucket = "b", anonymous = true, credentials = fetch_credentials))
                        @test e isa IcechunkError && e.code === :INVALID_ARGUMENT
                    end
                finally
                    kill(proc)
                    wait(proc)
                end
            end
        end
    end
end

# A server that takes requests and never answers fails each try after the
# stream timeout, with a message naming the option, and every way of giving
# credentials takes the timeout.
@testset "s3 stream timeout" begin
    srv = listen(ip"127.0.0.1", 0)  # the kernel accepts; nobody answers
    port = Int(getsockname(srv)[2])
    common = (bucket = "silent", prefix = "repo", endpoint_url = "http://127.0.0.1:$port",
              allow_http = true, force_path_style = true, network_stream_timeout_seconds = 1)
    silent = s3_storage(; common..., access_key_id = "key", secret_access_key = "secret")
    took = @elapsed e = caught(() -> repository_exists(silent))
    @test e isa IcechunkError && e.code === :STORAGE
    @test occursin("for 1s (network_stream_timeout_seconds)", e.message)
    @test 1 < took < 30
    @test describe(s3_storage(; common..., anonymous = true)) == "s3://silent/repo"
    @test describe(s3_storage(; common..., from_env = true)) == "s3://silent/repo"
    e = caught(() -> s3_storage(; common..., anonymous = true, network_stream_timeout_seconds = -1))
    @test e isa IcechunkError && e.code === :INVALID_ARGUMENT
    @test occursin("network_stream_timeout_seconds", e.message)
    close(srv)
end
