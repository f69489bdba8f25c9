"""Conflict solvers: how a rebase treats what conflicts with the commits it
replays a session over."""

from __future__ import annotations

from enum import IntEnum

from . import _ffi

__all__ = ["BasicConflictSolver", "ConflictDetector", "ConflictSolver", "VersionSelection"]


class VersionSelection(IntEnum):
    """Which side wins a chunk written by both."""

    UseOurs = 0
    """Keep the session's chunks."""
    UseTheirs = 1
    """Keep the other commit's chunks."""
    Fail = 2
    """The conflict is unsolvable: the rebase fails."""


class ConflictSolver:
    """The base of conflict solvers; use :class:`ConflictDetector` or
    :class:`BasicConflictSolver`."""

    def _c(self) -> _ffi.Solver:
        raise NotImplementedError(
            f"{type(self).__name__}: conflict solvers written in Python are not supported; "
            "use ConflictDetector or BasicConflictSolver"
        )


def _solver(solver: object, param: str) -> _ffi.Solver:
    """The C form of ``solver``, or a TypeError naming ``param``."""
    if not isinstance(solver, ConflictSolver):
        raise TypeError(f"{param} must be a ConflictSolver (ConflictDetector or BasicConflictSolver), not {type(solver).__name__}")
    return solver._c()


class ConflictDetector(ConflictSolver):
    """A solver that solves nothing: any conflict fails the rebase (with a
    :class:`RebaseFailedError` listing the conflicts). Changes to different
    objects (different chunks, different nodes) rebase without conflict."""

    def _c(self) -> _ffi.Solver:
        return _ffi.Solver(_ffi.SOLVER_DETECTOR, 0, 0, 0)

    def __repr__(self) -> str:
        return "ConflictDetector()"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (ConflictDetector, ())


class BasicConflictSolver(ConflictSolver):
    """Upstream Icechunk's default solver.

    Parameters
    ----------
    on_chunk_conflict : VersionSelection
        Who wins a chunk both sides wrote (default: ours).
    fail_on_delete_of_updated_array : bool
        If False (default) our delete of an array they changed wins; if True
        the rebase fails.
    fail_on_delete_of_updated_group : bool
        The same for groups (and groups in which they created nodes).

    Other conflicts (both created a node at one path, both changed one
    zarr.json, ...) fail the rebase.
    """

    def __init__(
        self,
        *,
        on_chunk_conflict: VersionSelection = VersionSelection.UseOurs,
        fail_on_delete_of_updated_array: bool = False,
        fail_on_delete_of_updated_group: bool = False,
    ) -> None:
        self.on_chunk_conflict = VersionSelection(on_chunk_conflict)
        self.fail_on_delete_of_updated_array = bool(fail_on_delete_of_updated_array)
        self.fail_on_delete_of_updated_group = bool(fail_on_delete_of_updated_group)

    def _c(self) -> _ffi.Solver:
        return _ffi.Solver(
            _ffi.SOLVER_BASIC,
            int(self.on_chunk_conflict),
            int(self.fail_on_delete_of_updated_array),
            int(self.fail_on_delete_of_updated_group),
        )

    def __repr__(self) -> str:
        return (
            f"BasicConflictSolver(on_chunk_conflict=VersionSelection.{self.on_chunk_conflict.name}, "
            f"fail_on_delete_of_updated_array={self.fail_on_delete_of_updated_array}, "
            f"fail_on_delete_of_updated_group={self.fail_on_delete_of_updated_group})"
        )

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            _basic,
            (int(self.on_chunk_conflict), self.fail_on_delete_of_updated_array, self.fail_on_delete_of_updated_group),
        )


def _basic(on: int, fa: bool, fg: bool) -> BasicConflictSolver:
    return BasicConflictSolver(
        on_chunk_conflict=VersionSelection(on),
        fail_on_delete_of_updated_array=fa,
        fail_on_delete_of_updated_group=fg,
    )
