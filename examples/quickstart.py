"""icechunk_go quickstart: a versioned Zarr repository on local disk.

    python examples/quickstart.py [PATH]

Creates a repository (in a new temporary folder, or at PATH), writes an
xarray dataset and commits it, reads it back at two versions, lets two
writers collide and resolves the conflict by rebase, and prints the
history and a session's status. `make demo` runs it in the project's
virtualenv.

Porting code written for upstream Icechunk is an import change: the names
below (Repository, writable_session, session.store, commit, rebase,
ConflictDetector, BasicConflictSolver, ...) are the same.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

import icechunk_go as icechunk
from icechunk_go.xarray import to_icechunk


def step(n: int, title: str) -> None:
    print(f"\n{n}. {title}")


def show(text: str, indent: int = 6) -> None:
    print(textwrap.indent(str(text).rstrip("\n"), " " * indent))


def short(snapshot_id: str) -> str:
    return snapshot_id[:8]


def temperatures(session: icechunk.Session) -> xr.Dataset:
    return xr.open_zarr(session.store, consolidated=False)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="icechunk-go-quickstart-")) / "repo"
    print(f"icechunk_go {icechunk.__version__} (libicechunk {icechunk.library_version()})")

    # 1. A repository on local disk.
    step(1, "Create a repository on local disk")
    storage = icechunk.local_filesystem_storage(path)
    repo = icechunk.Repository.create(storage)
    repo.set_default_commit_metadata({"author": "quickstart"})
    print(f"   created {storage.describe()}  (branches: {', '.join(sorted(repo.list_branches()))})")

    # 2. Write an xarray dataset through a writable session, then commit.
    step(2, "Write an xarray dataset and commit it")
    rng = np.random.default_rng(42)
    ds = xr.Dataset(
        {"temperature": (("time", "lat", "lon"), 280 + rng.normal(0, 3, (8, 4, 6)).round(1), {"units": "K"})},
        coords={
            "time": pd.date_range("2025-07-01", periods=8, freq="D"),
            "lat": [40.0, 41.0, 42.0, 43.0],
            "lon": np.arange(6) * 1.5,
        },
        attrs={"title": "quickstart temperatures"},
    )
    session = repo.writable_session("main")
    ds.to_zarr(session.store, encoding={"temperature": {"chunks": (4, 2, 6)}}, consolidated=False)
    print("   status before the commit (the paths changed):")
    show(session.status())
    v1 = session.commit("initial temperatures", metadata={"source": "synthetic"})
    repo.create_tag("v1", v1)
    print(f"   committed {v1}, tagged v1")

    # 3. A second version: a heat wave in the first four days.
    step(3, "Change the data and commit a second version")
    session = repo.writable_session("main")
    temperature = zarr.open_array(session.store, path="temperature", mode="a")
    temperature[0:4] = temperature[0:4] + 15.0
    print(f"   this session rewrote chunks {session.status().updated_chunks['/temperature']} of /temperature")
    v2 = session.commit("heat wave in the first four days")
    print(f"   committed {v2}")

    # 4. Time travel: read both versions back.
    step(4, "Read it back at two versions")
    versions = [("tag v1", repo.readonly_session(tag="v1")), ("branch main", repo.readonly_session(branch="main"))]
    for label, s in versions:
        t = temperatures(s)["temperature"]
        first4, last4 = float(t[0:4].mean()), float(t[4:8].mean())
        print(f"   {label:<12} snapshot {short(s.snapshot_id)}: mean of days 1-4 = {first4:.1f} K, 5-8 = {last4:.1f} K")
    diff = repo.diff(from_tag="v1", to_branch="main")
    print("   what changed from v1 to main:")
    show(diff)

    # 5. Two writers at once: optimistic concurrency and rebase.
    step(5, "Two writers in conflict, resolved by rebase")
    alice = repo.writable_session("main")
    bob = repo.writable_session("main")
    zarr.open_group(alice.store, mode="a").attrs["calibrated"] = True
    temp_bob = zarr.open_array(bob.store, path="temperature", mode="a")
    temp_bob[4:8, :, :] = temp_bob[4:8, :, :] - 0.5  # different chunks from anything alice touches
    alice.commit("alice marks the data calibrated")
    print("   alice committed first; bob's session is now behind the branch")
    try:
        bob.commit("bob corrects days 5-8")
    except icechunk.ConflictError as e:
        expected, actual = short(e.expected_parent), short(e.actual_parent)
        print(f"   bob's commit: ConflictError: his session is based on {expected}, the branch is at {actual}")
    bob.rebase(icechunk.ConflictDetector())
    bob_id = bob.commit("bob corrects days 5-8")
    print(f"   bob rebased (different objects: no conflict) and committed {bob_id}")

    # Now both write the same chunk: the detector refuses, a solver decides.
    alice = repo.writable_session("main")
    bob = repo.writable_session("main")
    zarr.open_array(alice.store, path="temperature", mode="a")[0, 0, 0] = 250.0
    zarr.open_array(bob.store, path="temperature", mode="a")[0, 0, 1] = 260.0
    alice.commit("alice fixes a cold pixel")
    try:
        bob.commit("bob fixes a cold pixel", rebase_with=icechunk.ConflictDetector())
    except icechunk.RebaseFailedError as e:
        print("   bob's rebase failed, and says why:")
        for c in e.conflicts:
            show(f"{c.conflict_type.name}: {c}", 6)
    bob_id = bob.commit("bob fixes a cold pixel", rebase_with=icechunk.BasicConflictSolver())
    print(f"   with BasicConflictSolver (ours wins the chunk) bob committed {bob_id}")

    # 6. Cooperative writers: forks of one session, merged, one commit.
    step(6, "Cooperative writers: a Dask-backed dataset written in parallel, one commit")
    session = repo.writable_session("main")
    wind = xr.Dataset(
        {"wind": (("time", "lat", "lon"), rng.uniform(0, 20, (8, 4, 6)).round(1), {"units": "m/s"})},
        coords={"time": ds.time, "lat": ds.lat, "lon": ds.lon},
    ).chunk({"time": 2})
    to_icechunk(wind, session, mode="a", encoding={"wind": {"chunks": (2, 4, 6)}})  # each task writes into a fork
    print(f"   {len(session.status().updated_chunks['/wind'])} chunks written by Dask tasks, merged into one session")
    session.commit("add wind speed")

    # 7. History and status.
    step(7, "History of main")
    for info in repo.ancestry(branch="main"):
        when = info.written_at.strftime("%H:%M:%S.%f")[:-3]
        print(f"   {info.id}  {when}  {info.message}")

    step(8, "Status of a session with uncommitted changes")
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="a")
    root.attrs["comment"] = "work in progress"
    root.create_array("pressure", shape=(8,), chunks=(4,), dtype="f4", fill_value=np.nan)[0:4] = 1013.0
    show(session.status(), 3)
    session.discard_changes()
    print(f"   (discarded; the repository is at {storage.describe()})")


if __name__ == "__main__":
    main()
