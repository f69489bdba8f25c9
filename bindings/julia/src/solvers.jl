# Conflict solvers for rebase.

"""
    VersionSelection.UseOurs / UseTheirs / Fail

Which side wins a chunk written by both: the session being rebased
(`UseOurs`), the commit it is replayed over (`UseTheirs`), or neither (the
conflict is unsolvable, `Fail`).
"""
module VersionSelection
@enum T::Int32 UseOurs = 0 UseTheirs = 1 Fail = 2
end

"""
The supertype of conflict solvers: [`ConflictDetector`](@ref) and
[`BasicConflictSolver`](@ref).
"""
abstract type ConflictSolver end

"""
    ConflictDetector()

A solver that solves nothing: any conflict fails the rebase
(`RebaseFailedError` lists them); changes to disjoint nodes and chunks
rebase cleanly.
"""
struct ConflictDetector <: ConflictSolver end

"""
    BasicConflictSolver(; on_chunk_conflict=VersionSelection.UseOurs,
                          fail_on_delete_of_updated_array=false,
                          fail_on_delete_of_updated_group=false)

Solves chunks written by both sides with `on_chunk_conflict`, keeps a
delete of something the other side updated (the delete wins) unless the
matching `fail_on_*` flag is set; other conflicts fail the rebase.
"""
struct BasicConflictSolver <: ConflictSolver
    on_chunk_conflict::VersionSelection.T
    fail_on_delete_of_updated_array::Bool
    fail_on_delete_of_updated_group::Bool
end
BasicConflictSolver(; on_chunk_conflict::VersionSelection.T = VersionSelection.UseOurs,
                    fail_on_delete_of_updated_array::Bool = false,
                    fail_on_delete_of_updated_group::Bool = false) =
    BasicConflictSolver(on_chunk_conflict, fail_on_delete_of_updated_array, fail_on_delete_of_updated_group)

_csolver(::ConflictDetector) = CSolver(1, 0, 0, 0)
_csolver(s::BasicConflictSolver) = CSolver(2, Int32(s.on_chunk_conflict),
    s.fail_on_delete_of_updated_array, s.fail_on_delete_of_updated_group)
