"""The ctypes layer: loading libicechunk, function prototypes, and the
conversions every call needs (strings, buffers, errors, handles).

Nothing here is public. The rest of the package calls :func:`call` (which
turns a failed status into an exception and frees the error object) and the
small helpers below, and never touches ``ctypes`` memory management itself.

ctypes releases the GIL for the duration of every foreign call, so calls
made from many Python threads run in parallel inside the library.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import weakref
from collections.abc import Callable
from ctypes import (
    POINTER,
    Structure,
    byref,
    c_char_p,
    c_double,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any

import numpy as np

# The ABI version of include/icechunk.h this binding was written against.
# A library reporting another ic_abi_version() is refused at import.
ABI_VERSION = 1

# Environment variable naming a libicechunk.so (or a folder holding one) to
# load instead of the copy bundled in the package.
LIB_ENV = "ICECHUNK_GO_LIB"

LIB_NAME = "libicechunk.so" if sys.platform != "darwin" else "libicechunk.dylib"

# --- status codes (include/icechunk.h) --------------------------------------

IC_OK = 0
IC_ERR_INVALID_ARGUMENT = 1
IC_ERR_INVALID_HANDLE = 2
IC_ERR_BUFFER_TOO_SMALL = 3
IC_ERR_OUT_OF_MEMORY = 4
IC_ERR_INTERNAL = 5
IC_ERR_CANCELLED = 6
IC_ERR_REPO_NOT_FOUND = 10
IC_ERR_REPO_EXISTS = 11
IC_ERR_BRANCH_NOT_FOUND = 12
IC_ERR_BRANCH_EXISTS = 13
IC_ERR_TAG_NOT_FOUND = 14
IC_ERR_TAG_EXISTS = 15
IC_ERR_SNAPSHOT_NOT_FOUND = 16
IC_ERR_NOT_FOUND = 20
IC_ERR_ALREADY_EXISTS = 21
IC_ERR_NOT_AN_ARRAY = 22
IC_ERR_NOT_A_GROUP = 23
IC_ERR_INVALID_KEY = 24
IC_ERR_INVALID_PATH = 25
IC_ERR_INVALID_METADATA = 26
IC_ERR_INVALID_INDEX = 27
IC_ERR_INVALID_RANGE = 28
IC_ERR_READ_ONLY = 30
IC_ERR_NO_CHANGES = 31
IC_ERR_CONFLICT = 32
IC_ERR_REBASE_FAILED = 33
IC_ERR_BAD_SNAPSHOT_CHAIN = 34
IC_ERR_TX_LOGS_DISABLED = 35
IC_ERR_INVALID_TIMESTAMP = 36
IC_ERR_INVALID_SESSION_BYTES = 37
IC_ERR_VIRTUAL_CHUNK = 38
IC_ERR_STORAGE = 40
IC_ERR_CORRUPT = 41
IC_ERR_UNSUPPORTED_VERSION = 42

# ic_range_kind
RANGE_ALL, RANGE_BOUNDED, RANGE_FROM, RANGE_SUFFIX = 0, 1, 2, 3
# ic_version_kind
AT_BRANCH, AT_TAG, AT_SNAPSHOT = 1, 2, 3
# ic_solver_kind
SOLVER_DETECTOR, SOLVER_BASIC = 1, 2


# --- structs ----------------------------------------------------------------


class ByteRange(Structure):
    """ic_byte_range"""

    _fields_ = [("kind", c_int32), ("start", c_int64), ("end", c_int64)]


class GetResult(Structure):
    """ic_get_result"""

    _fields_ = [
        ("status", c_int32),
        ("found", c_int32),
        ("offset", c_size_t),
        ("len", c_size_t),
    ]


class Solver(Structure):
    """ic_solver"""

    _fields_ = [
        ("kind", c_int32),
        ("on_chunk_conflict", c_int32),
        ("fail_on_delete_of_updated_array", c_int32),
        ("fail_on_delete_of_updated_group", c_int32),
    ]


class Version(Structure):
    """ic_version"""

    _fields_ = [("kind", c_int32), ("name", c_char_p), ("as_of_unix_nanos", c_int64)]


# --- loading ----------------------------------------------------------------

_H = c_uint64  # every handle type
_ERR = POINTER(c_uint64)  # ic_error *err
_OUT_PTR = POINTER(c_void_p)  # char ** / uint8_t ** out-parameters
_U8P = c_void_p  # const uint8_t * in-parameters (passed as addresses)
_ST = c_int32

# ic_credentials_fn: int64_t (*)(void *user_data, char *buf, size_t cap)
CREDENTIALS_FN = ctypes.CFUNCTYPE(ctypes.c_int64, c_void_p, c_void_p, ctypes.c_size_t)

# name: (restype, argtypes)
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "ic_version_string": (c_char_p, []),
    "ic_version_number": (c_uint32, []),
    "ic_abi_version": (c_uint32, []),
    "ic_format_version": (c_uint32, []),
    "ic_status_name": (c_char_p, [_ST]),
    "ic_set_max_threads": (_ST, [c_int32, POINTER(c_int32), _ERR]),
    "ic_set_memory_limit": (_ST, [c_int64, POINTER(c_int64), _ERR]),
    "ic_set_logs_filter": (_ST, [c_char_p, POINTER(c_void_p), _ERR]),
    "ic_buffer_free": (_ST, [c_void_p]),
    "ic_string_free": (_ST, [c_void_p]),
    "ic_debug_live_objects": (_ST, [POINTER(c_uint64), POINTER(c_uint64)]),
    "ic_cancel_new": (_ST, [POINTER(_H), _ERR]),
    "ic_cancel_bind": (_ST, [_H, _ERR]),
    "ic_cancel_trigger": (_ST, [_H, _ERR]),
    "ic_cancel_triggered": (_ST, [_H, POINTER(c_int32), _ERR]),
    "ic_cancel_free": (_ST, [_H]),
    # errors
    "ic_error_code": (_ST, [_H]),
    "ic_error_message": (c_char_p, [_H]),
    "ic_error_conflict_count": (c_size_t, [_H]),
    "ic_error_json": (_ST, [_H, _OUT_PTR]),
    "ic_error_free": (_ST, [_H]),
    # storage
    "ic_storage_new_memory": (_ST, [c_char_p, POINTER(_H), _ERR]),
    "ic_storage_new_local": (_ST, [c_char_p, POINTER(_H), _ERR]),
    "ic_storage_new_http_options": (_ST, [c_char_p, c_char_p, POINTER(_H), _ERR]),
    "ic_storage_new_s3_json": (_ST, [c_char_p, POINTER(_H), _ERR]),
    "ic_storage_new_s3_refreshable": (_ST, [c_char_p, CREDENTIALS_FN, c_void_p, POINTER(_H), _ERR]),
    "ic_storage_describe": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_storage_default_settings": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_storage_free": (_ST, [_H]),
    # repositories
    "ic_repo_create": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_repo_open": (_ST, [_H, POINTER(_H), _ERR]),
    "ic_repo_open_config": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_repo_open_or_create": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_repo_exists": (_ST, [_H, POINTER(c_int32), _ERR]),
    "ic_repo_free": (_ST, [_H]),
    "ic_repo_config_get": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_repo_config_set": (_ST, [_H, c_char_p, _ERR]),
    "ic_repo_use_config": (_ST, [_H, c_char_p, _ERR]),
    "ic_repo_set_default_commit_metadata": (_ST, [_H, c_char_p, _ERR]),
    "ic_repo_default_commit_metadata": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_repo_set_virtual_chunk_storage": (_ST, [_H, c_char_p, _H, _ERR]),
    "ic_repo_create_branch": (_ST, [_H, c_char_p, c_char_p, _ERR]),
    "ic_repo_list_branches": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_repo_lookup_branch": (_ST, [_H, c_char_p, _OUT_PTR, _ERR]),
    "ic_repo_delete_branch": (_ST, [_H, c_char_p, _ERR]),
    "ic_repo_reset_branch": (_ST, [_H, c_char_p, c_char_p, c_char_p, _ERR]),
    "ic_repo_rewrite_manifests": (_ST, [_H, c_char_p, c_char_p, c_char_p, _OUT_PTR, _ERR]),
    "ic_repo_repack_chunks": (_ST, [_H, c_char_p, c_char_p, c_char_p, c_double, c_int32, _OUT_PTR, _ERR]),
    "ic_repo_create_tag": (_ST, [_H, c_char_p, c_char_p, _ERR]),
    "ic_repo_list_tags": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_repo_lookup_tag": (_ST, [_H, c_char_p, _OUT_PTR, _ERR]),
    "ic_repo_delete_tag": (_ST, [_H, c_char_p, _ERR]),
    "ic_repo_resolve": (_ST, [_H, POINTER(Version), _OUT_PTR, _ERR]),
    "ic_repo_snapshot_info": (_ST, [_H, c_char_p, _OUT_PTR, _ERR]),
    "ic_repo_ancestry": (_ST, [_H, POINTER(Version), POINTER(_H), _ERR]),
    "ic_repo_ancestry_json": (_ST, [_H, POINTER(Version), c_size_t, _OUT_PTR, _ERR]),
    "ic_repo_diff": (_ST, [_H, POINTER(Version), POINTER(Version), _OUT_PTR, _ERR]),
    "ic_repo_readonly_session": (_ST, [_H, POINTER(Version), POINTER(_H), _ERR]),
    "ic_repo_writable_session": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_repo_session_from_bytes": (_ST, [_H, _U8P, c_size_t, POINTER(_H), _ERR]),
    "ic_repo_garbage_collect": (_ST, [_H, c_int64, c_int32, _OUT_PTR, _ERR]),
    "ic_repo_expire_snapshots": (_ST, [_H, c_int64, c_int32, c_int32, _OUT_PTR, _ERR]),
    "ic_repo_chunk_storage_stats": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_repo_inspect_snapshot": (_ST, [_H, c_char_p, _OUT_PTR, _ERR]),
    # iterators
    "ic_iter_next_page": (_ST, [_H, c_size_t, _OUT_PTR, POINTER(c_size_t), _ERR]),
    "ic_iter_free": (_ST, [_H]),
    # sessions
    "ic_session_free": (_ST, [_H]),
    "ic_session_branch": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_session_snapshot_id": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_session_read_only": (_ST, [_H, POINTER(c_int32), _ERR]),
    "ic_session_has_changes": (_ST, [_H, POINTER(c_int32), _ERR]),
    "ic_session_is_fork": (_ST, [_H, POINTER(c_int32), _ERR]),
    "ic_session_get_node": (_ST, [_H, c_char_p, _OUT_PTR, _ERR]),
    "ic_session_list_nodes": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_session_set_virtual_refs": (_ST, [_H, c_char_p, c_char_p, c_int32, _OUT_PTR, _ERR]),
    "ic_session_chunk_coordinates": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_session_chunk_type": (_ST, [_H, c_char_p, POINTER(c_uint32), c_size_t, POINTER(c_int32), _ERR]),
    "ic_session_virtual_chunk_locations": (_ST, [_H, POINTER(_H), _ERR]),
    "ic_session_status": (_ST, [_H, _OUT_PTR, _ERR]),
    "ic_session_discard_changes": (_ST, [_H, _ERR]),
    "ic_session_commit": (_ST, [_H, c_char_p, c_char_p, _OUT_PTR, _ERR]),
    "ic_session_flush": (_ST, [_H, _ERR]),
    "ic_session_flush_snapshot": (_ST, [_H, c_char_p, c_char_p, _OUT_PTR, _ERR]),
    "ic_session_rebase": (_ST, [_H, POINTER(Solver), _ERR]),
    "ic_session_commit_rebasing": (
        _ST,
        [_H, POINTER(Solver), c_char_p, c_char_p, c_uint32, c_uint64, c_uint64, _OUT_PTR, _ERR],
    ),
    "ic_session_to_bytes": (_ST, [_H, _OUT_PTR, POINTER(c_size_t), _ERR]),
    "ic_session_fork": (_ST, [_H, POINTER(_H), _ERR]),
    "ic_session_merge": (_ST, [_H, POINTER(_H), c_size_t, _ERR]),
    # the zarr store of a session
    "ic_store_get": (
        _ST,
        [_H, c_char_p, POINTER(ByteRange), _OUT_PTR, POINTER(c_size_t), POINTER(c_int32), _ERR],
    ),
    "ic_store_get_many": (
        _ST,
        [
            _H,
            POINTER(c_char_p),
            POINTER(ByteRange),
            c_size_t,
            POINTER(GetResult),
            _OUT_PTR,
            POINTER(c_size_t),
            POINTER(c_uint64),
            _ERR,
        ],
    ),
    "ic_store_set": (_ST, [_H, c_char_p, _U8P, c_size_t, _ERR]),
    "ic_store_set_many": (
        _ST,
        [_H, POINTER(c_char_p), POINTER(c_void_p), POINTER(c_size_t), c_size_t, _ERR],
    ),
    "ic_store_set_if_not_exists": (_ST, [_H, c_char_p, _U8P, c_size_t, POINTER(c_int32), _ERR]),
    "ic_store_set_behind": (_ST, [_H, c_char_p, _U8P, c_size_t, c_int32, POINTER(c_int32), _ERR]),
    "ic_store_delete": (_ST, [_H, c_char_p, _ERR]),
    "ic_store_delete_dir": (_ST, [_H, c_char_p, _ERR]),
    "ic_store_exists": (_ST, [_H, c_char_p, POINTER(c_int32), _ERR]),
    "ic_store_list": (_ST, [_H, POINTER(_H), _ERR]),
    "ic_store_list_prefix": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_store_list_dir": (_ST, [_H, c_char_p, POINTER(_H), _ERR]),
    "ic_store_get_size": (_ST, [_H, c_char_p, POINTER(c_uint64), _ERR]),
    "ic_store_get_size_prefix": (_ST, [_H, c_char_p, POINTER(c_uint64), _ERR]),
    "ic_store_is_empty": (_ST, [_H, c_char_p, POINTER(c_int32), _ERR]),
    "ic_store_clear": (_ST, [_H, _ERR]),
    "ic_store_load_metadata": (_ST, [_H, _ERR]),
    "ic_store_list_group_dir": (_ST, [_H, c_char_p, _OUT_PTR, POINTER(c_int32), _ERR]),
}


def library_path() -> Path:
    """The libicechunk this process loads: $ICECHUNK_GO_LIB (a file, or a
    folder holding one) if set, else the copy bundled in the package."""
    env = os.environ.get(LIB_ENV)
    if env:
        p = Path(env)
        return p / LIB_NAME if p.is_dir() else p
    return Path(__file__).resolve().parent / "_lib" / LIB_NAME


def _load() -> ctypes.CDLL:
    path = library_path()
    if not path.is_file():
        hint = (
            f"${LIB_ENV} points at {path}, which does not exist"
            if os.environ.get(LIB_ENV)
            else "the package was installed without its library; reinstall with "
            "`pip install ./bindings/python` (it builds libicechunk with Go), "
            f"or set ${LIB_ENV} to a libicechunk.so"
        )
        raise ImportError(f"icechunk_go: cannot find {LIB_NAME}: {hint}")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise ImportError(f"icechunk_go: cannot load {path}: {e}") from e
    try:
        lib.ic_abi_version.restype = c_uint32
        lib.ic_abi_version.argtypes = []
        got = lib.ic_abi_version()
    except AttributeError as e:
        raise ImportError(f"icechunk_go: {path} is not libicechunk (no ic_abi_version)") from e
    if got != ABI_VERSION:
        raise ImportError(
            f"icechunk_go: {path} has ABI version {got}, but this binding needs ABI "
            f"version {ABI_VERSION}; install matching versions of the package and the "
            f"library (unset ${LIB_ENV} to use the bundled copy)"
        )
    missing = []
    for name, (res, args) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = res
        fn.argtypes = args
    if missing:
        raise ImportError(f"icechunk_go: {path} lacks functions {', '.join(missing)}")
    return lib


lib = _load()
LIB_PATH = library_path()


# --- fork safety --------------------------------------------------------------

_forked_child = False


def _after_fork_in_child() -> None:
    global _forked_child
    _forked_child = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _check_not_forked() -> None:
    if _forked_child:
        raise RuntimeError(
            "icechunk_go cannot be used in a process forked after the library was "
            "loaded (the Go runtime's threads do not survive fork). Use the 'spawn' "
            "start method: multiprocessing.get_context('spawn'), or "
            "concurrent.futures.ProcessPoolExecutor(mp_context=...)."
        )


# --- errors -----------------------------------------------------------------

# Set by errors.py: builds the exception for (status, message, details).
error_factory: Callable[[int, str, dict[str, Any]], BaseException] | None = None


def status_name(status: int) -> str:
    """The library's name of a status code ("IC_ERR_CONFLICT", ...)."""
    return (lib.ic_status_name(status) or b"IC_ERR_UNKNOWN").decode()


