"""Helpers for cooperative writes from many processes (upstream Icechunk's
``icechunk.distributed``): the session behind a Zarr array, and merging
the sessions workers send back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zarr

    from .session import Session

__all__ = ["extract_session", "merge_sessions"]


def extract_session(zarray: zarr.Array, axis: Any = None, keepdims: Any = None) -> Session:
    """The session whose store ``zarray`` was opened on. (``axis`` and
    ``keepdims`` let Dask use it as a reduction's chunk function.)"""
    from .store import IcechunkStore

    store = zarray.store
    if not isinstance(store, IcechunkStore):
        raise TypeError(f"extract_session: {zarray!r} is not an array of an icechunk_go store")
    return store.session


def merge_sessions(*sessions: Session | Iterable[Any], axis: Any = None, keepdims: Any = None) -> Session:
    """Merges every session given (lists of them, nested, are flattened)
    into the first, and returns it: the workers' copies or forks of one
    session, gathered to commit once. A session given twice is merged once.
    (``axis`` and ``keepdims`` let Dask use it as a reduction's combine
    function.)"""
    from .session import Session

    flat = list(_flatten(sessions))
    if not flat:
        raise ValueError("merge_sessions needs at least one session")
    for s in flat:
        if not isinstance(s, Session):
            raise TypeError(f"merge_sessions: expected Session objects, got {type(s).__name__}")
    first, rest = flat[0], flat[1:]
    seen = {first._h}
    unique = []
    for s in rest:
        if s._h not in seen:
            seen.add(s._h)
            unique.append(s)
    first.merge(*unique)
    return first


def _flatten(items: Iterable[Any]) -> Iterable[Any]:
    for x in items:
        if isinstance(x, list | tuple):
            yield from _flatten(x)
        else:
            yield x
