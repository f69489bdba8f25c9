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
    "containers_credentials",
    "s3_anonymous_credentials",
    "s3_credentials",
    "s3_from_env_credentials",
    "s3_static_credentials",
]


@dataclass(frozen=True)
class S3Credentials:
    """One way to sign requests to S3: ``kind`` is ``"static"`` (keys),
    ``"anonymous"`` (unsigned) or ``"from_env"`` (the AWS default chain:
    environment, shared files, roles)."""

    kind: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    def _storage_kwargs(self) -> dict[str, Any]:
        """The credential arguments of :func:`s3_storage`."""
        if self.kind == "static":
            return {
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
                "session_token": self.session_token,
            }
        return {self.kind: True}


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
    """Credentials from whichever arguments are given: keys, ``anonymous``
    or ``from_env`` (the default when none is).

    Raises
    ------
    ValueError
        More than one source, or ``get_credentials`` (refreshed
        credentials are not supported: pass keys, or let the AWS default
        chain refresh them with ``from_env``).
    """
    if get_credentials is not None:
        raise ValueError(
            "s3_credentials: refreshed credentials (get_credentials) are not supported; "
            "pass access keys, or from_env=True to use the AWS default chain, which refreshes role credentials"
        )
    static = access_key_id is not None or secret_access_key is not None
    if sum(bool(x) for x in (static, anonymous, from_env)) > 1:
        raise ValueError("s3_credentials: give one source: access keys, anonymous=True or from_env=True")
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
