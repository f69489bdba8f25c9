# Shared by the test files.

const REPO_ROOT = normpath(joinpath(@__DIR__, "..", "..", ".."))
const HEADER = joinpath(REPO_ROOT, "include", "icechunk.h")
const PKGDIR = normpath(joinpath(@__DIR__, ".."))

group_json() = """{"zarr_format":3,"node_type":"group","attributes":{}}"""

function array_json(shape, chunks; dtype = "uint8", attrs = "{}")
    """{"zarr_format":3,"node_type":"array","shape":$(collect(shape)),"data_type":"$dtype",""" *
    """"chunk_grid":{"name":"regular","configuration":{"chunk_shape":$(collect(chunks))}},""" *
    """"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},""" *
    """"fill_value":0,"codecs":[{"name":"bytes","configuration":{}}],"attributes":$attrs}"""
end

"A repository on a fresh in-memory storage, with group / and array /a (4x4, chunks 2x2)."
function fresh_repo(; name = "test", config = nothing)
    repo = create_repository(in_memory_storage(name = name); config = config)
    s = writable_session(repo, "main")
    st = store(s)
    st["zarr.json"] = group_json()
    st["a/zarr.json"] = array_json((4, 4), (2, 2))
    commit!(s, "setup")
    return repo
end

chunk(x::Integer, n::Integer = 4) = fill(UInt8(x), n)

"""
Runs `code` in a fresh Julia process on this package (with `env`
additions); returns (exit code, stdout+stderr).
"""
function run_julia(code::AbstractString; env = Dict{String,String}(), threads = nothing)
    cmd = `$(Base.julia_cmd()) --startup-file=no --project=$PKGDIR -e $code`
    e = copy(ENV)
    for (k, v) in env
        e[k] = v
    end
    threads === nothing || (e["JULIA_NUM_THREADS"] = string(threads))
    out = IOBuffer()
    p = run(pipeline(ignorestatus(setenv(cmd, e)); stdout = out, stderr = out))
    return p.exitcode, String(take!(out))
end

"The exception `f()` throws, or `nothing`."
caught(f) = try f(); nothing catch e; e end

"The IcechunkError code `f()` throws (rethrows anything else; :no_error if nothing)."
function errcode(f)
    try
        f()
    catch e
        e isa IcechunkError && return e.code
        rethrow()
    end
    return :no_error
end
