# One session used from many Julia tasks on several threads at once (the way
# Zarr writes); closing a session while other threads use it; finalizers
# running on GC under threads. Included by test_threads.jl, in this process
# when it has threads, else in a child started with JULIA_NUM_THREADS=4.

@testset "threads ($(Threads.nthreads()) Julia threads)" begin
    @test Threads.nthreads() >= 2

    repo = create_repository(in_memory_storage(name = "threads"))
    s = writable_session(repo, "main")
    st = store(s)
    st["zarr.json"] = group_json()
    st["big/zarr.json"] = array_json((64, 64), (4, 4))   # 16 x 16 chunks
    value(i) = fill(UInt8(i % 251), 64 + i)              # some inline, some not
    key(i) = "big/c/$(i ÷ 16)/$(i % 16)"

    # writers: Threads.@threads hands the workers out to every Julia thread,
    # so writes from different threads overlap inside the library
    nworkers = 8
    tids = zeros(Int, nworkers)
    errors = Vector{Any}(nothing, nworkers)
    Threads.@threads for w in 1:nworkers
        try
            tids[w] = Threads.threadid()
            for i in w-1:nworkers:255
                st[key(i)] = value(i)
                st[key(i)] == value(i) || error("read back $(key(i)) differs")
                # read what the others wrote so far, and metadata
                j = (i * 7) % 256
                v = st[key(j)]
                (v === nothing || v == value(j)) || error("$(key(j)) is torn")
                isinitialized(st, "big/zarr.json") || error("metadata vanished")
            end
        catch e
            errors[w] = e
        end
    end
    @test all(e -> e === nothing, errors)
    @info "$nworkers writers ran on Julia threads $(sort(unique(tids)))"
    @test length(unique(tids)) == min(Threads.nthreads(), nworkers)
    @test length(chunk_coordinates(s, "/big")) == 256
    @test all(i -> st[key(i)] == value(i), 0:255)
    id = commit!(s, "written by $nworkers tasks")

    # readers: tasks spawned on any thread, through read_items!
    ro = store(readonly_session(repo; snapshot_id = id))
    results = Vector{Bool}(undef, nworkers)
    tasks = map(1:nworkers) do w
        Threads.@spawn begin
            c = Channel{Pair{String,Any}}(Inf)
            names = ["c/$(i ÷ 16)/$(i % 16)" for i in 0:255]
            read_items!(ro, c, "big", names)
            close(c)
            got = Dict(collect(c))
            results[w] = length(got) == 256 && all(i -> got["c/$(i ÷ 16)/$(i % 16)"] == value(i), 0:255)
        end
    end
    foreach(wait, tasks)
    @test all(results)

    # close a session while other threads use it: one worker per thread,
    # worker 1 closes the session part-way; every call either works or
    # throws IcechunkError(:INVALID_HANDLE), nothing crashes, and every
    # worker sees the close
    s2 = writable_session(repo, "main")
    st2 = store(s2)
    nt = Threads.nthreads()
    outcomes = Vector{Tuple{Int,Int,Any}}(undef, nt)
    Threads.@threads for w in 1:nt
        ok = 0; closed = 0; other = nothing
        for i in 1:200_000
            w == 1 && i == 300 && close(s2)
            try
                st2[key((w * 31 + i) % 256)] = value(i % 64)
                st2[key(i % 256)]
                ok += 1
            catch e
                if e isa IcechunkError && e.code === :INVALID_HANDLE
                    closed += 1
                    closed >= 3 && break
                else
                    other = e
                    break
                end
            end
        end
        outcomes[w] = (ok, closed, other)
    end
    @test all(o -> o[3] === nothing, outcomes)
    @test all(o -> o[2] == 3, outcomes)
    @info "close during use: $(sum(o -> o[1], outcomes)) calls worked, then each of $nt threads saw the closed handle"
    @test !isopen(s2)

    # finalizers on threads: sessions dropped without close are freed by GC
    before = IcechunkGo.live_objects().handles
    tasks = map(1:nworkers) do w
        Threads.@spawn begin
            for i in 1:20
                x = writable_session(repo, "main")
                store(x)["big/c/0/0"] = value(i)
            end
        end
    end
    foreach(wait, tasks)
    for _ in 1:3
        GC.gc(true)
    end
    @test IcechunkGo.live_objects().handles <= before
end
