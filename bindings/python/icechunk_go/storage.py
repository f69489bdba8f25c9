"""Where a repository lives: in memory, in a local folder, or in S3."""

from __future__ import annotations

import ctypes
import datetime as _dt
import json
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from . import _ffi
from ._checks import check_int
from .config import S3Options, StorageSettings
from .credentials import S3Credentials, S3StaticCredentials
from .errors import IcechunkError

__all__ = [
    "Storage",
    "in_memory_storage",
    "http_storage",
    "local_filesystem_storage",
    "r2_storage",
    "s3_storage",
    "tigris_storage",
]

# In-memory storages of this process by id, so that a session pickled and
# unpickled within the process (threads, Dask's threaded scheduler) finds
# its storage again.
_memory_storages: weakref.WeakValueDictionary[str, Storage] = weakref.WeakValueDictionary()
_memory_lock = threading.Lock()


class Storage:
    """A place that holds a repository. Make one with
    :func:`in_memory_storage`, :func:`local_filesystem_storage` or
    :func:`s3_storage`.

    A storage may back many repositories handles and sessions at once and
    may be used from many threads. It pickles by its settings, so that a
    session sent to another process reopens the same repository there (an
    in-memory storage only within its own process).
    """

    __slots__ = ("__weakref__", "_handle", "_spec")

    def __init__(self, handle: int, spec: dict[str, Any]) -> None:
        # Not for users: call one of the functions of this module.
        self._handle = _ffi.Handle(handle, _ffi.lib.ic_storage_free)
        self._spec = spec

    @property
    def _h(self) -> int:
        return self._handle.value

    def describe(self) -> str:
        """A description such as ``local:/data/repo`` or ``s3://bucket/prefix``,
        without credentials."""
        return _ffi.string_result(_ffi.lib.ic_storage_describe, self._h)

    def default_settings(self) -> StorageSettings:
        """The storage settings a repository here uses when its
        configuration sets none, every field filled in (upstream Icechunk's
        ``Storage.default_settings``): a start for settings that change one
        of them, set as ``RepositoryConfig.storage``."""
        return StorageSettings._from_json(_ffi.json_result(_ffi.lib.ic_storage_default_settings, self._h))

    def __repr__(self) -> str:
        return f"<icechunk_go.Storage {self.describe()}>"

    def _key(self) -> str:
        """A canonical form of the settings: equal keys, same place."""
        # A credentials function counts by identity.
        return json.dumps(self._spec, sort_keys=True, default=lambda o: f"{type(o).__qualname__}@{id(o):x}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Storage) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> Any:
        return (_storage_from_spec, (self._spec,))

    # Upstream Icechunk's constructors, for code written against it; the
    # functions of this module are the same places with keyword arguments.

    @classmethod
    def new_in_memory(cls) -> Storage:
        """As :func:`in_memory_storage`."""
        return in_memory_storage()

    @classmethod
    def new_local_filesystem(cls, path: str | os.PathLike[str]) -> Storage:
        """As :func:`local_filesystem_storage`."""
        return local_filesystem_storage(path)

    @classmethod
    def new_s3(cls, config: S3Options, bucket: str, prefix: str | None, credentials: Any = None) -> Storage:
        """A storage in S3 (as :func:`s3_storage`): ``config`` says where
        and how (:class:`S3Options`), ``credentials`` how to sign
        (:func:`s3_credentials` and the like, or :class:`S3StaticCredentials`;
        None: anonymous if ``config.anonymous``, else the AWS default
        chain)."""
        config._check("Storage.new_s3")
        return s3_storage(bucket=bucket, prefix=prefix, region=config.region, endpoint_url=config.endpoint_url,
                          allow_http=config.allow_http, force_path_style=config.force_path_style,
                          network_stream_timeout_seconds=config.network_stream_timeout_seconds,
                          **_credential_kwargs(credentials, config.anonymous))  # fmt: skip

    @classmethod
    def new_s3_object_store(cls, config: S3Options, bucket: str, prefix: str | None, credentials: Any = None) -> Storage:
        """As :meth:`new_s3` (upstream's storage through another S3 client;
        here the same one)."""
        return cls.new_s3(config, bucket, prefix, credentials)

    @classmethod
    def new_r2(
        cls,
        config: S3Options,
        bucket: str | None = None,
        prefix: str | None = None,
        account_id: str | None = None,
        credentials: Any = None,
    ) -> Storage:
        """As :func:`r2_storage`, with ``config`` (:class:`S3Options`)."""
        config._check("Storage.new_r2")
        return r2_storage(bucket=bucket, prefix=prefix, account_id=account_id, endpoint_url=config.endpoint_url,
                          region=config.region, allow_http=config.allow_http,
                          network_stream_timeout_seconds=config.network_stream_timeout_seconds,
                          **_credential_kwargs(credentials, config.anonymous))  # fmt: skip

    @classmethod
    def new_tigris(
        cls,
        config: S3Options,
        bucket: str,
        prefix: str | None,
        use_weak_consistency: bool,
        credentials: Any = None,
    ) -> Storage:
        """As :func:`tigris_storage`, with ``config`` (:class:`S3Options`)."""
        config._check("Storage.new_tigris")
        return tigris_storage(bucket=bucket, prefix=prefix, region=config.region, endpoint_url=config.endpoint_url,
                              use_weak_consistency=use_weak_consistency, allow_http=config.allow_http,
                              network_stream_timeout_seconds=config.network_stream_timeout_seconds,
                              **_credential_kwargs(credentials, config.anonymous))  # fmt: skip

    @classmethod
    def new_gcs(cls, *_args: Any, **_kwargs: Any) -> Storage:
        """Not supported: icechunk_go stores repositories in S3 (and
        S3-compatible services), on local disk and in memory."""
        raise NotImplementedError("Storage.new_gcs: Google Cloud Storage is not supported by icechunk_go")

    @classmethod
    def new_azure_blob(cls, *_args: Any, **_kwargs: Any) -> Storage:
        """Not supported, as :meth:`new_gcs`."""
        raise NotImplementedError("Storage.new_azure_blob: Azure Blob Storage is not supported by icechunk_go")


def _credential_kwargs(credentials: Any, anonymous: bool) -> dict[str, Any]:
    """The credential arguments of :func:`s3_storage` for upstream's
    ``credentials`` argument."""
    if credentials is None:
        return {"anonymous": True} if anonymous else {"from_env": True}
    if isinstance(credentials, S3Credentials):
        return credentials._storage_kwargs()
    if isinstance(credentials, S3StaticCredentials):
        return {
            "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key,
            "session_token": credentials.session_token,
        }
    raise TypeError(
        f"credentials must be S3Credentials (s3_credentials and the like) or S3StaticCredentials, "
        f"not {type(credentials).__name__}"
    )


def _storage_from_spec(spec: dict[str, Any]) -> Storage:
    kind = spec.get("type")
    if kind == "memory":
        with _memory_lock:
            found = _memory_storages.get(spec["id"])
        if found is None:
            raise IcechunkError(
                "an in-memory storage cannot be used outside the process that made it "
                "(or after it was freed): use local_filesystem_storage or s3_storage "
                "to share a repository between processes"
            )
        return found
    if kind == "local":
        return local_filesystem_storage(spec["path"])
    if kind == "http":
        return http_storage(spec["url"], spec.get("opts"))
    if kind == "s3" and spec.get("get_credentials") is not None:
        return _s3_refreshable(spec["config"], spec["get_credentials"], spec.get("initial"))
    if kind == "s3":
        return _s3_from_config(spec["config"])
    raise IcechunkError(f"unknown storage kind {kind!r}")


def in_memory_storage() -> Storage:
    """A new, empty storage in this process's memory. Its contents live as
    long as a repository, session or the storage object itself uses it."""
    sid = uuid.uuid4().hex
    h = _ffi.handle_result(_ffi.lib.ic_storage_new_memory, _ffi.cstr(f"memory-{sid[:8]}"))
    s = Storage(h, {"type": "memory", "id": sid})
    with _memory_lock:
        _memory_storages[sid] = s
    return s


def local_filesystem_storage(path: str | os.PathLike[str]) -> Storage:
    """A storage in the local folder ``path``. The folder (with its
    parents) is created by the first write, such as
    :meth:`Repository.create`: until then the storage reads as empty, so
    :meth:`Repository.exists` or :meth:`Repository.open` on a mistyped path
    leaves no folders behind. Safe for concurrent writers in this process
    and in others: a commit moves a branch atomically (create-only files
    and ``link(2)``)."""
    p = os.path.abspath(os.fspath(path))
    h = _ffi.handle_result(_ffi.lib.ic_storage_new_local, _ffi.cstr(p, "path"))
    return Storage(h, {"type": "local", "path": p})


def http_storage(url: str, opts: dict[str, str] | None = None) -> Storage:
    """A read-only storage of the files a web server publishes under
    ``url`` (an ``http://`` or ``https://`` folder URL), for a virtual chunk
    container: :meth:`Repository.set_virtual_chunk_storage` takes it, and a
    container whose store is :func:`http_store` is connected to one by
    ``authorize_virtual_chunk_access``. Reads are ranged GETs, pinned to a
    reference's ETag or time where it has one; busy answers (429, 5xx) and
    dropped connections are retried. A repository cannot live in one.
    ``opts`` are upstream's HTTP client options (see :func:`http_store`).

    Raises
    ------
    InvalidArgumentError
        A URL with another scheme, no host, a query or a fragment; an
        unknown client option or one whose value does not parse.
    TypeError
        ``opts`` that is not a mapping of strings to strings.
    """
    from .config import _http_options

    options = _http_options(opts)
    raw = None if options is None else _ffi.cstr(json.dumps(options), "opts")
    h = _ffi.handle_result(_ffi.lib.ic_storage_new_http_options, _ffi.cstr(url, "url"), raw)
    return Storage(h, {"type": "http", "url": url, "opts": options})


def s3_storage(
    *,
    bucket: str,
    prefix: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    allow_http: bool = False,
    force_path_style: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    from_env: bool | None = None,
    anonymous: bool | None = None,
    max_connections: int | None = None,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int | None = None,
) -> Storage:
    """A storage in an S3 bucket (AWS, or an S3-compatible service such as
    MinIO with ``endpoint_url=`` and ``force_path_style=True``).

    ``network_stream_timeout_seconds`` fails a request when no byte
    crosses its connection for that long (None: 60 seconds; 0: never): a
    server that hangs, or a transfer that stalled. A slow transfer that
    still moves is never cut. The failure is retried as the repository's
    storage settings say (:class:`StorageRetriesSettings`), so a hung
    server holds a call for about the timeout times the tries.

    Credentials come from exactly one source: ``access_key_id`` and
    ``secret_access_key`` (and ``session_token``); ``anonymous=True`` for
    public buckets; ``get_credentials``, a function returning
    :class:`S3StaticCredentials`, called for the first request and again
    shortly before the keys it gave expire (see
    :func:`s3_refreshable_credentials`); or, by default (``from_env=True``),
    the AWS default chain (environment, shared files, roles). Nothing is
    contacted until the first operation. Messages never contain secrets,
    but a pickled storage does carry the static credentials it was given
    (and ``get_credentials``, pickled by reference).
    """
    static = access_key_id is not None or secret_access_key is not None
    if sum(bool(x) for x in (static, anonymous, from_env, get_credentials is not None)) > 1:
        raise ValueError(
            "s3_storage: give exactly one credential source: access_key_id/secret_access_key, "
            "anonymous=True, from_env=True or get_credentials"
        )
    if static and (not access_key_id or not secret_access_key):
        raise ValueError("s3_storage: access_key_id and secret_access_key go together")
    if get_credentials is not None and not callable(get_credentials):
        raise TypeError(f"s3_storage: get_credentials must be callable, not {type(get_credentials).__name__}")
    cfg: dict[str, Any] = {
        "bucket": bucket,
        "prefix": prefix or "",
        "region": region or "",
        "endpoint": endpoint_url or "",
        "force_path_style": bool(force_path_style),
        "allow_http": bool(allow_http),
        "from_env": not static and not anonymous and get_credentials is None,
        "anonymous": bool(anonymous),
    }
    if static:
        cfg["access_key_id"] = access_key_id
        cfg["secret_access_key"] = secret_access_key
        cfg["session_token"] = session_token or ""
    if max_connections:
        cfg["max_connections"] = int(max_connections)
    if network_stream_timeout_seconds is not None:
        check_int(network_stream_timeout_seconds, "s3_storage: network_stream_timeout_seconds")
        cfg["network_stream_timeout_seconds"] = network_stream_timeout_seconds
    if get_credentials is not None:
        initial = _credentials_json(get_credentials()) if scatter_initial_credentials else None
        return _s3_refreshable(cfg, get_credentials, initial)
    return _s3_from_config(cfg)


def _credentials_json(creds: Any) -> dict[str, Any]:
    """The C callback's JSON of what a get_credentials function returned."""
    try:
        out: dict[str, Any] = {"access_key_id": creds.access_key_id, "secret_access_key": creds.secret_access_key}
    except AttributeError:
        raise TypeError(
            f"get_credentials must return S3StaticCredentials (access_key_id, secret_access_key, "
            f"session_token, expires_after), not {type(creds).__name__}"
        ) from None
    if getattr(creds, "session_token", None):
        out["session_token"] = creds.session_token
    expires = getattr(creds, "expires_after", None)
    if expires is not None:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=_dt.timezone.utc)
        delta = expires - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        out["expires_after_unix_nanos"] = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return out


