"""Repository.garbage_collect: what it deletes, what it keeps, and the
cutoff it accepts, on a history written with zarr-python."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic
from icechunk_go.repository import _cutoff_nanos
from maintenance_helpers import files, now, read

SHAPE = (64, 64)
CHUNKS = (32, 32)  # 8 KiB of random float64 per chunk: never inlined in a manifest

# The prefixes of the objects a collection may delete, by summary field.
OBJECT_PREFIXES = {
    "snapshots_deleted": "snapshots/",
    "manifests_deleted": "manifests/",
    "transaction_logs_deleted": "transactions/",
    "chunks_deleted": "chunks/",
}


@dataclass
class History:
    """A repository with reachable and unreachable objects (see ``history``)."""

    repo: ic.Repository
    storage: ic.Storage
    root: Path | None  # the repository's folder, for a local storage
    first: str  # main's first commit
    second: str  # main's second commit (its tip)
    first_values: np.ndarray
    second_values: np.ndarray
    dev_snapshot: str  # the commit of the deleted branch "dev"
    dev_values: np.ndarray
    pending: ic.Session  # a writable session on main that wrote chunks and never commits
    # local storage only: the files once main's two commits were made (every
    # object in them stays reachable), and at the end of the fixture
    reachable_files: dict[str, tuple[str, int]]
    all_files: dict[str, tuple[str, int]]



def is_object(name: str) -> bool:
    return name.startswith(tuple(OBJECT_PREFIXES.values()))



def zero(dry_run: bool = False) -> ic.GCSummary:
    return ic.GCSummary(0, 0, 0, 0, 0, dry_run)



@pytest.fixture
def history(storage_root: tuple[ic.Storage, Path | None]) -> History:
    """main: create + two commits writing data/a with zarr; branch dev: one
    more commit, then the branch is deleted; and a writable session on main
    whose chunks are in storage but which never commits."""
    rng = np.random.default_rng(20240611)
    storage, root = storage_root
    repo = ic.Repository.create(storage)

    s = repo.writable_session("main")
    group = zarr.open_group(s.store, mode="a").require_group("data")
    arr = group.create_array("a", shape=SHAPE, chunks=CHUNKS, dtype="f8", fill_value=np.nan)
    first_values = rng.random(SHAPE)
    arr[:] = first_values
    group.attrs["version"] = 1
    first = s.commit("first")

    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path="data/a", mode="a")
    second_values = first_values.copy()
    second_values[:32] = rng.random((32, 64))
    arr[:32] = second_values[:32]
    second = s.commit("second")
    reachable_files = files(root)

    repo.create_branch("dev", second)
    s = repo.writable_session("dev")
    arr = zarr.open_array(s.store, path="data/a", mode="a")
    dev_values = second_values.copy()
    dev_values[32:] = rng.random((32, 64))
    arr[32:] = dev_values[32:]
    dev_snapshot = s.commit("on dev")
    repo.delete_branch("dev")
    committed_files = files(root)

    pending = repo.writable_session("main")
    arr = zarr.open_array(pending.store, path="data/a", mode="a")
    arr[:, 32:] = rng.random((64, 32))
    pending.flush_writes()  # its chunks are in storage, named by no snapshot
    assert pending.has_uncommitted_changes
    if root is not None:
        assert any(n.startswith("chunks/") for n in set(files(root)) - set(committed_files))

    return History(
        repo,
        storage,
        root,
        first,
        second,
        first_values,
        second_values,
        dev_snapshot,
        dev_values,
        pending,
        reachable_files,
        files(root),
    )


def test_cutoff_in_the_past_deletes_nothing(history: History) -> None:
    before = files(history.root)
    for dry_run in (True, False):
        got = history.repo.garbage_collect(now() - dt.timedelta(hours=1), dry_run=dry_run)
        assert got == zero(dry_run)
    assert files(history.root) == before
    # the unreachable commit is still whole
    np.testing.assert_array_equal(read(history.repo, history.dev_snapshot), history.dev_values)


def test_collect_unreachable_objects(history: History) -> None:
    repo = history.repo
    if history.root is not None:
        assert any(n.startswith("chunks/") for n in files(history.root))
    # A pre-existing read-only session at the snapshot that will be deleted.
    at_dev = repo.readonly_session(snapshot_id=history.dev_snapshot)

    # (b) a dry run counts and changes nothing; the cutoff is given in
    # another time zone (an hour from now, as seen 8 hours west of UTC).
    cutoff = (now() + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=-8)))
    before = files(history.root)
    dry = repo.garbage_collect(cutoff, dry_run=True)
    assert isinstance(dry, ic.GCSummary)
    assert dry.dry_run is True
    # the dev commit: its snapshot, transaction log and manifest
    assert dry.snapshots_deleted == 1
    assert dry.transaction_logs_deleted == 1
    assert dry.manifests_deleted == 1
    # the dev commit's chunk objects and the pending session's
    assert dry.chunks_deleted >= 2
    assert dry.bytes_deleted > 2 * 8 * 1024
    assert files(history.root) == before
    assert repo.garbage_collect(cutoff, dry_run=True) == dry  # still all there

    # (c) the real run deletes what the dry run counted.
    done = repo.garbage_collect(cutoff)
    assert done.dry_run is False
    assert (
        done.snapshots_deleted,
        done.manifests_deleted,
        done.transaction_logs_deleted,
        done.chunks_deleted,
        done.bytes_deleted,
    ) == (
        dry.snapshots_deleted,
        dry.manifests_deleted,
        dry.transaction_logs_deleted,
        dry.chunks_deleted,
        dry.bytes_deleted,
    )

    if history.root is not None:
        after = files(history.root)
        gone = set(before) - set(after)
        # Exactly the objects written after main's second commit went: the
        # dev commit's snapshot, transaction log, manifest and chunks, and
        # the pending session's chunks.
        assert gone == {n for n in history.all_files if is_object(n) and n not in history.reachable_files}
        assert f"snapshots/{history.dev_snapshot}" in gone
        assert f"transactions/{history.dev_snapshot}" in gone
        for field_name, prefix in OBJECT_PREFIXES.items():
            assert len({n for n in gone if n.startswith(prefix)}) == getattr(done, field_name), field_name
        assert done.bytes_deleted == sum(before[n][1] for n in gone)
        # what stays is unchanged: refs, config and the reachable objects
        assert after == {n: before[n] for n in after}
        assert any(n.startswith("refs/") for n in after) and "config.msgp" in after

    # The deleted branch's snapshot is gone for a repository opened now.
    fresh = ic.Repository.open(history.storage)
    with pytest.raises(ic.SnapshotNotFoundError):
        fresh.readonly_session(snapshot_id=history.dev_snapshot)
    with pytest.raises(ic.SnapshotNotFoundError):
        fresh.lookup_snapshot(history.dev_snapshot)
    # A read-only session that was open at it fails on its next read: its
    # manifest is gone (the collecting handle forgot its cached copy).
    with pytest.raises(ic.StorageError, match="manifest"):
        zarr.open_array(at_dev.store, path="data/a", mode="r")[32:]

    # Every value of both main commits reads back, through either handle.
    for r in (repo, fresh):
        np.testing.assert_array_equal(read(r, history.first), history.first_values)
        np.testing.assert_array_equal(read(r, history.second), history.second_values)
        tip = r.readonly_session("main")
        assert tip.snapshot_id == history.second
        np.testing.assert_array_equal(zarr.open_array(tip.store, path="data/a", mode="r")[:], history.second_values)
        assert zarr.open_group(tip.store, path="data", mode="r").attrs["version"] == 1
    assert [h.id for h in fresh.ancestry(branch="main")][:2] == [history.second, history.first]

    # A second run finds nothing more.
    assert repo.garbage_collect(cutoff) == zero()
    assert fresh.garbage_collect(cutoff, dry_run=True) == zero(True)
    if history.root is not None:
        assert files(history.root) == after


def test_collecting_handle_forgets_deleted_snapshots(history: History) -> None:
    history.repo.lookup_snapshot(history.dev_snapshot)  # cached before the collection
    done = history.repo.garbage_collect(now() + dt.timedelta(hours=1))
    assert done.snapshots_deleted == 1
    with pytest.raises(ic.SnapshotNotFoundError):
        history.repo.readonly_session(snapshot_id=history.dev_snapshot)


def test_cutoff_is_checked_and_nothing_is_deleted(history: History, no_leaks) -> None:  # type: ignore[no-untyped-def]
    repo = history.repo
    before = files(history.root)
    future = now() + dt.timedelta(hours=1)
    expected = repo.garbage_collect(future, dry_run=True)
    assert expected.snapshots_deleted == 1 and expected.chunks_deleted >= 2

    naive = dt.datetime.now() + dt.timedelta(hours=1)
    with pytest.raises(ValueError, match="delete_object_older_than") as e:
        repo.garbage_collect(naive)
    assert "timezone-aware" in str(e.value)
    assert not isinstance(e.value, ic.IcechunkError)  # refused before the library is called
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.garbage_collect(naive, dry_run=True)
    for not_a_datetime in (
        future.timestamp(),
        int(future.timestamp() * 1e9),
        future.isoformat(),
        future.date(),
        None,
    ):
        with pytest.raises(TypeError, match="delete_object_older_than"):
            repo.garbage_collect(not_a_datetime)  # type: ignore[arg-type]
    # Before 1970: the library's InvalidArgumentError (a ValueError).
    with pytest.raises(ic.InvalidArgumentError):
        repo.garbage_collect(dt.datetime(1969, 12, 31, tzinfo=dt.UTC))
    with pytest.raises(ic.InvalidArgumentError):
        repo.garbage_collect(dt.datetime(1970, 1, 1, tzinfo=dt.UTC))  # 0 ns is not after 1970
    # Beyond what int64 nanoseconds hold: refused, not wrapped around.
    with pytest.raises(ValueError, match="outside"):
        repo.garbage_collect(dt.datetime(9999, 1, 1, tzinfo=dt.UTC))

    assert files(history.root) == before
    assert repo.garbage_collect(future, dry_run=True) == expected
    np.testing.assert_array_equal(read(repo, history.dev_snapshot), history.dev_values)
    no_leaks()


def test_cutoff_conversion_is_exact() -> None:
    # Integer arithmetic to the microsecond, in any time zone (a float
    # timestamp() * 1e9 is off by hundreds of nanoseconds at such dates).
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    t = dt.datetime(2261, 12, 31, 23, 59, 59, 999_999, tzinfo=tz)
    utc = t.astimezone(dt.UTC)
    want = calendar.timegm(utc.timetuple()) * 1_000_000_000 + 999_999_000
    assert _cutoff_nanos(t, "delete_object_older_than") == want
    assert want != int(t.timestamp() * 1e9)
    assert _cutoff_nanos(dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC), "t") == 1_000
    assert _cutoff_nanos(dt.datetime(2024, 3, 1, 12, tzinfo=tz), "t") == _cutoff_nanos(
        dt.datetime(2024, 3, 1, 6, 30, tzinfo=dt.UTC), "t"
    )
