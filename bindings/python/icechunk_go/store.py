"""IcechunkStore: the zarr-python store of a session."""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import functools
import os
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from ctypes import byref, c_char_p, c_int32, c_size_t, c_uint64, c_void_p
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from zarr.abc.store import (
    ByteRequest,
    OffsetByteRequest,
    RangeByteRequest,
    Store,
    SuffixByteRequest,
)
from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype

from . import _ffi
from ._aio import on_thread
from .chunks import VirtualChunkSpec, _virtual_ref_json
from .errors import NotFoundError, ReadOnlyError, _error_for

if TYPE_CHECKING:
    from zarr.core.common import BytesLike

    from .session import Session

__all__ = ["IcechunkStore"]

T = TypeVar("T")

_READ_ONLY_MESSAGE = "store was opened in read-only mode and does not support writing"

# --- the thread pool running library calls -------------------------------------
#
# Async methods hand their library calls to this pool (all but the calls on
# metadata keys, see below), so the event loop never waits on storage.
# ctypes releases the GIL during the call, so the pool's threads run in
# parallel inside the library.

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                n = int(os.environ.get("ICECHUNK_GO_THREADS", "0")) or min(64, 4 * (os.cpu_count() or 2) + 4)
                _executor = ThreadPoolExecutor(max_workers=n, thread_name_prefix="icechunk_go")
    return _executor


async def _run(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(), functools.partial(fn, *args))


# --- metadata keys, called inline ------------------------------------------------
#
# The library answers calls on metadata keys (zarr.json, and the Zarr v2
# names it knows are never stored) from memory in microseconds: node
# lookups read the session's base snapshot, which the session keeps in
# memory once read, and writes go to its in-memory change set. The store
# makes those calls directly on the event loop's thread, which saves the
# hand-off to the pool and back (hundreds of microseconds a call); so are
# listings of a group's directory (ic_store_list_group_dir). Chunk keys,
# and listings inside arrays, may read storage and always go through the
# pool. ctypes releases the GIL during the call, and the session is safe
# for concurrent use, so pool threads keep running chunk calls meanwhile.
# While a commit or rebase runs (it holds the session's lock while it
# talks to storage), and until a restored or committed session has read
# its base snapshot (on the pool), metadata calls go through the pool too.

_METADATA_NAMES = frozenset(("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"))


def _is_metadata_key(key: str) -> bool:
    return key.rpartition("/")[2] in _METADATA_NAMES


# --- byte ranges -------------------------------------------------------------------


def _c_range(byte_range: ByteRequest | None) -> _ffi.ByteRange | None:
    if byte_range is None:
        return None
    if isinstance(byte_range, RangeByteRequest):
        return _ffi.ByteRange(_ffi.RANGE_BOUNDED, byte_range.start, byte_range.end)
    if isinstance(byte_range, OffsetByteRequest):
        return _ffi.ByteRange(_ffi.RANGE_FROM, byte_range.offset, 0)
    if isinstance(byte_range, SuffixByteRequest):
        return _ffi.ByteRange(_ffi.RANGE_SUFFIX, byte_range.suffix, 0)
    raise TypeError(f"Unexpected byte_range, got {byte_range}.")


def _value(value: Any) -> np.ndarray[Any, Any]:
    """The bytes of a Buffer as a contiguous uint8 array (no copy for CPU buffers)."""
    if not isinstance(value, Buffer):
        raise TypeError(
            f"IcechunkStore.set(): `value` must be a Buffer instance. Got an instance of {type(value)} instead."
        )
    try:
        arr = value.as_numpy_array()
    except Exception:  # a buffer that lives elsewhere (GPU): copy it
        return np.frombuffer(value.to_bytes(), dtype=np.uint8)
    arr = np.ascontiguousarray(arr)
    return arr.reshape(-1).view(np.uint8)


# --- blocking calls (run in the pool) -----------------------------------------------

_Result = tuple[int, Any]  # (status, bytes | None) or (status, exception)


