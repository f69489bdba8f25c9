"""Repository configuration."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _ffi
from ._checks import check_int
from .errors import InvalidArgumentError
from .manifests import ManifestConfig

__all__ = [
    "CachingConfig",
    "CompressionAlgorithm",
    "CompressionConfig",
    "ObjectStoreConfig",
    "RepositoryConfig",
    "S3Options",
    "StorageRetriesSettings",
    "StorageSettings",
    "VirtualChunkContainer",
    "http_store",
    "local_filesystem_store",
    "s3_store",
]


@dataclass(frozen=True)
class S3Options:
    """Where and how to reach an S3 bucket, as upstream Icechunk's
    ``S3Options``, for :meth:`Storage.new_s3` and the
    :class:`ObjectStoreConfig` variants. ``requester_pays`` is refused.
    ``network_stream_timeout_seconds`` is as :func:`s3_storage` takes it
    (None: 60 seconds; 0: no timeout)."""

    region: str | None = None
    endpoint_url: str | None = None
    allow_http: bool = False
    anonymous: bool = False
    force_path_style: bool = False
    network_stream_timeout_seconds: int | None = None
    requester_pays: bool = False

    def _store(self, s3_compatible: bool) -> ObjectStoreConfig:
        """The virtual chunk store of these options (:func:`s3_store`,
        which checks them)."""
        return s3_store(self.region, self.endpoint_url, self.allow_http, self.anonymous, s3_compatible,
                        self.force_path_style, self.network_stream_timeout_seconds,
                        self.requester_pays)  # fmt: skip

    def _check(self, what: str) -> None:
        if self.requester_pays:
            raise ValueError(f"{what}: requester_pays buckets are not supported")


def _unsupported_store(kind: str) -> Any:
    def make(*_args: Any, **_kwargs: Any) -> ObjectStoreConfig:
        raise NotImplementedError(
            f"ObjectStoreConfig.{kind}: icechunk_go reads virtual chunks from S3 (and S3-compatible "
            "services), HTTP(S) servers and local files only"
        )

    make.__name__ = make.__qualname__ = kind
    make.__doc__ = f"Upstream's ``ObjectStoreConfig.{kind}``: not supported here (raises NotImplementedError)."
    return staticmethod(make)


@dataclass(frozen=True, slots=True)
class ObjectStoreConfig:
    """How to reach the objects of a virtual chunk container: made by
    :func:`s3_store` or :func:`local_filesystem_store`. It is stored in the
    repository's configuration and never holds credentials; access is
    granted when opening the repository (``authorize_virtual_chunk_access``).
    """

    kind: str
    region: str | None = None
    endpoint_url: str | None = None
    allow_http: bool = False
    force_path_style: bool = False
    anonymous: bool = False
    path: str | None = None
    #: An S3 store's stream timeout (:func:`s3_store`): None is the
    #: default (60 seconds), 0 none.
    network_stream_timeout_seconds: int | None = None
    #: An HTTP store's client options (:func:`http_store`).
    options: dict[str, str] | None = field(default=None, hash=False)

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        for k in ("region", "endpoint_url", "allow_http", "force_path_style", "anonymous", "path", "options"):
            v = getattr(self, k)
            if v:
                d[k] = v
        if self.network_stream_timeout_seconds is not None:
            d["network_stream_timeout_seconds"] = self.network_stream_timeout_seconds
        return d

    # Upstream's variants, as constructors: ObjectStoreConfig.S3(options),
    # S3Compatible(options), LocalFileSystem(path).

    @staticmethod
    def S3(options: S3Options) -> ObjectStoreConfig:  # noqa: N802 - upstream's name
        """The store of a container in S3 (as :func:`s3_store`)."""
        return options._store(s3_compatible=False)

    @staticmethod
    def S3Compatible(options: S3Options) -> ObjectStoreConfig:  # noqa: N802 - upstream's name
        """The store of a container in an S3-compatible service (its
        ``endpoint_url``)."""
        return options._store(s3_compatible=True)

    @staticmethod
    def LocalFileSystem(path: str) -> ObjectStoreConfig:  # noqa: N802 - upstream's name
        """The store of a container of local files (as
        :func:`local_filesystem_store`)."""
        return local_filesystem_store(path)

    @staticmethod
    def Http(opts: dict[str, str] | None = None) -> ObjectStoreConfig:  # noqa: N802 - upstream's name
        """The store of a container of files a web server publishes (as
        :func:`http_store`)."""
        return http_store(opts)

    InMemory = _unsupported_store("InMemory")
    Gcs = _unsupported_store("Gcs")
    Azure = _unsupported_store("Azure")
    Tigris = _unsupported_store("Tigris")

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> ObjectStoreConfig:
        return cls(
            kind=d["kind"],
            region=d.get("region") or None,
            endpoint_url=d.get("endpoint_url") or None,
            allow_http=bool(d.get("allow_http")),
            force_path_style=bool(d.get("force_path_style")),
            anonymous=bool(d.get("anonymous")),
            path=d.get("path") or None,
            network_stream_timeout_seconds=d.get("network_stream_timeout_seconds"),
            options=dict(d["options"]) if d.get("options") else None,
        )


def s3_store(
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    anonymous: bool = False,
    s3_compatible: bool = False,
    force_path_style: bool = False,
    network_stream_timeout_seconds: int | None = 60,
    requester_pays: bool = False,
) -> ObjectStoreConfig:
    """The store of a virtual chunk container on S3 or an S3-compatible
    server (``endpoint_url``; ``s3_compatible`` changes nothing more here).
    ``anonymous`` makes unsigned requests where no credentials are given.
    ``network_stream_timeout_seconds`` is as :func:`s3_storage` takes it
    (None or 60: the default; 0: no timeout), and is kept in the
    repository's configuration with the rest.

    Raises
    ------
    ValueError
        ``requester_pays``, which this library does not support.
    """
    if requester_pays:
        raise ValueError("s3_store: requester_pays buckets are not supported")
    check_int(network_stream_timeout_seconds, "s3_store: network_stream_timeout_seconds")
    timeout = None if network_stream_timeout_seconds == 60 else network_stream_timeout_seconds
    return ObjectStoreConfig(
        kind="s3",
        region=region,
        endpoint_url=endpoint_url,
        allow_http=bool(allow_http),
        force_path_style=bool(force_path_style),
        anonymous=bool(anonymous),
        network_stream_timeout_seconds=timeout,
    )


def http_store(opts: dict[str, str] | None = None) -> ObjectStoreConfig:
    """The store of a virtual chunk container of files a web server
    publishes (an ``http://`` or ``https://`` URL prefix). The repository is
    connected to it when opened with ``authorize_virtual_chunk_access``
    naming the prefix (with ``None``: the files are public), or by
    :meth:`Repository.set_virtual_chunk_storage` with an
    :func:`http_storage`.

    ``opts`` are upstream's client options, kept in the repository's
    configuration and used when the container is connected:
    ``timeout`` and ``connect_timeout`` (durations such as ``"30s"`` or
    ``"2min 30s"``), ``user_agent``, ``allow_invalid_certificates``
    (``"true"``: certificates are not checked; for testing),
    ``allow_http`` (``"false"``: ``http://`` is refused), ``proxy_url``,
    ``pool_idle_timeout``, ``pool_max_idle_per_host`` and ``http1_only``.

    Raises
    ------
    TypeError
        ``opts`` that is not a mapping of strings to strings. An unknown
        option or a value that does not parse is refused when the
        container is connected (:class:`InvalidArgumentError`).
    """
    return ObjectStoreConfig(kind="http", options=_http_options(opts))


def _http_options(opts: Mapping[str, str] | None) -> dict[str, str] | None:
    """A copy of HTTP client options, None when there are none."""
    if not opts:
        return None
    if not isinstance(opts, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in opts.items()):
        raise TypeError(f"HTTP client options are a mapping of strings to strings (such as {{'timeout': '30s'}}), not {opts!r}")
    return dict(opts)


def local_filesystem_store(path: str) -> ObjectStoreConfig:
    """The store of a virtual chunk container of local files (a
    ``file://`` URL prefix): they are read straight from the filesystem."""
    return ObjectStoreConfig(kind="local_filesystem", path=str(path))


@dataclass(init=False)
class VirtualChunkContainer:
    """A place virtual chunks may be read from. Only locations under a
    container of the repository's configuration are ever read, so opening
    a repository cannot make this process read arbitrary files or buckets.

    ``VirtualChunkContainer(url_prefix, store)``, as upstream Icechunk's.

    Parameters
    ----------
    url_prefix : str
        Locations starting with it belong to the container, such as
        ``"file:///data/"`` or ``"s3://bucket/prefix/"``.
    store : ObjectStoreConfig, optional
        How to reach the objects (:func:`s3_store`,
        :func:`local_filesystem_store`). ``file://`` containers are read
        from the local filesystem without one. An ``s3://`` container with
        an S3 store is connected when the repository is opened with
        ``authorize_virtual_chunk_access`` naming its prefix; without a
        store, register a storage with
        :meth:`Repository.set_virtual_chunk_storage`.
    name : str, optional
        A name for the container (default: the URL prefix).
    """

    url_prefix: str
    store: ObjectStoreConfig | None
    name: str

    def __init__(self, url_prefix: str, store: ObjectStoreConfig | None = None, *, name: str | None = None) -> None:
        if not isinstance(url_prefix, str) or not url_prefix:
            raise TypeError("VirtualChunkContainer: url_prefix must be a non-empty str")
        if store is not None and not isinstance(store, ObjectStoreConfig):
            raise TypeError(
                f"VirtualChunkContainer(url_prefix, store): store must come from s3_store(...) or "
                f"local_filesystem_store(...), not {type(store).__name__}; give a name with name="
            )
        self.url_prefix = url_prefix
        self.store = store
        self.name = name or url_prefix

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "url_prefix": self.url_prefix}
        if self.store is not None:
            d["store"] = self.store._to_json()
        return d

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> VirtualChunkContainer:
        store = d.get("store")
        return cls(d["url_prefix"], ObjectStoreConfig._from_json(store) if store else None, name=d["name"])


class CompressionAlgorithm(enum.Enum):
    """The compression of the library's metadata files (upstream
    Icechunk's): zstd only."""

    Zstd = 0

    @staticmethod
    def default() -> CompressionAlgorithm:
        """zstd."""
        return CompressionAlgorithm.Zstd


@dataclass(slots=True)
class CompressionConfig:
    """How snapshots, manifests and transaction logs are compressed
    (upstream Icechunk's ``CompressionConfig``), set as
    ``RepositoryConfig.compression``.

    Parameters
    ----------
    algorithm : CompressionAlgorithm, optional
        Only ``CompressionAlgorithm.Zstd``.
    level : int, optional
        The zstd level, 1 to 22, of the files written from then on; None
        lets the library choose by file (its fastest level; the default
        one for manifests of virtual references). Readers need not know it.
    """

    algorithm: CompressionAlgorithm | None = None
    level: int | None = None

    def __post_init__(self) -> None:
        if self.algorithm is not None and self.algorithm is not CompressionAlgorithm.Zstd:
            raise ValueError(f"CompressionConfig: algorithm must be CompressionAlgorithm.Zstd, not {self.algorithm!r}")
        check_int(self.level, "CompressionConfig: level", 1, 22)

    @staticmethod
    def default() -> CompressionConfig:
        """The library's choice of level by file."""
        return CompressionConfig()

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.algorithm is not None:
            d["algorithm"] = "zstd"
        if self.level is not None:
            d["level"] = self.level
        return d


@dataclass(slots=True)
class StorageRetriesSettings:
    """Retries of transient storage failures (upstream Icechunk's).

    Parameters
    ----------
    max_tries : int, optional
        Tries of one request in all, the first included (default 6).
    initial_backoff_ms : int, optional
        The first retry waits a random time up to this (default 50 ms);
        each later one up to twice the previous bound ...
    max_backoff_ms : int, optional
        ... but never more than this (default 2,000 ms).
    """

    max_tries: int | None = None
    initial_backoff_ms: int | None = None
    max_backoff_ms: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_tries", "initial_backoff_ms", "max_backoff_ms"):
            check_int(getattr(self, name), f"StorageRetriesSettings: {name}", 1)

    def _to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("max_tries", "initial_backoff_ms", "max_backoff_ms") if getattr(self, k) is not None}


@dataclass(slots=True)
class StorageConcurrencySettings:
    """How a large read of one chunk is split into ranged reads that run at
    once (upstream Icechunk's), so that a large chunk is not held to one
    connection's speed.

    A read of n bytes larger than ``ideal_concurrent_request_size`` runs as
    n / ideal_concurrent_request_size reads (rounded up, at most
    ``max_concurrent_requests_for_object``) of nearly equal size, virtual
    chunks whose reference pins a version included (each part pinned to
    it). Each counts against ``RepositoryConfig.max_concurrent_requests``
    (a virtual chunk store has a bound of that size of its own).

    Parameters
    ----------
    max_concurrent_requests_for_object : int, optional
        At most this many reads at once for one chunk (default 18, at most
        65,535).
    ideal_concurrent_request_size : int, optional
        Bytes per read (default 12 MiB).
    """

    max_concurrent_requests_for_object: int | None = None
    ideal_concurrent_request_size: int | None = None

    def __post_init__(self) -> None:
        check_int(self.max_concurrent_requests_for_object, "StorageConcurrencySettings: max_concurrent_requests_for_object", 1, 65535)
        check_int(self.ideal_concurrent_request_size, "StorageConcurrencySettings: ideal_concurrent_request_size", 1)

    def _to_json(self) -> dict[str, Any]:
        keys = ("max_concurrent_requests_for_object", "ideal_concurrent_request_size")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass(slots=True, init=False)
class StorageSettings:
    """How a repository handle talks to its storage (upstream Icechunk's
    ``StorageSettings``): set as ``RepositoryConfig.storage``, stored with
    the configuration, in force at once on the handle that saves or uses it.

    Parameters
    ----------
    concurrency : StorageConcurrencySettings, optional
        How large chunk reads are split into ranged reads run at once.
    retries : StorageRetriesSettings, optional
        Retries of transient failures.
    storage_class : str, optional
        The S3 storage class of every object written (such as
        ``"STANDARD_IA"`` or ``"INTELLIGENT_TIERING"``); an S3 server that
        does not offer it refuses the writes. Local and in-memory storage
        have no classes and ignore it.
    metadata_storage_class, chunks_storage_class : str, optional
        Override ``storage_class`` for metadata objects (snapshots,
        manifests, transaction logs, refs, the configuration) and for chunk
        objects.
    unsafe_use_conditional_create : bool, optional
        False is for stores that refuse create-only writes (``If-None-Match``):
        each one is then a check that the object is absent, a plain write
        and a read back. Unsafe: two writers committing to one branch at the
        same moment can both succeed, one commit then lost. Stored with the
        configuration.
    unsafe_use_conditional_update, unsafe_use_metadata : bool, optional
        Accepted for upstream's configurations; either value behaves the
        same, and they are not stored: this library never writes over an
        object conditionally (a branch moves by creating a new entry) and
        never stamps objects with metadata.

    minimum_size_for_multipart_upload : int, optional
        On S3, objects of at least this many bytes (a large chunk, a batch
        of chunks, a large manifest) are written as multipart uploads of
        8 MiB parts, at most ``max_concurrent_requests_for_object`` at once,
        each retried on its own; a failed upload is aborted. None: 100 MiB.
        Local and in-memory storage write every object whole.
    """

    concurrency: StorageConcurrencySettings | None
    retries: StorageRetriesSettings | None
    unsafe_use_conditional_create: bool | None
    unsafe_use_conditional_update: bool | None
    unsafe_use_metadata: bool | None
    storage_class: str | None
    metadata_storage_class: str | None
    chunks_storage_class: str | None
    minimum_size_for_multipart_upload: int | None

    def __init__(
        self,
        concurrency: StorageConcurrencySettings | None = None,
        retries: StorageRetriesSettings | None = None,
        unsafe_use_conditional_create: bool | None = None,
        unsafe_use_conditional_update: bool | None = None,
        unsafe_use_metadata: bool | None = None,
        storage_class: str | None = None,
        metadata_storage_class: str | None = None,
        chunks_storage_class: str | None = None,
        minimum_size_for_multipart_upload: int | None = None,
    ) -> None:
        check_int(minimum_size_for_multipart_upload, "StorageSettings: minimum_size_for_multipart_upload", 1, 2**63 - 1)
        for name, v in (
            ("unsafe_use_conditional_create", unsafe_use_conditional_create),
            ("unsafe_use_conditional_update", unsafe_use_conditional_update),
            ("unsafe_use_metadata", unsafe_use_metadata),
        ):
            if v is not None and not isinstance(v, bool):
                raise TypeError(f"StorageSettings: {name} must be a bool or None, not {type(v).__name__}")
        if concurrency is not None and not isinstance(concurrency, StorageConcurrencySettings):
            raise TypeError(f"StorageSettings: concurrency must be a StorageConcurrencySettings, not {type(concurrency).__name__}")
        if retries is not None and not isinstance(retries, StorageRetriesSettings):
            raise TypeError(f"StorageSettings: retries must be a StorageRetriesSettings, not {type(retries).__name__}")
        for name, v in (("storage_class", storage_class), ("metadata_storage_class", metadata_storage_class), ("chunks_storage_class", chunks_storage_class)):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"StorageSettings: {name} must be a str, not {type(v).__name__}")
        self.concurrency = concurrency
        self.retries = retries
        self.unsafe_use_conditional_create = unsafe_use_conditional_create
        self.unsafe_use_conditional_update = unsafe_use_conditional_update
        self.unsafe_use_metadata = unsafe_use_metadata
        self.storage_class = storage_class
        self.metadata_storage_class = metadata_storage_class
        self.chunks_storage_class = chunks_storage_class
        self.minimum_size_for_multipart_upload = minimum_size_for_multipart_upload

    @staticmethod
    def default() -> StorageSettings:
        """Settings that change nothing (the library's defaults)."""
        return StorageSettings()

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.concurrency is not None:
            d["concurrency"] = self.concurrency._to_json()
        if self.retries is not None:
            d["retries"] = self.retries._to_json()
        # the library keeps only the first; the others travel for merge()
        for k in ("unsafe_use_conditional_create", "unsafe_use_conditional_update", "unsafe_use_metadata"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        for k in ("storage_class", "metadata_storage_class", "chunks_storage_class", "minimum_size_for_multipart_upload"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> StorageSettings:
        r, c = d.get("retries"), d.get("concurrency")
        return cls(
            concurrency=StorageConcurrencySettings(**c) if c else None,
            retries=StorageRetriesSettings(**r) if r else None,
            unsafe_use_conditional_create=d.get("unsafe_use_conditional_create"),
            unsafe_use_conditional_update=d.get("unsafe_use_conditional_update"),
            unsafe_use_metadata=d.get("unsafe_use_metadata"),
            storage_class=d.get("storage_class") or None,
            metadata_storage_class=d.get("metadata_storage_class") or None,
            chunks_storage_class=d.get("chunks_storage_class") or None,
            minimum_size_for_multipart_upload=d.get("minimum_size_for_multipart_upload") or None,
        )


@dataclass(slots=True)
class CachingConfig:
    """Bounds of a repository handle's caches in what they hold (upstream
    Icechunk's ``CachingConfig``), set as ``RepositoryConfig.caching``. A
    field left as None keeps that cache bounded in bytes
    (``snapshot_cache_bytes``, ``manifest_cache_bytes``).

    Parameters
    ----------
    num_snapshot_nodes : int, optional
        Nodes of the snapshots cached.
    num_chunk_refs : int, optional
        Chunk references of the manifests cached.
    num_transaction_changes : int, optional
        Nodes and chunks of the transaction logs cached.
    num_bytes_attributes : int, optional
        Accepted for upstream's configurations; no effect (attributes live
        in the snapshots and are cached with them).
    num_bytes_chunks : int, optional
        Must be None or 0: chunks are not cached, they are read from
        storage every time.
    """

    num_snapshot_nodes: int | None = None
    num_chunk_refs: int | None = None
    num_transaction_changes: int | None = None
    num_bytes_attributes: int | None = None
    num_bytes_chunks: int | None = None

    def __post_init__(self) -> None:
        for name in ("num_snapshot_nodes", "num_chunk_refs", "num_transaction_changes", "num_bytes_attributes", "num_bytes_chunks"):
            check_int(getattr(self, name), f"CachingConfig.{name}")
        if self.num_bytes_chunks:
            raise ValueError(
                f"CachingConfig: caching {self.num_bytes_chunks} bytes of chunks is not supported: chunks are "
                "read from storage every time (leave num_bytes_chunks as None or 0)"
            )

    @staticmethod
    def default() -> CachingConfig:
        """Every cache bounded in bytes."""
        return CachingConfig()

    def _to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> CachingConfig:
        return cls(**{k: d.get(k) for k in cls.__slots__})


@dataclass(slots=True)
class RepositoryConfig:
    """Settings of a repository. Fields left as None keep the repository's
    current value (or the library's default when creating one). Setting
    an attribute that is not one of these fields (such as one of upstream
    Icechunk's other settings) raises AttributeError rather than being
    silently ignored.

    Parameters
    ----------
    inline_chunk_threshold_bytes : int, optional
        Chunks up to this many bytes are stored inside manifests instead of
        as objects of their own (default 512).
    manifest_block_chunks : int, optional
        Chunk references per manifest (default 65,536).
    snapshot_cache_bytes, manifest_cache_bytes : int, optional
        Sizes of the caches of decoded snapshots and manifests (default 256 MiB each).
    disable_transaction_logs : bool, optional
        Gives up rebase and diff to save one small object per commit.
    virtual_chunk_containers : dict of str to VirtualChunkContainer, optional
        Where virtual chunks may be read from, by URL prefix (as
        upstream's); a list of containers is taken too.
    storage : StorageSettings, optional
        Retries and S3 storage classes, as upstream's; the settings it
        leaves as None keep their current values.
    compression : CompressionConfig, optional
        The zstd level of the metadata files written.
    manifest : ManifestConfig, optional
        How arrays' manifests are split and which a session preloads, as
        upstream's; set, it replaces the repository's whole.
    caching : CachingConfig, optional
        Cache bounds in counts of what they hold, as upstream's; the
        settings it leaves as None keep their current values.
    max_concurrent_requests : int, optional
        Storage requests a repository handle has in flight at once (0: no
        bound of the handle's own, the default).
    get_partial_values_concurrency : int, optional
        Reads one many-key read (zarr's ``get_partial_values``, batched
        gets) runs at once (0: the library's default, 32).
    """

    inline_chunk_threshold_bytes: int | None = None
    manifest_block_chunks: int | None = None
    snapshot_cache_bytes: int | None = None
    manifest_cache_bytes: int | None = None
    disable_transaction_logs: bool | None = None
    virtual_chunk_containers: dict[str, VirtualChunkContainer] | None = field(default=None)
    storage: StorageSettings | None = None
    compression: CompressionConfig | None = None
    manifest: ManifestConfig | None = None
    caching: CachingConfig | None = None
    max_concurrent_requests: int | None = None
    get_partial_values_concurrency: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_concurrent_requests", "get_partial_values_concurrency"):
            check_int(getattr(self, name), f"RepositoryConfig.{name}", 0, 2**32 - 1)
        vcc = self.virtual_chunk_containers
        if vcc is not None and not isinstance(vcc, dict):
            self.virtual_chunk_containers = {c.url_prefix: c for c in vcc}

    @classmethod
    def default(cls) -> RepositoryConfig:
        """A configuration that changes nothing (library defaults)."""
        return cls()

    def merge(self, other: RepositoryConfig) -> RepositoryConfig:
        """A new configuration: this one with every field ``other`` sets
        (not None) taken from ``other`` (upstream's ``merge``); the
        storage settings and caching bounds merge field by field, the
        virtual chunk containers by URL prefix."""
        if not isinstance(other, RepositoryConfig):
            raise TypeError(f"RepositoryConfig.merge takes a RepositoryConfig, not {type(other).__name__}")
        out = RepositoryConfig(**{k: getattr(self, k) for k in self.__slots__})
        for k in self.__slots__:
            theirs = getattr(other, k)
            if theirs is None:
                continue
            mine = getattr(out, k)
            if k == "virtual_chunk_containers" and mine is not None:
                theirs = {**mine, **theirs}
            elif k in ("storage", "caching") and mine is not None:
                theirs = type(mine)._from_json({**mine._to_json(), **theirs._to_json()})
            setattr(out, k, theirs)
        return out

    def set_virtual_chunk_container(self, container: VirtualChunkContainer) -> None:
        """Adds a container, replacing the one with the same url_prefix."""
        cs = dict(self.virtual_chunk_containers or {})
        cs[container.url_prefix] = container
        self.virtual_chunk_containers = cs

    def get_virtual_chunk_container(self, url_prefix: str) -> VirtualChunkContainer | None:
        """The container with that URL prefix, or None."""
        return (self.virtual_chunk_containers or {}).get(url_prefix)

    def clear_virtual_chunk_containers(self) -> None:
        """Removes every container: saved (or given to
        :meth:`Repository.reopen`), the repository has none."""
        self.virtual_chunk_containers = {}

    # The bounds of the whole-number fields, checked when the configuration
    # is used (fields may be set after construction).
    _BOUNDS = {
        "inline_chunk_threshold_bytes": (0, 2**32 - 1),
        "manifest_block_chunks": (1, 2**32 - 1),
        "snapshot_cache_bytes": (0, 2**64 - 1),
        "manifest_cache_bytes": (0, 2**64 - 1),
        "max_concurrent_requests": (0, 2**32 - 1),
        "get_partial_values_concurrency": (0, 2**32 - 1),
    }

    def _to_json(self) -> dict[str, Any]:
        for name, (low, high) in RepositoryConfig._BOUNDS.items():
            try:
                check_int(getattr(self, name), f"RepositoryConfig.{name}", low, high)
            except ValueError as e:
                raise InvalidArgumentError(str(e), code=_ffi.IC_ERR_INVALID_ARGUMENT) from None
        out: dict[str, Any] = {}
        if self.inline_chunk_threshold_bytes is not None:
            out["inline_chunk_threshold"] = int(self.inline_chunk_threshold_bytes)
        if self.manifest_block_chunks is not None:
            out["manifest_block_chunks"] = int(self.manifest_block_chunks)
        if self.snapshot_cache_bytes is not None:
            out["snapshot_cache_bytes"] = int(self.snapshot_cache_bytes)
        if self.manifest_cache_bytes is not None:
            out["manifest_cache_bytes"] = int(self.manifest_cache_bytes)
        if self.disable_transaction_logs is not None:
            out["disable_transaction_logs"] = bool(self.disable_transaction_logs)
        if self.virtual_chunk_containers is not None:
            out["virtual_chunk_containers"] = [c._to_json() for c in self.virtual_chunk_containers.values()]
        if self.storage is not None:
            if not isinstance(self.storage, StorageSettings):
                raise TypeError(f"RepositoryConfig.storage must be a StorageSettings, not {type(self.storage).__name__}")
            out["storage"] = self.storage._to_json()
        if self.compression is not None:
            if not isinstance(self.compression, CompressionConfig):
                raise TypeError(f"RepositoryConfig.compression must be a CompressionConfig, not {type(self.compression).__name__}")
            out["compression"] = self.compression._to_json()
        if self.caching is not None:
            if not isinstance(self.caching, CachingConfig):
                raise TypeError(f"RepositoryConfig.caching must be a CachingConfig, not {type(self.caching).__name__}")
            out["caching"] = self.caching._to_json()
        if self.max_concurrent_requests is not None:
            out["max_concurrent_requests"] = int(self.max_concurrent_requests)
        if self.get_partial_values_concurrency is not None:
            out["get_partial_values_concurrency"] = int(self.get_partial_values_concurrency)
        if self.manifest is not None:
            if not isinstance(self.manifest, ManifestConfig):
                raise TypeError(f"RepositoryConfig.manifest must be a ManifestConfig, not {type(self.manifest).__name__}")
            out["manifest"] = self.manifest._to_json()
        return out

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> RepositoryConfig:
        vcc = d.get("virtual_chunk_containers")
        return cls(
            inline_chunk_threshold_bytes=d.get("inline_chunk_threshold"),
            manifest_block_chunks=d.get("manifest_block_chunks"),
            snapshot_cache_bytes=d.get("snapshot_cache_bytes"),
            manifest_cache_bytes=d.get("manifest_cache_bytes"),
            disable_transaction_logs=d.get("disable_transaction_logs"),
            virtual_chunk_containers=(
                [VirtualChunkContainer._from_json(c) for c in vcc] if vcc is not None else None
            ),
            storage=StorageSettings._from_json(d["storage"]) if d.get("storage") else None,
            compression=(
                CompressionConfig(CompressionAlgorithm.Zstd, d["compression"].get("level")) if d.get("compression") else None
            ),
            manifest=ManifestConfig._from_json(d["manifest"]) if d.get("manifest") is not None else None,
            caching=CachingConfig._from_json(d["caching"]) if d.get("caching") else None,
            max_concurrent_requests=d.get("max_concurrent_requests") or None,
            get_partial_values_concurrency=d.get("get_partial_values_concurrency") or None,
        )