def _raise(status: int, err: c_uint64) -> None:
    raise error_from_handle(status, err.value)


def error_from_handle(status: int, h: int) -> BaseException:
    """The exception for a failed status and its error object (freed here)."""
    message = ""
    details: dict[str, Any] = {}
    if h:
        try:
            message = (lib.ic_error_message(h) or b"").decode("utf-8", "replace")
            out = c_void_p()
            if lib.ic_error_json(h, byref(out)) == IC_OK and out.value:
                try:
                    details = json.loads(ctypes.string_at(out.value).decode("utf-8", "replace"))
                finally:
                    lib.ic_string_free(out)
        finally:
            lib.ic_error_free(h)
    if not message:
        message = status_name(status)
    assert error_factory is not None
    return error_factory(status, message, details)


def call(fn: Any, *args: Any) -> None:
    """Calls a library function whose last parameter is ``ic_error *err``;
    raises the matching IcechunkError if it fails."""
    if _forked_child:
        _check_not_forked()
    err = c_uint64(0)
    status = fn(*args, byref(err))
    if status != IC_OK:
        _raise(status, err)


def call_noerr(fn: Any, *args: Any) -> None:
    """Calls a library function that has no error parameter."""
    if _forked_child:
        _check_not_forked()
    status = fn(*args)
    if status != IC_OK:
        _raise(status, c_uint64(0))


