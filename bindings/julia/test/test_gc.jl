# Garbage collection: a deleted branch's commit is collected once its
# objects are older than the cutoff; main's history and data are untouched.

using Dates

const GC_COUNTS = (:snapshots_deleted, :manifests_deleted, :transaction_logs_deleted,
                   :chunks_deleted, :bytes_deleted)

nothing_collected(g::GCSummary) = all(f -> getfield(g, f) == 0, GC_COUNTS)

@testset "garbage collection ($kind)" for kind in (:memory, :local)
    mktempdir() do dir
        storage = kind === :memory ? in_memory_storage(name = "gc") : local_filesystem_storage(joinpath(dir, "repo"))
        # chunks above 16 bytes are objects of their own
        repo = create_repository(storage; config = Dict("inline_chunk_threshold" => 16))
        s = writable_session(repo, "main")
        st = store(s)
        st["zarr.json"] = group_json()
        st["a/zarr.json"] = array_json((4, 4), (2, 2); dtype = "float64")
        mainv = Dict("a/c/$i/$j" => rand(UInt8, 32) for i in 0:1 for j in 0:1)
        for (k, v) in mainv
            st[k] = v
        end
        tip = commit!(s, "main data")

        # a branch with a commit of its own, then deleted
        create_branch!(repo, "scratch", tip)
        sb = writable_session(repo, "scratch")
        side = rand(UInt8, 32)
        store(sb)["a/c/1/0"] = side
        store(sb)["a/c/1/1"] = side
        gone = commit!(sb, "on scratch")
        delete_branch!(repo, "scratch")

        # a cutoff an hour ago: everything is younger, nothing goes
        past = Dates.now(Dates.UTC) - Dates.Hour(1)
        g = garbage_collect(repo, past)
        @test g isa GCSummary
        @test nothing_collected(g)
        @test !g.dry_run
        g = garbage_collect(repo, past; dry_run = true)
        @test nothing_collected(g)
        @test g.dry_run

        # a cutoff an hour ahead: the dry run counts and deletes nothing
        future = Dates.now(Dates.UTC) + Dates.Hour(1)
        dry = garbage_collect(repo, future; dry_run = true)
        @test dry.dry_run
        @test dry.snapshots_deleted >= 1
        @test dry.transaction_logs_deleted >= 1
        @test dry.manifests_deleted >= 1
        @test dry.chunks_deleted >= 1
        @test dry.bytes_deleted >= 32
        old = readonly_session(repo; snapshot_id = gone)    # kept open across the real run
        @test store(old)["a/c/1/0"] == side

        # the real run deletes what the dry run counted
        real = garbage_collect(repo, future)
        @test !real.dry_run
        @test all(f -> getfield(real, f) == getfield(dry, f), GC_COUNTS)
        @test occursin("snapshots_deleted=$(real.snapshots_deleted)", sprint(show, real))

        # a session opened at the collected snapshot fails on its next read
        # of a deleted object
        @test caught(() -> store(old)["a/c/1/0"]) isa IcechunkError

        # the collected snapshot no longer opens, through a new handle or
        # the one that collected (which had it cached from its commit)
        repo2 = open_repository(storage)
        for r in (repo2, repo)
            e = caught(() -> readonly_session(r; snapshot_id = gone))
            @test e isa IcechunkError && e.code === :SNAPSHOT_NOT_FOUND
            @test errcode(() -> snapshot_info(r, gone)) === :SNAPSHOT_NOT_FOUND
        end

        # main reads back whole, through either handle
        for r in (repo, repo2)
            ro = store(readonly_session(r; branch = "main"))
            for (k, v) in mainv
                @test ro[k] == v
            end
            @test [a.id for a in ancestry(r; branch = "main")][1] == tip
            @test length(ancestry(r; branch = "main")) == 2
        end
        @test list_branches(repo2) == ["main"]

        # nothing is left to collect
        again = garbage_collect(repo, future)
        @test nothing_collected(again)
        @test !again.dry_run
        @test nothing_collected(garbage_collect(repo2, future; dry_run = true))
    end
end

@testset "garbage collection: bad arguments" begin
    repo = fresh_repo()
    # the cutoff must be after 1970 (a DateTime is read as UTC)
    @test errcode(() -> garbage_collect(repo, DateTime(1970))) === :INVALID_ARGUMENT
    @test errcode(() -> garbage_collect(repo, DateTime(1969, 12, 31); dry_run = true)) === :INVALID_ARGUMENT
    @test IcechunkGo._unix_nanos(DateTime(1970, 1, 1, 0, 0, 0, 1)) == 1_000_000
    @test IcechunkGo._unix_nanos(DateTime(2024, 1, 2, 3, 4, 5, 678)) == 1_704_164_645_678_000_000
    @test nothing_collected(garbage_collect(repo, DateTime(1970, 1, 1, 0, 0, 0, 1)))
    # a time Unix nanoseconds in an Int64 cannot hold is refused, not wrapped
    @test_throws ArgumentError garbage_collect(repo, DateTime(2300))
    close(repo)
    @test errcode(() -> garbage_collect(repo, Dates.now(Dates.UTC))) === :INVALID_HANDLE
    forged = IcechunkGo.Repository(UInt64(0x00ff00ff00ff00ff))
    @test errcode(() -> garbage_collect(forged, Dates.now(Dates.UTC); dry_run = true)) === :INVALID_HANDLE
    close(forged)
end
