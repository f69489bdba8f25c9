"""Exceptions raised by icechunk_go.

Every failure reported by the library is an :class:`IcechunkError`; its
subclasses name the class of the failure (the library's status code), and
several also derive from the matching built-in exception (``LookupError``,
``ValueError``, ``OSError``) so that generic handlers keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from . import _ffi

__all__ = [
    "AlreadyExistsError",
    "BranchExistsError",
    "BranchNotFoundError",
    "Conflict",
    "ConflictError",
    "ConflictType",
    "CorruptObjectError",
    "IcechunkError",
    "InvalidArgumentError",
    "InvalidKeyError",
    "InvalidMetadataError",
    "NoChangesToCommitError",
    "NotFoundError",
    "OperationCancelledError",
    "ReadOnlyError",
    "RebaseFailedError",
    "RepositoryExistsError",
    "RepositoryNotFoundError",
    "SnapshotNotFoundError",
    "StorageError",
    "TagExistsError",
    "TagNotFoundError",
    "UnsupportedFormatVersionError",
]


class IcechunkError(Exception):
    """The root of every error icechunk_go raises for a failure of the library.

    Attributes
    ----------
    message : str
        What failed and why, as the library said it.
    code : int
        The library's status code (``IC_ERR_*`` of icechunk.h).
    code_name : str
        The name of that code, such as ``"IC_ERR_CONFLICT"``.
    details : dict
        The structured form of the error (the library's error JSON).
    """

    def __init__(
        self, message: str, *, code: int = _ffi.IC_ERR_INTERNAL, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or {}

    @property
    def code_name(self) -> str:
        """The name of the status code, such as ``"IC_ERR_CONFLICT"``."""
        return self.details.get("code_name") or _ffi.status_name(self.code)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> Any:
        # Exceptions must cross process boundaries (Dask, multiprocessing).
        return (_rebuild, (type(self), self.message, self.code, self.details))


def _rebuild(cls: type[IcechunkError], message: str, code: int, details: dict[str, Any]) -> IcechunkError:
    return _make(cls, code, message, details)


class InvalidArgumentError(IcechunkError, ValueError):
    """An argument the library rejects: a bad name, id, size, JSON or option."""


class ForkCommitError(InvalidArgumentError, TypeError):
    """A fork was asked to commit or flush: forks go back to the session
    they were forked from (:meth:`Session.merge`), which commits. A
    ``TypeError``, as upstream's (where a fork is a ``ForkSession``)."""


class InvalidKeyError(InvalidArgumentError):
    """A key that is not a Zarr key this store can hold (the store holds Zarr
    v3 hierarchies: ``zarr.json`` documents and chunk keys of existing arrays)."""


class InvalidMetadataError(InvalidArgumentError):
    """A ``zarr.json`` document, shape or chunk shape the library rejects."""


class NotFoundError(IcechunkError, LookupError):
    """Something that does not exist: a node, key or chunk, and the parent of
    the more specific not-found errors below."""


class RepositoryNotFoundError(NotFoundError):
    """No repository in the storage."""


class BranchNotFoundError(NotFoundError):
    """No branch of that name."""


class TagNotFoundError(NotFoundError):
    """No tag of that name."""


class SnapshotNotFoundError(NotFoundError):
    """No snapshot with that id."""


class AlreadyExistsError(IcechunkError):
    """Something is already there: a node, and the parent of the more
    specific errors below."""


class RepositoryExistsError(AlreadyExistsError):
    """The storage already holds a repository."""


class BranchExistsError(AlreadyExistsError):
    """A branch of that name exists."""


class TagExistsError(AlreadyExistsError):
    """A tag of that name exists, or existed: deleted tag names are never reused."""


class ReadOnlyError(IcechunkError, ValueError):
    """A write through a read-only session or store (a read-only session, a
    committed one, or a store opened with ``read_only=True``)."""


class NoChangesToCommitError(IcechunkError):
    """A commit of a session that holds no changes."""


class ConflictError(IcechunkError):
    """The branch moved since the session's base snapshot: rebase, then commit
    again (or commit with ``rebase_with=``).

    Attributes
    ----------
    expected_parent : str
        The snapshot the session is based on.
    actual_parent : str
        The snapshot the branch points at now.
    """

    @property
    def expected_parent(self) -> str:
        """The snapshot id the session was based on."""
        return str(self.details.get("expected_parent", ""))

    @property
    def actual_parent(self) -> str:
        """The snapshot id at the tip of the branch."""
        return str(self.details.get("actual_parent", ""))


class ConflictType(IntEnum):
    """The kinds of conflict a rebase can meet ("we" are the session being
    rebased, "they" the commit it is replayed over)."""

    NewNodeConflictsWithExistingNode = 1
    """Both created a node at the same path."""
    NewNodeInInvalidGroup = 2
    """We created a node inside what they made an array, or inside a group they deleted."""
    ZarrMetadataDoubleUpdate = 3
    """Both changed the node's zarr.json."""
    ZarrMetadataUpdateOfDeletedArray = 4
    """We changed the zarr.json of an array they deleted."""
    ZarrMetadataUpdateOfDeletedGroup = 5
    """We changed the zarr.json of a group they deleted."""
    ChunkDoubleUpdate = 6
    """Both wrote the same chunks."""
    ChunksUpdatedInDeletedArray = 7
    """We wrote chunks of an array they deleted."""
    ChunksUpdatedInUpdatedArray = 8
    """We wrote chunks of an array whose metadata (shape, chunking, data type,
    codecs, fill value...) they changed in more than its attributes."""
    DeleteOfUpdatedArray = 9
    """We deleted an array they changed."""
    DeleteOfUpdatedGroup = 10
    """We deleted a group they changed."""
    DeleteOfGroupWithNewChildren = 11
    """We deleted a group in which they created nodes."""

    def __str__(self) -> str:
        # The kind in words, as upstream's: "Zarr metadata double update".
        words = re.findall(r"[A-Z][a-z]*", self.name)
        return " ".join([words[0], *(w.lower() for w in words[1:])])


@dataclass(frozen=True)
class Conflict:
    """One conflict that stopped a rebase. ``str()`` of it is one sentence
    explaining it.

    Attributes
    ----------
    conflict_type : ConflictType
    path : str
        The node, such as ``"/toy_data/ones"``.
    conflicted_chunks : list of list of int or None
        The chunk coordinates both sides wrote (``ChunkDoubleUpdate``), else None.
    commit_id, commit_message : str
        Their commit.
    children : list of str
        Their new nodes (``DeleteOfGroupWithNewChildren``).
    sentence : str
        The explanation.
    """

    conflict_type: ConflictType
    path: str
    conflicted_chunks: list[list[int]] | None = None
    commit_id: str = ""
    commit_message: str = ""
    children: list[str] = field(default_factory=list)
    sentence: str = ""

    def __str__(self) -> str:
        return self.sentence or f"{self.conflict_type.name} at {self.path}"

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> Conflict:
        try:
            kind = ConflictType(int(d.get("kind", 0)))
        except ValueError:  # a kind newer than this binding
            kind = d.get("kind", 0)
        coords = d.get("coords") or []
        return cls(
            conflict_type=kind,
            path=d.get("path", ""),
            conflicted_chunks=[[int(i) for i in c] for c in coords] if coords else None,
            commit_id=d.get("commit_id", ""),
            commit_message=d.get("commit_message", ""),
            children=list(d.get("children") or []),
            sentence=d.get("sentence", ""),
        )


class RebaseFailedError(IcechunkError):
    """A rebase met conflicts its solver could not solve. The session is left
    based on the last commit it passed, with its changes as they were.

    Attributes
    ----------
    snapshot : str
        The id of the commit the rebase could not pass.
    conflicts : list of Conflict
        What conflicted; ``str()`` of each explains it.
    """

    @property
    def snapshot(self) -> str:
        """The id of their commit that the session could not be rebased on."""
        return str(self.details.get("snapshot_id", ""))

    @property
    def conflicts(self) -> list[Conflict]:
        """The unsolved conflicts."""
        return [Conflict._from_json(c) for c in self.details.get("conflicts") or []]


class StorageError(IcechunkError, OSError):
    """The storage failed (I/O, network, permissions).

    Attributes
    ----------
    indeterminate : bool
        The write may have happened (a timeout after sending).
    transient : bool
        Retrying may succeed.
    """

    @property
    def indeterminate(self) -> bool:
        """True if the failed write may have happened (a timeout after sending)."""
        return bool(self.details.get("indeterminate", False))

    @property
    def transient(self) -> bool:
        """True if retrying may succeed."""
        return bool(self.details.get("transient", False))


class CorruptObjectError(IcechunkError):
    """An object of the repository cannot be decoded (truncated, damaged or of
    the wrong type)."""


class UnsupportedFormatVersionError(CorruptObjectError):
    """An object written by a newer format version than this library reads."""


class OperationCancelledError(IcechunkError):
    """A library call stopped by its cancellation: its ``*_async`` task was
    cancelled, or Ctrl-C came during a blocking call. The wrappers raise
    the cancellation itself (``asyncio.CancelledError``,
    ``KeyboardInterrupt``); this is what the stopped call raised on its
    thread. A commit stopped this way did not move its branch, and the
    session keeps its changes."""


_BY_CODE: dict[int, type[IcechunkError]] = {
    _ffi.IC_ERR_CANCELLED: OperationCancelledError,
    _ffi.IC_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    _ffi.IC_ERR_REPO_NOT_FOUND: RepositoryNotFoundError,
    _ffi.IC_ERR_REPO_EXISTS: RepositoryExistsError,
    _ffi.IC_ERR_BRANCH_NOT_FOUND: BranchNotFoundError,
    _ffi.IC_ERR_BRANCH_EXISTS: BranchExistsError,
    _ffi.IC_ERR_TAG_NOT_FOUND: TagNotFoundError,
    _ffi.IC_ERR_TAG_EXISTS: TagExistsError,
    _ffi.IC_ERR_SNAPSHOT_NOT_FOUND: SnapshotNotFoundError,
    _ffi.IC_ERR_NOT_FOUND: NotFoundError,
    _ffi.IC_ERR_ALREADY_EXISTS: AlreadyExistsError,
    _ffi.IC_ERR_NOT_AN_ARRAY: InvalidArgumentError,
    _ffi.IC_ERR_NOT_A_GROUP: InvalidArgumentError,
    _ffi.IC_ERR_INVALID_KEY: InvalidKeyError,
    _ffi.IC_ERR_INVALID_PATH: InvalidArgumentError,
    _ffi.IC_ERR_INVALID_METADATA: InvalidMetadataError,
    _ffi.IC_ERR_INVALID_INDEX: InvalidArgumentError,
    _ffi.IC_ERR_INVALID_RANGE: InvalidArgumentError,
    _ffi.IC_ERR_INVALID_SESSION_BYTES: InvalidArgumentError,
    _ffi.IC_ERR_READ_ONLY: ReadOnlyError,
    _ffi.IC_ERR_NO_CHANGES: NoChangesToCommitError,
    _ffi.IC_ERR_CONFLICT: ConflictError,
    _ffi.IC_ERR_REBASE_FAILED: RebaseFailedError,
    _ffi.IC_ERR_STORAGE: StorageError,
    _ffi.IC_ERR_CORRUPT: CorruptObjectError,
    _ffi.IC_ERR_UNSUPPORTED_VERSION: UnsupportedFormatVersionError,
}


def _make(cls: type[IcechunkError], code: int, message: str, details: dict[str, Any]) -> IcechunkError:
    e = cls(message, code=code, details=details)
    if issubclass(cls, OSError):
        # OSError.__init__ treats its arguments specially; keep our fields.
        e.message, e.code, e.details = message, code, details
    return e


def _error_for(code: int, message: str, details: dict[str, Any]) -> IcechunkError:
    return _make(_BY_CODE.get(code, IcechunkError), code, message, details)


_ffi.error_factory = _error_for
