"""xarray through a session's store: write, commit, read back, time travel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import icechunk_go as ic

xr = pytest.importorskip("xarray")
pytest.importorskip("dask")


def make_dataset(n_time: int = 6, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "temperature": (("time", "y", "x"), rng.normal(280, 5, (n_time, 4, 5)), {"units": "K"}),
            "flag": (("y", "x"), rng.integers(0, 2, (4, 5)).astype("i1"), {"meaning": "land"}),
        },
        coords={
            "time": pd.date_range("2024-01-01", periods=n_time, freq="D"),
            "y": np.arange(4.0),
            "x": np.arange(5) * 10,
        },
        attrs={"title": "demo", "version": 1},
    )


def test_to_zarr_commit_open_zarr(repo: ic.Repository) -> None:
    ds = make_dataset()
    s = repo.writable_session("main")
    ds.to_zarr(s.store, encoding={"temperature": {"chunks": (2, 2, 5)}})
    assert s.status().new_arrays == {"/temperature", "/flag", "/time", "/y", "/x"}
    sid = s.commit("write dataset")
    back = xr.open_zarr(repo.readonly_session(branch="main").store)
    xr.testing.assert_identical(back.load(), ds)
    assert back.attrs == {"title": "demo", "version": 1}
    assert back["temperature"].attrs["units"] == "K"
    assert back["temperature"].encoding["chunks"] == (2, 2, 5)
    assert repo.lookup_branch("main") == sid


def test_non_finite_attributes_round_trip(repo: ic.Repository) -> None:
    # Data converted from netCDF often carries missing_value = NaN; zarr
    # writes it as the bare word NaN, as its LocalStore keeps it.
    ds = xr.Dataset(
        {"t": ("x", np.array([1.0, np.nan, 3.0]), {"missing_value": np.nan, "valid_range": [-np.inf, np.inf]})},
        attrs={"fill": np.nan},
    )
    s = repo.writable_session("main")
    ds.to_zarr(s.store)
    s.commit("non-finite attributes")
    back = xr.open_zarr(repo.readonly_session(branch="main").store, mask_and_scale=False)
    assert np.isnan(back["t"].attrs["missing_value"])
    assert list(back["t"].attrs["valid_range"]) == [-np.inf, np.inf]
    assert np.isnan(back.attrs["fill"])
    np.testing.assert_array_equal(back["t"].values, ds["t"].values)


def test_time_travel_to_snapshot_and_tag(repo: ic.Repository) -> None:
    ds = make_dataset()
    s = repo.writable_session("main")
    ds.to_zarr(s.store)
    v1 = s.commit("v1")
    repo.create_tag("v1", v1)

    s = repo.writable_session("main")
    updated = ds.copy(deep=True)
    updated["temperature"][0:2] = 300.0
    updated.attrs["version"] = 2
    updated.to_zarr(s.store, mode="a")
    heat = s.commit("heat wave")

    s = repo.writable_session("main")
    make_dataset(3, seed=1).isel(time=slice(0, 3)).assign_coords(
        time=pd.date_range("2024-01-07", periods=3, freq="D")
    ).drop_vars("flag").to_zarr(s.store, append_dim="time")
    s.commit("append three days")

    latest = xr.open_zarr(repo.readonly_session(branch="main").store).load()
    assert latest.sizes["time"] == 9
    assert (latest["temperature"][0:2] == 300.0).all()
    assert latest.attrs["version"] == 1  # the appended dataset's attributes
    assert xr.open_zarr(repo.readonly_session(snapshot_id=heat).store).attrs["version"] == 2

    for session in (repo.readonly_session(tag="v1"), repo.readonly_session(snapshot_id=v1)):
        old = xr.open_zarr(session.store).load()
        xr.testing.assert_identical(old, ds)

    diff = repo.diff(from_tag="v1", to_branch="main")
    assert "/temperature" in diff.updated_chunks and "/time" in diff.updated_arrays


def test_to_icechunk_dask_threads(repo: ic.Repository) -> None:
    from icechunk_go.xarray import to_icechunk

    ds = make_dataset(8).chunk({"time": 2, "y": 2})
    s = repo.writable_session("main")
    to_icechunk(ds, s, encoding={"temperature": {"chunks": (2, 2, 5)}})
    assert not s.is_fork and s.has_uncommitted_changes
    assert len(s.status().updated_chunks["/temperature"]) == 8
    s.commit("dask write")
    back = xr.open_zarr(repo.readonly_session(branch="main").store).load()
    xr.testing.assert_identical(back, ds.load())


def test_to_icechunk_chunkmanager_store_kwargs(repo: ic.Repository) -> None:
    """Upstream's chunkmanager_store_kwargs reach Dask's compute (here a
    scheduler of the test's own); a lock is needless and ignored; what
    cannot be honoured is refused."""
    import dask
    from icechunk_go.xarray import to_icechunk

    calls = []

    def scheduler(dsk, keys, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(keys)
        return dask.get(dsk, keys, **kwargs)

    ds = make_dataset(8).chunk({"time": 2, "y": 2})
    s = repo.writable_session("main")
    with pytest.raises(ValueError, match=r"chunkmanager_store_kwargs\['compute'\] is not supported"):
        to_icechunk(ds, s, chunkmanager_store_kwargs={"compute": False})
    to_icechunk(ds, s, chunkmanager_store_kwargs={"scheduler": scheduler, "lock": True})
    assert calls, "the scheduler given was not used"
    s.commit("dask write, own scheduler")
    xr.testing.assert_identical(xr.open_zarr(repo.readonly_session(branch="main").store).load(), ds.load())


def test_to_icechunk_needs_clean_session_for_dask(repo: ic.Repository) -> None:
    from icechunk_go.xarray import to_icechunk

    s = repo.writable_session("main")
    make_dataset().to_zarr(s.store, group="other")
    with pytest.raises(ic.IcechunkError, match="uncommitted"):
        to_icechunk(make_dataset().chunk({"time": 2}), s)
    # without Dask no fork is needed
    to_icechunk(make_dataset(), s, group="eager")
    s.commit("two groups")
    back = xr.open_zarr(repo.readonly_session(branch="main").store, group="eager").load()
    xr.testing.assert_identical(back, make_dataset())


def test_to_zarr_dask_threads_through_a_fork(repo: ic.Repository) -> None:
    """With Dask's threaded scheduler nothing is pickled: plain to_zarr into
    a fork's store works, and the fork is merged back."""
    import dask

    ds = make_dataset(8).chunk({"time": 2})
    session = repo.writable_session("main")
    fork = session.fork()
    with dask.config.set(scheduler="threads"):
        ds.to_zarr(fork.store, encoding={"temperature": {"chunks": (2, 4, 5)}})
    session.merge(fork)
    session.commit("threads through a fork")
    back = xr.open_zarr(repo.readonly_session(branch="main").store).load()
    xr.testing.assert_identical(back, ds.load())
