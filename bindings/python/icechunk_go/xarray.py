"""Writing xarray objects to a session, Dask-backed ones in parallel.

``ds.to_zarr(session.store)`` works for data in memory. For Dask-backed
data on a cluster of processes it would not: every task would write into
its own copy of the session and the copies would be lost. Use
:func:`to_icechunk` instead: it forks the session, lets every task write its
blocks into the fork it receives and return it, merges the forks back (a
tree reduction on the cluster) and leaves all the changes in the session,
ready for one commit (cooperative mode).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, cast

from .errors import ReadOnlyError

if TYPE_CHECKING:
    import xarray as xr

    from .session import Session

__all__ = ["to_icechunk"]


def _xarray_internals() -> tuple[Any, Any, Any, Any]:
    # The writer pieces of Dataset.to_zarr; their module moved between
    # xarray versions.
    from xarray.backends.common import ArrayWriter

    try:
        from xarray.backends.writers import _validate_dataset_names, dump_to_store, get_writable_zarr_store
    except ImportError:  # xarray < 2025.07
        from xarray.backends.api import (  # type: ignore[no-redef,attr-defined]
            _validate_dataset_names,
            dump_to_store,
        )
        from xarray.backends.zarr import get_writable_zarr_store  # type: ignore[no-redef,attr-defined]
    return ArrayWriter, _validate_dataset_names, dump_to_store, get_writable_zarr_store


def to_icechunk(
    obj: xr.Dataset | xr.DataArray,
    session: Session,
    *,
    group: str | None = None,
    mode: str | None = None,
    append_dim: Hashable | None = None,
    region: Mapping[str, Any] | str | None = None,
    encoding: Mapping[str, Any] | None = None,
    safe_chunks: bool = True,
    align_chunks: bool = False,
    write_empty_chunks: bool | None = None,
    chunkmanager_store_kwargs: MutableMapping[Any, Any] | None = None,
    split_every: int | None = None,
) -> None:
    """Writes an xarray Dataset or DataArray into ``session`` (as
    ``to_zarr`` would, with the same ``group``, ``mode``, ``append_dim``,
    ``region``, ``encoding`` and chunk options). Nothing is committed:
    call ``session.commit(...)`` afterwards.

    Dask-backed variables are written in parallel by the current Dask
    scheduler (threads, processes or a distributed cluster): each task
    writes its blocks into a fork of the session, and the forks are merged
    back in a tree of ``split_every`` (default 8). Blocks must not share
    Zarr chunks (``safe_chunks``), as in any cooperative write.

    ``chunkmanager_store_kwargs`` go to Dask's ``compute`` (``scheduler``,
    ``num_workers``, ...), as upstream's reach ``dask.array.store``; a
    ``lock`` is not needed (each task writes into a fork of its own) and is
    ignored, and ``compute``, ``regions``, ``return_stored`` and
    ``load_stored`` are refused: the blocks are always written and merged.

    ``session`` must be writable. If it is not a fork and the data is
    Dask-backed, it must have no uncommitted changes (forks start from a
    snapshot): commit first.
    """
    import xarray as xr

    ArrayWriter, validate_names, dump_to_store, get_writable_zarr_store = _xarray_internals()

    compute_kwargs = dict(chunkmanager_store_kwargs or {})
    compute_kwargs.pop("lock", None)
    for key in ("compute", "regions", "return_stored", "load_stored"):
        if key in compute_kwargs:
            raise ValueError(
                f"to_icechunk: chunkmanager_store_kwargs[{key!r}] is not supported: the blocks are always written and merged into the session"
            )
    ds = obj.to_dataset() if isinstance(obj, xr.DataArray) else obj
    if session.read_only:
        raise ReadOnlyError("to_icechunk needs a writable session")
    validate_names(ds)
    for v in ds.variables.values():
        if v.size == 0:
            v.load()  # as to_zarr does, for zero-length dimensions

    lazy = any(v.chunks is not None for v in ds.variables.values())
    if not lazy:
        writer_session = session
    elif session.is_fork:
        writer_session = session
    else:
        writer_session = session.fork()  # refuses a session with changes, with a clear message

    zstore = get_writable_zarr_store(
        writer_session.store,
        mode=mode,
        group=group,
        consolidated=False,
        append_dim=append_dim,
        region=region,
        safe_chunks=safe_chunks,
        align_chunks=align_chunks,
        zarr_format=3,
        write_empty_chunks=write_empty_chunks,
    )
    ds = zstore._validate_and_autodetect_region(ds)
    zstore._validate_encoding(encoding or {})
    writer = ArrayWriter()
    # Metadata and in-memory variables are written here, into writer_session.
    dump_to_store(ds, zstore, writer, encoding=encoding or {})

    if writer.sources:
        merged = _store_blocks(writer_session, writer.sources, writer.targets, writer.regions, split_every or 8, compute_kwargs)
        _merge_into(writer_session, merged)
    if writer_session is not session:
        _merge_into(session, writer_session)


def _merge_into(dst: Session, *srcs: Session) -> None:
    others = [s for s in srcs if s is not dst and s._h != dst._h]
    if others:
        dst.merge(*others)


def _merge_forks(*sessions: Session) -> Session:
    first = sessions[0]
    _merge_into(first, *sessions[1:])
    return first


def _write_block(session: Session, path: str, block: Any, slices: tuple[slice, ...]) -> Session:
    import zarr

    arr = zarr.open_array(session.store, path=path, mode="r+")
    arr[slices] = block
    return session


def _store_blocks(
    session: Session,
    sources: list[Any],
    targets: list[Any],
    regions: list[tuple[slice, ...] | None],
    split_every: int,
    compute_kwargs: dict[str, Any] | None = None,
) -> Session:
    import dask.array as da
    from dask.base import compute
    from dask.delayed import delayed

    shared = delayed(session, pure=True, traverse=False)
    tasks = []
    for src, target, region in zip(sources, targets, regions, strict=True):
        src = da.asarray(src)  # type: ignore[no-untyped-call]
        starts = [0] * src.ndim if not region else [r.start or 0 for r in region]
        blocks = src.to_delayed()
        bounds = [list(itertools.accumulate((0, *c))) for c in src.chunks]
        for idx in itertools.product(*(range(len(c)) for c in src.chunks)):
            slices = tuple(slice(starts[d] + bounds[d][i], starts[d] + bounds[d][i + 1]) for d, i in enumerate(idx))
            block = blocks[idx] if src.ndim else blocks.item()
            tasks.append(delayed(_write_block, pure=False)(shared, target.path, block, slices))
    level = tasks
    while len(level) > 1:
        level = [
            delayed(_merge_forks, pure=False)(*level[i : i + split_every]) for i in range(0, len(level), split_every)
        ]
    (result,) = compute(level[0], **(compute_kwargs or {}))  # type: ignore[no-untyped-call]
    return cast("Session", result)
