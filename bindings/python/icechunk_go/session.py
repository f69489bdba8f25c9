"""Sessions: a read-only or writable view of one snapshot of a repository."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Sequence
from ctypes import byref, c_int32, c_size_t, c_uint32, c_uint64, c_void_p
from typing import TYPE_CHECKING, Any

from . import _ffi
from ._aio import on_thread
from ._cancel import interruptible
from .chunks import ChunkType, VirtualChunkSpec
from .conflicts import ConflictSolver, _solver
from .diff import Diff
from .errors import ForkCommitError, IcechunkError, InvalidArgumentError, NoChangesToCommitError, _error_for

if TYPE_CHECKING:
    from .config import RepositoryConfig
    from .repository import Repository
    from .storage import Storage
    from .store import IcechunkStore

__all__ = ["Session", "SessionPicklingError"]


class SessionPicklingError(IcechunkError, pickle.PicklingError, ValueError):
    """Raised when pickling a writable session that is not a fork (outside
    :meth:`Session.allow_pickling`); a ``ValueError``, as upstream's."""


class Session:
    """A view of one snapshot of a repository: read-only (at a branch tip,
    tag, snapshot or time) or writable (on a branch, committed with
    :meth:`commit`). Get one from :meth:`Repository.readonly_session` or
    :meth:`Repository.writable_session`.

    The Zarr store of the session is :attr:`store`. A session is safe to use
    from many threads at once; chunk reads and writes run in parallel.

    Cooperative writers (many processes or machines writing one change):
    :meth:`fork` the session, send the forks to the workers (forks pickle),
    let each write its own chunks, send them back and :meth:`merge` them,
    then commit once. Read-only sessions pickle too; pickling a writable
    session that is not a fork is refused, since its changes would be
    silently split between copies, except inside :meth:`allow_pickling`.
    """

    __slots__ = (
        "__weakref__",
        "_base_gen",
        "_busy",
        "_forks_out",
        "_handle",
        "_load_lock",
        "_meta_loaded",
        "_pickling_allowed",
        "_read_only",
        "_repo",
        "_state_lock",
        "_token",
    )

    def __init__(self, handle: int, repo: Repository, token: str | None = None, *, loaded: bool = True) -> None:
        # Not for users: sessions come from a Repository.
        self._handle = _ffi.Handle(handle, _ffi.lib.ic_session_free)
        self._repo = repo
        # Cached: a session becomes read-only only by committing, which goes
        # through this object. (The store asks for it on the event loop's
        # thread, which must not wait on the session's lock during a commit.)
        self._read_only: bool | None = None
        # Identifies "this session and its copies": kept by pickling, new for a fork.
        self._token = token or uuid.uuid4().hex
        # What lets the store call the library on the event loop's thread
        # for metadata keys (see _metadata_in_memory): whether the base
        # snapshot is known to be in memory (sessions opened from a
        # repository and their forks hold it; restored ones read it on first
        # use), which base that was (_base_gen, bumped when a commit or
        # rebase moves the base), and how many commits or rebases are
        # running (they hold the session's lock while they talk to storage).
        self._meta_loaded = loaded
        self._pickling_allowed = False
        # Forks made and not merged back yet (for a warning at commit).
        self._forks_out = False
        self._base_gen = 0
        self._busy = 0
        self._state_lock = threading.Lock()
        self._load_lock = threading.Lock()

    @property
    def _h(self) -> int:
        return self._handle.live("session")

    def _metadata_in_memory(self) -> bool:
        """True when the library answers calls on metadata keys from memory
        without waiting: the base snapshot is loaded and no commit or
        rebase holds the session. (A commit starting right after this check
        can still make such a call wait for it: that delays, never breaks.)"""
        return self._meta_loaded and not self._busy

    def _load_metadata(self) -> None:
        """Reads the base snapshot into memory if needed (blocking: run it
        off the event loop). Concurrent callers read it once."""
        with self._load_lock:
            if self._meta_loaded:
                return
            gen = self._base_gen
            _ffi.call(_ffi.lib.ic_store_load_metadata, self._h)
            if self._base_gen == gen:
                self._meta_loaded = True

    def _begin_exclusive(self) -> None:
        with self._state_lock:
            self._busy += 1

    def _end_exclusive(self) -> None:
        # The base may have moved: it is read again before calls on
        # metadata keys go back to the event loop's thread.
        with self._state_lock:
            self._base_gen += 1
            self._meta_loaded = False
            self._busy -= 1

    # --- state -------------------------------------------------------------

    @property
    def repository(self) -> Repository:
        """The repository the session belongs to."""
        return self._repo

    @property
    def read_only(self) -> bool:
        """True if the session rejects writes: read-only sessions, and
        writable ones once they have committed."""
        if self._read_only is None:
            self._read_only = _ffi.bool_result(_ffi.lib.ic_session_read_only, self._h)
        return self._read_only

    @property
    def snapshot_id(self) -> str:
        """The snapshot the session reads (its base)."""
        return _ffi.string_result(_ffi.lib.ic_session_snapshot_id, self._h)

    @property
    def branch(self) -> str | None:
        """The branch a writable session commits to; None for a read-only one."""
        return _ffi.string_result(_ffi.lib.ic_session_branch, self._h) or None

    @property
    def has_uncommitted_changes(self) -> bool:
        """True if the session holds changes not committed yet."""
        return _ffi.bool_result(_ffi.lib.ic_session_has_changes, self._h)

    @property
    def is_fork(self) -> bool:
        """True for a fork (see :meth:`fork`)."""
        return _ffi.bool_result(_ffi.lib.ic_session_is_fork, self._h)

    @property
    def config(self) -> RepositoryConfig:
        """The configuration of the session's repository."""
        return self._repo.config

    @property
    def store(self) -> IcechunkStore:
        """The session's Zarr store (a ``zarr.abc.store.Store``): pass it to
        ``zarr.open_group``, ``xarray.open_zarr``, ``Dataset.to_zarr``...
        Every access gives a new store object; they compare equal."""
        from .store import IcechunkStore

        s = IcechunkStore(self)
        s._is_open = True
        return s

    def close(self) -> None:
        """Releases the session now instead of when it is garbage collected;
        its uncommitted changes are dropped and later calls fail."""
        self._handle.free()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> Diff:
        """The session's uncommitted changes. ``print()`` it to see the paths
        changed."""
        return Diff._from_json(_ffi.json_result(_ffi.lib.ic_session_status, self._h))

    def discard_changes(self) -> None:
        """Drops every uncommitted change."""
        _ffi.call(_ffi.lib.ic_session_discard_changes, self._h)

    # --- commit and rebase --------------------------------------------------

    @interruptible
    def flush_writes(self) -> None:
        """Writes to storage every chunk the store handed over without
        waiting (write-behind), and waits for it. :meth:`commit`,
        :meth:`flush`, :meth:`fork`, :meth:`merge` and pickling do this by
        themselves; a background write that failed is written again, and
        raises here if it fails again."""
        _ffi.call(_ffi.lib.ic_session_flush, self._h)

    @interruptible
    def flush(self, message: str, metadata: dict[str, Any] | None = None) -> str:
        """Writes the changes as a new snapshot on no branch and returns its
        id; the branch does not move. Afterwards the session is read-only at
        that snapshot, as after :meth:`commit`. Reach it by id
        (:meth:`Repository.readonly_session`, ``create_branch``,
        ``create_tag``); until a ref points at it, :meth:`Repository.garbage_collect`
        treats it as unreachable.

        Raises
        ------
        NoChangesToCommitError, ReadOnlyError
        """
        msg = _ffi.cstr(message, "message")
        meta = None if metadata is None else _ffi.cstr(_dumps(metadata), "metadata")
        return self._write_snapshot(_ffi.lib.ic_session_flush_snapshot, msg, meta)

    def _write_snapshot(self, fn: Any, *args: Any) -> str:
        """Calls fn(session, *args, char **snapshot_id, err), a commit or
        flush, with the session marked busy, and returns the new id."""
        out = c_void_p()
        self._begin_exclusive()
        try:
            _ffi.call(fn, self._h, *args, byref(out))
        except InvalidArgumentError as e:
            if self.is_fork:
                raise ForkCommitError(
                    "Cannot commit a fork of a Session: send the fork back and merge it into the session it "
                    "was forked from (session.merge(fork)), then commit that session",
                    code=e.code,
                    details=e.details,
                ) from e
            raise
        except NoChangesToCommitError:
            if self._forks_out:
                warnings.warn(
                    "this session has no changes of its own but forks were made from it: merge the forks "
                    "(session.merge(*forks)) before committing, or their changes are not in the commit",
                    UserWarning,
                    stacklevel=3,
                )
            raise
        finally:
            self._end_exclusive()
        self._read_only = True
        return _ffi.take_string(out)

    @interruptible
    def commit(
        self,
        message: str,
        metadata: dict[str, Any] | None = None,
        *,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
    ) -> str:
        """Commits the changes as a new snapshot on the session's branch and
        returns its id. Afterwards the session is read-only at that snapshot.

        Parameters
        ----------
        message : str
            The commit message.
        metadata : dict, optional
            JSON-serialisable metadata, merged over the repository's default
            commit metadata.
        rebase_with : ConflictSolver, optional
            If the branch moved since the session's base, rebase with this
            solver and try again (up to ``rebase_tries`` rebases, with a
            jittered backoff). Without it, a moved branch raises
            :class:`ConflictError`.
        rebase_tries : int
            The most rebases to attempt.

        Raises
        ------
        ConflictError
            The branch moved and ``rebase_with`` was not given (nothing is
            committed; the session keeps its changes: :meth:`rebase` it).
        RebaseFailedError
            The solver could not solve a conflict.
        NoChangesToCommitError, ReadOnlyError
        """
        msg = _ffi.cstr(message, "message")
        meta = None if metadata is None else _ffi.cstr(_dumps(metadata), "metadata")
        if rebase_with is None:
            return self._write_snapshot(_ffi.lib.ic_session_commit, msg, meta)
        solver = _solver(rebase_with, "rebase_with")
        tries = max(0, min(int(rebase_tries), 2**32 - 1))
        return self._write_snapshot(_ffi.lib.ic_session_commit_rebasing, byref(solver), msg, meta, tries, 0, 0)

    @interruptible
    def rebase(self, solver: ConflictSolver) -> None:
        """Replays the session's changes over the commits that landed on its
        branch since its base, letting ``solver`` settle conflicts. On
        success the session is based on the branch tip and can commit.

        Raises
        ------
        RebaseFailedError
            With ``.conflicts``, each explaining itself in ``str()``.
        """
        s = _solver(solver, "solver")
        self._begin_exclusive()
        try:
            _ffi.call(_ffi.lib.ic_session_rebase, self._h, byref(s))
        finally:
            self._end_exclusive()

    # --- cooperative writers ------------------------------------------------

    @interruptible
    def fork(self) -> ForkSession:
        """A writable copy of the session for another worker (thread,
        process or machine; forks pickle). A fork cannot commit: send it
        back and :meth:`merge` it. The session must have no uncommitted
        changes (forks start from a snapshot)."""
        h = _ffi.handle_result(_ffi.lib.ic_session_fork, self._h)
        self._forks_out = True
        # A fork shares its parent's loaded base, if it has one.
        return ForkSession(h, self._repo, loaded=self._meta_loaded)

    @interruptible
    def merge(self, *others: Session) -> None:
        """Folds the changes of forks (same branch and base snapshot) into
        this session. The session itself among ``others`` (what a Dask
        write that ran in this process gives back) is skipped. Where two
        forks set the same chunk, the last merged one's value is kept, as
        upstream's merge does, and a warning goes to the diagnostic log
        (stderr): writes not aligned to chunks lose data that way."""
        for o in others:
            if not isinstance(o, Session):
                raise TypeError(f"merge: expected Session objects, got {type(o).__name__}")
        others = tuple(o for o in others if o._h != self._h)
        if not others:
            return
        arr = (c_uint64 * len(others))(*(o._h for o in others))
        _ffi.call(_ffi.lib.ic_session_merge, self._h, arr, len(others))
        self._forks_out = False

    def as_bytes(self) -> bytes:
        """The session serialized (base, branch, uncommitted changes; not
        chunk data, which is already in storage). Restore it with
        :meth:`Repository.session_from_bytes`."""
        data = c_void_p()
        n = c_size_t(0)
        _ffi.call(_ffi.lib.ic_session_to_bytes, self._h, byref(data), byref(n))
        return _ffi.take_buffer(data, n.value)

    @contextlib.contextmanager
    def allow_pickling(self) -> Iterator[None]:
        """Inside this block the writable session pickles (upstream's way of
        sending it to workers). Each unpickled copy carries the changes
        made so far, collects its own and pickles again (to come back):
        send the copies back and :meth:`merge` them into this session
        (or :func:`icechunk_go.distributed.merge_sessions`) before
        committing, or their changes are lost. :meth:`fork` does the same
        without the block."""
        prev = self._pickling_allowed
        self._pickling_allowed = True
        try:
            yield
        finally:
            self._pickling_allowed = prev

    def __reduce__(self) -> Any:
        if not self.read_only and not self.is_fork and not self._pickling_allowed:
            raise SessionPicklingError(
                "a writable session cannot be pickled: its changes would be split between "
                "copies and lost. Call session.fork() and send the fork to workers (forks "
                "pickle), then session.merge(*forks) and commit; or opt-in to pickling it inside "
                "`with session.allow_pickling():` and merge the copies back; or pickle a read-only session."
            )
        state = (self._repo.storage, self.as_bytes(), self._token)
        if self._pickling_allowed:
            # A copy made inside allow_pickling is meant to come back: it
            # pickles too.
            return (_session_from_pickle, (*state, True))
        return (_session_from_pickle, state)

    def __dask_tokenize__(self) -> Any:
        return ("icechunk_go.Session", self._token, self.snapshot_id)

    # --- nodes and chunks ---------------------------------------------------

    def chunk_coordinates(self, array_path: str, batch_size: int = 1000) -> _Coordinates:
        """The coordinates of every chunk written in the array at
        ``array_path`` (such as ``"/group/array"``), in no promised order.
        Iterate it with ``for`` or, as upstream's, ``async for`` (the
        library is then called on a thread); ``batch_size`` is taken for
        upstream's signature: the coordinates are read in one call."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return _Coordinates(self, _ffi.cstr(array_path, "path"))

    def _coordinates(self, path: bytes) -> list[tuple[int, ...]]:
        items = _ffi.iter_all(_ffi.lib.ic_session_chunk_coordinates, self._h, path)
        return [tuple(int(i) for i in c) for c in items]

    def chunk_type(self, array_path: str, chunk_coordinates: Sequence[int]) -> ChunkType:
        """How the chunk at ``chunk_coordinates`` of the array at
        ``array_path`` is stored; :attr:`ChunkType.UNINITIALIZED` if none
        was written there.

        Raises
        ------
        NotFoundError
            No array at ``array_path``.
        InvalidArgumentError
            The coordinates are outside the array's chunk grid or have the
            wrong number of dimensions.
        """
        coords = [int(c) for c in chunk_coordinates]
        c = (c_uint32 * max(len(coords), 1))(*coords)
        kind = c_int32(0)
        _ffi.call(
            _ffi.lib.ic_session_chunk_type, self._h, _ffi.cstr(array_path, "path"), c, len(coords), byref(kind)
        )
        return ChunkType(kind.value)

    def all_virtual_chunk_locations(self) -> list[str]:
        """The locations (URLs) virtual chunks of the session point at, each
        once."""
        return [str(x) for x in _ffi.iter_all(_ffi.lib.ic_session_virtual_chunk_locations, self._h)]

    def get_node(self, path: str) -> dict[str, Any]:
        """The node at ``path`` as a dict: ``path``, ``type`` ("group" or
        "array"), ``zarr_metadata`` and, for arrays, ``shape``,
        ``chunk_shape`` and ``dimension_names``.

        Raises
        ------
        NotFoundError
        """
        return dict(_ffi.json_result(_ffi.lib.ic_session_get_node, self._h, _ffi.cstr(path, "path")))

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node of the session (as :meth:`get_node`), sorted by path."""
        return list(_ffi.json_result(_ffi.lib.ic_session_list_nodes, self._h))

    def set_virtual_ref(
        self,
        array_path: str,
        coords: tuple[int, ...] | list[int],
        location: str,
        *,
        offset: int,
        length: int,
        last_modified: int | None = None,
        etag: str | None = None,
    ) -> None:
        """Records the chunk at ``coords`` of the array at ``array_path`` as
        ``length`` bytes at ``offset`` of the object at ``location`` (a URL
        under one of the repository's virtual chunk containers), optionally
        pinned to its modification time (Unix seconds) and entity tag:
        reads fail if the object changed."""
        ref = VirtualChunkSpec(tuple(coords), location, offset, length, etag_checksum=etag)._to_json()
        if last_modified:
            ref["last_modified"] = int(last_modified)
        self._set_virtual_ref(array_path, ref, validate=True)

    def _set_virtual_ref(self, array_path: str, ref: dict[str, Any], *, validate: bool) -> None:
        """Sets one virtual ref (a JSON dict); with ``validate``, one outside
        every virtual chunk container raises instead of being skipped."""
        if self._set_virtual_refs(array_path, [ref], validate=validate):
            raise _error_for(
                _ffi.IC_ERR_VIRTUAL_CHUNK,
                f"virtual chunk location {ref['location']!r} is outside every virtual chunk container "
                "of the repository; add a container for it to the repository config",
                {},
            )

    def _set_virtual_refs(self, array_path: str, refs: list[dict[str, Any]], *, validate: bool) -> list[tuple[int, ...]]:
        """ic_session_set_virtual_refs: sets refs (JSON dicts) and returns
        the coordinates of those refused for lying outside every virtual
        chunk container (only when ``validate``)."""
        out = c_void_p()
        _ffi.call(
            _ffi.lib.ic_session_set_virtual_refs,
            self._h,
            _ffi.cstr(array_path, "path"),
            _ffi.cstr(_dumps(refs), "virtual refs"),
            1 if validate else 0,
            byref(out),
        )
        return [tuple(int(i) for i in c) for c in _ffi.take_json(out)]

    # --- async twins (upstream's *_async methods) ---------------------------

    commit_async = on_thread(commit)
    flush_async = on_thread(flush)
    rebase_async = on_thread(rebase)
    merge_async = on_thread(merge)
    chunk_type_async = on_thread(chunk_type)
    all_virtual_chunk_locations_async = on_thread(all_virtual_chunk_locations)

    def __repr__(self) -> str:
        try:
            where = f"branch={self.branch!r}" if not self.read_only else "read-only"
            return f"<icechunk_go.Session {where} snapshot={self.snapshot_id}>"
        except IcechunkError:
            return "<icechunk_go.Session (freed)>"