def _get(h: int, key: str, rng: _ffi.ByteRange | None) -> bytes | np.ndarray[Any, Any] | None:
    """The value at key (large values as a read-only array over the
    library's buffer, see _ffi.take_buffer_view), or None if missing."""
    data = c_void_p()
    n = c_size_t(0)
    found = c_int32(0)
    _ffi.call(
        _ffi.lib.ic_store_get,
        h,
        _ffi.cstr(key, "key"),
        byref(rng) if rng is not None else None,
        byref(data),
        byref(n),
        byref(found),
    )
    if not found.value:
        return None
    return _ffi.take_buffer_view(data, n.value)


def _get_many(h: int, keys: list[str], ranges: list[_ffi.ByteRange | None]) -> list[Any]:
    """Reads many keys in one call. Returns, per key, a view of its bytes,
    None if missing, or the exception for that key.

    The values share the one buffer the library returns, without a copy
    (unless it is small): the buffer is freed when no value of the batch is
    referenced any more. A value kept alive therefore keeps its whole batch
    in memory; zarr decodes each chunk into its output array and drops it,
    so in practice batches are freed as soon as they are decoded."""
    n = len(keys)
    if n == 0:
        return []
    ckeys = (c_char_p * n)(*(_ffi.cstr(k, "key") for k in keys))
    cranges = None
    if any(r is not None for r in ranges):
        cranges = (_ffi.ByteRange * n)(*(r if r is not None else _ffi.ByteRange(_ffi.RANGE_ALL, 0, 0) for r in ranges))
    results = (_ffi.GetResult * n)()
    errors = (c_uint64 * n)()
    data = c_void_p()
    data_len = c_size_t(0)
    _ffi.call(_ffi.lib.ic_store_get_many, h, ckeys, cranges, n, results, byref(data), byref(data_len), errors)
    taken = _ffi.take_buffer_view(data, data_len.value)
    buf = memoryview(taken) if isinstance(taken, bytes) else taken
    out: list[Any] = []
    for i in range(n):
        r = results[i]
        if r.status != _ffi.IC_OK:
            out.append(_ffi.error_from_handle(r.status, errors[i]))
        elif errors[i]:
            _ffi.lib.ic_error_free(errors[i])
            out.append(None)
        elif r.found:
            out.append(buf[r.offset : r.offset + r.len])
        else:
            out.append(None)
    return out


def _set(h: int, key: str, value: np.ndarray[Any, Any]) -> None:
    _ffi.call(_ffi.lib.ic_store_set, h, _ffi.cstr(key, "key"), value.ctypes.data, value.nbytes)


def _set_many(h: int, keys: list[str], values: list[np.ndarray[Any, Any]]) -> None:
    n = len(keys)
    if n == 0:
        return
    ckeys = (c_char_p * n)(*(_ffi.cstr(k, "key") for k in keys))
    ptrs = (c_void_p * n)(*(v.ctypes.data for v in values))
    lens = (c_size_t * n)(*(v.nbytes for v in values))
    _ffi.call(_ffi.lib.ic_store_set_many, h, ckeys, ptrs, lens, n)


def _set_behind(h: int, key: str, value: np.ndarray[Any, Any], wait: int) -> bool:
    """Sets a chunk without waiting for storage (ic_store_set_behind);
    False if the library's write-behind memory is full and wait is 0."""
    accepted = c_int32(0)
    _ffi.call(
        _ffi.lib.ic_store_set_behind, h, _ffi.cstr(key, "key"), value.ctypes.data, value.nbytes, wait, byref(accepted)
    )
    return bool(accepted.value)


def _set_if_not_exists(h: int, key: str, value: np.ndarray[Any, Any]) -> bool:
    stored = c_int32(0)
    _ffi.call(
        _ffi.lib.ic_store_set_if_not_exists, h, _ffi.cstr(key, "key"), value.ctypes.data, value.nbytes, byref(stored)
    )
    return bool(stored.value)


def _size(h: int, key: str) -> int:
    out = c_uint64(0)
    try:
        _ffi.call(_ffi.lib.ic_store_get_size, h, _ffi.cstr(key, "key"), byref(out))
    except NotFoundError as e:
        raise FileNotFoundError(key) from e
    return out.value


