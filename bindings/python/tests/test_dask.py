"""Cooperative mode on a real Dask cluster of worker processes (spawned):
the session is forked, workers write chunk-aligned regions of one array
into their forks, the forks come back and are merged, and one commit
lands. Also xarray's Dask-backed write through a fork (to_icechunk)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic

distributed = pytest.importorskip("distributed")
xr = pytest.importorskip("xarray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    import dask

    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            memory_limit="1GiB",
        )
        with cluster, distributed.Client(cluster) as c:
            yield c


def write_region(fork: ic.Session, start: int, stop: int) -> tuple[ic.Session, int]:
    import os

    arr = zarr.open_array(fork.store, path="data", mode="a")
    arr[start:stop] = np.arange(start, stop, dtype="f8") * 2
    return fork, os.getpid()


def test_cooperative_mode_on_cluster(client: distributed.Client, tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="data", shape=(100,), chunks=(10,), dtype="f8", fill_value=np.nan)
    s.commit("create the array")

    session = repo.writable_session("main")
    fork = session.fork()
    futures = [client.submit(write_region, fork, i, i + 20, pure=False) for i in range(0, 100, 20)]
    results = client.gather(futures)
    forks = [f for f, _ in results]
    # the writes happened in the worker processes, not here
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2
    assert {pid for _, pid in results} <= worker_pids and os.getpid() not in worker_pids
    assert all(f.is_fork for f in forks)
    session.merge(*forks)
    assert len(session.status().updated_chunks["/data"]) == 10
    session.commit("one commit from the cluster")

    assert [h.message for h in repo.ancestry(branch="main")][:2] == ["one commit from the cluster", "create the array"]
    got = zarr.open_array(repo.readonly_session(branch="main").store, path="data", mode="r")[:]
    np.testing.assert_array_equal(got, np.arange(100) * 2.0)


def test_xarray_dask_write_through_fork(client: distributed.Client, tmp_path: Path) -> None:
    import pandas as pd

    from icechunk_go.xarray import to_icechunk

    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {"t": (("time", "x"), rng.normal(size=(24, 6)), {"units": "K"})},
        coords={"time": pd.date_range("2024-01-01", periods=24, freq="h"), "x": np.arange(6)},
        attrs={"source": "dask"},
    ).chunk({"time": 4})
    session = repo.writable_session("main")
    to_icechunk(ds, session, encoding={"t": {"chunks": (4, 6)}})
    st = session.status()
    assert len(st.updated_chunks["/t"]) == 6
    session.commit("xarray via dask")
    back = xr.open_zarr(repo.readonly_session(branch="main").store).load()
    xr.testing.assert_identical(back, ds.load())

    # append along time, again in parallel, as a second commit
    more = ds.isel(time=slice(0, 8)).assign_coords(time=pd.date_range("2024-01-02", periods=8, freq="h"))
    session = repo.writable_session("main")
    to_icechunk(more.chunk({"time": 4}), session, append_dim="time")
    session.commit("append")
    back = xr.open_zarr(repo.readonly_session(branch="main").store).load()
    assert back.sizes["time"] == 32
    np.testing.assert_array_equal(back["t"][24:].values, more["t"].values)


def test_xarray_to_icechunk_into_a_users_fork(client: distributed.Client, tmp_path: Path) -> None:
    """The user forks; the Dask write goes into that fork; the user merges
    it and commits once."""
    from icechunk_go.xarray import to_icechunk

    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    ds = xr.Dataset({"v": (("a", "b"), np.arange(48.0).reshape(12, 4))}, attrs={"k": "v"}).chunk({"a": 3})
    session = repo.writable_session("main")
    fork = session.fork()
    to_icechunk(ds, fork)
    assert fork.has_uncommitted_changes and not session.has_uncommitted_changes
    session.merge(fork)
    session.commit("through the user's fork")
    back = xr.open_zarr(repo.readonly_session(branch="main").store).load()
    xr.testing.assert_identical(back, ds.load())


def test_plain_to_zarr_refuses_to_lose_writes(client: distributed.Client, tmp_path: Path) -> None:
    """Plain to_zarr on a cluster would send copies of a writable session to
    the workers and lose their writes: pickling refuses, pointing at fork()."""
    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    ds = xr.Dataset({"v": (("a",), np.arange(12.0))}).chunk({"a": 3})
    session = repo.writable_session("main")
    with pytest.raises(Exception) as e:
        ds.to_zarr(session.store, mode="w")
    chain = []
    err: BaseException | None = e.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    assert any(isinstance(x, ic.SessionPicklingError) and "fork()" in str(x) for x in chain), chain


def test_store_dask_on_cluster_through_a_fork(client: distributed.Client, tmp_path: Path) -> None:
    """upstream's icechunk.dask.store_dask: targets opened on a fork, the
    blocks written by the cluster's processes, the result merged back."""
    import dask.array as da

    from icechunk_go.dask import store_dask

    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(40, 6), chunks=(5, 6), dtype="f8", fill_value=np.nan)
    zarr.create_array(s.store, name="b", shape=(40,), chunks=(10,), dtype="i8", fill_value=-1)
    s.commit("arrays")

    session = repo.writable_session("main")
    fork = session.fork()
    a = zarr.open_array(fork.store, path="a", mode="r+")
    b = zarr.open_array(fork.store, path="b", mode="r+")
    src_a = da.arange(240.0, chunks=60).reshape(40, 6).rechunk((10, 6))
    src_b = da.arange(20, chunks=10)
    written = store_dask(sources=[src_a, src_b], targets=[a, b], regions=[(slice(0, 40), slice(0, 6)), (slice(20, 40),)])
    assert written.is_fork
    session.merge(written)
    assert len(session.status().updated_chunks["/a"]) == 8
    session.commit("store_dask")
    ro = repo.readonly_session("main").store
    np.testing.assert_array_equal(zarr.open_array(ro, path="a", mode="r")[:], np.arange(240.0).reshape(40, 6))
    np.testing.assert_array_equal(zarr.open_array(ro, path="b", mode="r")[:], np.r_[np.full(20, -1), np.arange(20)])


def test_store_dask_threads_and_its_refusals(tmp_path: Path) -> None:
    import dask.array as da

    from icechunk_go.dask import store_dask

    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    session = repo.writable_session("main")
    a = zarr.create_array(session.store, name="a", shape=(12,), chunks=(3,), dtype="i4", fill_value=0)
    written = store_dask(sources=[da.arange(12, chunks=3)], targets=[a], scheduler="threads")
    assert written is session  # written in this process, into the session itself
    session.merge(written)  # merging a session into itself changes nothing
    session.commit("threads")
    got = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    np.testing.assert_array_equal(got, np.arange(12))

    session = repo.writable_session("main")
    a = zarr.open_array(session.store, path="a", mode="r+")
    with pytest.raises(TypeError, match="compute"):
        store_dask(sources=[da.ones(12, chunks=3)], targets=[a], compute=False)
    with pytest.raises(TypeError, match="icechunk_go"):
        store_dask(sources=[da.ones(12, chunks=3)], targets=[zarr.zeros((12,), chunks=(3,))])
    with pytest.raises(ValueError, match="targets"):
        store_dask(sources=[da.ones(12, chunks=3)], targets=[])
    other = zarr.open_array(repo.writable_session("main").store, path="a", mode="r+")
    with pytest.raises(ValueError, match="same session"):
        store_dask(sources=[da.ones(12, chunks=3), da.ones(12, chunks=3)], targets=[a, other])
    ro = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    with pytest.raises(ic.ReadOnlyError):
        store_dask(sources=[da.ones(12, chunks=3)], targets=[ro])