# The C callbacks of refreshable storages. The library may call one as long
# as any repository or session opened through its storage lives, which can
# outlast the storage object: they are kept for the life of the process.
_credential_callbacks: list[Any] = []


def _credentials_callback(get_credentials: Callable[[], Any], initial: dict[str, Any] | None) -> Any:
    """A C credentials callback calling get_credentials (after handing out
    initial, if given and not yet expired)."""
    state: dict[str, Any] = {"initial": initial, "retry": None}

    def fresh() -> bytes:
        first = state["initial"]
        state["initial"] = None
        if first is not None:
            exp = first.get("expires_after_unix_nanos")
            if exp is None or exp > time.time_ns() + 30 * 10**9:
                return json.dumps(first).encode()
        return json.dumps(_credentials_json(get_credentials())).encode()

    def call(_user_data: Any, buf: int, cap: int) -> int:
        try:
            data = state["retry"] or fresh()
            state["retry"] = None
        except BaseException as e:  # noqa: BLE001 (reported through the library)
            msg = f"{type(e).__name__}: {e}".encode(errors="replace")[: max(cap - 1, 0)]
            if cap:
                ctypes.memmove(buf, msg + b"\0", len(msg) + 1)
            return -1
        if len(data) > cap:
            state["retry"] = data  # the library calls again with room for it
            return len(data)
        ctypes.memmove(buf, data, len(data))
        return len(data)

    fn = _ffi.CREDENTIALS_FN(call)
    _credential_callbacks.append(fn)
    return fn


