# Conflicts and rebase: ConflictError when the branch moved; rebase with
# ConflictDetector and BasicConflictSolver (each chunk policy, the delete
# flags); RebaseFailedError carrying the conflicts; commit with rebase_with;
# fork/merge and serialization.

"Two writable sessions on main of `repo`."
two(repo) = (writable_session(repo, "main"), writable_session(repo, "main"))

@testset "conflicts and rebase" begin
    @testset "ConflictError, then a clean rebase of disjoint changes" begin
        repo = fresh_repo()
        base = lookup_branch(repo, "main")
        s1, s2 = two(repo)
        store(s1)["a/c/0/0"] = chunk(1)
        store(s2)["a/c/1/1"] = chunk(2)
        tip = commit!(s1, "s1")
        e = caught(() -> commit!(s2, "s2"))
        @test e isa ConflictError
        @test e.expected_parent == base
        @test e.actual_parent == tip
        @test occursin("main", e.message)
        @test has_uncommitted_changes(s2)           # nothing was lost
        rebase!(s2, ConflictDetector())
        @test snapshot_id(s2) == tip
        id = commit!(s2, "s2")
        r = store(readonly_session(repo; snapshot_id = id))
        @test r["a/c/0/0"] == chunk(1)
        @test r["a/c/1/1"] == chunk(2)
    end

    @testset "ConflictDetector: a chunk written by both fails, listing it" begin
        repo = fresh_repo()
        s1, s2 = two(repo)
        store(s1)["a/c/0/1"] = chunk(1)
        store(s2)["a/c/0/1"] = chunk(2)
        store(s2)["a/c/1/0"] = chunk(2)
        theirs = commit!(s1, "theirs wrote 0/1")
        e = caught(() -> rebase!(s2, ConflictDetector()))
        @test e isa RebaseFailedError
        @test e.snapshot_id == theirs
        @test length(e.conflicts) == 1
        c = e.conflicts[1]
        @test c.kind == ConflictKind.ChunkDoubleUpdate
        @test c.kind_name == "ChunkDoubleUpdate"
        @test c.path == "/a"
        @test c.coords == [[0, 1]]
        @test c.commit_id == theirs
        @test c.commit_message == "theirs wrote 0/1"
        @test !isempty(c.sentence)
        @test occursin("/a", e.message)
        @test has_uncommitted_changes(s2)
        # and commit with rebase_with gives the same failure
        e2 = caught(() -> commit!(s2, "x"; rebase_with = ConflictDetector()))
        @test e2 isa RebaseFailedError
        @test e2.conflicts[1].coords == [[0, 1]]
    end

    @testset "BasicConflictSolver: $(sel)" for sel in (VersionSelection.UseOurs, VersionSelection.UseTheirs, VersionSelection.Fail)
        repo = fresh_repo()
        s1, s2 = two(repo)
        store(s1)["a/c/0/0"] = chunk(1)
        store(s1)["a/c/0/1"] = chunk(1)
        store(s2)["a/c/0/0"] = chunk(2)
        store(s2)["a/c/1/1"] = chunk(2)
        commit!(s1, "theirs")
        solver = BasicConflictSolver(on_chunk_conflict = sel)
        if sel == VersionSelection.Fail
            e = caught(() -> rebase!(s2, solver))
            @test e isa RebaseFailedError
            @test [c.kind for c in e.conflicts] == [ConflictKind.ChunkDoubleUpdate]
        else
            rebase!(s2, solver)
            id = commit!(s2, "ours")
            r = store(readonly_session(repo; snapshot_id = id))
            @test r["a/c/0/0"] == (sel == VersionSelection.UseOurs ? chunk(2) : chunk(1))
            @test r["a/c/0/1"] == chunk(1)
            @test r["a/c/1/1"] == chunk(2)
        end
    end

    @testset "commit! with rebase_with" begin
        repo = fresh_repo()
        s1, s2 = two(repo)
        store(s1)["a/c/0/0"] = chunk(1)
        store(s2)["a/c/0/0"] = chunk(2)
        store(s2)["a/c/1/0"] = chunk(2)
        t = commit!(s1, "theirs")
        id = commit!(s2, "ours"; rebase_with = BasicConflictSolver(on_chunk_conflict = VersionSelection.UseTheirs),
                     rebase_tries = 3)
        @test snapshot_info(repo, id).parent_id == t
        r = store(readonly_session(repo; branch = "main"))
        @test r["a/c/0/0"] == chunk(1)
        @test r["a/c/1/0"] == chunk(2)
    end

    @testset "delete of an updated array: kept by default, fails on request" begin
        for fail in (false, true)
            repo = fresh_repo()
            s1, s2 = two(repo)
            store(s1)["a/c/0/0"] = chunk(1)
            delete_array!(s2, "/a")
            commit!(s1, "theirs updated /a")
            solver = BasicConflictSolver(fail_on_delete_of_updated_array = fail)
            if fail
                e = caught(() -> rebase!(s2, solver))
                @test e isa RebaseFailedError
                @test [c.kind for c in e.conflicts] == [ConflictKind.DeleteOfUpdatedArray]
                @test e.conflicts[1].path == "/a"
                # the detector reports it too
                @test caught(() -> rebase!(s2, ConflictDetector())) isa RebaseFailedError
            else
                rebase!(s2, solver)
                commit!(s2, "deleted")
                @test store(readonly_session(repo; branch = "main"))["a/zarr.json"] === nothing
            end
        end
    end

    @testset "metadata updated by both: unsolvable" begin
        repo = fresh_repo()
        s1, s2 = two(repo)
        store(s1)["a/zarr.json"] = array_json((4, 4), (2, 2); attrs = """{"v":1}""")
        store(s2)["a/zarr.json"] = array_json((4, 4), (2, 2); attrs = """{"v":2}""")
        commit!(s1, "theirs")
        e = caught(() -> rebase!(s2, BasicConflictSolver()))
        @test e isa RebaseFailedError
        @test e.conflicts[1].kind == ConflictKind.ZarrMetadataDoubleUpdate
        @test e.conflicts[1].path == "/a"
    end

    @testset "new children in a group we delete" begin
        repo = fresh_repo()
        s = writable_session(repo, "main")
        store(s)["g/zarr.json"] = group_json()
        commit!(s, "group g")
        s1, s2 = two(repo)
        store(s1)["g/kid/zarr.json"] = group_json()
        delete_group!(s2, "/g")
        commit!(s1, "theirs added /g/kid")
        e = caught(() -> rebase!(s2, ConflictDetector()))
        @test e isa RebaseFailedError
        k = [c for c in e.conflicts if c.kind == ConflictKind.DeleteOfGroupWithNewChildren]
        @test length(k) == 1
        @test k[1].children == ["/g/kid"]
    end
