"""Upstream Icechunk's cache bounds (CachingConfig), its bounds on
concurrent requests and reads, and RepositoryConfig.merge, as its users
write them."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic


def test_caching_config_is_saved_and_merged(storage: ic.Storage) -> None:
    config = ic.RepositoryConfig(caching=ic.CachingConfig(num_chunk_refs=1000, num_snapshot_nodes=50))
    repo = ic.Repository.create(storage, config=config)
    assert ic.Repository.open(storage).config.caching == ic.CachingConfig(num_snapshot_nodes=50, num_chunk_refs=1000)
    # Saved settings overlay field by field, as the storage settings do.
    repo.save_config(ic.RepositoryConfig(caching=ic.CachingConfig(num_transaction_changes=7, num_bytes_attributes=0)))
    assert ic.Repository.open(storage).config.caching == ic.CachingConfig(
        num_snapshot_nodes=50, num_chunk_refs=1000, num_transaction_changes=7, num_bytes_attributes=0
    )
    # Reads work whatever the bounds, even one too small for any manifest.
    tiny = ic.Repository.open(storage, config=ic.RepositoryConfig(caching=ic.CachingConfig(num_chunk_refs=1, num_snapshot_nodes=1)))
    s = tiny.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(8,), chunks=(2,), dtype="i4")[:] = np.arange(8)
    s.commit("data")
    np.testing.assert_array_equal(zarr.open_array(tiny.readonly_session("main").store, path="a")[:], np.arange(8))


def test_caching_chunks_and_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="num_bytes_chunks"):
        ic.CachingConfig(num_bytes_chunks=1 << 20)
    with pytest.raises(ValueError, match="num_chunk_refs"):
        ic.CachingConfig(num_chunk_refs=-1)
    assert ic.CachingConfig(num_bytes_chunks=0).num_bytes_chunks == 0
    with pytest.raises(ValueError, match="max_concurrent_requests"):
        ic.RepositoryConfig(max_concurrent_requests=-2)
    with pytest.raises(TypeError, match="CachingConfig"):
        ic.Repository.create(ic.in_memory_storage(), config=ic.RepositoryConfig(caching={"num_chunk_refs": 1}))  # type: ignore[arg-type]




def test_max_concurrent_requests_bounds_the_handles_requests(tmp_path: Path) -> None:
    """With one request at a time, reads of many chunks still all succeed;
    the setting is saved and shown, and 0 lifts it."""
    storage = ic.local_filesystem_storage(tmp_path / "repo")
    repo = ic.Repository.create(storage, config=ic.RepositoryConfig(max_concurrent_requests=1))
    assert repo.config.max_concurrent_requests == 1
    assert ic.Repository.open(storage).config.max_concurrent_requests == 1
    s = repo.writable_session("main")
    a = zarr.create_array(s.store, name="a", shape=(4096,), chunks=(16,), dtype="i4")
    a[:] = np.arange(4096)
    s.commit("many chunks")
    errors: list[BaseException] = []

    def read() -> None:
        try:
            got = zarr.open_array(repo.readonly_session("main").store, path="a")[:]
            np.testing.assert_array_equal(got, np.arange(4096))
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
    repo.save_config(ic.RepositoryConfig(max_concurrent_requests=0))
    assert ic.Repository.open(storage).config.max_concurrent_requests is None


def test_get_partial_values_concurrency_is_saved(storage: ic.Storage) -> None:
    """The bound on the reads of one many-key read is saved and used; reads
    through zarr work with a bound of one."""
    repo = ic.Repository.create(storage, config=ic.RepositoryConfig(get_partial_values_concurrency=1))
    assert ic.Repository.open(storage).config.get_partial_values_concurrency == 1
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(64,), chunks=(4,), dtype="i4")[:] = np.arange(64)
    s.commit("data")
    np.testing.assert_array_equal(zarr.open_array(repo.readonly_session("main").store, path="a")[:], np.arange(64))
    with pytest.raises(ValueError, match="get_partial_values_concurrency"):
        ic.RepositoryConfig(get_partial_values_concurrency=-1)


def test_merge_takes_what_the_other_sets() -> None:
    base = ic.RepositoryConfig(
        inline_chunk_threshold_bytes=8,
        caching=ic.CachingConfig(num_chunk_refs=5),
        storage=ic.StorageSettings(storage_class="STANDARD"),
        virtual_chunk_containers=[ic.VirtualChunkContainer("s3://a/", ic.s3_store(region="r"))],
    )
    other = ic.RepositoryConfig(
        inline_chunk_threshold_bytes=16,
        caching=ic.CachingConfig(num_snapshot_nodes=7),
        storage=ic.StorageSettings(chunks_storage_class="STANDARD_IA"),
        virtual_chunk_containers=[ic.VirtualChunkContainer("file:///b/", ic.local_filesystem_store("/b"))],
        max_concurrent_requests=3,
    )
    merged = base.merge(other)
    assert merged.inline_chunk_threshold_bytes == 16
    assert merged.max_concurrent_requests == 3
    assert merged.caching == ic.CachingConfig(num_snapshot_nodes=7, num_chunk_refs=5)
    assert merged.storage == ic.StorageSettings(storage_class="STANDARD", chunks_storage_class="STANDARD_IA")
    assert set(merged.virtual_chunk_containers or {}) == {"s3://a/", "file:///b/"}
    # Neither side changes; a side that sets nothing changes nothing.
    assert base.inline_chunk_threshold_bytes == 8 and base.caching == ic.CachingConfig(num_chunk_refs=5)
    assert base.merge(ic.RepositoryConfig()) == base
    with pytest.raises(TypeError):
        base.merge({"inline_chunk_threshold_bytes": 1})  # type: ignore[arg-type]