def _size_prefix(h: int, prefix: str) -> int:
    out = c_uint64(0)
    _ffi.call(_ffi.lib.ic_store_get_size_prefix, h, _ffi.cstr(prefix, "prefix"), byref(out))
    return out.value


def _list_group_dir(h: int, prefix: bytes) -> list[str] | None:
    """The names in the directory of a group (from memory), or None if
    prefix is not a group's directory."""
    out = c_void_p()
    listed = c_int32(0)
    _ffi.call(_ffi.lib.ic_store_list_group_dir, h, prefix, byref(out), byref(listed))
    if not listed.value:
        return None
    return [str(k) for k in _ffi.take_json(out)]


def _list_keys(fn: Any, h: int, *args: Any) -> list[str]:
    # Opened, read and freed in this one call (on one thread).
    return [str(k) for k in _ffi.iter_all(fn, h, *args)]


# --- batching of concurrent calls ---------------------------------------------------
#
# zarr reads the chunks of a selection with many concurrent store.get
# calls, most issued in the same turn of the event loop. A batcher collects
# the calls of one turn and sends them to the library in one
# ic_store_get_many call (one crossing, one thread hand-off, run in
# parallel inside the library) instead of one call each. A batch of one is
# a plain call. The library reads chunks stored together with one request.
# (Chunk sets are written behind instead, see below; sets of metadata keys
# made before the session's metadata is in memory are batched the same
# way, with ic_store_set_many.)
#
# Batching pays for small values, whose cost is the crossing. For large
# ones it can stall the pipeline: zarr keeps a fixed number of calls in
# flight, a batch finishes only when its slowest value is done, and no new
# call starts meanwhile. So a batch is sent as soon as it holds
# _BATCH_BYTES. One call per value costs more than it saves (measured with
# 256 KiB chunks, local and S3). Since chunks are written behind in
# objects of a few MiB, the chunks of a batch of 3 MiB (all of zarr's ten
# 256 KiB reads in flight) are mostly one request: on S3 that halved the
# GETs and the client's and server's CPU against batches of 1 MiB, and
# reads on local disk did no worse. A set's size is known; a get's is
# guessed from the values the batcher returned last.

_MAX_BATCH = 256
_BATCH_BYTES = 3 * 1024 * 1024


class _Batcher:
    __slots__ = ("h", "loop", "one", "many", "pending", "pending_bytes", "scheduled", "typical")

    def __init__(
        self,
        h: int,
        loop: asyncio.AbstractEventLoop,
        one: Callable[..., list[Any]],
        many: Callable[..., list[Any]],
    ) -> None:
        self.h = h
        self.loop = loop
        self.one = one  # (h, *args) -> [result or exception]
        self.many = many  # (h, [args...]) -> [result or exception per call]
        self.pending: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self.pending_bytes = 0
        self.scheduled = False
        self.typical = 0  # bytes of a value returned lately (gets)

    def submit(self, nbytes: int | None, *args: Any) -> asyncio.Future[Any]:
        """Queues a call with args; nbytes is its value's size, None if not
        known before the call (a get)."""
        fut = self.loop.create_future()
        self.pending.append((args, fut))
        self.pending_bytes += self.typical if nbytes is None else nbytes
        if len(self.pending) >= _MAX_BATCH or self.pending_bytes >= _BATCH_BYTES:
            self._flush()
        elif not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        batch, self.pending, self.pending_bytes, self.scheduled = self.pending, [], 0, False
        batch = [b for b in batch if not b[1].done()]
        if not batch:
            return
        if len(batch) == 1:
            job = self.loop.run_in_executor(_pool(), self.one, self.h, *batch[0][0])
        else:
            job = self.loop.run_in_executor(_pool(), self.many, self.h, [b[0] for b in batch])
        job.add_done_callback(functools.partial(_deliver, self, [b[1] for b in batch]))

    def observe(self, results: list[Any]) -> None:
        """Notes the size of values returned, for the next guesses."""
        sizes = [len(r) for r in results if r is not None and not isinstance(r, BaseException)]
        if sizes:
            self.typical = sum(sizes) // len(sizes)


