# Round trip: create, write chunks and metadata by key, commit, tag, read
# back at the tag and elsewhere; refs, history, diff.

@testset "round trip ($kind)" for kind in (:memory, :local)
    mktempdir() do dir
        path = joinpath(dir, "repo")
        storage = kind === :memory ? in_memory_storage(name = "rt") : local_filesystem_storage(path)
        @test occursin(kind === :memory ? "memory" : path, describe(storage))
        @test !repository_exists(storage)
        repo = create_repository(storage)
        @test repository_exists(storage)
        @test list_branches(repo) == ["main"]
        @test list_tags(repo) == String[]
        init = lookup_branch(repo, "main")

        s = writable_session(repo, "main")
        @test branch(s) == "main"
        @test snapshot_id(s) == init
        @test !read_only(s)
        @test !has_uncommitted_changes(s)
        st = store(s)
        st["zarr.json"] = group_json()
        st["data/zarr.json"] = group_json()
        st["data/temp/zarr.json"] = array_json((4, 6), (2, 3); attrs = """{"units":"K"}""")
        v1 = Dict{String,Vector{UInt8}}()
        for i in 0:1, j in 0:1
            k = "data/temp/c/$i/$j"
            # small chunks live in the manifest, large ones in their own objects
            v1[k] = rand(UInt8, i == j ? 6 : 4096)
            st[k] = v1[k]
        end
        @test has_uncommitted_changes(s)
        d = status(s)
        @test d.new_groups == ["/", "/data"]
        @test d.new_arrays == ["/data/temp"]
        @test d.updated_chunks["/data/temp"] == [[0, 0], [0, 1], [1, 0], [1, 1]]
        @test !isempty(d)

        snap1 = commit!(s, "first data"; metadata = Dict("author" => "julia"))
        @test length(snap1) == 20
        @test read_only(s)
        @test snapshot_id(s) == snap1
        @test !has_uncommitted_changes(s)
        @test lookup_branch(repo, "main") == snap1
        create_tag!(repo, "v1", snap1)

        s2 = writable_session(repo, "main")
        st2 = store(s2)
        new00 = rand(UInt8, 4096)
        st2["data/temp/c/0/0"] = new00
        delete!(st2, "data/temp/c/1/1")
        st2["data/temp/zarr.json"] = array_json((4, 6), (2, 3); attrs = """{"units":"C"}""")
        st2["data/other/zarr.json"] = group_json()
        snap2 = commit!(s2, "second")

        # read back at the tag: the first version
        ro = readonly_session(repo; tag = "v1")
        @test read_only(ro)
        @test branch(ro) === nothing
        @test snapshot_id(ro) == snap1
        rst = store(ro)
        for (k, v) in v1
            @test rst[k] == v
        end
        @test occursin("\"K\"", String(rst["data/temp/zarr.json"]))
        @test rst["data/other/zarr.json"] === nothing
        @test sort(keys(rst)) == sort(vcat(collect(keys(v1)), ["zarr.json", "data/zarr.json", "data/temp/zarr.json"]))

        # and at the branch: the second
        for ro2 in (readonly_session(repo; branch = "main"), readonly_session(repo; snapshot_id = snap2))
            r2 = store(ro2)
            @test r2["data/temp/c/0/0"] == new00
            @test r2["data/temp/c/1/1"] === nothing
            @test r2["data/temp/c/0/1"] == v1["data/temp/c/0/1"]
            @test occursin("\"C\"", String(r2["data/temp/zarr.json"]))
            @test r2["data/other/zarr.json"] !== nothing
            # byte ranges
            @test r2["data/temp/c/0/1", 10:19] == v1["data/temp/c/0/1"][11:20]
            @test r2["data/temp/c/0/1", ByteRange(100, 104)] == v1["data/temp/c/0/1"][101:104]
            @test r2["data/temp/c/0/1", ByteRange(start = 4090)] == v1["data/temp/c/0/1"][4091:end]
            @test r2["data/temp/c/0/1", ByteRange(suffix = 3)] == v1["data/temp/c/0/1"][end-2:end]
        end

        # history
        anc = ancestry(repo; branch = "main")
        @test [a.id for a in anc] == [snap2, snap1, init]
        @test anc[1].parent_id == snap1
        @test anc[end].parent_id === nothing
        @test anc[2].message == "first data"
        @test anc[2].metadata["author"] == "julia"
        @test anc[1].written_at >= anc[2].written_at
        @test [a.id for a in ancestry(repo; tag = "v1")] == [snap1, init]
        @test length(ancestry(repo; branch = "main", limit = 2)) == 2
        @test ancestry(repo; branch = "main", as_of = anc[2].written_at_unix_nanos)[1].id == snap1
        @test snapshot_info(repo, snap1).message == "first data"
        @test resolve(repo; tag = "v1") == snap1
        @test resolve(repo; branch = "main") == snap2

        # diff
        df = diff(repo; from_tag = "v1", to_branch = "main")
        @test df.new_groups == ["/data/other"]
        @test df.updated_arrays == ["/data/temp"]
        @test df.updated_chunks["/data/temp"] == [[0, 0], [1, 1]]
        @test isempty(diff(repo; from_snapshot_id = snap2, to_branch = "main"))
        e = try diff(repo; from_branch = "main", to_tag = "v1"); nothing catch e; e end
        @test e isa IcechunkError && e.code === :BAD_SNAPSHOT_CHAIN

        # branches and tags
        create_branch!(repo, "dev", snap1)
        @test list_branches(repo) == ["dev", "main"]
        @test lookup_branch(repo, "dev") == snap1
        reset_branch!(repo, "dev", snap2; expected_tip = snap1)
        @test lookup_branch(repo, "dev") == snap2
        @test_throws ConflictError reset_branch!(repo, "dev", snap1; expected_tip = snap1)
        sd = writable_session(repo, "dev")
        store(sd)["data/dev/zarr.json"] = group_json()
        sdev = commit!(sd, "on dev")
        @test lookup_branch(repo, "main") == snap2
        @test store(readonly_session(repo; branch = "dev"))["data/dev/zarr.json"] !== nothing
        delete_branch!(repo, "dev")
        @test list_branches(repo) == ["main"]
        create_tag!(repo, "v2", snap2)
        @test list_tags(repo) == ["v1", "v2"]
        @test lookup_tag(repo, "v2") == snap2
        delete_tag!(repo, "v2")
        @test list_tags(repo) == ["v1"]
        e = try create_tag!(repo, "v2", snap2); nothing catch e; e end
        @test e isa IcechunkError && e.code === :TAG_EXISTS

        # reopen through another storage handle
        storage2 = kind === :memory ? storage : local_filesystem_storage(path)
        repo2 = open_repository(storage2)
        @test lookup_branch(repo2, "main") == snap2
        @test store(readonly_session(repo2; tag = "v1"))["data/temp/c/1/1"] == v1["data/temp/c/1/1"]
        @test open_or_create_repository(storage2) isa Repository
    end
