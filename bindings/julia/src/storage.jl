# Storages: where a repository lives.

"""
    Storage

Where repositories live: memory, a local directory or an S3 bucket. Create
one with [`in_memory_storage`](@ref), [`local_filesystem_storage`](@ref) or
[`s3_storage`](@ref). Thread-safe; one storage may back many repositories.
"""
mutable struct Storage <: Handle
    h::Threads.Atomic{UInt64}
    keep::Any # what signs its requests (a credentials refresher), or nothing
    Storage(h::UInt64, keep = nothing) = _init_handle!(new(Threads.Atomic{UInt64}(h), keep))
end
_free(::Storage, h::UInt64) = @ic(:ic_storage_free, Int32, (UInt64,), h)

function _new_storage(f, keep = nothing)
    out = Ref{UInt64}(0)
    err = Ref{UInt64}(0)
    _check(f(out, err), err)
    return Storage(out[], keep)
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

A storage in the local directory `path`. The directory (with its parents)
is created by the first write, such as `create_repository`: until then the
storage reads as empty, so looking for a repository at a wrong path leaves
nothing behind. Safe for concurrent writers, in this process and others.
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
               credentials=nothing, max_connections=0,
               network_stream_timeout_seconds=nothing) -> Storage

A storage in an S3 bucket (AWS, or an S3-compatible service such as MinIO
with `endpoint_url="http://127.0.0.1:9000", force_path_style=true,
allow_http=true`). Exactly one credential source: static keys
(`access_key_id` + `secret_access_key`), `from_env=true` (the AWS default
chain), `anonymous=true`, or `credentials`, a function of no arguments
returning [`S3Credentials`](@ref) (upstream Icechunk's refreshable
credentials). Nothing is contacted until the first operation;
invalid settings throw `IcechunkError(:INVALID_ARGUMENT)`.

`network_stream_timeout_seconds` fails a request when no byte crosses its
connection for that long (`nothing`: 60 seconds; 0: never): a server that
hangs, or a transfer that stalled; a slow transfer that still moves is
never cut. Each retry of the request waits as long again.

`credentials` is called once here (what it throws is thrown here), and
again in a task of its own halfway to the expiry of the credentials it
returned, for as long as the storage, or a repository or session opened
through it, is in use. The library never calls Julia code from its own
threads: requests sign with the credentials fetched last, and a request
made after they expired with no newer ones (a refresh that failed, or a
call so long that the refresh task could not run) throws
`IcechunkError(:STORAGE)` saying so. A refresh that throws is logged
(`@warn`) and tried again after a quarter of the time left, at least a
second later.
"""
function s3_storage(; bucket::AbstractString, prefix::AbstractString = "",
                    region::AbstractString = "", endpoint_url::AbstractString = "",
                    allow_http::Bool = false, force_path_style::Bool = false,
                    access_key_id::Union{Nothing,AbstractString} = nothing,
                    secret_access_key::Union{Nothing,AbstractString} = nothing,
                    session_token::Union{Nothing,AbstractString} = nothing,
                    from_env::Bool = false, anonymous::Bool = false,
                    credentials::Union{Nothing,Function} = nothing,
                    max_connections::Integer = 0,
                    network_stream_timeout_seconds::Union{Nothing,Integer} = nothing)
    static = access_key_id !== nothing || secret_access_key !== nothing
    nsources = count((static, from_env, anonymous, credentials !== nothing))
    nsources == 1 || throw(IcechunkError(:INVALID_ARGUMENT,
        "s3_storage: give exactly one credential source: access_key_id + secret_access_key, from_env=true, anonymous=true or credentials"))
    if credentials !== nothing || network_stream_timeout_seconds !== nothing
        # The JSON form: the only one that takes every setting.
        config = Dict{String,Any}("bucket" => bucket, "prefix" => prefix, "region" => region,
            "endpoint" => endpoint_url, "allow_http" => allow_http, "force_path_style" => force_path_style,
            "max_connections" => max_connections)
        network_stream_timeout_seconds === nothing ||
            (config["network_stream_timeout_seconds"] = network_stream_timeout_seconds)
        credentials === nothing || return _s3_storage_refreshed(JSON.write_json(config), credentials)
        if static
            config["access_key_id"] = something(access_key_id, "")
            config["secret_access_key"] = something(secret_access_key, "")
            session_token === nothing || (config["session_token"] = session_token)
        end
        config["from_env"] = from_env
        config["anonymous"] = anonymous
        js = JSON.write_json(config)
        return _new_storage((out, err) -> @ic(:ic_storage_new_s3_json, Int32,
            (Cstring, Ref{UInt64}, Ref{UInt64}), js, out, err))
    end
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
    S3Credentials(access_key_id, secret_access_key; session_token=nothing,
                  expires_after=nothing)

What the `credentials` function of [`s3_storage`](@ref) returns.
`expires_after` is when they stop working, a `DateTime` in UTC
(`nothing`: never).
"""
struct S3Credentials
    access_key_id::String
    secret_access_key::String
    session_token::Union{Nothing,String}
    expires_after::Union{Nothing,DateTime}