def _deliver(batcher: _Batcher, futs: list[asyncio.Future[Any]], job: asyncio.Future[list[Any]]) -> None:
    if job.cancelled():
        for f in futs:
            if not f.done():
                f.cancel()
        return
    exc = job.exception()
    if exc is not None:
        for f in futs:
            if not f.done():
                f.set_exception(exc)
        return
    results = job.result()
    batcher.observe(results)
    for f, r in zip(futs, results, strict=True):
        if f.done():
            continue
        if isinstance(r, BaseException):
            f.set_exception(r)
        else:
            f.set_result(r)


def _one_get(h: int, key: str, rng: _ffi.ByteRange | None) -> list[Any]:
    try:
        return [_get(h, key, rng)]
    except Exception as e:
        return [e]


def _many_get(h: int, calls: list[tuple[str, _ffi.ByteRange | None]]) -> list[Any]:
    return _get_many(h, [c[0] for c in calls], [c[1] for c in calls])


def _one_set(h: int, key: str, value: np.ndarray[Any, Any]) -> list[Any]:
    try:
        _set(h, key, value)
        return [None]
    except Exception as e:
        return [e]


def _many_set(h: int, calls: list[tuple[str, np.ndarray[Any, Any]]]) -> list[Any]:
    try:
        _set_many(h, [c[0] for c in calls], [c[1] for c in calls])
        return [None] * len(calls)
    except Exception:
        # ic_store_set_many reports only the first failure: set each key on
        # its own to give every caller its own outcome (setting a key again
        # to the same value changes nothing).
        return [_one_set(h, *c)[0] for c in calls]


# --- chunk writes: write-behind ----------------------------------------------------
#
# A chunk set is handed to the library with ic_store_set_behind: it copies
# the chunk, records it in the session and returns, and writes chunks
# packed into objects in the background (sized for the storage: a few MiB
# on S3). zarr keeps a fixed number of sets in flight and waits for each;
# so it never waits for storage, and the library, not zarr's in-flight
# count, decides how large objects are. The call is made on the event
# loop's thread, like metadata calls. When the library's write-behind
# memory is full it refuses without blocking, and the set queues here: one
# pool job at a time hands the queued sets over, waiting, in the order
# zarr made them, so chunks written one after the other stay one after
# the other in their objects (reads of neighbouring chunks are then one
# request). While any set is queued, new ones queue behind it.


class _BehindQueue:
    __slots__ = ("h", "loop", "items", "lock", "running")

    def __init__(self, h: int, loop: asyncio.AbstractEventLoop) -> None:
        self.h = h
        self.loop = loop
        self.items: collections.deque[tuple[str, np.ndarray[Any, Any], asyncio.Future[None]]] = collections.deque()
        self.lock = threading.Lock()
        self.running = False

    def __bool__(self) -> bool:
        return bool(self.items)

    def submit(self, key: str, value: np.ndarray[Any, Any]) -> asyncio.Future[None]:
        fut = self.loop.create_future()
        with self.lock:
            self.items.append((key, value, fut))
            start = not self.running
            self.running = True
        if start:
            self.loop.run_in_executor(_pool(), self._drain)
        return fut

    def _drain(self) -> None:
        # On a pool thread: hand the queued sets over, oldest first.
        while True:
            with self.lock:
                if not self.items:
                    self.running = False
                    return
                key, value, fut = self.items[0]
            try:
                _set_behind(self.h, key, value, 1)
                err: BaseException | None = None
            except Exception as e:
                err = e
            with self.lock:
                self.items.popleft()
            self.loop.call_soon_threadsafe(_settle, fut, err)


