# The store type and the methods Zarr.jl's AbstractStore asks for, tested
# directly on IcechunkStore.

@testset "store: the Zarr.jl AbstractStore methods" begin
    repo = create_repository(in_memory_storage())
    s = writable_session(repo, "main")
    st = store(s)
    @test session(st) === s
    @test isopen(st)
    @test isempty(st)
    st["zarr.json"] = group_json()
    st["g/zarr.json"] = group_json()
    st["g/a/zarr.json"] = array_json((4, 4), (2, 2))
    st["g/b/zarr.json"] = array_json((2,), (1,))
    st["g/a/c/0/0"] = chunk(1, 10)
    st["g/a/c/1/1"] = chunk(2, 20)
    st["g/b/c/1"] = chunk(3, 5)
    @test !isempty(st)

    # getindex: bytes or nothing
    @test st["g/a/c/0/0"] == chunk(1, 10)
    @test st["g/a/c/0/1"] === nothing
    @test st["g/nope/zarr.json"] === nothing
    @test get(st, "g/a/c/0/1", :missing) === :missing

    # reads into a caller's buffer, grown when too small
    buf = UInt8[]
    @test get_into!(buf, st, "g/a/c/1/1") == 20
    @test buf[1:20] == chunk(2, 20)
    buf = zeros(UInt8, 64)
    @test get_into!(buf, st, "g/a/c/0/0"; range = 2:4) == 3
    @test buf[1:3] == chunk(1, 3)
    @test length(buf) == 64
    @test get_into!(buf, st, "g/a/c/0/1") === nothing
    @test get_chunk_into!(buf, s, "/g/a", (1, 1)) == 20
    @test buf[1:20] == chunk(2, 20)
    @test get_chunk_into!(buf, s, "/g/a", (0, 1)) === nothing

    # isinitialized / haskey
    @test isinitialized(st, "g/a/c/1/1")
    @test !isinitialized(st, "g/a/c/1/0")
    @test haskey(st, "g/zarr.json")

    # subdirs / subkeys (paths with or without slashes)
    @test sort(subdirs(st, "")) == ["g"]
    @test sort(subkeys(st, "")) == ["zarr.json"]
    @test sort(subdirs(st, "g")) == ["a", "b"]
    @test sort(subkeys(st, "g/")) == ["zarr.json"]
    @test sort(subdirs(st, "/g/a")) == ["c"]
    @test sort(subkeys(st, "g/a")) == ["zarr.json"]
    @test sort(subdirs(st, "g/a/c")) == ["0", "1"]
    @test sort(subkeys(st, "g/a/c/0")) == ["0"]
    @test subdirs(st, "nowhere") == String[]

    # storagesize: data only, not metadata documents
    @test storagesize(st, "g/a") == 30
    @test storagesize(st, "g") == 35
    @test storagesize(st, "") == 35
    @test getsize(st, "g/a/c/1/1") == 20
    @test getsize_prefix(st, "g/a/c/") == 30

    # listing
    @test keys(st) == sort(["zarr.json", "g/zarr.json", "g/a/zarr.json", "g/b/zarr.json",
                            "g/a/c/0/0", "g/a/c/1/1", "g/b/c/1"])
    @test list_prefix(st, "g/a/c") == ["g/a/c/0/0", "g/a/c/1/1"]
    @test list_dir(st, "g") == ["a", "b", "zarr.json"]
    @test !is_empty(st, "g/b")
    @test is_empty(st, "g/none")

    # set_if_not_exists!
    @test !set_if_not_exists!(st, "g/a/c/0/0", chunk(9))
    @test st["g/a/c/0/0"] == chunk(1, 10)
    @test set_if_not_exists!(st, "g/a/c/0/1", chunk(9))
    @test st["g/a/c/0/1"] == chunk(9)

    # delete!
    delete!(st, "g/a/c/0/1")
    @test st["g/a/c/0/1"] === nothing
    delete!(st, "g/a/c/0/1")                  # missing: not an error

    # the read strategy and the batch read
    @test store_read_strategy(st) isa ConcurrentRead
    @test store_read_strategy(st).ntasks == IcechunkGo.concurrent_io_tasks[]
    c = Channel{Pair{String,Any}}(Inf)
    read_items!(st, c, "g/a", ["c/0/0", "c/1/1", "c/0/1", "zarr.json"])
    close(c)
    got = Dict(collect(c))
    @test got["c/0/0"] == chunk(1, 10)
    @test got["c/1/1"] == chunk(2, 20)
    @test got["c/0/1"] === nothing
    @test occursin("array", String(got["zarr.json"]))

    # batches
    vals = getmany(st, ["g/a/c/0/0", "g/a/c/1/0", "g/b/c/1"])
    @test vals == [chunk(1, 10), nothing, chunk(3, 5)]
    @test getmany(st, ["g/a/c/0/0", "g/b/c/1"]; ranges = [0:1, ByteRange(suffix = 2)]) == [chunk(1, 2), chunk(3, 2)]
    e = try getmany(st, ["g/a/c/0/0", "g/a/c/0"]); nothing catch e; e end
    @test e isa IcechunkError && e.code === :INVALID_KEY
    @test getmany(st, ["g/a/c/0/0", "g/a/c/0", "g/b/c/1"]; invalid_key_is_missing = true) == [chunk(1, 10), nothing, chunk(3, 5)]
    @test getmany(st, String[]) == []
    setmany!(st, ["g/new/c/0" => chunk(7), "g/new/zarr.json" => array_json((2,), (1,)), "g/new/c/1" => chunk(8)])
    @test st["g/new/c/1"] == chunk(8)
    @test get_node(s, "/g/new")["type"] == "array"

    # delete_dir! and empty!
    delete_dir!(st, "g/b")
    @test st["g/b/zarr.json"] === nothing
    @test st["g/b/c/1"] === nothing
    @test st["g/zarr.json"] !== nothing
    delete!(st, "g/a/zarr.json")                # deletes the array with its chunks
    @test st["g/a/c/0/0"] === nothing
    empty!(st)
    @test isempty(st)
    @test keys(st) == String[]
