"""Where the store's library calls run, and how long chunk values live.

Calls on metadata keys (zarr.json, the Zarr v2 names) and listings of a
group's directory run on the event loop's thread; chunk keys and other
listings on the pool. Large values come back as views of the library's
buffer, without a copy, and the buffer is freed when no view is left.
"""

from __future__ import annotations

import asyncio
import gc
import json
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.core.buffer import cpu, default_buffer_prototype
from zarr.core.sync import sync
from zarr_helpers import array_json, group_json

import icechunk_go as ic
from icechunk_go import _ffi

# Larger than _ffi.COPY_MAX: such values are views, not copies.
CHUNK = 256 * 1024


def on_pool() -> bool:
    return threading.current_thread().name.startswith("icechunk_go")


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, bool]]:
    """Records every library call made through _ffi.call: (function, key or
    prefix when the second argument is one, made on a pool thread)."""
    rec: list[tuple[str, str, bool]] = []
    orig = _ffi.call

    def call(fn: Any, *args: Any) -> None:
        arg = args[1].decode("utf-8", "replace") if len(args) > 1 and isinstance(args[1], bytes) else ""
        rec.append((fn.__name__, arg, on_pool()))
        orig(fn, *args)

    monkeypatch.setattr(_ffi, "call", call)
    return rec


def is_meta(key: str) -> bool:
    return key.rpartition("/")[2] in ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata")


def live_buffers(want: int | None = None) -> int:
    """The library buffers alive after a collection. With want, waits (a
    little) for that count: zarr's event loop runs on its own thread and may
    still be dropping its references to a result the caller already has."""
    deadline = time.monotonic() + 5
    while True:
        gc.collect()
        n = _ffi.live_objects()[1]
        if want is None or n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


def buf(data: bytes) -> cpu.Buffer:
    return cpu.Buffer.from_bytes(data)


# --- which thread ----------------------------------------------------------------


def test_metadata_calls_inline_chunk_calls_on_the_pool(mem_repo: ic.Repository, calls: list[Any]) -> None:
    s = mem_repo.writable_session("main")
    root = zarr.create_group(s.store, attributes={"a": 1})
    arr = root.create_array("x", shape=(64,), chunks=(8,), dtype="i4")
    arr[:] = np.arange(64, dtype="i4")
    g = root.create_group("g")
    g.attrs["b"] = 2
    np.testing.assert_array_equal(arr[:], np.arange(64))
    arr[3] = -1  # a single chunk through the pool
    assert arr[3] == -1
    assert sorted(root.group_keys()) == ["g"]
    assert sorted(k for k, _ in root.members()) == ["g", "x"]
    del root["g"]

    meta = [c for c in calls if c[0].startswith("ic_store_") and is_meta(c[1])]
    assert {c[0] for c in meta} >= {"ic_store_get", "ic_store_set", "ic_store_set_if_not_exists"}
    assert not [c for c in meta if c[2]], "metadata calls made on the pool"
    chunk = [c for c in calls if c[0] in ("ic_store_get", "ic_store_set") and not is_meta(c[1])]
    chunk += [c for c in calls if c[0] in ("ic_store_get_many", "ic_store_set_many")]
    assert chunk and all(c[2] for c in chunk), chunk
    listed = [c for c in calls if c[0] == "ic_store_list_group_dir"]
    assert listed and not [c for c in listed if c[2]]
    assert not [c for c in calls if c[0] == "ic_store_load_metadata"]  # opened sessions hold their base