def _settle(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(err)


# --- the store ------------------------------------------------------------------------------


class IcechunkStore(Store):
    """The Zarr store of a :class:`Session` (a ``zarr.abc.store.Store``).

    Get it as ``session.store``. It holds Zarr v3 hierarchies: ``zarr.json``
    documents of groups and arrays, and the chunk keys of existing arrays
    (in each array's chunk key encoding). Writes of other keys raise
    :class:`InvalidKeyError`; reads of them find nothing.

    Reads of chunk keys, listings and other calls that may reach storage
    run on a thread pool, so the event loop never waits on storage, and
    concurrent gets run in parallel in the library. Gets issued together
    (as zarr does for the chunks of a selection) cross into the library in
    one batch. Chunk sets are written behind: the library copies the chunk
    and returns, and writes chunks packed into objects in the background
    (reads see them at once; :meth:`Session.commit` and
    :meth:`Session.flush` wait for them, and report a failed write). Calls
    on metadata keys (``zarr.json``) and listings of a group's directory,
    which the library answers from memory, are made directly on the event
    loop's thread.

    The store is read-only when its session is (read-only sessions, and
    writable ones after commit), or when made with ``read_only=True``.
    Pickling the store pickles its session: read-only sessions and forks
    pickle; a writable session must be forked first.

    Parameters
    ----------
    session : Session
    read_only : bool, optional
        True makes a read-only view of a writable session. By default the
        store follows its session.
    """

    _session: Session
    _ro: bool
    _batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[_Batcher, _Batcher]]
    _behind_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _BehindQueue]

    def __init__(self, session: Session, read_only: bool | None = None) -> None:
        super().__init__(read_only=bool(read_only))
        self._session = session
        self._ro = bool(read_only)
        if read_only is False and session.read_only:
            raise ReadOnlyError("cannot make a writable store of a read-only session")
        self._batchers = weakref.WeakKeyDictionary()
        self._behind_queues = weakref.WeakKeyDictionary()

    @property
    def session(self) -> Session:
        """The session the store reads and writes."""
        return self._session

    @property
    def _h(self) -> int:
        return self._session._h

    @property
    def read_only(self) -> bool:
        """True if the store rejects writes."""
        return self._ro or self._session.read_only

    def _check_writable(self) -> None:
        if self.read_only:
            why = "made with read_only=True" if self._ro else "its session is read-only"
            raise ReadOnlyError(f"{_READ_ONLY_MESSAGE} ({why})")

    def with_read_only(self, read_only: bool = False) -> IcechunkStore:
        """A new store on the same session with another read-only setting
        (a writable one only if the session is writable)."""
        return IcechunkStore(self._session, read_only=read_only)

    def __eq__(self, other: object) -> bool:
        """Stores are equal when they read and write the same session in the
        same state: the same session object, a pickled copy of it that has
        not diverged, or read-only sessions at the same snapshot of the same
        storage."""
        if not isinstance(other, IcechunkStore):
            return False
        if self.read_only != other.read_only:
            return False
        a, b = self._session, other._session
        if a is b or a._h == b._h:
            return True
        if a.repository.storage != b.repository.storage:
            return False
        if a.read_only and b.read_only:
            return a.snapshot_id == b.snapshot_id
        return a._token == b._token and a.as_bytes() == b.as_bytes()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        s = self._session
        try:
            where = f"branch {s.branch!r}" if s.branch else f"snapshot {s.snapshot_id}"
            desc = s.repository.storage.describe()
        except Exception:
            return "<IcechunkStore (freed session)>"
        ro = ", read-only" if self.read_only else ""
        return f"<IcechunkStore {desc} {where}{ro}>"

    def __reduce__(self) -> Any:
        return (_store_from_pickle, (self._session, self._ro, self._is_open))

    def __dask_tokenize__(self) -> Any:
        return ("icechunk_go.IcechunkStore", self._session._token, self._session.snapshot_id, self.read_only)

    # --- capabilities --------------------------------------------------------

    @property
    def supports_writes(self) -> bool:
        return True

    @property
    def supports_deletes(self) -> bool:
        return True

    @property
    def supports_listing(self) -> bool:
        return True

    @property
    def supports_consolidated_metadata(self) -> bool:
        # Metadata lives in the repository's snapshot: one read gives every
        # node, so there is nothing to consolidate.
        return False

    # --- reads ---------------------------------------------------------------

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """The value at ``key`` (``byte_range`` of it), or None if missing."""
        rng = _c_range(byte_range)
        proto = prototype or default_buffer_prototype()
        if _is_metadata_key(key) and await self._metadata_ready():
            data = _get(self._h, key, rng)
        else:
            data = await self._batcher(0).submit(None, key, rng)
        return None if data is None else proto.buffer.from_bytes(data)

    async def _metadata_ready(self) -> bool:
        """True if the library may be called on the event loop's thread for
        metadata keys: the session's base snapshot is in memory (read here,
        on the pool, if it is not yet) and no commit or rebase holds the
        session. Returns without suspending when it is. Callers check
        _is_metadata_key first, so chunk calls never pay for a coroutine."""
        s = self._session
        if not s._meta_loaded and not s._busy:
            await _run(s._load_metadata)
        return s._metadata_in_memory()

    async def _call(self, key: str, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args), a library call on key: made on the event loop's thread
        for a metadata key the library answers from memory, else on the
        pool. (get and set check inline instead, so that chunk calls, which
        batch, never pay for this coroutine.)"""
        if _is_metadata_key(key) and await self._metadata_ready():
            return fn(*args)
        return await _run(fn, *args)

    def _behind_queue(self) -> _BehindQueue:
        """The queue of write-behind sets of the running event loop."""
        loop = asyncio.get_running_loop()
        q = self._behind_queues.get(loop)
        if q is None:
            q = _BehindQueue(self._h, loop)
            self._behind_queues[loop] = q
        return q

    def _batcher(self, which: int) -> _Batcher:
        """The get (0) or set (1) batcher of the running event loop."""
        loop = asyncio.get_running_loop()
        b = self._batchers.get(loop)
        if b is None:
            b = (
                _Batcher(self._h, loop, _one_get, _many_get),
                _Batcher(self._h, loop, _one_set, _many_set),
            )
            self._batchers[loop] = b
        return b[which]

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        """Many (key, byte range) reads in one library call."""
        kr = list(key_ranges)
        if not kr:
            return []
        ranges = [_c_range(r) for _, r in kr]
        res = await _run(_get_many, self._h, [k for k, _ in kr], ranges)
        out: list[Buffer | None] = []
        for r in res:
            if isinstance(r, BaseException):
                raise r
            out.append(None if r is None else prototype.buffer.from_bytes(r))
        return out

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, ByteRequest | None]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        reqs = list(requests)
        if not reqs:
            return
        res = await _run(_get_many, self._h, [r[0] for r in reqs], [_c_range(r[2]) for r in reqs])
        for (key, proto, _), r in zip(reqs, res, strict=True):
            if isinstance(r, BaseException):
                raise r
            yield key, (None if r is None else proto.buffer.from_bytes(r))

    async def exists(self, key: str) -> bool:
        """True if ``key`` holds a value."""
        return await self._call(key, _ffi.bool_result, _ffi.lib.ic_store_exists, self._h, _ffi.cstr(key, "key"))

    async def getsize(self, key: str) -> int:
        """The size of the value at ``key``; FileNotFoundError if missing."""
        return await self._call(key, _size, self._h, key)

    async def getsize_prefix(self, prefix: str) -> int:
        """The total size of the values whose keys start with ``prefix``."""
        return await _run(_size_prefix, self._h, prefix)

    async def is_empty(self, prefix: str) -> bool:
        """True if no key lies under the directory ``prefix`` ("" for all)."""
        return await _run(_ffi.bool_result, _ffi.lib.ic_store_is_empty, self._h, _ffi.cstr(prefix, "prefix"))

    # --- writes ---------------------------------------------------------------

    async def set(self, key: str, value: Buffer) -> None:
        """Stores ``value`` at ``key``: a zarr.json adds or updates its node,
        a chunk key writes that chunk of its array."""
        self._check_writable()
        v = _value(value)
        if _is_metadata_key(key):
            if await self._metadata_ready():
                _set(self._h, key, v)
            else:
                await self._batcher(1).submit(v.nbytes, key, v)
        else:
            q = self._behind_queue()
            if q or not (self._session._metadata_in_memory() and _set_behind(self._h, key, v, 0)):
                # Sets are queued, the array is not in memory yet, a commit
                # holds the session, or the write-behind memory is full.
                await q.submit(key, v)

    async def set_partial_values(self, key_start_values: Iterable[tuple[str, int, BytesLike]]) -> None:
        """Not supported, as upstream Icechunk's store does not support
        them (``supports_partial_writes`` is False, and zarr-python 3 never
        writes part of a value): raises NotImplementedError."""
        self._check_writable()
        raise NotImplementedError(
            "IcechunkStore does not support partial writes (supports_partial_writes is False): set whole values"
        )

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Stores ``value`` at ``key`` only if the key is missing (atomic
        within the session)."""
        self._check_writable()
        v = _value(value)
        await self._call(key, _set_if_not_exists, self._h, key, v)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        self._check_writable()
        items = [(k, _value(v)) for k, v in values]
        await _run(_set_many, self._h, [k for k, _ in items], [v for _, v in items])

    async def delete(self, key: str) -> None:
        """Deletes the value at ``key``; a missing key is not an error.
        Deleting a zarr.json removes that node with everything under it
        (a group with its members), as upstream Icechunk's store does."""
        self._check_writable()
        await self._call(key, _ffi.call, _ffi.lib.ic_store_delete, self._h, _ffi.cstr(key, "key"))

    async def delete_dir(self, prefix: str) -> None:
        """Deletes every key under the directory ``prefix``."""
        self._check_writable()
        await _run(_ffi.call, _ffi.lib.ic_store_delete_dir, self._h, _ffi.cstr(prefix, "prefix"))

    async def clear(self) -> None:
        """Deletes every node and chunk."""
        self._check_writable()
        await _run(_ffi.call, _ffi.lib.ic_store_clear, self._h)

    def sync_clear(self) -> None:
        """As :meth:`clear`, blocking: deletes every node and chunk of the
        session (history is not touched)."""
        self._check_writable()
        _ffi.call(_ffi.lib.ic_store_clear, self._h)

    # --- virtual chunks -------------------------------------------------------

    def set_virtual_ref(
        self,
        key: str,
        location: str,
        *,
        offset: int,
        length: int,
        checksum: str | _dt.datetime | None = None,
        validate_container: bool = True,
    ) -> None:
        """Records the chunk at the zarr key ``key`` (such as
        ``"array/c/0/1"``) as ``length`` bytes at ``offset`` of the object
        at ``location`` (a URL such as ``"s3://bucket/file.nc"``).

        ``checksum`` pins the object's version: a str is its entity tag, a
        datetime its modification time; reads fail once the object changed.
        With ``validate_container`` a location under no virtual chunk
        container of the repository's configuration raises
        :class:`IcechunkError`; without it the reference is stored, and
        reading it fails until such a container exists.

        Raises
        ------
        InvalidKeyError
            ``key`` is not a chunk key of an array.
        """
        self._check_writable()
        path, coords = self._chunk_of(key)
        etag, modified = _checksum(checksum)
        ref = _virtual_ref_json(coords, location, offset, length, etag, modified)
        self._session._set_virtual_ref(path, ref, validate=validate_container)

    def set_virtual_refs(
        self,
        array_path: str,
        chunks: list[VirtualChunkSpec],
        *,
        validate_containers: bool = True,
    ) -> list[tuple[int, ...]] | None:
        """Records many virtual chunks of the array at ``array_path`` in
        one call. With ``validate_containers``, chunks whose location is
        under no virtual chunk container are skipped and their coordinates
        returned; the others are set. Returns None when every chunk was
        set.

        Raises
        ------
        InvalidArgumentError
            A chunk's coordinates are outside the array's grid (nothing is
            set).
        """
        self._check_writable()
        refs = [c._to_json() for c in chunks]
        failed = self._session._set_virtual_refs(_array_path(array_path), refs, validate=validate_containers)
        return failed or None

    def _chunk_of(self, key: str) -> tuple[str, tuple[int, ...]]:
        """The array path and chunk coordinates a chunk key names, read with
        the array's chunk key encoding."""
        parts = key.strip("/").split("/")
        for i in range(len(parts)):
            path = "/" + "/".join(parts[:i])
            try:
                node = self._session.get_node(path)
            except NotFoundError:
                break
            if node["type"] == "array":
                coords = _chunk_coords(node["zarr_metadata"], "/".join(parts[i:]))
                if coords is not None and len(coords) == len(node["shape"]):
                    return path, coords
                break
        raise _error_for(_ffi.IC_ERR_INVALID_KEY, f"{key!r} is not a chunk key of an array of the session", {})

    set_virtual_ref_async = on_thread(set_virtual_ref)
    set_virtual_refs_async = on_thread(set_virtual_refs)

    # --- listing --------------------------------------------------------------

    async def _list(self, fn: Any, *args: Any) -> AsyncIterator[str]:
        for k in await _run(_list_keys, fn, self._h, *args):
            yield k

    def list(self) -> AsyncIterator[str]:
        """Every key, in no promised order."""
        return self._list(_ffi.lib.ic_store_list)

    def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """The keys that start with ``prefix``."""
        return self._list(_ffi.lib.ic_store_list_prefix, _ffi.cstr(prefix, "prefix"))

    def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """The names of the immediate children of the directory ``prefix``."""
        return self._list_dir(_ffi.cstr(prefix, "prefix"))

    async def _list_dir(self, prefix: bytes) -> AsyncIterator[str]:
        # A group's directory is listed from memory, on the event loop's
        # thread; any other (inside an array's keys) may read manifests.
        names = _list_group_dir(self._h, prefix) if await self._metadata_ready() else None
        if names is None:
            names = await _run(_list_keys, _ffi.lib.ic_store_list_dir, self._h, prefix)
        for k in names:
            yield k

    # --- synchronous access (zarr's SupportsSyncStore) ---------------------------

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """As :meth:`get`, blocking the calling thread."""
        data = _get(self._h, key, _c_range(byte_range))
        proto = prototype or default_buffer_prototype()
        return None if data is None else proto.buffer.from_bytes(data)

    def set_sync(self, key: str, value: Buffer) -> None:
        """As :meth:`set`, blocking the calling thread."""
        self._check_writable()
        _set(self._h, key, _value(value))

    def delete_sync(self, key: str) -> None:
        """As :meth:`delete`, blocking the calling thread."""
        self._check_writable()
        _ffi.call(_ffi.lib.ic_store_delete, self._h, _ffi.cstr(key, "key"))


