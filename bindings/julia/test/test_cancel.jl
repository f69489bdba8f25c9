# Cancellation tokens: a call under a triggered token that needs storage
# stops with :CANCELLED (here on a server that never answers, where it would
# otherwise wait a minute per try); the thread is unbound afterwards; a
# token never triggered changes nothing; with 2 threads, a trigger from
# another thread stops a call in progress.

using Sockets

@testset "cancellation" begin
    t = CancelToken()
    @test isopen(t)
    @test !iscancelled(t)
    cancel!(t)
    cancel!(t)  # again: no error
    @test iscancelled(t)

    srv = listen(ip"127.0.0.1", 0)  # the kernel accepts; nobody answers
    port = Int(getsockname(srv)[2])
    silent = s3_storage(bucket = "silent", prefix = "repo", endpoint_url = "http://127.0.0.1:$port",
                        allow_http = true, force_path_style = true,
                        access_key_id = "key", secret_access_key = "secret")
    took = @elapsed e = try
        with_cancel(() -> repository_exists(silent), t)
        nothing
    catch err
        err
    end
    @test e isa IcechunkError
    @test e.code === :CANCELLED
    @test e.status == 6
    @test occursin("cancelled", e.message)
    @test took < 10

    # From another thread, during the call (with 2 or more Julia threads):
    # the triggering task spins rather than sleeps, so it needs no event
    # loop while this thread waits in the library.
    if Threads.nthreads() >= 2
        live = CancelToken()
        trigger = Threads.@spawn begin
            t0 = time()
            while time() - t0 < 0.3
            end
            cancel!(live)
        end
        took = @elapsed e = try
            with_cancel(() -> repository_exists(silent), live)
            nothing
        catch err
            err
        end
        wait(trigger)
        @test e isa IcechunkError && e.code === :CANCELLED
        @test took < 10
        close(live)
    end

    # with_cancel unbound the thread: calls are not stopped any more.
    @test repository_exists(in_memory_storage()) == false

    # A token never triggered changes nothing.
    u = CancelToken()
    storage = in_memory_storage()
    snap = with_cancel(u) do
        repo = create_repository(storage)
        s = writable_session(repo, "main")
        store(s)["zarr.json"] = group_json()
        commit!(s, "under a token")
    end
    @test lookup_branch(open_repository(storage), "main") == snap

    # A closed token is refused, and so are calls bound to it.
    close(t)
    @test !isopen(t)
    @test errcode(() -> cancel!(t)) === :INVALID_HANDLE
    close(u)
    close(silent)
    close(srv)
end