def test_restored_session_reads_its_base_on_the_pool_first(mem_repo: ic.Repository, calls: list[Any]) -> None:
    s = mem_repo.writable_session("main")
    root = zarr.create_group(s.store, attributes={"a": 1})
    root.create_group("g", attributes={"b": 2})
    s.commit("two groups")
    r = pickle.loads(pickle.dumps(mem_repo.readonly_session(branch="main")))
    assert not r._meta_loaded
    calls.clear()
    got = zarr.open_group(r.store, mode="r")
    assert got.attrs["a"] == 1 and got["g"].attrs["b"] == 2
    assert r._meta_loaded
    store_calls = [c for c in calls if c[0].startswith("ic_store_")]
    assert store_calls[0][0] == "ic_store_load_metadata" and store_calls[0][2]
    assert [c for c in calls if c[0] == "ic_store_load_metadata"] == [store_calls[0]]
    meta = [c for c in calls if c[0] == "ic_store_get" and is_meta(c[1])]
    assert meta and not [c for c in meta if c[2]]


def test_commit_and_rebase_send_metadata_calls_to_the_pool(mem_repo: ic.Repository, calls: list[Any]) -> None:
    s = mem_repo.writable_session("main")
    store = s.store
    sync(store.set("zarr.json", buf(group_json({"v": 1}))))

    # While a commit or rebase runs (it holds the session's lock), metadata
    # calls go through the pool.
    s._begin_exclusive()
    try:
        calls.clear()
        got = sync(store.get("zarr.json", default_buffer_prototype()))
        assert got is not None and json.loads(got.to_bytes())["attributes"] == {"v": 1}
        assert sync(store.exists("zarr.json"))
        assert [c[2] for c in calls if c[0].startswith("ic_store_")] == [True, True]
    finally:
        s._end_exclusive()

    # After a commit the base moved: it is read again (on the pool), then
    # calls are inline again.
    sync(store.set("a/zarr.json", buf(group_json({"v": 2}))))
    s.commit("a")
    assert not s._meta_loaded
    calls.clear()
    got = sync(store.get("a/zarr.json", default_buffer_prototype()))
    assert got is not None and json.loads(got.to_bytes())["attributes"] == {"v": 2}
    assert [(c[0], c[2]) for c in calls] == [("ic_store_load_metadata", True), ("ic_store_get", False)]
    with pytest.raises(ic.ReadOnlyError):
        sync(store.set("b/zarr.json", buf(group_json())))


def test_group_dirs_listed_inline_the_rest_on_the_pool(mem_repo: ic.Repository, calls: list[Any]) -> None:
    s = mem_repo.writable_session("main")
    store = s.store
    sync(store.set("zarr.json", buf(group_json())))
    sync(store.set("g/zarr.json", buf(group_json())))
    sync(store.set("g/a/zarr.json", buf(array_json([4, 4], [2, 2]))))
    sync(store.set("g/a/c/1/0", buf(b"xy")))
    sync(store.set("h/zarr.json", buf(array_json([4], [2]))))

    def listing(prefix: str) -> list[str]:
        async def run() -> list[str]:
            return sorted([k async for k in store.list_dir(prefix)])

        return sync(run())

    def pool_listing(prefix: str) -> list[str]:
        return sorted(_ffi.iter_all(_ffi.lib.ic_store_list_dir, s._h, prefix.encode()))

    for prefix in ["", "/", "g", "g/", "g/a", "g/a/c/", "g/a/c/1", "h", "nothing/", "g/a/c/1/0/"]:
        want = pool_listing(prefix)
        calls.clear()
        assert listing(prefix) == want, prefix
        group = prefix.strip("/") in ("", "g")
        assert [c[2] for c in calls if c[0] == "ic_store_list_dir"] == ([] if group else [True]), prefix
        assert [c[2] for c in calls if c[0] == "ic_store_list_group_dir"] == [False], prefix
    assert listing("") == ["g", "h", "zarr.json"]
    assert listing("g/a/c") == ["1"]
    with pytest.raises(ic.InvalidKeyError):
        listing("g/../x")


# --- correctness with chunk calls running meanwhile -------------------------------


