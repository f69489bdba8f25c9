# Misuse gives Julia exceptions, never crashes: closed handles (close, the
# finalizer, both, in either order), forged handles, bad keys, bad strings,
# bad JSON, wrong arguments, writes to read-only sessions.

@testset "misuse" begin
    @testset "closed handles" begin
        storage = in_memory_storage()
        repo = create_repository(storage)
        s = writable_session(repo, "main")
        st = store(s)
        st["zarr.json"] = group_json()
        close(s)
        @test !isopen(s)
        @test !isopen(st)
        @test errcode(() -> st["zarr.json"]) === :INVALID_HANDLE
        @test errcode(() -> st["zarr.json"] = group_json()) === :INVALID_HANDLE
        @test errcode(() -> commit!(s, "x")) === :INVALID_HANDLE
        @test errcode(() -> flush_snapshot!(s, "x")) === :INVALID_HANDLE
        @test errcode(() -> chunk_type(s, "/a", (0, 0))) === :INVALID_HANDLE
        @test errcode(() -> virtual_chunk_locations(s)) === :INVALID_HANDLE
        @test errcode(() -> set_virtual_refs!(s, "/a", VirtualChunkSpec[])) === :INVALID_HANDLE
        @test errcode(() -> snapshot_id(s)) === :INVALID_HANDLE
        e = try status(s) catch e; e end
        @test occursin("Session is closed", sprint(showerror, e))
        close(s)                                   # twice: a no-op
        finalize(s)                                # finalizer after close: no double free
        @test occursin("closed", sprint(show, s))

        x = writable_session(repo, "main")
        finalize(x)                                # finalizer first...
        @test !isopen(x)
        close(x)                                   # ...then close: no double free
        @test errcode(() -> branch(x)) === :INVALID_HANDLE

        # a session outlives its repository and storage handles
        s2 = writable_session(repo, "main")
        close(repo)
        close(storage)
        @test errcode(() -> list_branches(repo)) === :INVALID_HANDLE
        @test errcode(() -> chunk_storage_stats(repo)) === :INVALID_HANDLE
        @test errcode(() -> inspect_snapshot(repo, "AAAAAAAAAAAAAAAAAAA0")) === :INVALID_HANDLE
        @test errcode(() -> repository_exists(storage)) === :INVALID_HANDLE
        @test errcode(() -> writable_session(repo, "main")) === :INVALID_HANDLE
        store(s2)["zarr.json"] = group_json()
        @test length(commit!(s2, "after the repository was closed")) == 20
    end

    @testset "forged and stale handles" begin
        forged = IcechunkGo.Session(UInt64(0x00ff00ff00ff00ff))
        @test errcode(() -> snapshot_id(forged)) === :INVALID_HANDLE
        close(forged)                              # freeing it fails quietly inside
        repo = fresh_repo()
        s = writable_session(repo, "main")
        raw = s.h[]
        close(s)
        stale = IcechunkGo.Session(raw)            # the freed handle, reused
        @test errcode(() -> store(stale)["zarr.json"]) === :INVALID_HANDLE
        close(stale)
        wrongtype = IcechunkGo.Session(repo.h[])   # a repository handle as a session
        @test errcode(() -> snapshot_id(wrongtype)) === :INVALID_HANDLE
        @test errcode(() -> chunk_type(wrongtype, "/a", (0, 0))) === :INVALID_HANDLE
        @test errcode(() -> flush_snapshot!(wrongtype, "x")) === :INVALID_HANDLE
        # leave the repository's handle alone: it is owned by `repo`
        Threads.atomic_xchg!(wrongtype.h, UInt64(0))
        @test list_branches(repo) == ["main"]
    end

    @testset "bad keys and strings" begin
        repo = fresh_repo()
        s = writable_session(repo, "main")
        st = store(s)
        @test errcode(() -> st["a/c/0"]) === :INVALID_KEY                      # too few coordinates
        @test errcode(() -> st["a/x"]) === :INVALID_KEY                        # not a key of array /a
        @test st["not a zarr key"] === nothing                                 # reads of keys outside arrays find nothing
        @test errcode(() -> st["not a zarr key"] = chunk(1)) === :INVALID_KEY  # but cannot be written
        @test errcode(() -> st["a/c/0"] = chunk(1)) === :INVALID_KEY          # too few coordinates
        @test errcode(() -> st["a/c/9/9"] = chunk(1)) in (:INVALID_INDEX, :INVALID_KEY)
        @test errcode(() -> st["a/zarr.json"] = "{not json") in (:INVALID_METADATA, :INVALID_ARGUMENT)
        @test errcode(() -> st["/abs/zarr.json"]) in (:INVALID_KEY, :no_error)
        @test_throws ArgumentError st["a/c/0/0\0"]                             # NUL inside a key
        @test_throws ArgumentError writable_session(repo, "ma\0in")
        @test errcode(() -> st["a/\xff/zarr.json"]) in (:INVALID_ARGUMENT, :INVALID_KEY)  # bad UTF-8
        @test errcode(() -> writable_session(repo, "\xfe")) === :INVALID_ARGUMENT
        @test errcode(() -> create_branch!(repo, ".hidden", lookup_branch(repo, "main"))) === :INVALID_ARGUMENT
        @test errcode(() -> lookup_branch(repo, "nope")) === :BRANCH_NOT_FOUND
        @test errcode(() -> lookup_tag(repo, "nope")) === :TAG_NOT_FOUND
        @test errcode(() -> snapshot_info(repo, "AAAAAAAAAAAAAAAAAAAA")) in (:SNAPSHOT_NOT_FOUND, :INVALID_ARGUMENT)
        @test errcode(() -> snapshot_info(repo, "not an id")) === :INVALID_ARGUMENT
        @test errcode(() -> get_chunk(s, "/a", (0, 0); range = ByteRange(5, 2))) === :INVALID_RANGE
        @test errcode(() -> get_chunk(s, "/nothing", (0,))) in (:NOT_FOUND, :NOT_AN_ARRAY, :INVALID_PATH)
        @test errcode(() -> getsize(st, "a/c/0/0")) === :NOT_FOUND
        # the store still works after all that
        st["a/c/0/0"] = chunk(3)
        @test st["a/c/0/0"] == chunk(3)
    end

    @testset "bad JSON and arguments" begin
        @test errcode(() -> create_repository(in_memory_storage(); config = "{bad json")) === :INVALID_ARGUMENT
        @test errcode(() -> create_repository(in_memory_storage(); config = Dict("no_such_setting" => 1))) === :INVALID_ARGUMENT
        @test errcode(() -> create_repository(in_memory_storage(); config = Dict("inline_chunk_threshold" => "x"))) === :INVALID_ARGUMENT
        repo = fresh_repo()
        s = writable_session(repo, "main")
        store(s)["a/c/0/0"] = chunk(1)
        @test errcode(() -> commit!(s, "m"; metadata = "[1, 2]")) === :INVALID_ARGUMENT
        @test has_uncommitted_changes(s)
        @test_throws ArgumentError readonly_session(repo)
        @test_throws ArgumentError readonly_session(repo; branch = "main", tag = "v1")
        @test_throws ArgumentError readonly_session(repo; tag = "v1", as_of = 1)
        @test_throws ArgumentError add_array!(s, "/b"; shape = (2, 2), chunk_shape = (1,), zarr_json = "{}")
        @test_throws TypeError BasicConflictSolver(on_chunk_conflict = 7)
    end

    @testset "wrong states" begin
        storage = in_memory_storage()
        @test errcode(() -> open_repository(storage)) === :REPO_NOT_FOUND
        repo = create_repository(storage)
        @test errcode(() -> create_repository(storage)) === :REPO_EXISTS
        s = writable_session(repo, "main")
        @test errcode(() -> commit!(s, "nothing to commit")) === :NO_CHANGES
        ro = readonly_session(repo; branch = "main")
        @test errcode(() -> store(ro)["zarr.json"] = group_json()) === :READ_ONLY
        @test errcode(() -> add_group!(ro, "/", group_json())) === :READ_ONLY
        @test errcode(() -> writable_session(repo, "no-such-branch")) === :BRANCH_NOT_FOUND
        @test errcode(() -> delete_branch!(repo, "main")) in (:INVALID_ARGUMENT, :BRANCH_NOT_FOUND)
        store(s)["zarr.json"] = group_json()
        f = caught(() -> fork(s))                  # a session with changes cannot fork
        @test f isa IcechunkException
        @test errcode(() -> readonly_session(repo; tag = "missing")) === :TAG_NOT_FOUND
    end

    @testset "error details" begin
        repo = fresh_repo()
        e = try lookup_branch(repo, "ghost") catch e; e end
        @test e.status == 12
        @test e.details["code_name"] == "IC_ERR_BRANCH_NOT_FOUND"
        @test occursin("ghost", e.message)
        @test occursin("BRANCH_NOT_FOUND", sprint(showerror, e))
    end

    @testset "nothing leaks" begin
        for _ in 1:3
            GC.gc(true)
        end
        live = IcechunkGo.live_objects()
        @test live.buffers == 0                    # every string and buffer was released
    end
end