end

@testset "store: chunks written behind" begin
    dir = mktempdir()
    repo = create_repository(local_filesystem_storage(dir))
    s = writable_session(repo, "main")
    st = store(s)
    @test set_behind!(st, "zarr.json", group_json())  # metadata: set at once
    @test set_behind!(st, "a/zarr.json", array_json((40000,), (1000,)))
    buf = zeros(UInt8, 1000)  # one buffer, refilled for every chunk
    refused = Int[]
    for i in 0:39
        buf .= chunk(i, 1000)
        accepted = set_behind!(st, "a/c/$i", buf; wait = (i % 2 == 0))
        buf .= 0xff  # the library kept a copy, not the buffer
        if accepted
            @test st["a/c/$i"] == chunk(i, 1000)
        else  # wait = false and the session's write-behind memory full
            @test st["a/c/$i"] === nothing
            push!(refused, i)
        end
    end
    for i in refused
        @test set_behind!(st, "a/c/$i", chunk(i, 1000))
    end
    @test all(st["a/c/$i"] == chunk(i, 1000) for i in 0:39)
    @test flush!(s) === nothing
    @test all(st["a/c/$i"] == chunk(i, 1000) for i in 0:39)
    snap = commit!(s, "40 chunks written behind")
    again = store(readonly_session(open_repository(local_filesystem_storage(dir)); snapshot_id = snap))
    @test all(again["a/c/$i"] == chunk(i, 1000) for i in 0:39)
    @test errcode(() -> set_behind!(again, "a/c/0", chunk(0, 1000))) === :READ_ONLY
    @test flush!(session(again)) === nothing  # nothing written behind: nothing to do
end
