"""Credentials for the S3 buckets virtual chunks are read from, given when
a repository is opened (``authorize_virtual_chunk_access``), as upstream
Icechunk's. They are never stored in the repository."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "S3Credentials",
    "S3StaticCredentials",
    "containers_credentials",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_refreshable_credentials",
    "s3_static_credentials",
]


@dataclass(frozen=True)
class S3StaticCredentials:
    """Access keys, as a ``get_credentials`` function returns them
    (upstream Icechunk's ``S3StaticCredentials``). ``expires_after`` (an
    aware datetime; a naive one is taken as UTC) is when they stop working:
    they are asked for again about 30 seconds before. None: never."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expires_after: _dt.datetime | None = None


@dataclass(frozen=True)
class S3Credentials:
    """One way to sign requests to S3: ``kind`` is ``"static"`` (keys),
    ``"anonymous"`` (unsigned), ``"from_env"`` (the AWS default chain:
    environment, shared files, roles) or ``"refreshable"`` (keys from
    ``get_credentials``, asked for again before they expire)."""

    kind: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    get_credentials: Callable[[], Any] | None = field(default=None, repr=False)
    scatter_initial_credentials: bool = False

    def _storage_kwargs(self) -> dict[str, Any]:
        """The credential arguments of :func:`s3_storage`."""
        if self.kind == "static":
            return {
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
                "session_token": self.session_token,
            }
        if self.kind == "refreshable":
            return {"get_credentials": self.get_credentials, "scatter_initial_credentials": self.scatter_initial_credentials}
        return {self.kind: True}


def s3_refreshable_credentials(
    get_credentials: Callable[[], Any], scatter_initial_credentials: bool = False
) -> S3Credentials:
    """Keys from ``get_credentials()``, which returns
    :class:`S3StaticCredentials` (or any object with ``access_key_id``,
    ``secret_access_key``, ``session_token`` and ``expires_after``): called
    for the first request and again shortly before the keys it gave expire,
    from the library's threads, never twice at once per storage. It is
    pickled with the storage, so it must be picklable to send sessions to
    other processes. With ``scatter_initial_credentials`` it is called once
    when the storage is made and that answer is pickled with it, so that
    copies need not call it until those keys expire."""
    if not callable(get_credentials):
        raise TypeError(f"s3_refreshable_credentials: get_credentials must be callable, not {type(get_credentials).__name__}")
    return S3Credentials("refreshable", get_credentials=get_credentials, scatter_initial_credentials=bool(scatter_initial_credentials))


def s3_static_credentials(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    expires_after: _dt.datetime | None = None,
) -> S3Credentials:
    """Access keys (and a session token). ``expires_after`` is taken for
    upstream's signature; the keys are used as long as S3 accepts them."""
    if not access_key_id or not secret_access_key:
        raise ValueError("s3_static_credentials: access_key_id and secret_access_key are required")
    return S3Credentials("static", access_key_id, secret_access_key, session_token)


def s3_anonymous_credentials() -> S3Credentials:
    """Unsigned requests, for public buckets."""
    return S3Credentials("anonymous")


def s3_from_env_credentials() -> S3Credentials:
    """The AWS default chain: environment variables, shared files, roles."""
    return S3Credentials("from_env")


def s3_credentials(
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    expires_after: _dt.datetime | None = None,
    anonymous: bool | None = None,
    from_env: bool | None = None,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = False,
) -> S3Credentials:
    """Credentials from whichever arguments are given: keys, ``anonymous``,
    ``from_env`` (the default when none is) or ``get_credentials`` (see
    :func:`s3_refreshable_credentials`).

    Raises
    ------
    ValueError
        More than one source.
    """
    static = access_key_id is not None or secret_access_key is not None
    if sum(bool(x) for x in (static, anonymous, from_env, get_credentials is not None)) > 1:
        raise ValueError("s3_credentials: give one source: access keys, anonymous=True, from_env=True or get_credentials")
    if get_credentials is not None:
        return s3_refreshable_credentials(get_credentials, scatter_initial_credentials)
    if static:
        return s3_static_credentials(
            access_key_id=access_key_id or "",
            secret_access_key=secret_access_key or "",
            session_token=session_token,
            expires_after=expires_after,
        )
    return s3_anonymous_credentials() if anonymous else s3_from_env_credentials()


def containers_credentials(m: Mapping[str, S3Credentials | None]) -> dict[str, S3Credentials | None]:
    """The ``authorize_virtual_chunk_access`` mapping, by URL prefix
    (checked: every value is credentials or None)."""
    out: dict[str, S3Credentials | None] = {}
    for prefix, creds in m.items():
        if creds is not None and not isinstance(creds, S3Credentials):
            raise TypeError(f"containers_credentials: {prefix!r} maps to {type(creds).__name__}, not S3 credentials")
        out[str(prefix)] = creds
    return out
