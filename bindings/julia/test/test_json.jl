# The package's small JSON reader and writer.

@testset "json" begin
    J = IcechunkGo.JSON
    v = J.parse_json("""{"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "x\\"y\\u00e9\\ud83d\\ude00\\n"}, "n": 1735787045123456789}""")
    @test v["a"] == Any[1, -2, 3.5, 1000.0, true, false, nothing]
    @test v["a"][1] isa Int64
    @test v["b"]["c"] == "x\"yé😀\n"
    @test v["n"] == 1735787045123456789
    @test J.parse_json("[]") == Any[]
    @test J.parse_json(" {} ") == Dict{String,Any}()
    @test_throws J.ParseError J.parse_json("{")
    @test_throws J.ParseError J.parse_json("[1,]")
    @test_throws J.ParseError J.parse_json("1 2")
    d = Dict("k" => Any[1, "two\t\"", nothing, true, 2.5], "e" => Dict{String,Any}())
    @test J.parse_json(J.write_json(d)) == d
    @test J.write_json((a = 1,)) == """{"a":1}"""
    @test_throws ArgumentError J.write_json(NaN)
end
