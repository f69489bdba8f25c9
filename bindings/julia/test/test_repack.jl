# Repacking: twenty chunks set behind share one object; once sixteen are
# rewritten the tip uses a fifth of it, and a repack moves the other four
# out, with the data and the diff unchanged, so that expiring the history
# before the repack lets a collection free the object.

using Dates

@testset "repack chunks ($kind)" for kind in (:memory, :local)
    mktempdir() do dir
        storage = kind === :memory ? in_memory_storage(name = "repack") : local_filesystem_storage(joinpath(dir, "repo"))
        # chunks above 16 bytes are not inlined
        repo = create_repository(storage; config = Dict("inline_chunk_threshold" => 16))
        v1 = [rand(UInt8, 64) for _ in 1:20]
        v2 = [rand(UInt8, 64) for _ in 1:16]
        s = writable_session(repo, "main")
        st = store(s)
        st["zarr.json"] = group_json()
        st["a/zarr.json"] = array_json((1280,), (64,))
        for i in 0:19
            @test set_behind!(st, "a/c/$i", v1[i+1])
        end
        commit!(s, "twenty chunks in one object")
        s = writable_session(repo, "main")
        st = store(s)
        for i in 0:15
            st["a/c/$i"] = v2[i+1]
        end
        c2 = commit!(s, "sixteen rewritten")
        want = [i < 16 ? v2[i+1] : v1[i+1] for i in 0:19]
        holds(id) = (st = store(readonly_session(repo; snapshot_id = id)); all(st["a/c/$i"] == want[i+1] for i in 0:19))

        @test errcode(() -> repack_chunks!(repo; max_live_fraction = 1.5)) === :INVALID_ARGUMENT
        @test errcode(() -> repack_chunks!(repo; max_live_fraction = 0)) === :INVALID_ARGUMENT
        @test errcode(() -> repack_chunks!(repo; branch = "nope")) === :BRANCH_NOT_FOUND
        none = repack_chunks!(repo; max_live_fraction = 0.1)   # the object is a fifth used
        @test none.snapshot_id === nothing && none.objects_repacked == 0
        @test lookup_branch(repo, "main") == c2

        sleep(0.05)
        cutoff = Dates.now(Dates.UTC)
        sleep(0.05)
        dry = repack_chunks!(repo; dry_run = true)
        @test dry.dry_run && dry.snapshot_id === nothing && dry.objects_repacked == 1 && dry.bytes_freeable == 1024
        @test lookup_branch(repo, "main") == c2
        r = repack_chunks!(repo; message = "repack", metadata = Dict("why" => "julia"))
        @test !r.dry_run
        @test r isa RepackSummary
        @test startswith(repr(r), "RepackSummary(snapshot_id=")
        @test r.snapshot_id == lookup_branch(repo, "main")
        @test (r.objects_repacked, r.chunks_moved, r.bytes_moved, r.bytes_freeable) == (1, 4, 256, 1024)
        info = snapshot_info(repo, r.snapshot_id)
        @test info.message == "repack" && info.metadata["why"] == "julia"
        @test isempty(diff(repo; from_snapshot_id = c2, to_branch = "main").updated_chunks)
        @test holds(r.snapshot_id)

        expire_snapshots(repo, cutoff)
        g = garbage_collect(repo, Dates.now(Dates.UTC) + Dates.Hour(1))
        @test g.chunks_deleted == 1     # the shared object, and only it
        @test holds(r.snapshot_id)
    end
end
