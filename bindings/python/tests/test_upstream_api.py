"""Upstream Icechunk's Python calls that code ported by an import change
uses: transactions, anonymous snapshots, async twins, chunk types,
virtual references through the store, storage statistics, snapshot
inspection and pickling inside ``allow_pickling``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic



def _array(store: ic.IcechunkStore, path: str = "a", **kw: object) -> zarr.Array:
    # Uncompressed (chunk sizes are known): 4 KiB chunks, above the inline threshold.
    opts: dict[str, object] = {
        "shape": (4, 1024),
        "chunks": (1, 1024),
        "dtype": "i4",
        "fill_value": 0,
        "compressors": None,
    }
    opts.update(kw)
    return zarr.create_array(store, name=path, **opts)  # type: ignore[arg-type]


# --- transaction ------------------------------------------------------------------


def test_transaction_commits_when_the_block_ends(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    with repo.transaction("main", message="in a transaction", metadata={"who": "t"}) as store:
        assert isinstance(store, ic.IcechunkStore)
        _array(store)[0, :] = 7
    tip = repo.lookup_branch("main")
    info = repo.lookup_snapshot(tip)
    assert (info.parent_id, info.message, info.metadata["who"]) == (base, "in a transaction", "t")
    got = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")
    assert (got[0, :] == 7).all()


def test_transaction_commits_nothing_when_the_block_raises(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    with pytest.raises(RuntimeError, match="stop"):
        with repo.transaction("main", message="never") as store:
            _array(store)[0, :] = 7
            raise RuntimeError("stop")
    assert repo.lookup_branch("main") == base


def test_transaction_rebases_over_a_commit_that_landed_meanwhile(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    _array(s.store)
    s.commit("array")
    with repo.transaction("main", message="row 1", rebase_with=ic.ConflictDetector()) as store:
        zarr.open_array(store, path="a", mode="r+")[1, :] = 1
        other = repo.writable_session("main")
        zarr.open_array(other.store, path="a", mode="r+")[2, :] = 2
        other.commit("row 2")
    got = zarr.open_array(repo.readonly_session("main").store, path="a", mode="r")[:]
    assert (got[1] == 1).all() and (got[2] == 2).all()
    assert [i.message for i in repo.ancestry(branch="main")][:3] == ["row 1", "row 2", "array"]


def test_transaction_without_rebase_raises_conflict_and_keeps_the_other_commit(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    _array(s.store)
    s.commit("array")
    with pytest.raises(ic.ConflictError):
        with repo.transaction("main", message="loses") as store:
            zarr.open_array(store, path="a", mode="r+")[1, :] = 1
            other = repo.writable_session("main")
            zarr.open_array(other.store, path="a", mode="r+")[2, :] = 2
            won = other.commit("wins")
    assert repo.lookup_branch("main") == won


# --- configuration ----------------------------------------------------------------


def test_save_config_without_argument_reopen_and_fetch_config(storage: ic.Storage) -> None:
    assert ic.Repository.fetch_config(storage) is None
    repo = ic.Repository.create(storage, ic.RepositoryConfig(inline_chunk_threshold_bytes=100))
    repo.save_config()  # upstream's form: stores the current configuration again
    assert ic.Repository.fetch_config(storage).inline_chunk_threshold_bytes == 100  # type: ignore[union-attr]
    again = repo.reopen(ic.RepositoryConfig(inline_chunk_threshold_bytes=200))
    assert again.config.inline_chunk_threshold_bytes == 200
    # used by the new handle, not stored until save_config
    assert ic.Repository.fetch_config(storage).inline_chunk_threshold_bytes == 100  # type: ignore[union-attr]
    assert repo.reopen().config.inline_chunk_threshold_bytes == 100
    again.save_config()
    assert ic.Repository.fetch_config(storage).inline_chunk_threshold_bytes == 200  # type: ignore[union-attr]
    assert repo.reopen().config.inline_chunk_threshold_bytes == 200
    assert again.writable_session("main").config.inline_chunk_threshold_bytes == 200
    assert repo.config.inline_chunk_threshold_bytes == 100  # a handle keeps the configuration it was opened with


# --- flush: a snapshot on no branch -----------------------------------------------------


def test_flush_writes_a_snapshot_without_moving_the_branch(repo: ic.Repository) -> None:
    repo.set_default_commit_metadata({"team": "x"})
    base = repo.lookup_branch("main")
    s = repo.writable_session("main")
    _array(s.store, compressors=None)[:] = 3
    snap = s.flush("anonymous", {"n": 1})
    assert repo.lookup_branch("main") == base
    assert s.read_only and s.snapshot_id == snap and not s.has_uncommitted_changes
    info = repo.lookup_snapshot(snap)
    assert (info.parent_id, info.message, info.metadata) == (base, "anonymous", {"team": "x", "n": 1})
    assert [i.id for i in repo.ancestry(snapshot_id=snap)] == [snap, base]
    got = zarr.open_array(repo.readonly_session(snapshot_id=snap).store, path="a", mode="r")[:]
    assert (got == 3).all()
    repo.create_branch("kept", snap)  # a ref makes it reachable
    assert repo.lookup_branch("kept") == snap
    with pytest.raises(ic.ReadOnlyError):
        s.flush("again")
    with pytest.raises(ic.NoChangesToCommitError):
        repo.writable_session("main").flush("nothing")


def test_flush_writes_keeps_its_write_behind_meaning(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    _array(s.store)[:] = 1
    s.flush_writes()
    assert s.has_uncommitted_changes and not s.read_only


# --- async twins ------------------------------------------------------------------------


def test_async_twins_give_the_blocking_calls_results(storage: ic.Storage) -> None:
    async def main() -> None:
        assert not await ic.Repository.exists_async(storage)
        repo = await ic.Repository.create_async(storage)
        assert await ic.Repository.exists_async(storage)
        s = await repo.writable_session_async("main")
        _array(s.store)[0, :] = 5
        first = await s.commit_async("first")
        await repo.create_branch_async("dev", first)
        await repo.create_tag_async("v1", first)
        assert await repo.list_branches_async() == {"main", "dev"}
        assert await repo.list_tags_async() == {"v1"}
        assert await repo.lookup_branch_async("dev") == first == await repo.lookup_tag_async("v1")
        s = await repo.writable_session_async("main")
        _array(s.store, path="b")
        second = await s.flush_async("anon")
        assert await repo.lookup_branch_async("main") == first
        assert [i.id async for i in repo.async_ancestry(snapshot_id=second)] == [
            i.id for i in repo.ancestry(snapshot_id=second)
        ]
        d = await repo.diff_async(from_snapshot_id=first, to_snapshot_id=second)
        assert d.new_arrays == {"/b"}
        ro = await repo.readonly_session_async(tag="v1")
        assert [c async for c in ro.chunk_coordinates("/a")] == [(0, 0)]
        assert await ro.chunk_type_async("/a", [0, 0]) == ic.ChunkType.NATIVE
        assert (await repo.lookup_snapshot_async(second)).message == "anon"
        assert json.loads(await repo.inspect_snapshot_async(second))["id"] == second
        assert (await repo.chunk_storage_stats_async()).native_bytes > 0
        await repo.reset_branch_async("dev", second)
        await repo.delete_branch_async("dev")
        await repo.delete_tag_async("v1")
        opened = await ic.Repository.open_async(storage)
        assert await opened.list_branches_async() == {"main"}
        cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        summary = await repo.garbage_collect_async(cutoff, dry_run=True)
        assert summary.dry_run and summary.attributes_deleted == 0  # upstream's field; no attribute files here
        assert await repo.expire_snapshots_async(dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) == set()

    asyncio.run(main())


def test_every_async_twin_is_a_coroutine_function_named_after_its_call() -> None:
    twins = {
        ic.Repository: [
            "create", "open", "open_or_create", "exists", "fetch_config", "save_config", "reopen",
            "create_branch", "list_branches", "lookup_branch", "reset_branch", "delete_branch",
            "create_tag", "list_tags", "lookup_tag", "delete_tag", "lookup_snapshot", "diff",
            "readonly_session", "writable_session", "inspect_snapshot", "chunk_storage_stats",
            "total_chunks_storage", "garbage_collect", "expire_snapshots",
        ],  # fmt: skip
        ic.Session: ["commit", "flush", "rebase", "merge", "chunk_type", "all_virtual_chunk_locations"],
        ic.IcechunkStore: ["set_virtual_ref", "set_virtual_refs"],
    }
    for cls, names in twins.items():
        for name in names:
            twin = getattr(cls, f"{name}_async")
            assert asyncio.iscoroutinefunction(twin), f"{cls.__name__}.{name}_async"
            assert twin.__name__ == f"{name}_async"


def test_async_twin_raises_the_blocking_calls_error(mem_repo: ic.Repository) -> None:
    with pytest.raises(ic.BranchNotFoundError):
        asyncio.run(mem_repo.lookup_branch_async("nope"))


# --- chunk types and coordinates ------------------------------------------------------------


def test_chunk_type_of_each_kind(tmp_path: Path, storage: ic.Storage) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 64)
    cfg = ic.RepositoryConfig(inline_chunk_threshold_bytes=64)
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(f"file://{tmp_path}/"))
    repo = ic.Repository.create(storage, cfg)
    s = repo.writable_session("main")
    a = _array(s.store, shape=(4, 8), chunks=(1, 8), dtype="u1", compressors=None)
    a[0, :] = 1  # 8 bytes: inline
    big = _array(s.store, path="big", compressors=None)
    big[0, :] = 1  # 4 KiB: native
    s.set_virtual_ref("/a", (2, 0), f"file://{data}", offset=8, length=8)
    kinds = [s.chunk_type("/a", [i, 0]) for i in range(4)]
    assert kinds == [ic.ChunkType.INLINE, ic.ChunkType.UNINITIALIZED, ic.ChunkType.VIRTUAL, ic.ChunkType.UNINITIALIZED]
    assert s.chunk_type("/big", (0, 0)) is ic.ChunkType.NATIVE
    assert int(ic.ChunkType.NATIVE) == 1  # upstream's numbering
    with pytest.raises(ic.InvalidArgumentError):
        s.chunk_type("/a", [9, 0])
    with pytest.raises(ic.InvalidArgumentError):
        s.chunk_type("/a", [0])
    with pytest.raises(ic.NotFoundError):
        s.chunk_type("/missing", [0, 0])
    s.commit("kinds")
    ro = repo.readonly_session("main")
    assert ro.chunk_type("/a", [2, 0]) == ic.ChunkType.VIRTUAL
    assert ro.all_virtual_chunk_locations() == [f"file://{data}"]


def test_chunk_coordinates_iterate_with_for_and_async_for(mem_repo: ic.Repository) -> None:
    s = mem_repo.writable_session("main")
    a = _array(s.store)
    a[1, :] = 1
    a[3, :] = 1
    want = {(1, 0), (3, 0)}
    assert set(s.chunk_coordinates("/a")) == want
    coords = s.chunk_coordinates("/a")
    assert {next(coords), next(coords)} == want  # an iterator, as the generator it replaced
    with pytest.raises(StopIteration):
        next(coords)

    async def collect() -> set[tuple[int, ...]]:
        return {c async for c in s.chunk_coordinates("/a", batch_size=1)}

    assert asyncio.run(collect()) == want
    with pytest.raises(ValueError):
        s.chunk_coordinates("/a", batch_size=0)


# --- virtual references through the store ---------------------------------------------------------


@pytest.fixture
def virtual_repo(tmp_path: Path) -> tuple[ic.Repository, Path, bytes]:
    raw = np.arange(64, dtype="<i4").tobytes()
    src = tmp_path / "src"
    src.mkdir()
    (src / "file.bin").write_bytes(raw)
    cfg = ic.RepositoryConfig()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(f"file://{src}/", ic.local_filesystem_store(str(src))))
    return ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"), cfg), src / "file.bin", raw


@pytest.mark.parametrize(
    ("encoding", "key"),
    [
        ({"name": "default", "separator": "/"}, "g/v/c/1/0"),
        ({"name": "default", "separator": "."}, "g/v/c.1.0"),
        ({"name": "v2", "separator": "."}, "g/v/1.0"),
        ({"name": "v2", "separator": "/"}, "g/v/1/0"),
    ],
)
def test_store_set_virtual_ref_reads_the_key_with_the_arrays_encoding(
    virtual_repo: tuple[ic.Repository, Path, bytes], encoding: dict[str, str], key: str
) -> None:
    repo, path, raw = virtual_repo
    s = repo.writable_session("main")
    zarr.create_group(s.store, path="g")
    a = _array(s.store, path="g/v", shape=(4, 4), chunks=(2, 4), compressors=None, chunk_key_encoding=encoding)
    s.store.set_virtual_ref(key, f"file://{path}", offset=32, length=32)
    assert s.chunk_type("/g/v", [1, 0]) == ic.ChunkType.VIRTUAL
    np.testing.assert_array_equal(a[2:, :], np.frombuffer(raw[32:64], "<i4").reshape(2, 4))
    with pytest.raises(ic.InvalidKeyError):
        s.store.set_virtual_ref("g/v/zarr.json", f"file://{path}", offset=0, length=32)
    with pytest.raises(ic.InvalidKeyError):
        s.store.set_virtual_ref("g/nothing/c/0/0", f"file://{path}", offset=0, length=32)


def test_store_set_virtual_ref_checksums_and_containers(virtual_repo: tuple[ic.Repository, Path, bytes]) -> None:
    repo, path, raw = virtual_repo
    s = repo.writable_session("main")
    a = _array(s.store, path="v", shape=(4, 4), chunks=(1, 4), compressors=None)
    loc = f"file://{path}"
    mtime = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC)
    s.store.set_virtual_ref("v/c/0/0", loc, offset=0, length=16, checksum=mtime + dt.timedelta(seconds=1))
    s.store.set_virtual_ref("v/c/1/0", loc, offset=16, length=16, checksum=mtime - dt.timedelta(hours=1))
    s.store.set_virtual_ref("v/c/2/0", loc, offset=32, length=16, checksum='"an-etag"')
    np.testing.assert_array_equal(a[0, :], np.frombuffer(raw[:16], "<i4"))
    with pytest.raises(ic.IcechunkError, match="modified"):
        a[1, :]
    with pytest.raises(ic.IcechunkError, match="ETag"):  # local files have no entity tags to check against
        a[2, :]
    outside = f"file://{path.parent.parent}/elsewhere.bin"
    with pytest.raises(ic.IcechunkError, match="outside every virtual chunk container"):
        s.store.set_virtual_ref("v/c/3/0", outside, offset=0, length=16)
    assert s.chunk_type("/v", [3, 0]) == ic.ChunkType.UNINITIALIZED
    s.store.set_virtual_ref("v/c/3/0", outside, offset=0, length=16, validate_container=False)
    assert s.chunk_type("/v", [3, 0]) == ic.ChunkType.VIRTUAL
    with pytest.raises(TypeError):
        s.store.set_virtual_ref("v/c/0/0", loc, offset=0, length=16, checksum=12)  # type: ignore[arg-type]


def test_store_set_virtual_refs_sets_the_valid_and_returns_the_refused(
    virtual_repo: tuple[ic.Repository, Path, bytes],
) -> None:
    repo, path, raw = virtual_repo
    s = repo.writable_session("main")
    a = _array(s.store, path="v", shape=(4, 4), chunks=(1, 4), compressors=None)
    loc, outside = f"file://{path}", f"file://{path.parent.parent}/elsewhere.bin"
    specs = [ic.VirtualChunkSpec((i, 0), loc, 16 * i, 16) for i in range(4)]
    assert s.store.set_virtual_refs("v", specs) is None
    np.testing.assert_array_equal(a[:], np.frombuffer(raw[:64], "<i4").reshape(4, 4))
    mixed = [ic.VirtualChunkSpec([0, 0], outside, 0, 16), ic.VirtualChunkSpec([1, 0], loc, 0, 16)]
    assert s.store.set_virtual_refs("/v", mixed) == [(0, 0)]
    np.testing.assert_array_equal(a[1, :], np.frombuffer(raw[:16], "<i4"))  # the valid one was set
    np.testing.assert_array_equal(a[0, :], np.frombuffer(raw[:16], "<i4"))  # the refused one was not
    assert s.store.set_virtual_refs("v", mixed, validate_containers=False) is None
    assert sorted(s.all_virtual_chunk_locations()) == sorted([loc, outside])
    with pytest.raises(ic.InvalidArgumentError):  # outside the grid: nothing is set
        s.store.set_virtual_refs("v", [ic.VirtualChunkSpec((3, 0), loc, 0, 16), ic.VirtualChunkSpec((9, 0), loc, 0, 16)])
    np.testing.assert_array_equal(a[3, :], np.frombuffer(raw[48:64], "<i4"))
    with pytest.raises(ValueError):
        ic.VirtualChunkSpec((-1, 0), loc, 0, 16)._to_json()


# --- storage statistics and snapshot inspection --------------------------------------------------------


def test_chunk_storage_stats_count_what_refs_reach(tmp_path: Path, storage: ic.Storage) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(4096))
    cfg = ic.RepositoryConfig(inline_chunk_threshold_bytes=64)
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(f"file://{tmp_path}/"))
    repo = ic.Repository.create(storage, cfg)
    assert repo.chunk_storage_stats() == ic.ChunkStorageStats(0, 0, 0)
    s = repo.writable_session("main")
    a = _array(s.store, compressors=None)  # chunks of 4 KiB
    a[:] = 1
    small = _array(s.store, path="small", shape=(2, 4), chunks=(1, 4), dtype="u1", compressors=None)
    small[:] = 1  # two inline chunks of 4 bytes
    s.set_virtual_ref("/a", (3, 0), f"file://{data}", offset=0, length=4096)  # replaces a native chunk
    first = s.commit("first")
    stats = repo.chunk_storage_stats()
    assert stats == ic.ChunkStorageStats(native_bytes=3 * 4096, virtual_bytes=4096, inlined_bytes=8)
    assert stats.total_bytes == 4 * 4096 + 8
    assert repo.total_chunks_storage() == 3 * 4096

    s = repo.writable_session("main")
    zarr.open_array(s.store, path="a", mode="r+")[0, :] = 2  # one new native chunk, the others shared
    s.commit("second")
    assert repo.chunk_storage_stats().native_bytes == 4 * 4096
    repo.create_branch("old", first)
    assert repo.chunk_storage_stats().native_bytes == 4 * 4096  # shared chunks counted once
    repo.reset_branch("main", first)
    assert repo.chunk_storage_stats().native_bytes == 3 * 4096  # the unreachable commit is not counted
    with pytest.raises(ValueError):
        repo.chunk_storage_stats(max_concurrent_manifest_fetches=0)


def test_inspect_snapshot_describes_the_snapshot_file(repo: ic.Repository) -> None:
    base = repo.lookup_branch("main")
    s = repo.writable_session("main")
    zarr.create_group(s.store, path="g")
    _array(s.store, path="g/a")[:] = 1
    snap = s.commit("described", {"k": [1, 2]})
    text = repo.inspect_snapshot(snap)
    assert "\n" in text and "\n" not in repo.inspect_snapshot(snap, pretty=False)
    d = json.loads(text)
    assert (d["id"], d["parent_id"], d["commit_message"], d["metadata"]) == (snap, base, "described", {"k": [1, 2]})
    assert dt.datetime.fromisoformat(d["flushed_at"].replace("Z", "+00:00")) == repo.lookup_snapshot(snap).written_at
    nodes = {n["path"]: n for n in d["nodes"]}
    assert {p: n["node_type"] for p, n in nodes.items()} == {"/": "group", "/g": "group", "/g/a": "array"}
    refs = nodes["/g/a"]["manifest_refs"]
    assert refs and all(r["extents"] for r in refs)
    manifests = {m["id"]: m for m in d["manifests"]}
    assert {r["id"] for r in refs} <= set(manifests)
    assert sum(m["num_chunk_refs"] for m in manifests.values()) == 4
    assert all(m["size_bytes"] > 0 for m in manifests.values())
    assert json.loads(repo.inspect_snapshot(base))["parent_id"] is None
    other = ic.Repository.create(ic.in_memory_storage())
    s = other.writable_session("main")
    zarr.create_group(s.store, path="elsewhere")
    elsewhere = s.commit("a snapshot of another repository")
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.inspect_snapshot(elsewhere)
    with pytest.raises(ic.IcechunkError):
        repo.inspect_snapshot("not an id")


# --- pickling writable sessions ---------------------------------------------------------------


def test_allow_pickling_lets_a_writable_session_travel_and_merge_back(local_repo: ic.Repository) -> None:
    s = local_repo.writable_session("main")
    _array(s.store)
    s.commit("array")
    s = local_repo.writable_session("main")
    with pytest.raises(ic.SessionPicklingError):
        pickle.dumps(s)
    with s.allow_pickling():
        copies = [pickle.loads(pickle.dumps(s)) for _ in range(2)]
    with pytest.raises(ic.SessionPicklingError):
        pickle.dumps(s)  # only inside the block
    for i, c in enumerate(copies):
        zarr.open_array(c.store, path="a", mode="r+")[i, :] = i + 1
    s.merge(*copies)
    s.commit("from copies")
    got = zarr.open_array(local_repo.readonly_session("main").store, path="a", mode="r")[:]
    assert (got[0] == 1).all() and (got[1] == 2).all() and (got[2:] == 0).all()


def test_sync_clear_empties_the_session(mem_repo: ic.Repository) -> None:
    s = mem_repo.writable_session("main")
    _array(s.store)[:] = 1
    s.commit("data")
    s = mem_repo.writable_session("main")
    s.store.sync_clear()
    assert asyncio.run(s.store.is_empty(""))
    s.commit("cleared")
    assert mem_repo.readonly_session("main").list_nodes() == []


def test_repository_config_refuses_settings_it_does_not_have() -> None:
    cfg = ic.RepositoryConfig.default()
    cfg.inline_chunk_threshold_bytes = 1  # upstream's way of setting a field
    assert cfg.inline_chunk_threshold_bytes == 1
    with pytest.raises(AttributeError):
        cfg.inline_chunk_threshold = 8  # type: ignore[attr-defined]  # a misspelt setting: would be a silent no-op


def test_storage_concurrency_settings(storage: ic.Storage) -> None:
    """Upstream's StorageConcurrencySettings: stored with the config, read
    back equal, overlaid by a later save, checked when made."""
    conc = ic.StorageConcurrencySettings(max_concurrent_requests_for_object=4, ideal_concurrent_request_size=1000)
    cfg = ic.RepositoryConfig(inline_chunk_threshold_bytes=0, storage=ic.StorageSettings(concurrency=conc))
    repo = ic.Repository.create(storage, cfg)
    assert ic.Repository.open(storage).config.storage == ic.StorageSettings(concurrency=conc)
    # reads split into 1,000-byte parts return the chunks whole
    s = repo.writable_session("main")
    data = np.arange(10_000, dtype="<i4")
    zarr.create_array(s.store, name="a", shape=data.shape, chunks=(5_000,), dtype="<i4", compressors=None, fill_value=0)[:] = data
    s.commit("two 20 kB chunks")
    np.testing.assert_array_equal(zarr.open_array(repo.readonly_session(branch="main").store, path="a", mode="r")[:], data)
    # a save without concurrency keeps it; one with it replaces it
    repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(storage_class="STANDARD")))
    got = ic.Repository.open(storage).config.storage
    assert got is not None and got.concurrency == conc and got.storage_class == "STANDARD"
    merged = cfg.merge(ic.RepositoryConfig(storage=ic.StorageSettings(concurrency=ic.StorageConcurrencySettings(ideal_concurrent_request_size=1 << 20))))
    assert merged.storage is not None and merged.storage.concurrency == ic.StorageConcurrencySettings(ideal_concurrent_request_size=1 << 20)
    with pytest.raises(ValueError, match="max_concurrent_requests_for_object"):
        ic.StorageConcurrencySettings(max_concurrent_requests_for_object=0)
    with pytest.raises(ValueError, match="max_concurrent_requests_for_object"):
        ic.StorageConcurrencySettings(max_concurrent_requests_for_object=65536)
    with pytest.raises(ValueError, match="ideal_concurrent_request_size"):
        ic.StorageConcurrencySettings(ideal_concurrent_request_size=-1)
    with pytest.raises(TypeError, match="StorageConcurrencySettings"):
        ic.StorageSettings(concurrency={"ideal_concurrent_request_size": 10})  # type: ignore[arg-type]


def test_storage_settings_take_upstreams_form(storage: ic.Storage) -> None:
    cfg = ic.RepositoryConfig.default()
    cfg.storage = ic.StorageSettings(
        retries=ic.StorageRetriesSettings(max_tries=3, initial_backoff_ms=10, max_backoff_ms=100),
        storage_class="STANDARD_IA",
    )
    repo = ic.Repository.create(storage, cfg)
    got = ic.Repository.open(storage).config.storage
    assert got == cfg.storage
    # a setting left None keeps its value; the rest are overlaid
    repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(chunks_storage_class="INTELLIGENT_TIERING")))
    got = ic.Repository.open(storage).config.storage
    assert got is not None and got.storage_class == "STANDARD_IA" and got.chunks_storage_class == "INTELLIGENT_TIERING"
    assert got.retries == cfg.storage.retries
    assert ic.Repository.open(storage, ic.RepositoryConfig(storage=ic.StorageSettings(retries=ic.StorageRetriesSettings(max_tries=1)))).config.storage.retries.max_tries == 1  # type: ignore[union-attr]
    assert ic.Repository.open(storage).config.storage.retries.max_tries == 3  # type: ignore[union-attr]  # open(config) stores nothing
    # the multipart size is stored and read back; a bad one is refused by name
    repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(minimum_size_for_multipart_upload=16 * 1024 * 1024)))
    got = ic.Repository.open(storage).config.storage
    assert got is not None and got.minimum_size_for_multipart_upload == 16 * 1024 * 1024 and got.storage_class == "STANDARD_IA"
    with pytest.raises(ValueError, match="minimum_size_for_multipart_upload"):
        ic.StorageSettings(minimum_size_for_multipart_upload=0)
    # upstream's settings that change nothing here survive a merge
    merged = ic.RepositoryConfig(storage=ic.StorageSettings(unsafe_use_metadata=False)).merge(
        ic.RepositoryConfig(storage=ic.StorageSettings(unsafe_use_conditional_create=False))
    )
    assert merged.storage == ic.StorageSettings(unsafe_use_conditional_create=False, unsafe_use_metadata=False)
    with pytest.raises(TypeError, match="unsafe_use_metadata"):
        ic.StorageSettings(unsafe_use_metadata="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_tries"):
        ic.StorageRetriesSettings(max_tries=0)
    with pytest.raises(ic.InvalidArgumentError, match="backoff"):
        repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(retries=ic.StorageRetriesSettings(initial_backoff_ms=9, max_backoff_ms=1))))
    with pytest.raises(ic.InvalidArgumentError, match="storage class"):
        repo.save_config(ic.RepositoryConfig(storage=ic.StorageSettings(storage_class="standard")))
    with pytest.raises(AttributeError):
        ic.StorageSettings().minimum_size_for_multipart = 1  # type: ignore[attr-defined]


def test_compression_config_takes_upstreams_form(storage: ic.Storage) -> None:
    cfg = ic.RepositoryConfig.default()
    cfg.compression = ic.CompressionConfig(level=19)
    repo = ic.Repository.create(storage, cfg)
    assert ic.Repository.open(storage).config.compression == ic.CompressionConfig(ic.CompressionAlgorithm.Zstd, 19)
    assert ic.CompressionConfig.default().level is None
    assert ic.CompressionAlgorithm.default() is ic.CompressionAlgorithm.Zstd

    def manifest_bytes(r: ic.Repository) -> int:
        session = r.writable_session("main")
        a = zarr.create_array(session.store, name="a", shape=(2000,), chunks=(1,), dtype="i8", fill_value=0)
        a[:] = np.arange(1, 2001)  # 2,000 inline chunks
        return sum(m.size_bytes for m in r.lookup_snapshot(session.commit("chunks")).manifests)

    dense = manifest_bytes(repo)
    fast = manifest_bytes(ic.Repository.create(ic.in_memory_storage()))
    assert dense < fast
    with pytest.raises(ValueError, match="level"):
        ic.CompressionConfig(level=23)
    with pytest.raises(ValueError, match="algorithm"):
        ic.CompressionConfig(algorithm="lz4")  # type: ignore[arg-type]


def test_virtual_chunk_containers_take_upstreams_form(storage: ic.Storage, tmp_path: Path) -> None:
    s3 = ic.s3_store(region="eu-west-1", endpoint_url="http://127.0.0.1:1", allow_http=True, anonymous=True)
    local = ic.local_filesystem_store(str(tmp_path))
    cfg = ic.RepositoryConfig.default()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer("s3://bucket/data/", s3))
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(f"file://{tmp_path}/", local))
    repo = ic.Repository.create(storage, cfg)
    got = ic.Repository.open(storage).config.virtual_chunk_containers or {}
    assert got["s3://bucket/data/"].store == s3 and got["s3://bucket/data/"].name == "s3://bucket/data/"
    assert got[f"file://{tmp_path}/"].store == local
    # None: anonymous, as the store says; file:// containers need no authorization
    authorized = ic.Repository.open(
        storage, authorize_virtual_chunk_access={"s3://bucket/data/": None, f"file://{tmp_path}/": None}
    )
    assert authorized.authorized_virtual_container_prefixes == {"s3://bucket/data/", f"file://{tmp_path}/"}
    assert repo.authorized_virtual_container_prefixes == set()
    assert authorized.reopen().authorized_virtual_container_prefixes == set()
    with pytest.raises(TypeError, match="store must come from"):
        ic.VirtualChunkContainer("data", "file:///data/")  # type: ignore[arg-type]  # the old (name, prefix) order
    with pytest.raises(ic.InvalidArgumentError):  # an S3 store cannot serve file:// locations
        repo.save_config(ic.RepositoryConfig(virtual_chunk_containers=[ic.VirtualChunkContainer("file:///x/", s3)]))
    with pytest.raises(ValueError, match="requester_pays"):
        ic.s3_store(requester_pays=True)
    with pytest.raises(TypeError):
        ic.containers_credentials({"s3://bucket/data/": "secret"})  # type: ignore[dict-item]
    nostore = ic.RepositoryConfig(virtual_chunk_containers=[ic.VirtualChunkContainer("s3://other/")])
    with pytest.raises(ValueError, match="no S3 or HTTP store"):
        ic.Repository.open(storage, nostore, authorize_virtual_chunk_access={"s3://other/": None})


def test_snapshot_info_lists_its_manifests(storage: ic.Storage) -> None:
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    a = root.create_array("a", shape=(8,), chunks=(2,), dtype="i4", fill_value=0)
    b = root.create_array("b", shape=(4,), chunks=(2,), dtype="i4", fill_value=0)
    a[:6] = np.arange(1, 7)
    b[:] = np.arange(1, 5)
    first = session.commit("chunks")
    infos = list(repo.ancestry(branch="main"))
    assert [i.id for i in infos][0] == first and infos[-1].manifests == []
    mans = infos[0].manifests
    assert all(isinstance(m, ic.ManifestFileInfo) and len(m.id) == 20 and m.size_bytes > 0 for m in mans)
    assert sorted(m.num_chunk_refs for m in mans) == [2, 3]  # b's two chunks, a's three
    assert [m.id for m in mans] == sorted(m.id for m in mans)
    assert repo.lookup_snapshot(first).manifests == mans
    # a commit that changes no chunk lists the same manifests again
    session = repo.writable_session("main")
    zarr.open_group(session.store).attrs["k"] = 1
    second = session.commit("attributes")
    assert repo.lookup_snapshot(second).manifests == mans


def test_storage_constructors_of_upstream(tmp_path: Path) -> None:
    """``Storage.new_*`` and ``S3Options`` make the storages the module's
    functions make; what this library cannot do is refused by name."""
    local = ic.Storage.new_local_filesystem(tmp_path / "repo")
    assert local == ic.local_filesystem_storage(tmp_path / "repo")
    ic.Repository.create(local)
    assert ic.Repository.exists(ic.local_filesystem_storage(tmp_path / "repo"))
    mem = ic.Storage.new_in_memory()
    assert mem.describe().startswith("memory:")

    options = ic.S3Options(region="eu-west-1", endpoint_url="http://127.0.0.1:9", allow_http=True, force_path_style=True)
    common = dict(bucket="b", prefix="p", region="eu-west-1", endpoint_url="http://127.0.0.1:9",
                  allow_http=True, force_path_style=True)  # fmt: skip
    assert ic.Storage.new_s3(options, "b", "p") == ic.s3_storage(**common, from_env=True)
    anon = ic.S3Options(region="eu-west-1", endpoint_url="http://127.0.0.1:9", allow_http=True,
                        force_path_style=True, anonymous=True)  # fmt: skip
    assert ic.Storage.new_s3(anon, "b", "p") == ic.s3_storage(**common, anonymous=True)
    assert ic.Storage.new_s3(options, "b", "p", ic.s3_anonymous_credentials()) == ic.s3_storage(**common, anonymous=True)
    assert ic.Storage.new_s3_object_store(options, "b", "p") == ic.Storage.new_s3(options, "b", "p")
    r2 = ic.Storage.new_r2(ic.S3Options(), bucket="b", prefix="p", account_id="acct", credentials=ic.s3_anonymous_credentials())
    assert r2 == ic.r2_storage(bucket="b", prefix="p", account_id="acct", anonymous=True)
    tigris = ic.Storage.new_tigris(ic.S3Options(), "b", "p", False, ic.s3_anonymous_credentials())
    assert tigris == ic.tigris_storage(bucket="b", prefix="p", anonymous=True)

    with pytest.raises(ValueError, match="requester_pays"):
        ic.Storage.new_s3(ic.S3Options(requester_pays=True), "b", "p")
    timed = ic.Storage.new_s3(ic.S3Options(network_stream_timeout_seconds=5), "b", "p")
    assert timed._spec["config"]["network_stream_timeout_seconds"] == 5
    with pytest.raises(ValueError, match="use_weak_consistency"):
        ic.Storage.new_tigris(ic.S3Options(), "b", "p", True)
    with pytest.raises(TypeError, match="credentials must be"):
        ic.Storage.new_s3(options, "b", "p", {"access_key_id": "k"})
    with pytest.raises(NotImplementedError, match="Google Cloud Storage"):
        ic.Storage.new_gcs("b", "p")
    with pytest.raises(NotImplementedError, match="Azure"):
        ic.Storage.new_azure_blob("acct", "c", "p")


def test_object_store_config_variants_of_upstream(tmp_path: Path) -> None:
    """``ObjectStoreConfig.S3(S3Options(...))`` and its siblings make the
    stores :func:`s3_store` and :func:`local_filesystem_store` make, and a
    container made with one is stored in the repository's config."""
    options = ic.S3Options(region="us-east-1", endpoint_url="http://127.0.0.1:9", allow_http=True, force_path_style=True)
    want = ic.s3_store(region="us-east-1", endpoint_url="http://127.0.0.1:9", allow_http=True, force_path_style=True)
    assert ic.ObjectStoreConfig.S3(options) == want
    assert ic.ObjectStoreConfig.S3Compatible(options) == want
    assert ic.ObjectStoreConfig.LocalFileSystem(str(tmp_path)) == ic.local_filesystem_store(str(tmp_path))
    with pytest.raises(ValueError, match="requester_pays"):
        ic.ObjectStoreConfig.S3(ic.S3Options(requester_pays=True))
    assert ic.ObjectStoreConfig.Http() == ic.http_store()
    for name in ("InMemory", "Gcs", "Azure", "Tigris"):
        with pytest.raises(NotImplementedError, match=f"ObjectStoreConfig.{name}"):
            getattr(ic.ObjectStoreConfig, name)()

    config = ic.RepositoryConfig.default()
    config.set_virtual_chunk_container(ic.VirtualChunkContainer("s3://data/", ic.ObjectStoreConfig.S3(options)))
    storage = ic.in_memory_storage()
    ic.Repository.create(storage, config)
    stored = ic.Repository.open(storage).config.virtual_chunk_containers["s3://data/"]
    assert stored.store == want


def test_storage_default_settings(storage: ic.Storage) -> None:
    """``default_settings()`` fills in every setting a repository uses when
    its config sets none, and a config built from it changes nothing but
    what is changed."""
    d = storage.default_settings()
    assert d.retries == ic.StorageRetriesSettings(max_tries=6, initial_backoff_ms=50, max_backoff_ms=2000)
    assert d.concurrency == ic.StorageConcurrencySettings(
        max_concurrent_requests_for_object=18, ideal_concurrent_request_size=12 * 1024 * 1024
    )
    assert d.unsafe_use_conditional_create is True
    assert d.minimum_size_for_multipart_upload == 100 * 1024 * 1024
    assert d.storage_class is None

    d.retries = ic.StorageRetriesSettings(max_tries=3, initial_backoff_ms=50, max_backoff_ms=2000)
    ic.Repository.create(storage, ic.RepositoryConfig(storage=d))
    stored = ic.Repository.open(storage).config.storage
    assert stored is not None
    assert stored.retries is not None and stored.retries.max_tries == 3
    assert stored.concurrency == d.concurrency