end

@testset "configuration and commit metadata" begin
    storage = in_memory_storage()
    repo = create_repository(storage; config = Dict("inline_chunk_threshold" => 16))
    c = config(repo)
    @test c["inline_chunk_threshold"] == 16
    @test haskey(c, "disable_transaction_logs")
    set_config!(repo, (manifest_block_chunks = 1000,))
    # stored for handles opened afterwards
    @test config(open_repository(storage))["manifest_block_chunks"] == 1000
    @test config(open_repository(storage))["inline_chunk_threshold"] == 16
    # used by one handle only, not stored
    other = open_repository(storage)
    use_config!(other, Dict("inline_chunk_threshold" => 3))
    @test config(other)["inline_chunk_threshold"] == 3
    @test config(open_repository(storage))["inline_chunk_threshold"] == 16
    @test_throws IcechunkError use_config!(other, Dict("manifest_block_chunks" => 0))
    # or given at open: used by that handle, not stored
    opened = open_repository(storage; config = Dict("inline_chunk_threshold" => 5))
    @test config(opened)["inline_chunk_threshold"] == 5
    @test config(open_repository(storage))["inline_chunk_threshold"] == 16
    @test caught(() -> open_repository(storage; config = Dict("inline_chunk_threshold" => -1))).code === :INVALID_ARGUMENT
    # storage settings: retries and S3 storage classes, overlaid field by field
    @test !haskey(c, "storage")
    set_config!(repo, Dict("storage" => Dict("retries" => Dict("max_tries" => 2), "chunks_storage_class" => "STANDARD_IA")))
    set_config!(repo, Dict("storage" => Dict("storage_class" => "STANDARD")))
    @test config(open_repository(storage))["storage"] == Dict("retries" => Dict("max_tries" => 2),
        "storage_class" => "STANDARD", "chunks_storage_class" => "STANDARD_IA")
    @test_throws IcechunkError set_config!(repo, Dict("storage" => Dict("storage_class" => "standard ia")))
    # how large chunk reads are split into ranged reads run at once, stored with the config
    set_config!(repo, Dict("storage" => Dict("concurrency" => Dict("ideal_concurrent_request_size" => 4))))
    @test config(open_repository(storage))["storage"]["concurrency"] == Dict("ideal_concurrent_request_size" => 4)
    @test_throws IcechunkError set_config!(repo, Dict("storage" => Dict("concurrency" => Dict("max_concurrent_requests_for_object" => 70000))))
    # the size from which objects go to S3 as multipart uploads, stored with the config
    set_config!(repo, Dict("storage" => Dict("minimum_size_for_multipart_upload" => 16 * 1024 * 1024)))
    @test config(open_repository(storage))["storage"]["minimum_size_for_multipart_upload"] == 16 * 1024 * 1024
    @test_throws IcechunkError set_config!(repo, Dict("storage" => Dict("minimum_size_for_multipart_upload" => -1)))
    # create-only writes checked, written and read back, for stores without them
    set_config!(repo, Dict("storage" => Dict("unsafe_use_conditional_create" => false, "unsafe_use_metadata" => false)))
    @test config(open_repository(storage))["storage"]["unsafe_use_conditional_create"] == false
    @test !haskey(config(repo)["storage"], "unsafe_use_metadata")
    set_config!(repo, Dict("storage" => nothing))
    @test !haskey(config(repo), "storage")
    # the zstd level of the metadata files written from then on
    set_config!(repo, Dict("compression" => Dict("level" => 12)))
    @test config(open_repository(storage))["compression"] == Dict("algorithm" => "zstd", "level" => 12)
    @test_throws IcechunkError set_config!(repo, Dict("compression" => Dict("level" => 30)))
    # upstream's cache bounds in counts, and a bound on requests in flight
    set_config!(repo, Dict("caching" => Dict("num_chunk_refs" => 1000), "max_concurrent_requests" => 4))
    c2 = config(open_repository(storage))
    @test c2["caching"] == Dict("num_chunk_refs" => 1000)
    @test c2["max_concurrent_requests"] == 4
    @test_throws IcechunkError set_config!(repo, Dict("caching" => Dict("num_bytes_chunks" => 1024)))
    set_config!(repo, Dict("caching" => nothing, "max_concurrent_requests" => 0))
    @test !haskey(config(repo), "caching") && !haskey(config(repo), "max_concurrent_requests")
    set_default_commit_metadata!(repo, Dict("team" => "ice", "n" => 1))
    @test default_commit_metadata(repo) == Dict("team" => "ice", "n" => 1)
    s = writable_session(repo, "main")
    store(s)["zarr.json"] = group_json()
    id = commit!(s, "with metadata"; metadata = Dict("n" => 2))
    md = snapshot_info(repo, id).metadata
    @test md["team"] == "ice"
    @test md["n"] == 2
