# Anonymous snapshots (flush_snapshot!), snapshot inspection, chunk storage
# statistics and chunk types.

@testset "anonymous snapshots, inspection, statistics ($kind)" for kind in (:memory, :local)
    mktempdir() do dir
        storage = kind === :memory ? in_memory_storage(name = "flush") : local_filesystem_storage(joinpath(dir, "repo"))
        repo = create_repository(storage; config = Dict("inline_chunk_threshold" => 16))
        set_default_commit_metadata!(repo, Dict("tool" => "julia"))
        init = lookup_branch(repo, "main")
        @test chunk_storage_stats(repo) == ChunkStorageStats(0, 0, 0)

        s = writable_session(repo, "main")
        st = store(s)
        st["zarr.json"] = group_json()
        st["a/zarr.json"] = array_json((4, 4), (2, 2))
        big = rand(UInt8, 100)
        st["a/c/0/0"] = big
        st["a/c/0/1"] = UInt8[1, 2, 3]

        # chunk types, and what is no chunk at all
        @test chunk_type(s, "/a", (0, 0)) == ChunkType.Native
        @test chunk_type(s, "/a", [0, 1]) == ChunkType.Inline
        @test chunk_type(s, "/a", (1, 1)) == ChunkType.Uninitialized
        @test Int(ChunkType.Virtual) == 2
        @test errcode(() -> chunk_type(s, "/a", (2, 0))) === :INVALID_ARGUMENT
        @test errcode(() -> chunk_type(s, "/a", (0,))) === :INVALID_ARGUMENT
        @test errcode(() -> chunk_type(s, "/", (0, 0))) === :NOT_AN_ARRAY
        @test errcode(() -> chunk_type(s, "/nope", (0, 0))) === :NOT_FOUND

        # the flush: main stays where it was, the session is read-only at it
        snap = flush_snapshot!(s, "anonymous"; metadata = Dict("who" => "me"))
        @test length(snap) == 20
        @test lookup_branch(repo, "main") == init
        @test read_only(s)
        @test branch(s) === nothing
        @test snapshot_id(s) == snap
        @test !has_uncommitted_changes(s)
        @test errcode(() -> flush_snapshot!(s, "again")) === :READ_ONLY
        info = snapshot_info(repo, snap)
        @test info.message == "anonymous"
        @test info.parent_id == init
        @test info.metadata == Dict("tool" => "julia", "who" => "me")
        @test [a.id for a in ancestry(repo; snapshot_id = snap)] == [snap, init]
        ro = readonly_session(repo; snapshot_id = snap)
        @test get_chunk(ro, "/a", (0, 0)) == big
        @test chunk_type(ro, "/a", (0, 1)) == ChunkType.Inline

        # the snapshot file as stored
        d = inspect_snapshot(repo, snap)
        @test d["id"] == snap
        @test d["parent_id"] == init
        @test d["commit_message"] == "anonymous"
        @test d["metadata"] == Dict("tool" => "julia", "who" => "me")
        @test occursin(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", d["flushed_at"])
        @test length(d["manifests"]) == 1
        @test d["manifests"][1]["num_chunk_refs"] == 2
        @test d["manifests"][1]["size_bytes"] > 0
        @test [n["path"] for n in d["nodes"]] == ["/", "/a"]
        @test [n["node_type"] for n in d["nodes"]] == ["group", "array"]
        @test !haskey(d["nodes"][1], "manifest_refs")
        @test [m["id"] for m in d["nodes"][2]["manifest_refs"]] == [d["manifests"][1]["id"]]
        @test length(d["nodes"][2]["manifest_refs"][1]["extents"]) == 2
        @test !haskey(d, "history_cut")
        # the snapshot's description lists the same manifest files
        @test info.manifests == [ManifestFileInfo(d["manifests"][1]["id"], d["manifests"][1]["size_bytes"], 2)]
        @test isempty(snapshot_info(repo, init).manifests)
        @test inspect_snapshot(repo, init)["parent_id"] === nothing
        @test errcode(() -> inspect_snapshot(repo, "AAAAAAAAAAAAAAAAAAA0")) === :SNAPSHOT_NOT_FOUND
        @test errcode(() -> inspect_snapshot(repo, "nope")) === :INVALID_ARGUMENT

        # statistics count what a branch or tag reaches
        @test chunk_storage_stats(repo) == ChunkStorageStats(0, 0, 0)
        create_branch!(repo, "anon", snap)
        @test chunk_storage_stats(repo) == ChunkStorageStats(100, 0, 3)
        w = writable_session(repo, "anon")
        set_chunk!(w, "/a", (1, 0), rand(UInt8, 50))
        commit!(w, "more")
        # the first chunk counts once; the inline one once per manifest
        @test chunk_storage_stats(repo) == ChunkStorageStats(150, 0, 6)
        @test occursin("native_bytes=150", sprint(show, chunk_storage_stats(repo)))

        # nothing to flush; a fork cannot flush
        e = writable_session(repo, "anon")
        @test errcode(() -> flush_snapshot!(e, "empty")) === :NO_CHANGES
        @test !read_only(e)
        f = fork(e)
        set_chunk!(f, "/a", (1, 1), UInt8[9])
        @test errcode(() -> flush_snapshot!(f, "fork")) === :INVALID_ARGUMENT
        @test has_uncommitted_changes(f)
    end
end