def _s3_refreshable(cfg: dict[str, Any], get_credentials: Callable[[], Any], initial: dict[str, Any] | None) -> Storage:
    fn = _credentials_callback(get_credentials, initial)
    h = _ffi.handle_result(_ffi.lib.ic_storage_new_s3_refreshable, _ffi.cstr(json.dumps(cfg)), fn, None)
    return Storage(h, {"type": "s3", "config": cfg, "get_credentials": get_credentials, "initial": initial})


def _s3_compatible(
    what: str,
    *,
    bucket: str | None,
    prefix: str | None,
    region: str,
    endpoint_url: str,
    allow_http: bool,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    expires_after: Any,
    anonymous: bool | None,
    from_env: bool | None,
    get_credentials: Any,
    scatter_initial_credentials: bool,
    network_stream_timeout_seconds: int | None,
) -> Storage:
    """An S3-compatible service's storage, refusing upstream's options this
    library does not have instead of ignoring them. ``expires_after`` of
    static keys is taken for upstream's signature: the keys are used as
    long as the service accepts them."""
    if not bucket:
        raise ValueError(f"{what}: a bucket is required")
    return s3_storage(
        bucket=bucket,
        prefix=prefix,
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        force_path_style=True,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        session_token=session_token,
        from_env=from_env,
        anonymous=anonymous,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
    )