# --- conversions ---------------------------------------------------------------


def cstr(s: str, what: str = "string") -> bytes:
    """UTF-8 bytes of s for a `const char *` parameter. NUL characters cannot
    cross into C (they would cut the string), so they are refused here."""
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, not {type(s).__name__}")
    b = s.encode("utf-8")
    if b"\x00" in b:
        assert error_factory is not None
        raise error_factory(
            IC_ERR_INVALID_KEY if what == "key" else IC_ERR_INVALID_ARGUMENT,
            f"{what} {s!r} contains a NUL character",
            {},
        )
    return b


def opt_cstr(s: str | None, what: str = "string") -> bytes | None:
    return None if s is None else cstr(s, what)


def take_string(p: c_void_p) -> str:
    """Reads a library-owned `char *` result and frees it."""
    if not p.value:
        return ""
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        lib.ic_string_free(p)


def take_json(p: c_void_p) -> Any:
    return json.loads(take_string(p))


def take_buffer(p: c_void_p, n: int) -> bytes:
    """Copies a library-owned buffer of n bytes and frees it."""
    try:
        return ctypes.string_at(p, n) if n else b""
    finally:
        if p.value:
            lib.ic_buffer_free(p)


# Buffers up to this size are copied into bytes and freed at once: copying
# them costs less than tracking their lifetime.
COPY_MAX = 64 * 1024


