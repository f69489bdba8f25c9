# Expiring history: two old commits on main (a branch at the first, a tag at
# the second), a cutoff, two new commits. Expiration cuts the old ones out of
# main's history and deletes nothing; the branch and tag keep them until the
# expiration's flags delete them; garbage collection then deletes them and
# the chunks only they use.

using Dates

ids(infos) = [i.id for i in infos]

@testset "expire snapshots ($kind)" for kind in (:memory, :local)
    mktempdir() do dir
        storage = kind === :memory ? in_memory_storage(name = "expire") : local_filesystem_storage(joinpath(dir, "repo"))
        # chunks above 16 bytes are objects of their own
        repo = create_repository(storage; config = Dict("inline_chunk_threshold" => 16))
        initial = resolve(repo; branch = "main")
        v = [rand(UInt8, 32) for _ in 1:6]
        # what each commit writes; states[i]: what the array holds after commit i
        writes = [Dict("a/c/0/0" => v[1], "a/c/0/1" => v[2]), Dict("a/c/0/0" => v[3], "a/c/1/0" => v[4]),
                  Dict("a/c/0/1" => v[5]), Dict("a/c/1/1" => v[6])]
        states = accumulate(merge, writes)
        function commit_chunks(i)
            s = writable_session(repo, "main")
            st = store(s)
            if i == 1
                st["zarr.json"] = group_json()
                st["a/zarr.json"] = array_json((4, 4), (2, 2); dtype = "float64")
            end
            for (k, x) in writes[i]
                st[k] = x
            end
            commit!(s, "commit $i")
        end
        # the array at a snapshot holds exactly state (absent chunks: nothing)
        function holds(id, state)
            st = store(readonly_session(repo; snapshot_id = id))
            all(st["a/c/$i/$j"] == get(state, "a/c/$i/$j", nothing) for i in 0:1 for j in 0:1)
        end

        o1 = commit_chunks(1)
        o2 = commit_chunks(2)
        create_branch!(repo, "stale", o1)
        create_tag!(repo, "old", o2)
        sleep(0.05)
        cutoff = Dates.now(Dates.UTC)
        sleep(0.05)
        n3 = commit_chunks(3)
        n4 = commit_chunks(4)
        @test ids(ancestry(repo; branch = "main")) == [n4, n3, o2, o1, initial]

        # a cutoff an hour ago: nothing is older, nothing changes, whatever the flags
        past = Dates.now(Dates.UTC) - Dates.Hour(1)
        for b in (false, true), t in (false, true)
            e = expire_snapshots(repo, past; delete_expired_branches = b, delete_expired_tags = t)
            @test e isa Set{String}
            @test isempty(e)
        end
        @test ids(ancestry(repo; branch = "main")) == [n4, n3, o2, o1, initial]

        # at the cutoff: o1 and o2 are expired, n3 (main's oldest kept
        # snapshot) now has the initial snapshot as parent; the branch and
        # the tag at expired snapshots stay, with their snapshots but not
        # the history behind them (o2's parent is now the initial snapshot)
        expired = expire_snapshots(repo, cutoff)
        @test expired isa Set{String}
        @test expired == Set([o1, o2])
        @test ids(ancestry(repo; branch = "main")) == [n4, n3, initial]
        @test snapshot_info(repo, n3).parent_id == initial
        @test ids(ancestry(repo; branch = "stale")) == [o1, initial]
        @test ids(ancestry(repo; tag = "old")) == [o2, initial]
        @test list_branches(repo) == ["main", "stale"]
        @test list_tags(repo) == ["old"]

        # a diff across the rewritten snapshot fails; one after it works
        @test errcode(() -> diff(repo; from_snapshot_id = initial, to_branch = "main")) === :BAD_SNAPSHOT_CHAIN
        d = diff(repo; from_snapshot_id = n3, to_branch = "main")
        @test d.updated_chunks == Dict("/a" => [[1, 1]])

        # ids and contents did not change
        for (id, state) in zip((o1, o2, n3, n4), states)
            @test holds(id, state)
        end

        # the branch and the tag still reach o1 and o2: no snapshot to collect
        future = Dates.now(Dates.UTC) + Dates.Hour(1)
        @test garbage_collect(repo, future).snapshots_deleted == 0
        @test holds(o1, states[1])

        # expiring again with both flags deletes the branch and the tag
        # (main stays)
        expire_snapshots(repo, cutoff; delete_expired_branches = true, delete_expired_tags = true)
        @test list_branches(repo) == ["main"]
        @test isempty(list_tags(repo))

        # now garbage collection deletes o1 and o2 and the chunks only they name
        g = garbage_collect(repo, future)
        @test g.snapshots_deleted == 2
        @test g.chunks_deleted >= 1
        @test errcode(() -> readonly_session(repo; snapshot_id = o1)) === :SNAPSHOT_NOT_FOUND
        @test errcode(() -> readonly_session(repo; snapshot_id = o2)) === :SNAPSHOT_NOT_FOUND
        @test holds(n3, states[3])
        @test holds(n4, states[4])
        @test ids(ancestry(repo; branch = "main")) == [n4, n3, initial]

        # a new handle sees the same
        repo2 = open_repository(storage)
        @test ids(ancestry(repo2; branch = "main")) == [n4, n3, initial]
        @test errcode(() -> readonly_session(repo2; snapshot_id = o1)) === :SNAPSHOT_NOT_FOUND
        close(repo2)
        close(repo)
    end
end

@testset "expire snapshots: bad arguments" begin
    repo = fresh_repo()
    # the cutoff must be after 1970 (a DateTime is read as UTC)
    @test errcode(() -> expire_snapshots(repo, DateTime(1970))) === :INVALID_ARGUMENT
    @test errcode(() -> expire_snapshots(repo, DateTime(1969, 12, 31); delete_expired_branches = true,
                                         delete_expired_tags = true)) === :INVALID_ARGUMENT
    @test isempty(expire_snapshots(repo, DateTime(1970, 1, 1, 0, 0, 0, 1)))
    # a time Unix nanoseconds in an Int64 cannot hold is refused, not wrapped
    @test_throws ArgumentError expire_snapshots(repo, DateTime(2300))
    close(repo)
    @test errcode(() -> expire_snapshots(repo, Dates.now(Dates.UTC))) === :INVALID_HANDLE
    forged = IcechunkGo.Repository(UInt64(0x00ff00ff00ff00ff))
    @test errcode(() -> expire_snapshots(forged, Dates.now(Dates.UTC); delete_expired_tags = true)) === :INVALID_HANDLE
    close(forged)
end