end

@testset "fork, merge and serialization" begin
    repo = fresh_repo()
    s = writable_session(repo, "main")
    f1 = fork(s)
    f2 = fork(s)
    @test is_fork(f1)
    @test !is_fork(s)
    store(f1)["a/c/0/0"] = chunk(1)
    store(f2)["a/c/1/1"] = chunk(2)
    @test caught(() -> commit!(f1, "forks cannot commit")) isa IcechunkException

    # a fork travels as bytes (to another worker) and comes back
    b = to_bytes(f1)
    @test b isa Vector{UInt8} && !isempty(b)
    f1b = session_from_bytes(repo, b)
    @test is_fork(f1b)
    @test store(f1b)["a/c/0/0"] == chunk(1)
    merge!(s, f1b, f2)
    @test status(s).updated_chunks["/a"] == [[0, 0], [1, 1]]
    id = commit!(s, "merged")
    r = store(readonly_session(repo; snapshot_id = id))
    @test r["a/c/0/0"] == chunk(1)
    @test r["a/c/1/1"] == chunk(2)

    e = caught(() -> session_from_bytes(repo, UInt8[1, 2, 3]))
    @test e isa IcechunkError && e.code === :INVALID_SESSION_BYTES

    # a writable session with changes round-trips through bytes
    s3 = writable_session(repo, "main")
    store(s3)["a/c/0/1"] = chunk(5)
    s3b = session_from_bytes(repo, to_bytes(s3))
    @test has_uncommitted_changes(s3b)
    @test store(s3b)["a/c/0/1"] == chunk(5)
    commit!(s3b, "restored")
    @test store(readonly_session(repo; branch = "main"))["a/c/0/1"] == chunk(5)
end

@testset "cooperative writers in other processes (spawned, not forked)" begin
    mktempdir() do dir
        path = joinpath(dir, "repo")
        repo = create_repository(local_filesystem_storage(path))
        s = writable_session(repo, "main")
        st = store(s)
        st["zarr.json"] = group_json()
        st["a/zarr.json"] = array_json((4, 4), (2, 2))
        commit!(s, "setup")
        s = writable_session(repo, "main")
        write(joinpath(dir, "fork.bin"), to_bytes(fork(s)))
        code, out = run_julia("""
            using IcechunkGo
            repo = open_repository(local_filesystem_storage($(repr(path))))
            f = session_from_bytes(repo, read($(repr(joinpath(dir, "fork.bin")))))
            store(f)["a/c/1/0"] = fill(0x2a, 100)
            write($(repr(joinpath(dir, "back.bin"))), to_bytes(f))
            """)
        code == 0 || println(out)
        @test code == 0
        merge!(s, session_from_bytes(repo, read(joinpath(dir, "back.bin"))))
        commit!(s, "written by a worker process")
        @test store(readonly_session(repo; branch = "main"))["a/c/1/0"] == fill(0x2a, 100)
    end
end