class _CBuffer:
    """Shows a library-owned buffer to numpy (``__array_interface__``) and
    frees it, once, when collected. Arrays made from it, and their views,
    keep it alive."""

    __slots__ = ("__array_interface__", "__weakref__")

    def __init__(self, p: int, n: int) -> None:
        self.__array_interface__ = {"version": 3, "shape": (n,), "typestr": "|u1", "data": (p, True)}
        fin = weakref.finalize(self, _free_buffer, p)
        # At exit, arrays may still refer to the buffer: leave it to the OS.
        fin.atexit = False


def _free_buffer(p: int) -> None:
    if _forked_child:
        return
    try:
        lib.ic_buffer_free(p)
    except Exception:  # pragma: no cover - only at interpreter shutdown
        pass


def take_buffer_view(p: c_void_p, n: int) -> bytes | np.ndarray[Any, Any]:
    """The n bytes of a library-owned buffer, which this takes over: small
    buffers are copied into bytes and freed now; larger ones are wrapped
    without a copy in a read-only uint8 array (slices of it are views) and
    freed when the last array referring to them is collected."""
    if n <= COPY_MAX:
        return take_buffer(p, n)
    # From here on the owner frees the buffer, whatever happens.
    return np.asarray(_CBuffer(p.value, n))


def string_result(fn: Any, *args: Any) -> str:
    """Calls fn(*args, char **out, err) and returns the string."""
    out = c_void_p()
    call(fn, *args, byref(out))
    return take_string(out)


