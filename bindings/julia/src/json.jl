# A small JSON reader and writer: the C interface speaks JSON for structured
# values, and the package uses the standard library only (Julia ships no JSON
# parser). Objects read as Dict{String,Any}, arrays as Vector{Any}, integers
# as Int64 (Float64 when they do not fit), other numbers as Float64, null as
# `nothing`.
module JSON

export parse_json, write_json

struct ParseError <: Exception
    msg::String
end
Base.showerror(io::IO, e::ParseError) = print(io, "JSON parse error: ", e.msg)

mutable struct Reader
    s::Vector{UInt8}
    i::Int
end

parse_json(s::AbstractString) = parse_json(Vector{UInt8}(String(s)))
function parse_json(b::Vector{UInt8})
    r = Reader(b, 1)
    v = _value(r)
    _skipws(r)
    r.i <= length(r.s) && _fail(r, "trailing characters")
    return v
end

_fail(r::Reader, what) = throw(ParseError(string(what, " at byte ", r.i)))

@inline function _skipws(r::Reader)
    while r.i <= length(r.s)
        c = r.s[r.i]
        (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) || break
        r.i += 1
    end
end

function _peek(r::Reader)
    _skipws(r)
    r.i > length(r.s) && _fail(r, "unexpected end of input")
    return r.s[r.i]
end

function _expect(r::Reader, lit::String)
    n = sizeof(lit)
    if r.i + n - 1 <= length(r.s) && view(r.s, r.i:r.i+n-1) == codeunits(lit)
        r.i += n
    else
        _fail(r, "expected $lit")
    end
end

function _value(r::Reader)
    c = _peek(r)
    if c == UInt8('{')
        return _object(r)
    elseif c == UInt8('[')
        return _array(r)
    elseif c == UInt8('"')
        return _string(r)
    elseif c == UInt8('t')
        _expect(r, "true"); return true
    elseif c == UInt8('f')
        _expect(r, "false"); return false
    elseif c == UInt8('n')
        _expect(r, "null"); return nothing
    elseif c == UInt8('-') || (UInt8('0') <= c <= UInt8('9'))
        return _number(r)
    end
    _fail(r, "unexpected character '$(Char(c))'")
end

function _object(r::Reader)
    d = Dict{String,Any}()
    r.i += 1
    _peek(r) == UInt8('}') && (r.i += 1; return d)
    while true
        _peek(r) == UInt8('"') || _fail(r, "expected a string key")
        k = _string(r)
        _peek(r) == UInt8(':') || _fail(r, "expected ':'")
        r.i += 1
        d[k] = _value(r)
        c = _peek(r)
        r.i += 1
        c == UInt8('}') && return d
        c == UInt8(',') || _fail(r, "expected ',' or '}'")
    end
end

function _array(r::Reader)
    a = Any[]
    r.i += 1
    _peek(r) == UInt8(']') && (r.i += 1; return a)
    while true
        push!(a, _value(r))
        c = _peek(r)
        r.i += 1
        c == UInt8(']') && return a
        c == UInt8(',') || _fail(r, "expected ',' or ']'")
    end
end

function _hex4(r::Reader)
    r.i + 3 <= length(r.s) || _fail(r, "short \\u escape")
    v = Base.parse(UInt16, String(r.s[r.i:r.i+3]); base = 16)
    r.i += 4
    return v
end

function _string(r::Reader)
    r.i += 1 # opening quote
    io = IOBuffer()
    s = r.s
    while true
        r.i > length(s) && _fail(r, "unterminated string")
        c = s[r.i]
        if c == UInt8('"')
            r.i += 1
            return String(take!(io))
        elseif c == UInt8('\\')
            r.i += 1
            r.i > length(s) && _fail(r, "unterminated escape")
            e = s[r.i]
            r.i += 1
            if e == UInt8('"') || e == UInt8('\\') || e == UInt8('/')
                write(io, e)
            elseif e == UInt8('b'); write(io, '\b')
            elseif e == UInt8('f'); write(io, '\f')
            elseif e == UInt8('n'); write(io, '\n')
            elseif e == UInt8('r'); write(io, '\r')
            elseif e == UInt8('t'); write(io, '\t')
            elseif e == UInt8('u')
                u = _hex4(r)
                if 0xd800 <= u <= 0xdbff && r.i + 5 <= length(s) &&
                   s[r.i] == UInt8('\\') && s[r.i+1] == UInt8('u')
                    r.i += 2
                    l = _hex4(r)
                    if 0xdc00 <= l <= 0xdfff
                        write(io, Char(0x10000 + ((UInt32(u) - 0xd800) << 10) + (UInt32(l) - 0xdc00)))
                    else
                        write(io, '\ufffd', Char(l))
                    end
                elseif 0xd800 <= u <= 0xdfff
                    write(io, '\ufffd')
                else
                    write(io, Char(u))
                end
            else
                _fail(r, "bad escape")
            end
        else
            write(io, c)
            r.i += 1
        end
    end
end

function _number(r::Reader)
    start = r.i
    isfloat = false
    s = r.s
    while r.i <= length(s)
        c = s[r.i]
        if UInt8('0') <= c <= UInt8('9') || c == UInt8('-') || c == UInt8('+')
        elseif c == UInt8('.') || c == UInt8('e') || c == UInt8('E')
            isfloat = true
        else
            break
        end
        r.i += 1
    end
    t = String(s[start:r.i-1])
    if !isfloat
        v = tryparse(Int64, t)
        v !== nothing && return v
    end
    v = tryparse(Float64, t)
    v === nothing && _fail(r, "bad number '$t'")
    return v
end

# --- writing ---------------------------------------------------------------

write_json(x) = (io = IOBuffer(); write_json(io, x); String(take!(io)))

write_json(io::IO, ::Nothing) = print(io, "null")
write_json(io::IO, x::Bool) = print(io, x ? "true" : "false")
write_json(io::IO, x::Integer) = print(io, x)
function write_json(io::IO, x::AbstractFloat)
    isfinite(x) || throw(ArgumentError("JSON cannot hold $x"))
    print(io, Float64(x))
end
write_json(io::IO, x::Symbol) = write_json(io, String(x))
function write_json(io::IO, s::AbstractString)
    write(io, '"')
    for c in s
        if c == '"'
            print(io, "\\\"")
        elseif c == '\\'
            print(io, "\\\\")
        elseif c < ' '
            print(io, "\\u", string(UInt32(c); base = 16, pad = 4))
        else
            print(io, c)
        end
    end
    write(io, '"')
    return nothing
end
function write_json(io::IO, d::AbstractDict)
    write(io, '{')
    first = true
    for (k, v) in d
        first || write(io, ',')
        first = false
        write_json(io, string(k))
        write(io, ':')
        write_json(io, v)
    end
    write(io, '}')
    return nothing
end
function write_json(io::IO, a::Union{AbstractVector,Tuple})
    write(io, '[')
    for (i, v) in enumerate(a)
        i > 1 && write(io, ',')
        write_json(io, v)
    end
    write(io, ']')
    return nothing
end
function write_json(io::IO, nt::NamedTuple)
    write_json(io, Dict{String,Any}(string(k) => v for (k, v) in pairs(nt)))
end

end # module JSON