def test_inline_metadata_calls_with_concurrent_chunk_writes(repo: ic.Repository) -> None:
    """Metadata writes and reads made on the event loop's thread while the
    pool writes and reads chunks of the same session."""
    s = repo.writable_session("main")
    store = s.store
    n, groups = 2048, 150
    p = default_buffer_prototype()

    async def run() -> None:
        await store.set("zarr.json", buf(group_json()))
        await store.set("data/zarr.json", buf(array_json([n], [1])))

        async def chunks() -> None:
            for start in range(0, n, 256):
                await asyncio.gather(
                    *(store.set(f"data/c/{i}", buf(i.to_bytes(4, "little"))) for i in range(start, start + 256))
                )
                got = await asyncio.gather(*(store.get(f"data/c/{i}", p) for i in range(start, start + 256)))
                assert [int.from_bytes(g.to_bytes(), "little") for g in got] == list(range(start, start + 256))

        async def metadata() -> None:
            for i in range(groups):
                key = f"g{i}/zarr.json"
                await store.set_if_not_exists(key, buf(group_json({"i": i})))
                await store.set(key, buf(group_json({"i": i, "again": True})))
                got = await store.get(key, p)
                assert got is not None and json.loads(got.to_bytes())["attributes"] == {"i": i, "again": True}
                assert await store.exists(key)
                assert not await store.exists(f"g{i}/.zgroup")
                if i % 3 == 0:
                    await store.delete(key)
                    assert await store.get(key, p) is None
                await asyncio.sleep(0)  # let the chunk batches make progress

        await asyncio.gather(chunks(), chunks(), metadata())

    sync(run())
    # Zarr itself, from threads sharing zarr's event loop.
    arr = zarr.open_array(store, path="data", mode="a")

    def write(k: int) -> None:
        arr[k * 256 : (k + 1) * 256] = np.full(256, k, dtype="u1")

    def make_groups(k: int) -> None:
        root = zarr.open_group(store, mode="a")
        for i in range(20):
            root.create_group(f"t{k}_{i}", attributes={"k": k, "i": i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    threads += [threading.Thread(target=make_groups, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.commit("concurrent")

    r = repo.readonly_session(branch="main")
    root = zarr.open_group(r.store, mode="r")
    np.testing.assert_array_equal(root["data"][:], np.repeat(np.arange(8, dtype="u1"), 256))
    names = set(root.group_keys())
    assert names == {f"g{i}" for i in range(groups) if i % 3} | {f"t{k}_{i}" for k in range(3) for i in range(20)}
    for i in range(1, groups, 3):
        assert root[f"g{i}"].attrs.asdict() == {"i": i, "again": True}
    assert root["t2_7"].attrs.asdict() == {"k": 2, "i": 7}


# --- chunk buffers ------------------------------------------------------------------


@pytest.fixture
def big_chunks(mem_repo: ic.Repository) -> Iterator[tuple[ic.IcechunkStore, list[bytes]]]:
    s = mem_repo.writable_session("main")
    rng = np.random.default_rng(7)
    values = [rng.integers(0, 256, CHUNK, dtype="u1").tobytes() for _ in range(8)]
    store = s.store
    sync(store.set("a/zarr.json", buf(array_json([8 * CHUNK], [CHUNK]))))
    sync(store._set_many((f"a/c/{i}", buf(v)) for i, v in enumerate(values)))
    yield store, values


def read_all(store: ic.IcechunkStore, n: int = 8) -> list[Any]:
    async def run() -> list[Any]:
        return list(await asyncio.gather(*(store.get(f"a/c/{i}", default_buffer_prototype()) for i in range(n))))

    return sync(run())


def test_chunk_values_are_views_of_the_library_buffer(big_chunks: Any) -> None:
    store, values = big_chunks
    base = live_buffers()
    got = read_all(store)
    assert [g.to_bytes() for g in got] == values
    for g in got:
        a = g.as_numpy_array()
        assert not a.flags.owndata and not a.flags.writeable  # not a copy, and read-only
    assert live_buffers() > base
    del got, g, a
    assert live_buffers(base) == base
    # a single get (a batch of one), get_partial_values and _get_many too
    one = sync(store.get("a/c/5", default_buffer_prototype()))
    assert one is not None and not one.as_numpy_array().flags.owndata and one.to_bytes() == values[5]
    part = sync(store.get_partial_values(default_buffer_prototype(), [("a/c/1", None), ("a/c/2", None)]))
    assert [x.to_bytes() for x in part if x is not None] == values[1:3]
    assert live_buffers(base + 2) == base + 2
    del one, part
    assert live_buffers(base) == base
    # small values (metadata) are copied: nothing stays allocated
    meta = sync(store.get("a/zarr.json", default_buffer_prototype()))
    assert meta is not None and json.loads(meta.to_bytes())["node_type"] == "array"
    assert live_buffers(base) == base


def test_a_kept_chunk_outlives_its_batch(big_chunks: Any) -> None:
    """One chunk kept by the caller keeps its batch's buffer, and only that
    one, alive; reads that reuse the freed memory do not touch it."""
    store, values = big_chunks
    base = live_buffers()
    kept = read_all(store)[3]
    view = kept.as_numpy_array()[10:20]  # a view of the view
    assert live_buffers(base + 1) == base + 1
    for _ in range(5):
        again = read_all(store)
        assert [g.to_bytes() for g in again] == values
        del again
        assert live_buffers(base + 1) == base + 1
    gc.collect()
    assert kept.to_bytes() == values[3]
    del kept
    assert live_buffers(base + 1) == base + 1  # the small view still holds it
    assert view.tobytes() == values[3][10:20]
    del view
    assert live_buffers(base) == base


def test_chunk_views_through_zarr(mem_repo: ic.Repository) -> None:
    """zarr decodes views like any buffer, and frees them once decoded."""
    s = mem_repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(16, CHUNK // 4), chunks=(1, CHUNK // 4), dtype="i4")
    data = np.arange(16 * CHUNK // 4, dtype="i4").reshape(16, -1)
    arr[:] = data
    s.commit("data")
    r = mem_repo.readonly_session(branch="main")
    base = live_buffers()
    got = zarr.open_array(r.store, path="a", mode="r")[:]
    np.testing.assert_array_equal(got, data)
    got[0, 0] = -5  # zarr's result is the caller's own writable copy
    assert live_buffers(base) == base


def test_reads_batched_writes_behind(mem_repo: ic.Repository, calls: list[Any]) -> None:
    """Chunk writes are one write-behind call each (the library packs them
    into objects); reads go in batches of at most 3 MiB, so that a slow
    value holds back few others (zarr keeps a fixed number of calls in
    flight)."""
    mib = 1024 * 1024
    s = mem_repo.writable_session("main")
    root = zarr.create_group(s.store)
    small = root.create_array("small", shape=(64 * 1024,), chunks=(1024,), dtype="i4", fill_value=0, compressors=None)
    large = root.create_array("large", shape=(8 * mib,), chunks=(mib,), dtype="u1", fill_value=0, compressors=None)

    def count(name: str) -> int:
        return sum(1 for c in calls if c[0] == name)

    calls.clear()
    small[:] = np.arange(1, 64 * 1024 + 1, dtype="i4")
    assert count("ic_store_set_behind") >= 64
    assert count("ic_store_set_many") == count("ic_store_set") == 0

    calls.clear()
    large[:] = np.full(8 * mib, 7, dtype="u1")
    assert count("ic_store_set_behind") >= 8
    assert count("ic_store_set_many") == count("ic_store_set") == 0

    # Reads learn the size from the values returned: the first read is one
    # batch, later ones read 1 MiB chunks three to a call.
    calls.clear()
    assert (large[:] == 7).all()
    assert count("ic_store_get_many") == 1
    calls.clear()
    assert (large[:] == 7).all()
    assert (count("ic_store_get"), count("ic_store_get_many")) == (0, 3)
    np.testing.assert_array_equal(small[:], np.arange(1, 64 * 1024 + 1, dtype="i4"))