def r2_storage(
    *,
    bucket: str | None = None,
    prefix: str | None = None,
    account_id: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: Any = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Any = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int | None = None,
) -> Storage:
    """A storage in a Cloudflare R2 bucket, through R2's S3 API (upstream
    Icechunk's ``r2_storage``): at ``endpoint_url``, or
    ``https://<account_id>.r2.cloudflarestorage.com``; region ``auto``
    unless given; path-style requests. Credentials as for
    :func:`s3_storage`, as is ``network_stream_timeout_seconds``."""
    if endpoint_url is None:
        if not account_id:
            raise ValueError("r2_storage: give account_id or endpoint_url")
        endpoint_url = f"https://{account_id}.r2.cloudflarestorage.com"
    return _s3_compatible(
        "r2_storage", bucket=bucket, prefix=prefix, region=region or "auto", endpoint_url=endpoint_url,
        allow_http=allow_http, access_key_id=access_key_id, secret_access_key=secret_access_key,
        session_token=session_token, expires_after=expires_after, anonymous=anonymous, from_env=from_env,
        get_credentials=get_credentials, scatter_initial_credentials=scatter_initial_credentials,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
    )  # fmt: skip


def tigris_storage(
    *,
    bucket: str,
    prefix: str | None,
    region: str | None = None,
    endpoint_url: str | None = None,
    use_weak_consistency: bool = False,
    allow_http: bool = False,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: Any = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Any = None,
    scatter_initial_credentials: bool = False,
    network_stream_timeout_seconds: int | None = None,
) -> Storage:
    """A storage in a Tigris bucket, through its S3 API (upstream Icechunk's
    ``tigris_storage``): at ``endpoint_url`` or
    ``https://fly.storage.tigris.dev``; region ``auto`` unless given;
    path-style requests. Credentials and ``network_stream_timeout_seconds``
    as for :func:`s3_storage`. ``use_weak_consistency`` (reads from the
    nearest region) is not supported and raises ``ValueError``."""
    if use_weak_consistency:
        raise ValueError("tigris_storage: use_weak_consistency is not supported: reads go to the bucket's consistent endpoint")
    return _s3_compatible(
        "tigris_storage", bucket=bucket, prefix=prefix, region=region or "auto",
        endpoint_url=endpoint_url or "https://fly.storage.tigris.dev", allow_http=allow_http,
        access_key_id=access_key_id, secret_access_key=secret_access_key, session_token=session_token,
        expires_after=expires_after, anonymous=anonymous, from_env=from_env, get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
        network_stream_timeout_seconds=network_stream_timeout_seconds,
    )  # fmt: skip


def _s3_from_config(cfg: dict[str, Any]) -> Storage:
    h = _ffi.handle_result(_ffi.lib.ic_storage_new_s3_json, _ffi.cstr(json.dumps(cfg)))
    return Storage(h, {"type": "s3", "config": cfg})