end
S3Credentials(access_key_id::AbstractString, secret_access_key::AbstractString;
              session_token::Union{Nothing,AbstractString} = nothing,
              expires_after::Union{Nothing,DateTime} = nothing) =
    S3Credentials(access_key_id, secret_access_key, session_token, expires_after)

Base.show(io::IO, c::S3Credentials) = print(io, "S3Credentials(", repr(c.access_key_id), ", expires_after=",
    c.expires_after === nothing ? "nothing" : string(c.expires_after), ")")

# The credentials of a storage made with a `credentials` function: the
# library's holder (ic_credentials), set again before they expire by a
# timer's task, until `stopped` (the storage was finalized).
mutable struct _CredentialsRefresher <: Handle
    h::Threads.Atomic{UInt64}
    fetch::Function
    stopped::Threads.Atomic{Bool}
    _CredentialsRefresher(h::UInt64, fetch) = _init_handle!(new(Threads.Atomic{UInt64}(h), fetch, Threads.Atomic{Bool}(false)))
end
_free(::_CredentialsRefresher, h::UInt64) = @ic(:ic_credentials_free, Int32, (UInt64,), h)

function _s3_storage_refreshed(config_json::String, fetch::Function)
    out = Ref{UInt64}(0)
    err = Ref{UInt64}(0)
    _check(@ic(:ic_credentials_new, Int32, (Ref{UInt64}, Ref{UInt64}), out, err), err)
    r = _CredentialsRefresher(out[], fetch)
    expires = _set_credentials!(r, fetch())
    st = with_handle(r) do ch
        _new_storage((out, err) -> @ic(:ic_storage_new_s3_credentials, Int32,
            (Cstring, UInt64, Ref{UInt64}, Ref{UInt64}), config_json, ch, out, err), r)
    end
    finalizer(_ -> (r.stopped[] = true), st)
    _schedule_refresh(r, expires, 2)
    return st
end

"Sets `c` on the library's holder; returns when they expire (or nothing)."
function _set_credentials!(r::_CredentialsRefresher, c)
    c isa S3Credentials || throw(IcechunkError(:INVALID_ARGUMENT,
        "s3_storage: the credentials function returned a $(typeof(c)), not S3Credentials"))
    d = Dict{String,Any}("access_key_id" => c.access_key_id, "secret_access_key" => c.secret_access_key)
    c.session_token === nothing || (d["session_token"] = c.session_token)
    c.expires_after === nothing || (d["expires_after_unix_nanos"] = _unix_nanos(c.expires_after))
    js = JSON.write_json(d)
    with_handle(r) do h
        err = Ref{UInt64}(0)
        _check(@ic(:ic_credentials_set, Int32, (UInt64, Cstring, Ref{UInt64}), h, js, err), err)
    end
    return c.expires_after
end

# Schedules the next fetch at 1/share of the time left before `expires`
# (at least a second from now); nothing for credentials that never expire.
function _schedule_refresh(r::_CredentialsRefresher, expires, share)
    expires === nothing && return
    left = Dates.value(expires - now(UTC)) / 1000
    Timer(_ -> _refresh!(r, expires), max(left / share, 1.0))
    return
end

function _refresh!(r::_CredentialsRefresher, expires)
    (r.stopped[] || !isopen(r)) && return
    try
        expires = _set_credentials!(r, r.fetch())
        _schedule_refresh(r, expires, 2)
    catch e
        @warn "s3_storage: refreshing the S3 credentials failed; trying again" exception = e
        _schedule_refresh(r, expires, 4)
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
