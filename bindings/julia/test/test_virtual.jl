# Virtual chunks in batches: the container check, pinned versions, whole
# batches refused, the distinct locations, their statistics.

@testset "virtual refs" begin
    mktempdir() do dir
        data = joinpath(dir, "data.bin")
        bytes = rand(UInt8, 100)
        write(data, bytes)
        repo = create_repository(in_memory_storage(name = "virtual"); config = Dict(
            "virtual_chunk_containers" => [Dict("name" => "files", "url_prefix" => "file://$dir/")]))
        s = writable_session(repo, "main")
        st = store(s)
        st["zarr.json"] = group_json()
        st["v/zarr.json"] = array_json((6, 4), (2, 2))
        loc = "file://$data"
        elsewhere = "s3://elsewhere/x"

        failed = set_virtual_refs!(s, "/v", [
            VirtualChunkSpec((0, 0), loc; offset = 10, length = 20),
            VirtualChunkSpec((0, 1), elsewhere; offset = 0, length = 5),
            VirtualChunkSpec([1, 0], loc; offset = 0, length = 5, last_modified = 0),
            VirtualChunkSpec((1, 1), loc; offset = 5, length = 5, etag = "\"abc\""),
        ])
        @test failed == [[0, 1]]
        @test get_chunk(s, "/v", (0, 0)) == bytes[11:30]
        @test get_chunk(s, "/v", (1, 0)) == bytes[1:5]
        @test chunk_type(s, "/v", (0, 1)) == ChunkType.Uninitialized
        @test chunk_type(s, "/v", (1, 1)) == ChunkType.Virtual
        # the ETag is kept and checked: local files have none to match
        @test errcode(() -> get_chunk(s, "/v", (1, 1))) === :VIRTUAL_CHUNK
        @test virtual_chunk_locations(s) == [loc]

        # without the container check the ref is set, and refused when read
        @test set_virtual_refs!(s, "/v", [VirtualChunkSpec((0, 1), elsewhere; offset = 0, length = 5)];
                                validate_containers = false) == Vector{Int}[]
        @test chunk_type(s, "/v", (0, 1)) == ChunkType.Virtual
        @test errcode(() -> get_chunk(s, "/v", (0, 1))) === :VIRTUAL_CHUNK
        @test virtual_chunk_locations(s) == sort([loc, elsewhere])

        # a bad entry anywhere sets nothing
        good = VirtualChunkSpec((2, 0), loc; offset = 0, length = 1)
        @test errcode(() -> set_virtual_refs!(s, "/v", [good, VirtualChunkSpec((3, 0), loc; offset = 0, length = 1)])) === :INVALID_INDEX
        @test errcode(() -> set_virtual_refs!(s, "/v", [good, VirtualChunkSpec((2,), loc; offset = 0, length = 1)])) === :INVALID_INDEX
        @test errcode(() -> set_virtual_refs!(s, "/v", [good, VirtualChunkSpec((2, 1), ""; offset = 0, length = 1)])) === :INVALID_ARGUMENT
        @test chunk_type(s, "/v", (2, 0)) == ChunkType.Uninitialized
        @test set_virtual_refs!(s, "/v", VirtualChunkSpec[]) == Vector{Int}[]
        @test errcode(() -> set_virtual_refs!(s, "/", VirtualChunkSpec[])) === :NOT_AN_ARRAY
        @test_throws InexactError VirtualChunkSpec((0, 0), loc; offset = -1, length = 1)

        snap = commit!(s, "virtual")
        ro = readonly_session(repo; snapshot_id = snap)
        @test get_chunk(ro, "/v", (0, 0)) == bytes[11:30]
        @test errcode(() -> get_chunk(ro, "/v", (1, 1))) === :VIRTUAL_CHUNK
        @test virtual_chunk_locations(ro) == sort([loc, elsewhere])
        @test errcode(() -> set_virtual_refs!(ro, "/v", VirtualChunkSpec[])) === :READ_ONLY
        @test chunk_storage_stats(repo) == ChunkStorageStats(0, 20 + 5 + 5 + 5, 0)
    end
end
