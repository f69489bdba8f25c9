"""Repository.expire_snapshots: which snapshots it cuts out of the history
of every branch and tag, what it keeps readable, how the refs at expired
snapshots are kept or deleted, and the expire-then-collect recipe, on a
history written with zarr-python."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic
from maintenance_helpers import ARRAY, files, now, read

SHAPE = (64, 64)
CHUNKS = (32, 32)  # 8 KiB of random float64 per chunk: never inlined in a manifest
OBJECTS = ("snapshots/", "manifests/", "transactions/", "chunks/")  # what a collection may delete


@dataclass
class History:
    """main: initial -> o1 -> o2 | cutoff | -> n3 -> n4; branch "stale" at
    o1 and tag "old" at o2 (see ``history``)."""

    repo: ic.Repository
    storage: ic.Storage
    root: Path | None  # the repository's folder, for a local storage
    initial: str  # the repository's initial snapshot
    o1: str
    o2: str
    n3: str
    n4: str
    values: dict[str, np.ndarray]  # snapshot id -> the array it holds
    cutoff: dt.datetime  # after o1, o2 and before n3, n4 were written
    written: dict[str, set[str]]  # local storage only: snapshot id -> the objects its commit added




def ids(repo: ic.Repository, **version: str) -> list[str]:
    return [s.id for s in repo.ancestry(**version)]


def histories(repo: ic.Repository) -> dict[str, list[ic.SnapshotInfo]]:
    """The full ancestry of every branch and tag."""
    out = {f"branch {b}": list(repo.ancestry(branch=b)) for b in repo.list_branches()}
    out.update({f"tag {t}": list(repo.ancestry(tag=t)) for t in repo.list_tags()})
    return out



def write(repo: ic.Repository, region: tuple[slice, ...], values: np.ndarray, message: str) -> str:
    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path=ARRAY, mode="a")
    arr[region] = values[region]
    return s.commit(message)


@pytest.fixture
def history(storage_root: tuple[ic.Storage, Path | None]) -> History:
    rng = np.random.default_rng(20240612)
    storage, root = storage_root
    repo = ic.Repository.create(storage)
    initial = repo.lookup_branch("main")
    seen = set(files(root))
    written: dict[str, set[str]] = {}

    def added(sid: str) -> str:
        nonlocal seen
        now_files = set(files(root))
        written[sid] = {n for n in now_files - seen if n.startswith(OBJECTS)}
        seen = now_files
        return sid

    # o1 writes all four chunks of data/a.
    s = repo.writable_session("main")
    group = zarr.open_group(s.store, mode="a").require_group("data")
    arr = group.create_array("a", shape=SHAPE, chunks=CHUNKS, dtype="f8", fill_value=np.nan)
    v1 = rng.random(SHAPE)
    arr[:] = v1
    o1 = added(s.commit("o1"))
    # o2 rewrites the top row of chunks.
    v2 = v1.copy()
    v2[:32] = rng.random((32, 64))
    o2 = added(write(repo, np.s_[:32], v2, "o2"))

    repo.create_branch("stale", o1)
    repo.create_tag("old", o2)

    time.sleep(0.05)
    cutoff = now()
    time.sleep(0.05)

    # n3 rewrites the top row again, n4 the bottom-left chunk: of the older
    # chunks only o1's bottom-right one stays in main's tip.
    v3 = v2.copy()
    v3[:32] = rng.random((32, 64))
    n3 = added(write(repo, np.s_[:32], v3, "n3"))
    v4 = v3.copy()
    v4[32:, :32] = rng.random((32, 32))
    n4 = added(write(repo, np.s_[32:, :32], v4, "n4"))

    assert ids(repo, branch="main") == [n4, n3, o2, o1, initial]
    for sid in (o1, o2):
        assert repo.lookup_snapshot(sid).written_at < cutoff
    for sid in (n3, n4):
        assert repo.lookup_snapshot(sid).written_at > cutoff
    if root is not None:
        for sid in (o1, o2, n3, n4):
            # its snapshot, transaction log, manifest, and one chunk object
            # (a commit packs the chunks it writes together)
            assert {f"snapshots/{sid}", f"transactions/{sid}"} <= written[sid]
            assert sorted(n.split("/")[0] for n in written[sid]) == ["chunks", "manifests", "snapshots", "transactions"]
    values = {o1: v1, o2: v2, n3: v3, n4: v4}
    return History(repo, storage, root, initial, o1, o2, n3, n4, values, cutoff, written)


def assert_every_commit_reads_back(repo: ic.Repository, h: History, commits: tuple[str, ...]) -> None:
    for sid in commits:
        np.testing.assert_array_equal(read(repo, sid), h.values[sid], err_msg=sid)


def test_cutoff_in_the_past_expires_nothing(history: History) -> None:
    repo = history.repo
    before, before_files = histories(repo), files(history.root)
    assert set(before) == {"branch main", "branch stale", "tag old"}
    assert repo.expire_snapshots(now() - dt.timedelta(hours=1)) == set()
    got = repo.expire_snapshots(
        now() - dt.timedelta(hours=1), delete_expired_branches=True, delete_expired_tags=True
    )
    assert got == set()
    assert histories(repo) == before
    assert histories(ic.Repository.open(history.storage)) == before
    assert files(history.root) == before_files
    assert repo.list_branches() == {"main", "stale"} and repo.list_tags() == {"old"}


def test_expire_cuts_old_snapshots_out_of_history(history: History) -> None:
    h, repo = history, history.repo
    before_files = files(h.root)
    n3_before = repo.lookup_snapshot(h.n3)

    expired = repo.expire_snapshots(h.cutoff)
    assert isinstance(expired, set)
    assert expired == {h.o1, h.o2}

    for r in (repo, ic.Repository.open(h.storage)):
        # main now skips o1 and o2: n3 was rewritten with the initial
        # snapshot as its parent, keeping its id, message and time.
        assert ids(r, branch="main") == [h.n4, h.n3, h.initial]
        n3 = r.lookup_snapshot(h.n3)
        assert n3.parent_id == h.initial
        assert (n3.id, n3.message, n3.written_at, n3.metadata) == (
            n3_before.id,
            n3_before.message,
            n3_before.written_at,
            n3_before.metadata,
        )
        assert r.lookup_snapshot(h.n4).parent_id == h.n3
        # the refs at expired snapshots keep them, but not the history
        # behind them: o2 (the tag's) now has the initial snapshot as parent
        assert r.list_branches() == {"main", "stale"}
        assert r.list_tags() == {"old"}
        assert r.lookup_branch("stale") == h.o1 and r.lookup_tag("old") == h.o2
        assert ids(r, branch="stale") == [h.o1, h.initial]
        assert ids(r, tag="old") == [h.o2, h.initial]
        # every commit still reads back exactly
        assert_every_commit_reads_back(r, h, (h.o1, h.o2, h.n3, h.n4))
        tip = r.readonly_session("main")
        assert tip.snapshot_id == h.n4
        np.testing.assert_array_equal(zarr.open_array(tip.store, path=ARRAY, mode="r")[:], h.values[h.n4])

        # A diff across the rewritten n3 fails; one after it works.
        with pytest.raises(ic.IcechunkError) as e:
            r.diff(from_snapshot_id=h.initial, to_branch="main")
        assert e.value.code_name == "IC_ERR_BAD_SNAPSHOT_CHAIN"
        d = r.diff(from_snapshot_id=h.n3, to_branch="main")
        assert d.updated_chunks == {"/data/a": [[1, 0]]}
        assert not d.new_arrays and not d.updated_arrays and not d.deleted_arrays

    if h.root is not None:
        # Nothing was deleted or added: only n3's and o2's snapshots were rewritten.
        after = files(h.root)
        assert set(after) == set(before_files)
        assert {n for n in after if after[n] != before_files[n]} == {f"snapshots/{h.n3}", f"snapshots/{h.o2}"}


def test_rebase_across_a_rewritten_snapshot_fails(history: History) -> None:
    h, repo = history, history.repo
    # A writable session on main based on o2 (main is moved back for a moment).
    repo.reset_branch("main", h.o2)
    s = repo.writable_session("main")
    repo.reset_branch("main", h.n4)
    assert s.snapshot_id == h.o2
    zarr.open_group(s.store, path="data", mode="a").attrs["late"] = True

    assert repo.expire_snapshots(h.cutoff) == {h.o1, h.o2}
    with pytest.raises(ic.RebaseFailedError):
        s.rebase(ic.ConflictDetector())
    with pytest.raises(ic.RebaseFailedError):
        s.commit("late", rebase_with=ic.BasicConflictSolver())
    assert ids(repo, branch="main") == [h.n4, h.n3, h.initial]


def test_expire_then_collect(history: History) -> None:
    h, repo = history, history.repo
    future = now() + dt.timedelta(hours=1)
    assert repo.expire_snapshots(h.cutoff) == {h.o1, h.o2}

    # "stale" and "old" still reach o1 and o2: nothing can be collected.
    before = files(h.root)
    assert repo.garbage_collect(future, dry_run=True) == ic.GCSummary(0, 0, 0, 0, 0, True)
    done = repo.garbage_collect(future)
    assert done.snapshots_deleted == 0
    assert done == ic.GCSummary(0, 0, 0, 0, 0, False)
    assert files(h.root) == before
    assert_every_commit_reads_back(repo, h, (h.o1, h.o2, h.n3, h.n4))

    # Expiring again with the delete flags removes the refs kept at expired
    # snapshots (never main). No history is cut this time (o1 and o2 are
    # already out of main's), but the deleted refs' history, which no ref
    # reaches now, is reported expired.
    got = repo.expire_snapshots(h.cutoff, delete_expired_branches=True, delete_expired_tags=True)
    assert got == {h.o1, h.o2}
    assert repo.expire_snapshots(h.cutoff, delete_expired_branches=True, delete_expired_tags=True) == set()
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == set()
    with pytest.raises(ic.BranchNotFoundError):
        repo.lookup_branch("stale")
    with pytest.raises(ic.TagNotFoundError):
        repo.lookup_tag("old")
    assert ids(repo, branch="main") == [h.n4, h.n3, h.initial]
    if h.root is not None:
        assert {n for n in before if n.startswith(OBJECTS)} <= set(files(h.root))

    # Now o1 and o2 are unreachable: the collection deletes them, their
    # transaction logs and manifests, and o2's chunk object (its two chunks
    # were rewritten by n3). o1's chunk object stays: n3 and n4 still read
    # its bottom-right chunk.
    done = repo.garbage_collect(future)
    assert done.snapshots_deleted == 2
    assert done.chunks_deleted > 0
    assert (done.transaction_logs_deleted, done.manifests_deleted, done.chunks_deleted) == (2, 2, 1)
    assert done.bytes_deleted > 2 * 8 * 1024
    if h.root is not None:
        gone = set(before) - set(files(h.root))
        assert gone == h.written[h.o2] | (h.written[h.o1] - {n for n in h.written[h.o1] if n.startswith("chunks/")})
        assert len(gone) == 2 + 2 + 2 + 1

    fresh = ic.Repository.open(h.storage)
    for r in (repo, fresh):
        for sid in (h.o1, h.o2):
            with pytest.raises(ic.SnapshotNotFoundError):
                r.readonly_session(snapshot_id=sid)
            with pytest.raises(ic.SnapshotNotFoundError):
                r.lookup_snapshot(sid)
        assert_every_commit_reads_back(r, h, (h.n3, h.n4))
        assert ids(r, branch="main") == [h.n4, h.n3, h.initial]
        assert r.diff(from_snapshot_id=h.n3, to_branch="main").updated_chunks == {"/data/a": [[1, 0]]}

    # Nothing more to do for either.
    assert repo.expire_snapshots(h.cutoff) == set()
    assert repo.garbage_collect(future) == ic.GCSummary(0, 0, 0, 0, 0, False)


def test_delete_flags_are_separate(history: History) -> None:
    h, repo = history, history.repo
    future = now() + dt.timedelta(hours=1)
    assert repo.expire_snapshots(h.cutoff, delete_expired_branches=True) == {h.o1, h.o2}
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == {"old"}
    # the tag keeps o2, not the history behind it: o1 goes with "stale"
    assert ids(repo, tag="old") == [h.o2, h.initial]
    assert repo.garbage_collect(future).snapshots_deleted == 1
    assert_every_commit_reads_back(repo, h, (h.o2,))
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.lookup_snapshot(h.o1)

    # deleting the tag leaves o2 to no ref
    assert repo.expire_snapshots(h.cutoff, delete_expired_tags=True) == {h.o2}
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == set()
    assert repo.garbage_collect(future).snapshots_deleted == 1


def test_main_is_never_deleted(history: History) -> None:
    h, repo = history, history.repo
    # A cutoff after every commit: the snapshot of every ref is expired.
    # "stale" is deleted; main is not, nor the tag (its flag is not set):
    # they keep their snapshots, which read as before, but not the history
    # behind them.
    expired = repo.expire_snapshots(now() + dt.timedelta(hours=1), delete_expired_branches=True)
    assert expired == {h.n4, h.n3, h.o2, h.o1}  # n4 and o2 are kept by their refs, their history cut
    assert repo.list_branches() == {"main"}
    assert repo.list_tags() == {"old"}
    assert ids(repo, branch="main") == [h.n4, h.initial]
    assert ids(repo, tag="old") == [h.o2, h.initial]
    assert_every_commit_reads_back(repo, h, (h.o1, h.o2, h.n3, h.n4))
    assert repo.garbage_collect(now() + dt.timedelta(hours=1)).snapshots_deleted == 2  # o1 and n3
    assert_every_commit_reads_back(ic.Repository.open(history.storage), h, (h.o2, h.n4))


def test_cutoff_is_checked_and_nothing_changes(history: History, no_leaks) -> None:  # type: ignore[no-untyped-def]
    repo = history.repo
    before, before_files = histories(repo), files(history.root)

    naive = dt.datetime.now()
    with pytest.raises(ValueError, match="older_than") as e:
        repo.expire_snapshots(naive)
    assert "timezone-aware" in str(e.value)
    assert "delete_object_older_than" not in str(e.value)
    assert not isinstance(e.value, ic.IcechunkError)  # refused before the library is called
    with pytest.raises(ValueError, match="^older_than .*timezone-aware"):
        repo.expire_snapshots(naive, delete_expired_branches=True, delete_expired_tags=True)
    future = now() + dt.timedelta(hours=1)
    for not_a_datetime in (
        history.cutoff.timestamp(),
        int(history.cutoff.timestamp() * 1e9),
        history.cutoff.isoformat(),
        history.cutoff.date(),
        None,
    ):
        with pytest.raises(TypeError, match="^older_than must be a datetime.datetime"):
            repo.expire_snapshots(not_a_datetime, delete_expired_branches=True)  # type: ignore[arg-type]
    # Before 1970: the library's InvalidArgumentError (a ValueError).
    with pytest.raises(ic.InvalidArgumentError):
        repo.expire_snapshots(dt.datetime(1969, 12, 31, tzinfo=dt.UTC))
    # Beyond what int64 nanoseconds hold: refused, not wrapped around.
    with pytest.raises(ValueError, match="^older_than .*outside"):
        repo.expire_snapshots(dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
    # garbage_collect's errors still name its own parameter.
    with pytest.raises(ValueError, match="^delete_object_older_than .*timezone-aware"):
        repo.garbage_collect(naive)
    with pytest.raises(TypeError, match="^delete_object_older_than must"):
        repo.garbage_collect(future.isoformat())  # type: ignore[arg-type]

    assert histories(repo) == before
    assert files(history.root) == before_files
    assert repo.list_branches() == {"main", "stale"} and repo.list_tags() == {"old"}
    no_leaks()
