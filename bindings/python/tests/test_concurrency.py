"""The concurrency modes (seed 002): cooperative writers sharing one
session through forks and one commit; non-cooperative writers committing
optimistically and rebasing, in this process and in four spawned ones."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu, default_buffer_prototype

import icechunk_go as ic


def make_array(repo: ic.Repository, n: int = 40, chunk: int = 10) -> str:
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="data", shape=(n,), chunks=(chunk,), dtype="i4", fill_value=-1)
    return s.commit("create the array")


def read(repo: ic.Repository) -> np.ndarray:
    return zarr.open_array(repo.readonly_session(branch="main").store, path="data", mode="r")[:]


def write_region(session: ic.Session, start: int, stop: int, value: int) -> ic.Session:
    zarr.open_array(session.store, path="data", mode="a")[start:stop] = value
    return session


# --- cooperative mode -----------------------------------------------------------------


def test_cooperative_mode_threads(repo: ic.Repository) -> None:
    """Check out once, fork per worker, each writes a chunk-aligned region,
    merge, commit once."""
    make_array(repo)
    session = repo.writable_session("main")
    regions = [(0, 10), (10, 20), (20, 30), (30, 40)]
    with ThreadPoolExecutor(4) as pool:
        forks = list(
            pool.map(
                lambda ir: write_region(pickle.loads(pickle.dumps(session.fork())), *ir[1], ir[0]),
                enumerate(regions),
            )
        )
    session.merge(*forks)
    before = len(list(repo.ancestry(branch="main")))
    session.commit("cooperative write")
    assert len(list(repo.ancestry(branch="main"))) == before + 1
    np.testing.assert_array_equal(read(repo), np.repeat(np.arange(4), 10))


def test_cooperative_mode_one_session_many_threads(mem_repo: ic.Repository) -> None:
    """Within one process the session itself can be shared by the workers."""
    make_array(mem_repo)
    session = mem_repo.writable_session("main")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: write_region(session, 10 * i, 10 * i + 10, i), range(4)))
    session.commit("shared session")
    np.testing.assert_array_equal(read(mem_repo), np.repeat(np.arange(4), 10))


# --- non-cooperative mode, example 1: no conflicts ---------------------------------------


def test_example_1_no_conflicts(repo: ic.Repository) -> None:
    make_array(repo)
    s1 = repo.writable_session("main")
    s2 = repo.writable_session("main")
    write_region(s1, 0, 20, 1)
    write_region(s2, 20, 30, 2)
    c2 = s1.commit("session 1 writes 0:20")
    with pytest.raises(ic.ConflictError) as e:  # "sorry, your branch is out of date"
        s2.commit("session 2 writes 20:30")
    assert e.value.actual_parent == c2
    s2.rebase(ic.ConflictDetector())  # "can I fast forward?" "yes"
    c3 = s2.commit("session 2 writes 20:30")
    assert [h.id for h in repo.ancestry(branch="main")][:2] == [c3, c2]
    want = np.full(40, -1)
    want[0:20], want[20:30] = 1, 2
    np.testing.assert_array_equal(read(repo), want)


# --- non-cooperative mode, example 2: chunk conflicts --------------------------------------


def test_example_2_chunk_conflict_and_manual_retry(repo: ic.Repository) -> None:
    make_array(repo)
    s1 = repo.writable_session("main")
    s2 = repo.writable_session("main")
    write_region(s1, 0, 20, 1)
    write_region(s2, 15, 30, 2)  # overlaps chunk 10:20
    c2 = s1.commit("session 1 writes 0:20")
    with pytest.raises(ic.RebaseFailedError) as e:  # "no: conflict detected"
        s2.commit("session 2 writes 15:30", rebase_with=ic.ConflictDetector())
    (conflict,) = e.value.conflicts
    assert conflict.conflict_type == ic.ConflictType.ChunkDoubleUpdate
    assert conflict.conflicted_chunks == [[1]]
    assert repo.lookup_branch("main") == c2
    # Manual retry: check out main (now with session 1's changes), rewrite 15:30, commit.
    s2 = repo.writable_session("main")
    assert (zarr.open_array(s2.store, path="data", mode="r")[0:20] == 1).all()
    write_region(s2, 15, 30, 2)
    s2.commit("session 2 rewrites 15:30")
    want = np.full(40, -1)
    want[0:15], want[15:30] = 1, 2
    np.testing.assert_array_equal(read(repo), want)


def test_chunks_written_under_old_codecs_conflict(repo: ic.Repository) -> None:
    """They re-encode an array (new codecs in zarr.json, chunks rewritten)
    while we fill a chunk encoded with the old codecs: the rebase fails,
    naming what changed, and main stays readable."""
    make_array(repo)
    theirs = repo.writable_session("main")
    ours = repo.writable_session("main")
    meta = json.loads(asyncio.run(theirs.store.get("data/zarr.json", prototype=default_buffer_prototype())).to_bytes())
    meta["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip", "configuration": {"level": 5}}]
    asyncio.run(theirs.store.set("data/zarr.json", cpu.Buffer.from_bytes(json.dumps(meta).encode())))
    write_region(theirs, 0, 10, 1)
    theirs.commit("recompress with gzip")
    write_region(ours, 30, 40, 2)
    with pytest.raises(ic.RebaseFailedError, match="changed the array's codecs") as e:
        ours.commit("fill the last chunk", rebase_with=ic.BasicConflictSolver())
    assert [c.conflict_type for c in e.value.conflicts] == [ic.ConflictType.ChunksUpdatedInUpdatedArray]
    want = np.full(40, -1)
    want[0:10] = 1
    np.testing.assert_array_equal(read(repo), want)


def test_non_cooperative_threads_rebase(repo: ic.Repository) -> None:
    make_array(repo, n=80)

    def writer(i: int) -> str:
        s = repo.writable_session("main")
        write_region(s, 10 * i, 10 * i + 10, i)
        return s.commit(f"writer {i}", rebase_with=ic.BasicConflictSolver())

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(writer, range(8)))
    assert len(set(ids)) == 8
    msgs = [h.message for h in repo.ancestry(branch="main")]
    assert sorted(msgs[:8]) == sorted(f"writer {i}" for i in range(8))
    np.testing.assert_array_equal(read(repo), np.repeat(np.arange(8), 10))


# --- non-cooperative mode across processes ------------------------------------------------


def _process_writer(path: str, i: int) -> str:
    # Runs in a spawned process: it loads the library itself.
    import icechunk_go as ic

    repo = ic.Repository.open(ic.local_filesystem_storage(path))
    s = repo.writable_session("main")
    zarr.open_array(s.store, path="data", mode="a")[10 * i : 10 * i + 10] = i
    return s.commit(f"process {i}", rebase_with=ic.BasicConflictSolver(), rebase_tries=100)


@pytest.mark.slow
def test_non_cooperative_four_spawned_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "repo")
    repo = ic.Repository.create(ic.local_filesystem_storage(path))
    make_array(repo)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=ctx) as pool:
        ids = list(pool.map(_process_writer, [path] * 4, range(4)))
    assert len(set(ids)) == 4
    hist = list(repo.ancestry(branch="main"))
    assert sorted(h.message for h in hist[:4]) == [f"process {i}" for i in range(4)]
    assert {h.id for h in hist[:4]} == set(ids)
    assert hist[4].message == "create the array"
    np.testing.assert_array_equal(read(repo), np.repeat(np.arange(4), 10))


def _process_fork_writer(fork: ic.Session, i: int) -> ic.Session:
    zarr.open_array(fork.store, path="data", mode="a")[10 * i : 10 * i + 10] = 10 + i
    return fork


@pytest.mark.slow
def test_cooperative_mode_spawned_processes(tmp_path: Path) -> None:
    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    make_array(repo)
    session = repo.writable_session("main")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        forks = list(pool.map(_process_fork_writer, [session.fork() for _ in range(4)], range(4)))
    session.merge(*forks)
    session.commit("four processes, one commit")
    np.testing.assert_array_equal(read(repo), 10 + np.repeat(np.arange(4), 10))


def _write_row_of_copy(session: ic.Session, row: int) -> ic.Session:
    """A task of a process pool: writes one row into its copy of the
    session and sends the copy back."""
    zarr.open_array(session.store, path="grid", mode="r+")[row, :] = row + 1
    return session


def test_allow_pickling_and_merge_sessions_across_processes(tmp_path: Path) -> None:
    """Upstream's cooperative recipe: a writable session pickled to a
    process pool inside allow_pickling, the copies merged with
    icechunk_go.distributed.merge_sessions, one commit."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from icechunk_go.distributed import extract_session, merge_sessions

    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="grid", shape=(6, 4), chunks=(1, 4), dtype="i4", fill_value=0)
    s.commit("grid")

    session = repo.writable_session("main")
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        with session.allow_pickling():
            futures = [pool.submit(_write_row_of_copy, session, r) for r in range(6)]
            copies = [f.result() for f in futures]
    assert not session.has_uncommitted_changes  # the writes happened in the copies
    merged = merge_sessions(session, [copies[:3], copies[3:]], session)
    assert merged is session
    assert extract_session(zarr.open_array(session.store, path="grid", mode="r")) is session
    session.commit("from a process pool")
    got = zarr.open_array(repo.readonly_session("main").store, path="grid", mode="r")[:]
    np.testing.assert_array_equal(got, np.repeat(np.arange(1, 7), 4).reshape(6, 4))
    with pytest.raises(TypeError):
        merge_sessions(session, "not a session")  # type: ignore[arg-type]