def json_result(fn: Any, *args: Any) -> Any:
    return json.loads(string_result(fn, *args))


def bool_result(fn: Any, *args: Any) -> bool:
    out = c_int32(0)
    call(fn, *args, byref(out))
    return bool(out.value)


def handle_result(fn: Any, *args: Any) -> int:
    out = c_uint64(0)
    call(fn, *args, byref(out))
    return out.value


def iter_all(fn: Any, *args: Any) -> list[Any]:
    """Opens an ic_iter with fn(*args, ic_iter *out, err), reads every item
    and frees it, all in this one call. (The library's iterators must be
    created, read and freed on one thread: see the binding's notes; never
    keep one across calls.)"""
    it = handle_result(fn, *args)
    try:
        items: list[Any] = []
        while True:
            out = c_void_p()
            count = c_size_t(0)
            call(lib.ic_iter_next_page, it, 1000, byref(out), byref(count))
            page = take_json(out)
            if not page:
                return items
            items.extend(page)
    finally:
        lib.ic_iter_free(it)


def byte_range(kind: int, start: int = 0, end: int = 0) -> ByteRange:
    return ByteRange(kind, start, end)


class Handle:
    """Owns one library handle and frees it when garbage collected (or when
    :meth:`free` is called). Freeing is safe while another thread is still
    inside a call that uses the handle: the library finishes that call."""

    __slots__ = ("__weakref__", "_finalizer", "value")

    def __init__(self, value: int, free: Any) -> None:
        self.value = value
        self._finalizer = weakref.finalize(self, _free_quietly, free, value)

    def free(self) -> None:
        self._finalizer()

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def live(self, what: str) -> int:
        """The handle's value; raises an error saying that ``what`` (such
        as "session") was closed if it was freed."""
        if not self._finalizer.alive:
            assert error_factory is not None
            raise error_factory(
                IC_ERR_INVALID_HANDLE,
                f"this {what} was closed ({what}.close(), or the end of its with block): open a new one",
                {},
            )
        return self.value


def _free_quietly(free: Any, value: int) -> None:
    if _forked_child:
        return
    try:
        free(value)
    except Exception:  # pragma: no cover - only at interpreter shutdown
        pass


def live_objects() -> tuple[int, int]:
    """(handles, buffers) the process holds and has not released: for tests."""
    h, b = c_uint64(0), c_uint64(0)
    call_noerr(lib.ic_debug_live_objects, byref(h), byref(b))
    return h.value, b.value
