"""icechunk_go: transactional, versioned Zarr storage (an Icechunk-class
engine written in Go), with upstream Icechunk's Python names.

Porting code written for upstream ``icechunk`` is an import change::

    import icechunk_go as icechunk

    storage = icechunk.local_filesystem_storage("/tmp/repo")
    repo = icechunk.Repository.open_or_create(storage)
    session = repo.writable_session("main")
    zarr.open_group(session.store, mode="a").attrs["title"] = "demo"
    session.commit("set a title")

The package is pure Python over ``ctypes``; the engine is the bundled
``libicechunk.so`` (or the one ``$ICECHUNK_GO_LIB`` names). Worker
processes must be started with the "spawn" method, never "fork", once the
library is loaded.
"""

from __future__ import annotations

from . import _ffi
from .chunks import ChunkType, VirtualChunkSpec
from .config import (
    CachingConfig,
    CompressionAlgorithm,
    CompressionConfig,
    ObjectStoreConfig,
    S3Options,
    RepositoryConfig,
    StorageConcurrencySettings,
    StorageRetriesSettings,
    StorageSettings,
    VirtualChunkContainer,
    http_store,
    local_filesystem_store,
    s3_store,
)
from .credentials import (
    S3Credentials,
    S3StaticCredentials,
    containers_credentials,
    s3_anonymous_credentials,
    s3_credentials,
    s3_from_env_credentials,
    s3_refreshable_credentials,
    s3_static_credentials,
)
from .conflicts import BasicConflictSolver, ConflictDetector, ConflictSolver, VersionSelection
from .diff import Diff
from .manifests import (
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
)
from .errors import (
    AlreadyExistsError,
    BranchExistsError,
    BranchNotFoundError,
    Conflict,
    ConflictError,
    ConflictType,
    CorruptObjectError,
    ForkCommitError,
    IcechunkError,
    InvalidArgumentError,
    InvalidKeyError,
    InvalidMetadataError,
    NoChangesToCommitError,
    NotFoundError,
    OperationCancelledError,
    ReadOnlyError,
    RebaseFailedError,
    RepositoryExistsError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
    StorageError,
    TagExistsError,
    TagNotFoundError,
    UnsupportedFormatVersionError,
)
from .repository import (
    ChunkStorageStats,
    GCSummary,
    ManifestFileInfo,
    NaiveDatetimeError,
    RepackSummary,
    Repository,
    SnapshotInfo,
)
from .session import ForkSession, Session, SessionPicklingError
from .storage import Storage, http_storage, in_memory_storage, local_filesystem_storage, r2_storage, s3_storage, tigris_storage
from .store import IcechunkStore

__version__ = "0.1.0"

ABI_VERSION = _ffi.ABI_VERSION
"""The C ABI version this binding speaks (checked against the library at import)."""


def library_version() -> str:
    """The version of the loaded libicechunk, such as ``"0.1.0"``."""
    return str(_ffi.lib.ic_version_string().decode())


def library_path() -> str:
    """The path of the loaded libicechunk."""
    return str(_ffi.LIB_PATH)


def spec_version() -> int:
    """The version of the repository format this library writes, and the
    newest it reads (upstream Icechunk's ``spec_version``); a repository
    file of a newer version raises ``UnsupportedFormatVersionError``."""
    return int(_ffi.lib.ic_format_version())


def print_debug_info() -> None:
    """Prints the versions a bug report needs (upstream Icechunk's
    ``print_debug_info``): platform, Python, this package, the library it
    loaded, and the array packages it works with."""
    import platform
    from importlib import import_module

    print(f"platform:  {platform.platform()}")
    print(f"python:  {platform.python_version()}")
    print(f"icechunk_go:  {__version__}")
    print(f"libicechunk:  {library_version()} (ABI {ABI_VERSION}, format {spec_version()}) at {library_path()}")
    for package in ("zarr", "numcodecs", "numpy", "xarray", "dask", "virtualizarr"):
        try:
            print(f"{package}:  {import_module(package).__version__}")
        except ModuleNotFoundError:
            continue