end

@testset "manifest splitting and rewrite_manifests!" begin
    split_every(n) = Dict("manifest" => Dict("splitting" => [Dict("if" => Dict("op" => "any_array"),
        "dims" => [Dict("kind" => "any", "chunks" => n)])]))
    storage = in_memory_storage()
    repo = create_repository(storage; config = split_every(1))
    s = writable_session(repo, "main")
    store(s)["zarr.json"] = group_json()
    store(s)["a/zarr.json"] = array_json((10,), (1,))
    for i in 1:4
        store(s)["a/c/$i"] = UInt8[i]
    end
    first = commit!(s, "split by one")
    refs(id) = sort([m.num_chunk_refs for m in snapshot_info(repo, id).manifests])
    @test refs(first) == [1, 1, 1, 1]
    @test config(open_repository(storage))["manifest"]["splitting"][1]["dims"][1]["chunks"] == 1
    use_config!(repo, split_every(3))
    id = rewrite_manifests!(repo, "blocks of three"; branch = "main", metadata = Dict("by" => "julia"))
    @test lookup_branch(repo, "main") == id
    @test refs(id) == [2, 2]  # chunks 1..4: [0, 3) holds 1 and 2, [3, 6) 3 and 4
    md = snapshot_info(repo, id).metadata
    @test md["by"] == "julia"
    @test md["splitting_config"][1]["dims"][1]["chunks"] == 3
    @test store(readonly_session(repo; branch = "main"))["a/c/4"] == UInt8[4]
    @test_throws IcechunkError rewrite_manifests!(repo, "x"; branch = "nope")
    @test_throws IcechunkError use_config!(repo, Dict("manifest" => Dict("preload" => Dict("if" => Dict("op" => "any_array")))))
