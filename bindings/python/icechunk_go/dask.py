"""Writing Dask arrays into a session, in parallel on any Dask scheduler
(upstream Icechunk's ``icechunk.dask``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ReadOnlyError

if TYPE_CHECKING:
    import zarr

    from .session import Session

__all__ = ["store_dask"]

# dask.array.store options that make no sense here: the writes happen
# now, and what comes back is the session holding them.
_UNSUPPORTED = ("compute", "return_stored", "load_stored", "lock")


def store_dask(
    *,
    sources: list[Any],
    targets: list[zarr.Array],
    regions: list[tuple[slice, ...]] | None = None,
    split_every: int | None = None,
    **store_kwargs: Any,
) -> Session:
    """``dask.array.store`` for arrays of a session: writes each Dask array
    of ``sources`` into the Zarr array of ``targets`` at the same position
    (at ``regions``, if given), now, and returns the session holding the
    writes.

    Every target must be opened on the store of one writable session. Each
    task writes its blocks into a copy of that session; the copies are
    merged back in a tree of ``split_every`` (default 8) and the result is
    returned: :meth:`Session.merge` it into the session you commit (it is
    that session itself when the tasks ran in this process). On a cluster
    of processes the session must pickle: open the targets on a
    :meth:`Session.fork`, or inside :meth:`Session.allow_pickling`. Blocks
    must not share Zarr chunks, as in any cooperative write.

    ``store_kwargs`` go to Dask's ``compute`` (``scheduler=`` and the
    like); ``compute``, ``return_stored``, ``load_stored`` and ``lock`` are
    refused.
    """
    from .store import IcechunkStore
    from .xarray import _store_blocks

    bad = [k for k in _UNSUPPORTED if k in store_kwargs]
    if bad:
        raise TypeError(f"store_dask does not take {', '.join(bad)}: the writes happen when it is called")
    if len(sources) != len(targets):
        raise ValueError(f"store_dask: {len(sources)} sources for {len(targets)} targets")
    if regions is not None and len(regions) != len(targets):
        raise ValueError(f"store_dask: {len(regions)} regions for {len(targets)} targets")
    if not targets:
        raise ValueError("store_dask needs at least one target")
    sessions = []
    for t in targets:
        store = getattr(t, "store", None)
        if not isinstance(store, IcechunkStore):
            raise TypeError(f"store_dask: target {getattr(t, 'path', t)!r} is not an array of an icechunk_go store")
        sessions.append(store.session)
    session = sessions[0]
    if any(s._h != session._h for s in sessions[1:]):
        raise ValueError("store_dask: every target must be opened on the store of the same session")
    if session.read_only:
        raise ReadOnlyError("store_dask needs a writable session")
    return _store_blocks(
        session, list(sources), list(targets), list(regions or [None] * len(targets)), split_every or 8, store_kwargs
    )