def set_max_threads(n: int) -> int:
    """Sets how many threads run library code at once (default: the number
    of CPUs) and returns the previous setting."""
    import ctypes

    prev = ctypes.c_int32(0)
    _ffi.call(_ffi.lib.ic_set_max_threads, int(n), ctypes.byref(prev))
    return prev.value


def set_logs_filter(log_filter_directive: str | None) -> str:
    """Sets the filter of the library's diagnostic log and returns the one
    it replaces.

    The log is lines on standard error (file descriptor 2, not
    ``sys.stderr``) about what results do not show: requests retried,
    races for a branch lost, rebases, commits. The filter is a
    comma-separated list of directives: a level (``off``, ``error``,
    ``warn``, ``info``, ``debug``) for every component, or
    ``component=level`` for one. Components: ``storage`` (debug: every
    request to the store and its time; info: retries) and ``engine`` (info:
    commits, flushes, branch and tag changes, expiration and garbage
    collection; debug: conflicts, lost races, waits and rebases). Later
    directives win: ``"debug,storage=info"``. Upstream Icechunk's values
    mean the same: level ``trace`` is ``debug``, target ``icechunk`` is
    every component, ``icechunk::storage`` is ``storage``, any other
    ``icechunk::`` target is ``engine``.

    ``None`` reads the ``ICECHUNK_LOG`` environment variable again; an
    empty filter (or an unset variable) means ``"warn"``, the default,
    under which the library is silent unless something is wrong. A filter
    that does not parse raises :class:`InvalidArgumentError` naming the
    directive, and changes nothing."""
    return _ffi.string_result(
        _ffi.lib.ic_set_logs_filter, _ffi.opt_cstr(log_filter_directive, "log_filter_directive")
    )


def initialize_logs() -> None:
    """Sets the diagnostic log's filter from the ``ICECHUNK_LOG``
    environment variable, as upstream Icechunk's ``initialize_logs`` does:
    ``set_logs_filter(None)``. The library already reads the variable when
    it loads; call this after changing the variable. An invalid value
    raises :class:`InvalidArgumentError` naming the directive."""
    set_logs_filter(None)


__all__ = [
    "ABI_VERSION",
    "AlreadyExistsError",
    "BasicConflictSolver",
    "BranchExistsError",
    "BranchNotFoundError",
    "CachingConfig",
    "ChunkStorageStats",
    "ChunkType",
    "CompressionAlgorithm",
    "CompressionConfig",
    "Conflict",
    "ConflictDetector",
    "ConflictError",
    "ConflictSolver",
    "ConflictType",
    "CorruptObjectError",
    "Diff",
    "ForkCommitError",
    "ForkSession",
    "GCSummary",
    "IcechunkError",
    "IcechunkStore",
    "InvalidArgumentError",
    "InvalidKeyError",
    "InvalidMetadataError",
    "ManifestConfig",
    "ManifestFileInfo",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
    "NaiveDatetimeError",
    "NoChangesToCommitError",
    "NotFoundError",
    "OperationCancelledError",
    "ObjectStoreConfig",
    "S3Options",
    "ReadOnlyError",
    "RebaseFailedError",
    "Repository",
    "RepositoryConfig",
    "RepositoryExistsError",
    "RepositoryNotFoundError",
    "S3Credentials",
    "S3StaticCredentials",
    "Session",
    "SessionPicklingError",
    "SnapshotInfo",
    "SnapshotNotFoundError",
    "Storage",
    "StorageError",
    "StorageConcurrencySettings",
    "StorageRetriesSettings",
    "StorageSettings",
    "TagExistsError",
    "TagNotFoundError",
    "UnsupportedFormatVersionError",
    "VersionSelection",
    "VirtualChunkContainer",
    "VirtualChunkSpec",
    "__version__",
    "print_debug_info",
    "spec_version",
    "containers_credentials",
    "http_storage",
    "http_store",
    "in_memory_storage",
    "local_filesystem_store",
    "library_path",
    "library_version",
    "local_filesystem_storage",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_refreshable_credentials",
    "s3_from_env_credentials",
    "s3_static_credentials",
    "r2_storage",
    "s3_storage",
    "tigris_storage",
    "s3_store",
    "initialize_logs",
    "set_logs_filter",
    "set_max_threads",
]
