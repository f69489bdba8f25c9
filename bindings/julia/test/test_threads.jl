# The concurrency test needs Julia threads: run it here when this process
# has them, else in a child process with JULIA_NUM_THREADS=4.

if Threads.nthreads() >= 2
    include("threads_body.jl")
else
    @testset "threads (child process, JULIA_NUM_THREADS=4)" begin
        @info "this process has 1 thread: running the threads test in a child with JULIA_NUM_THREADS=4 " *
              "(Julia 1.5 caps it at the $(Sys.CPU_THREADS) CPUs of this machine)"
        code, out = run_julia("""
            using Test, IcechunkGo
            include($(repr(joinpath(@__DIR__, "helpers.jl"))))
            include($(repr(joinpath(@__DIR__, "threads_body.jl"))))
            """; threads = 4)
        print(out)
        @test code == 0
    end
end
