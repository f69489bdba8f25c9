"""Repository.repack_chunks: an array appended to commit after commit, each
append rewriting the partial last chunks beside finished ones, leaves
chunk objects mostly unused; a repack, then expire and collect, gives the
space back, with the data and its diff unchanged."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic
from maintenance_helpers import now

ROWS_PER_APPEND = 3
CHUNKS = (4, 128)  # 4 KiB of float64, uncompressed: never inlined
WIDTH = 1280  # ten chunks across


def chunk_bytes(root: Path) -> int:
    """The bytes of the repository's chunk objects on disk."""
    return sum(p.stat().st_size for p in (root / "chunks").rglob("*") if p.is_file())


def appended(tmp_path: Path, commits: int) -> tuple[ic.Repository, Path, np.ndarray]:
    """A repository on local disk whose array "a" got ROWS_PER_APPEND rows
    per commit: most commits finish one row of chunks and start the next,
    whose partial chunks the following commit rewrites."""
    root = tmp_path / "repo"
    repo = ic.Repository.create(ic.local_filesystem_storage(root))
    rng = np.random.default_rng(7)
    values = rng.random((ROWS_PER_APPEND * commits, WIDTH))
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(0, WIDTH), chunks=CHUNKS, dtype="f8", compressors=None)
    s.commit("create")
    for i in range(commits):
        s = repo.writable_session("main")
        arr = zarr.open_array(s.store, path="a", mode="a")
        arr.append(values[i * ROWS_PER_APPEND : (i + 1) * ROWS_PER_APPEND])
        s.commit(f"append {i}")
    return repo, root, values


def read_all(repo: ic.Repository, **version: str) -> np.ndarray:
    session = repo.readonly_session(**version)
    return zarr.open_array(session.store, path="a", mode="r")[:]


def test_repack_then_expire_and_collect_frees_the_dead_bytes(tmp_path: Path) -> None:
    repo, root, values = appended(tmp_path, 24)
    before = repo.lookup_branch("main")
    # Collections keep objects stamped just before their cutoff (50 ms on
    # local disk): let the appends' objects age past that.
    time.sleep(0.2)

    # Expire and collect alone: the objects the tip uses half of stay.
    repo.expire_snapshots(now())
    repo.garbage_collect(now())
    live = repo.chunk_storage_stats().native_bytes
    assert live == values.size * 8  # 72 rows: every chunk is full
    dead = chunk_bytes(root) - live
    assert dead > live // 3, (dead, live)

    dry = repo.repack_chunks(branch="main", max_live_fraction=0.6, dry_run=True)
    assert dry.dry_run and dry.snapshot_id is None and dry.objects_repacked > 0
    assert repo.lookup_branch("main") == before
    summary = repo.repack_chunks("repack", branch="main", max_live_fraction=0.6, metadata={"why": "space"})
    assert summary.snapshot_id == repo.lookup_branch("main") and not summary.dry_run
    assert (summary.objects_repacked, summary.chunks_moved, summary.bytes_freeable) == (
        dry.objects_repacked,
        dry.chunks_moved,
        dry.bytes_freeable,
    )
    assert summary.objects_repacked > 0
    assert summary.chunks_moved == summary.objects_repacked * 10  # one row of chunks per object
    assert summary.bytes_moved == summary.chunks_moved * 4096
    assert summary.bytes_freeable == summary.bytes_moved  # each object: a finished row, a rewritten one
    info = repo.lookup_snapshot(summary.snapshot_id)
    assert info.message == "repack" and info.metadata["why"] == "space"
    assert repo.diff(from_snapshot_id=before, to_branch="main").updated_chunks == {}
    np.testing.assert_array_equal(read_all(repo, branch="main"), values)

    # The recipe of the docstring: expire what came before the repack,
    # collect, and only about the live bytes stay on disk.
    repo.expire_snapshots(info.written_at)
    repo.garbage_collect(info.written_at)
    assert chunk_bytes(root) - live < summary.bytes_freeable // 4, (chunk_bytes(root), live)
    np.testing.assert_array_equal(read_all(repo, branch="main"), values)
    reopened = ic.Repository.open(ic.local_filesystem_storage(root))
    np.testing.assert_array_equal(read_all(reopened, branch="main"), values)

    # Nothing is left to repack: nothing is committed.
    again = repo.repack_chunks(branch="main", max_live_fraction=0.6)
    assert again == ic.RepackSummary(None, 0, 0, 0, 0, False)
    assert repo.lookup_branch("main") == summary.snapshot_id


def test_a_writer_rebases_over_a_repack(tmp_path: Path) -> None:
    repo, _, values = appended(tmp_path, 8)
    writer = repo.writable_session("main")
    arr = zarr.open_array(writer.store, path="a", mode="a")
    arr[0:4, :] = -1.0  # chunks the repack moves (a finished row written beside a partial one)
    summary = repo.repack_chunks(branch="main", max_live_fraction=0.6)
    assert summary.snapshot_id is not None
    with pytest.raises(ic.ConflictError):
        writer.commit("behind the repack")
    writer.rebase(ic.ConflictDetector())
    writer.commit("over the repack")
    want = values.copy()
    want[0:4, :] = -1.0
    np.testing.assert_array_equal(read_all(repo, branch="main"), want)


@pytest.mark.parametrize("fraction", [0, -0.5, 1.5, math.nan, math.inf])
def test_fraction_out_of_range(tmp_path: Path, fraction: float) -> None:
    repo, _, _ = appended(tmp_path, 2)
    with pytest.raises(ic.InvalidArgumentError, match="max_live_fraction"):
        repo.repack_chunks(branch="main", max_live_fraction=fraction)


@pytest.mark.parametrize("fraction", ["0.5", None, True])
def test_fraction_not_a_number(tmp_path: Path, fraction: object) -> None:
    repo, _, _ = appended(tmp_path, 2)
    with pytest.raises(TypeError, match="max_live_fraction"):
        repo.repack_chunks(branch="main", max_live_fraction=fraction)  # type: ignore[arg-type]


def test_numpy_fractions_are_numbers(tmp_path: Path) -> None:
    repo, _, _ = appended(tmp_path, 4)
    for fraction in (np.float32(0.6), np.float64(0.6), np.int64(1)):
        assert repo.repack_chunks(branch="main", max_live_fraction=fraction, dry_run=True).dry_run


def test_a_missing_chunk_object_is_named(tmp_path: Path) -> None:
    repo, root, _ = appended(tmp_path, 4)
    # The last append's object: the tip uses it.
    victim = max((p for p in (root / "chunks").rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime_ns)
    victim.unlink()
    with pytest.raises(ic.NotFoundError, match=victim.name):
        repo.repack_chunks(branch="main", max_live_fraction=1)


def test_unknown_branch_and_async_twin(tmp_path: Path) -> None:
    repo, _, values = appended(tmp_path, 6)
    with pytest.raises(ic.BranchNotFoundError):
        repo.repack_chunks(branch="nope")
    summary = asyncio.run(repo.repack_chunks_async(branch="main", max_live_fraction=0.6))
    assert summary.objects_repacked > 0
    np.testing.assert_array_equal(read_all(repo, branch="main"), values)