end

@testset "nodes and chunks through the session" begin
    repo = create_repository(in_memory_storage())
    s = writable_session(repo, "main")
    add_group!(s, "/", group_json())
    add_group!(s, "/g", Dict("zarr_format" => 3, "node_type" => "group", "attributes" => Dict("x" => 1)))
    add_array!(s, "/g/arr"; shape = (6, 4), chunk_shape = (2, 2), dimension_names = ["y", nothing],
               zarr_json = array_json((6, 4), (2, 2)))
    n = get_node(s, "/g/arr")
    @test n["type"] == "array"
    @test n["shape"] == [6, 4]
    @test n["chunk_shape"] == [2, 2]
    @test n["dimension_names"] == ["y", ""] || n["dimension_names"] == ["y", nothing]
    @test get_node(s, "/g")["zarr_metadata"]["attributes"]["x"] == 1
    @test [x["path"] for x in list_nodes(s)] == ["/", "/g", "/g/arr"]
    e = try add_group!(s, "/g", group_json()); nothing catch e; e end
    @test e isa IcechunkError && e.code === :ALREADY_EXISTS

    for i in 0:2, j in 0:1
        set_chunk!(s, "/g/arr", (i, j), chunk(10i + j))
    end
    @test get_chunk(s, "/g/arr", (2, 1)) == chunk(21)
    @test get_chunk(s, "/g/arr", [1, 0]; range = 1:2) == chunk(10, 2)
    @test store(s)["g/arr/c/2/1"] == chunk(21)     # the same chunk, by key
    @test chunk_coordinates(s, "/g/arr") == [[i, j] for i in 0:2 for j in 0:1]
    delete_chunks!(s, "/g/arr", [(0, 0), (2, 1)])
    @test get_chunk(s, "/g/arr", (0, 0)) === nothing
    @test length(chunk_coordinates(s, "/g/arr")) == 4
    e = try set_chunk!(s, "/g/arr", (3, 0), chunk(1)); nothing catch e; e end
    @test e isa IcechunkError && e.code === :INVALID_INDEX

    update_array!(s, "/g/arr"; shape = (2, 4), chunk_shape = (2, 2), zarr_json = array_json((2, 4), (2, 2)))
    @test get_node(s, "/g/arr")["shape"] == [2, 4]
    @test chunk_coordinates(s, "/g/arr") == [[0, 1]]
    update_group!(s, "/g", group_json())
    commit!(s, "nodes")

    s = writable_session(repo, "main")
    delete_array!(s, "/g/arr")
    delete_array!(s, "/g/nothing-here")
    @test status(s).deleted_arrays == ["/g/arr"]
    discard_changes!(s)
    @test !has_uncommitted_changes(s)
    delete_node!(s, "/g")
    @test status(s).deleted_groups == ["/g"]
    e = try get_node(s, "/g"); nothing catch e; e end
    @test e isa IcechunkError && e.code === :NOT_FOUND
    delete_group!(s, "/")
    commit!(s, "emptied")
    @test isempty(list_nodes(readonly_session(repo; branch = "main")))
end
