# Storages: where a repository lives.

"""
    Storage

Where repositories live: memory, a local directory or an S3 bucket. Create
one with [`in_memory_storage`](@ref), [`local_filesystem_storage`](@ref) or
[`s3_storage`](@ref). Thread-safe; one storage may back many repositories.
"""
mutable struct Storage <: Handle
    h::Threads.Atomic{UInt64}
    Storage(h::UInt64) = _init_handle!(new(Threads.Atomic{UInt64}(h)))
end
_free(::Storage, h::UInt64) = @ic(:ic_storage_free, Int32, (UInt64,), h)

function _new_storage(f)
    out = Ref{UInt64}(0)
    err = Ref{UInt64}(0)
    _check(f(out, err), err)
    return Storage(out[])
end

"""
    in_memory_storage(; name=nothing) -> Storage

A new, empty storage in memory; `name` appears in messages. Its contents
live as long as a storage, repository or session uses it.
"""
in_memory_storage(; name::Union{Nothing,AbstractString} = nothing) =
    _new_storage((out, err) -> @ic(:ic_storage_new_memory, Int32,
        (Cstring, Ref{UInt64}, Ref{UInt64}), _cstr(name), out, err))

"""
    local_filesystem_storage(path) -> Storage

A storage in the local directory `path`, created with its parents if
missing. Safe for concurrent writers, in this process and others.
"""
local_filesystem_storage(path::AbstractString) =
    _new_storage((out, err) -> @ic(:ic_storage_new_local, Int32,
        (Cstring, Ref{UInt64}, Ref{UInt64}), path, out, err))

"""
    http_storage(url; options=nothing) -> Storage

A read-only storage of the files a web server publishes under `url` (an
`http://` or `https://` folder URL), for virtual chunk containers
(`set_virtual_chunk_storage!`). Reads are ranged GETs, pinned to a
reference's ETag or time; busy answers and dropped connections are retried.
A repository cannot live in one. Another scheme, no host, a query or a
fragment throws `IcechunkError(:INVALID_ARGUMENT)`.

`options` are upstream's HTTP client options, a dict of strings: `timeout`
and `connect_timeout` (`"30s"`, `"2min 30s"`), `user_agent`,
`allow_invalid_certificates`, `allow_http`, `proxy_url`,
`pool_idle_timeout`, `pool_max_idle_per_host`, `http1_only`. An unknown
key or a value that does not parse throws
`IcechunkError(:INVALID_ARGUMENT)`.
"""
function http_storage(url::AbstractString; options::Union{Nothing,AbstractDict}=nothing)
    options === nothing && return _new_storage((out, err) -> @ic(:ic_storage_new_http, Int32,
        (Cstring, Ref{UInt64}, Ref{UInt64}), url, out, err))
    js = JSON.write_json(options)
    return _new_storage((out, err) -> @ic(:ic_storage_new_http_options, Int32,
        (Cstring, Cstring, Ref{UInt64}, Ref{UInt64}), url, js, out, err))
end

"""
    s3_storage(; bucket, prefix="", region="", endpoint_url="",
               allow_http=false, force_path_style=false,
               access_key_id=nothing, secret_access_key=nothing,
               session_token=nothing, from_env=false, anonymous=false,
               max_connections=0) -> Storage

A storage in an S3 bucket (AWS, or an S3-compatible service such as MinIO
with `endpoint_url="http://127.0.0.1:9000", force_path_style=true,
allow_http=true`). Exactly one credential source: static keys
(`access_key_id` + `secret_access_key`), `from_env=true` (the AWS default
chain) or `anonymous=true`. Nothing is contacted until the first operation;
invalid settings throw `IcechunkError(:INVALID_ARGUMENT)`.
"""
function s3_storage(; bucket::AbstractString, prefix::AbstractString = "",
                    region::AbstractString = "", endpoint_url::AbstractString = "",
                    allow_http::Bool = false, force_path_style::Bool = false,
                    access_key_id::Union{Nothing,AbstractString} = nothing,
                    secret_access_key::Union{Nothing,AbstractString} = nothing,
                    session_token::Union{Nothing,AbstractString} = nothing,
                    from_env::Bool = false, anonymous::Bool = false,
                    max_connections::Integer = 0)
    static = access_key_id !== nothing || secret_access_key !== nothing
    nsources = count((static, from_env, anonymous))
    nsources == 1 || throw(IcechunkError(:INVALID_ARGUMENT,
        "s3_storage: give exactly one credential source: access_key_id + secret_access_key, from_env=true or anonymous=true"))
    cred = static ? IC_S3_CREDENTIALS_STATIC : from_env ? IC_S3_CREDENTIALS_FROM_ENV : IC_S3_CREDENTIALS_ANONYMOUS
    strs = map(x -> x === nothing ? nothing : _nonul(x, "an S3 setting"),
               (bucket, prefix, region, endpoint_url, access_key_id, secret_access_key, session_token))
    p(x) = x === nothing ? Ptr{UInt8}(C_NULL) : pointer(x)
    GC.@preserve strs begin
        opts = Ref(CS3Options(p(strs[1]), p(strs[2]), p(strs[3]), p(strs[4]), force_path_style, allow_http,
            cred, p(strs[5]), p(strs[6]), p(strs[7]), max_connections))
        return _new_storage((out, err) -> @ic(:ic_storage_new_s3, Int32,
            (Ref{CS3Options}, Ref{UInt64}, Ref{UInt64}), opts, out, err))
    end
end

"""
    s3_storage(config) -> Storage

As the keyword form, from the JSON form of `ic_storage_new_s3_json` (a JSON
string or a `Dict`): `bucket`, `prefix`, `region`, `endpoint`,
`force_path_style`, `allow_http`, `access_key_id`, `secret_access_key`,
`session_token`, `from_env`, `anonymous`, `max_connections`.
"""
function s3_storage(config::Union{AbstractString,AbstractDict})
    js = config isa AbstractString ? String(config) : JSON.write_json(config)
    return _new_storage((out, err) -> @ic(:ic_storage_new_s3_json, Int32,
        (Cstring, Ref{UInt64}, Ref{UInt64}), js, out, err))
end

"""
    describe(storage) -> String

A description of the storage for messages (`"local:/data/repo"`,
`"s3://bucket/prefix"`), without credentials.
"""
function describe(s::Storage)
    with_handle(s) do h
        out = Ref{Ptr{UInt8}}(C_NULL)
        err = Ref{UInt64}(0)
        _check(@ic(:ic_storage_describe, Int32, (UInt64, Ref{Ptr{UInt8}}, Ref{UInt64}), h, out, err), err)
        _take_string(out[])
    end
end

Base.show(io::IO, s::Storage) = print(io, "Storage(", isopen(s) ? repr(describe(s)) : "closed", ")")