def _store_from_pickle(session: Session, ro: bool, is_open: bool) -> IcechunkStore:
    s = IcechunkStore(session, read_only=ro or None)
    s._is_open = is_open
    return s


def _array_path(path: str) -> str:
    return path if path.startswith("/") else "/" + path


def _checksum(checksum: str | _dt.datetime | None) -> tuple[str | None, _dt.datetime | None]:
    """Upstream's ``checksum``: an entity tag (str) or a modification time."""
    if checksum is None or isinstance(checksum, str):
        return checksum, None
    if isinstance(checksum, _dt.datetime):
        return None, checksum
    raise TypeError(f"checksum must be an ETag (str) or a datetime, not {type(checksum).__name__}")


def _chunk_coords(meta: dict[str, Any], rest: str) -> tuple[int, ...] | None:
    """The coordinates the part of a key after its array's path names,
    under the array's chunk key encoding (zarr v3 "default" or "v2"); None
    if it names no chunk."""
    enc = meta.get("chunk_key_encoding") or {}
    name = enc.get("name", "default")
    sep = (enc.get("configuration") or {}).get("separator", "/" if name == "default" else ".")
    if name == "default":
        if rest == "c":
            return ()
        if not rest.startswith("c" + sep):
            return None
        rest = rest[2:]
    elif rest == "0" and not meta.get("shape"):
        return ()
    fields = rest.split(sep)
    if not all(f.isdigit() for f in fields):
        return None
    return tuple(int(f) for f in fields)