class _Coordinates:
    """The chunk coordinates of one array, an iterator for ``for`` and
    ``next()`` and an async iterable for ``async for`` (see
    :meth:`Session.chunk_coordinates`). They are read on first use."""

    __slots__ = ("_items", "_path", "_session")

    def __init__(self, session: Session, path: bytes) -> None:
        self._session = session
        self._path = path
        self._items: Iterator[tuple[int, ...]] | None = None

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return self

    def __next__(self) -> tuple[int, ...]:
        if self._items is None:
            self._items = iter(self._session._coordinates(self._path))
        return next(self._items)

    async def _aiter(self) -> AsyncIterator[tuple[int, ...]]:
        for c in await asyncio.to_thread(self._session._coordinates, self._path):
            yield c

    def __aiter__(self) -> AsyncIterator[tuple[int, ...]]:
        return self._aiter()


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=_json_default)


def _json_default(o: Any) -> Any:
    import datetime

    if isinstance(o, datetime.datetime | datetime.date):
        return o.isoformat()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# Repositories reopened to restore pickled sessions, by storage: workers
# that receive many sessions of one repository open it once.
_repo_cache: OrderedDict[str, Repository] = OrderedDict()
_repo_cache_lock = threading.Lock()
_REPO_CACHE_SIZE = 8


def _repo_for(storage: Storage) -> Repository:
    from .repository import Repository

    key = storage._key()
    with _repo_cache_lock:
        repo = _repo_cache.get(key)
        if repo is not None:
            _repo_cache.move_to_end(key)
            return repo
    repo = Repository.open(storage)
    with _repo_cache_lock:
        _repo_cache[key] = repo
        while len(_repo_cache) > _REPO_CACHE_SIZE:
            _repo_cache.popitem(last=False)
    return repo


class ForkSession(Session):
    """A fork of a writable session (upstream Icechunk's ``ForkSession``),
    made by :meth:`Session.fork`: a worker writes through its store, and
    the fork travels back (it pickles) to be merged with
    :meth:`Session.merge`. A fork cannot commit."""


def _session_class(handle: int) -> type[Session]:
    """The class of the session behind handle: a fork or not."""
    return ForkSession if _ffi.bool_result(_ffi.lib.ic_session_is_fork, handle) else Session


def _session_from_pickle(storage: Storage, data: bytes, token: str, pickling_allowed: bool = False) -> Session:
    repo = _repo_for(storage)
    s = repo.session_from_bytes(data)
    s._token = token
    s._pickling_allowed = pickling_allowed
    return s
