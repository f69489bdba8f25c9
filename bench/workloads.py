"""The workloads, written once against zarr-python.

Each *phase* below runs inside a fresh worker process (see worker.py) and
returns a dict with ``seconds`` (the measured time) and extras (bytes,
counts, a breakdown). Setup that is not measured happens outside the timed
section or in a phase of its own.

Every array uses the same codecs for every system: the default ``bytes``
serializer and no filter or compressor (``compressors=None``). The data is
incompressible anyway (random integers), and without a compressor the
figures measure the stores rather than zstd. Chunks are written with
zarr's defaults (``write_empty_chunks=False``, ``async.concurrency`` 10):
no chunk is ever equal to the fill value, so every chunk is really written.

Each chunk gets a stamp (its first element is its index + 1), so that no
two chunks are equal (a store that deduplicated content would otherwise
gain) and the readers can check that they read the right chunk.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# The sizes of the full suite (the issue's) and of the smoke run (`make test`).
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        # W1, W2 and W7: 1 GiB as 4,096 chunks of 256 KiB in one array.
        "big": {"chunks": 4096, "chunk_bytes": 256 * KiB, "slab_chunks": 256},
        # W3: 200,000 chunks of 4 KiB (781 MiB).
        "small": {"chunks": 200_000, "chunk_bytes": 4 * KiB, "slab_chunks": 8192},
        # W4: 100 groups x 9 arrays = 1,000 nodes (plus the root), 10 attributes each.
        "meta": {"groups": 100, "arrays_per_group": 9, "attrs": 10},
        # W5: an int8 array of 1,000,000 chunks of one element.
        "update": {"chunks": 1_000_000, "slab_chunks": 100_000},
        # W6: 8 processes x 20 commits, one 64 KiB chunk each.
        "contend": {"procs": 8, "commits": 20, "chunk_bytes": 64 * KiB},
    },
    "smoke": {
        "big": {"chunks": 16, "chunk_bytes": 16 * KiB, "slab_chunks": 8},
        "small": {"chunks": 300, "chunk_bytes": 4 * KiB, "slab_chunks": 128},
        "meta": {"groups": 3, "arrays_per_group": 3, "attrs": 3},
        "update": {"chunks": 2000, "slab_chunks": 700},
        "contend": {"procs": 2, "commits": 3, "chunk_bytes": 4 * KiB},
    },
}

DTYPE = np.dtype("int32")
ARRAY = "data"  # the array's path in every repository


def _array_kwargs(shape: int, chunk: int, dtype: Any = DTYPE) -> dict[str, Any]:
    return {
        "shape": (shape,),
        "chunks": (chunk,),
        "dtype": dtype,
        "fill_value": 0,
        "compressors": None,
        "filters": None,
    }


def _base(elems: int, seed: int = 12345) -> np.ndarray:
    """A slab of random, nonzero int32 values (the same in every process)."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, 2**31 - 1, size=elems, dtype=DTYPE)


def _stamp(buf: np.ndarray, chunk_elems: int, first_chunk: int) -> None:
    """Makes the first element of each chunk of buf its global index + 1."""
    view = buf.reshape(-1, chunk_elems)
    view[:, 0] = np.arange(first_chunk + 1, first_chunk + 1 + view.shape[0], dtype=DTYPE)


def _check_stamps(got: np.ndarray, chunk_elems: int, first_chunk: int) -> None:
    view = got.reshape(-1, chunk_elems)
    want = np.arange(first_chunk + 1, first_chunk + 1 + view.shape[0], dtype=DTYPE)
    if not np.array_equal(view[:, 0], want):
        raise AssertionError(f"wrong data read back in chunks {first_chunk}..{first_chunk + view.shape[0] - 1}")


# --- W1 / W3 / W7: many chunks into one array, then commit -------------------------


def write_chunks(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    import zarr

    chunk_elems = p["chunk_bytes"] // DTYPE.itemsize
    n, slab = p["chunks"], p["slab_chunks"]
    buf = _base(slab * chunk_elems)  # generated before the clock starts

    t0 = time.perf_counter()
    h = system.create(loc)
    t1 = time.perf_counter()
    root = zarr.create_group(h.store)
    arr = root.create_array(ARRAY, **_array_kwargs(n * chunk_elems, chunk_elems))
    for first in range(0, n, slab):
        count = min(slab, n - first)
        part = buf[: count * chunk_elems]
        _stamp(part, chunk_elems, first)
        arr[first * chunk_elems : (first + count) * chunk_elems] = part
    t2 = time.perf_counter()
    h.commit("write the chunks")
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "bytes": n * p["chunk_bytes"],
        "chunks": n,
        "create_s": t1 - t0,
        "write_s": t2 - t1,
        "commit_s": t3 - t2,
    }


def read_chunks(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    import zarr

    chunk_elems = p["chunk_bytes"] // DTYPE.itemsize
    n, slab = p["chunks"], p["slab_chunks"]
    expect = _base(slab * chunk_elems) if ctx.get("verify") else None

    t0 = time.perf_counter()
    h = system.readonly(loc)
    arr = zarr.open_array(h.store, path=ARRAY, mode="r")
    t1 = time.perf_counter()
    for first in range(0, n, slab):
        count = min(slab, n - first)
        got = arr[first * chunk_elems : (first + count) * chunk_elems]
        _check_stamps(got, chunk_elems, first)
        if expect is not None:
            want = expect[: count * chunk_elems].copy()
            _stamp(want, chunk_elems, first)
            if not np.array_equal(got, want):
                raise AssertionError(f"wrong data in chunks {first}..{first + count - 1}")
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "bytes": n * p["chunk_bytes"], "chunks": n, "open_s": t1 - t0, "read_s": t2 - t1}


# --- W4: a metadata-heavy hierarchy ----------------------------------------------


def _attrs(k: int, i: int) -> dict[str, Any]:
    return {f"attr_{a}": {"index": i, "name": f"node {i} attribute {a}", "values": [i, a, i * a]} for a in range(k)}


def write_meta(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    import zarr

    t0 = time.perf_counter()
    h = system.create(loc)
    t1 = time.perf_counter()
    root = zarr.create_group(h.store, attributes=_attrs(p["attrs"], -1))
    nodes = 0
    for g in range(p["groups"]):
        grp = root.create_group(f"group_{g:04d}", attributes=_attrs(p["attrs"], nodes))
        nodes += 1
        for a in range(p["arrays_per_group"]):
            grp.create_array(
                f"array_{a:03d}",
                attributes=_attrs(p["attrs"], nodes),
                **_array_kwargs(1000, 100, dtype="float32"),
            )
            nodes += 1
    t2 = time.perf_counter()
    h.commit("a metadata-heavy hierarchy")
    t3 = time.perf_counter()
    return {"seconds": t3 - t0, "nodes": nodes, "create_s": t1 - t0, "write_s": t2 - t1, "commit_s": t3 - t2}


def read_meta(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    import zarr

    want = p["groups"] * (1 + p["arrays_per_group"])
    t0 = time.perf_counter()
    h = system.readonly(loc)
    root = zarr.open_group(h.store, mode="r")
    t1 = time.perf_counter()
    nodes = 0
    attrs = 0
    for _name, node in root.members(max_depth=None):
        nodes += 1
        attrs += len(node.attrs.asdict())
        if isinstance(node, zarr.Array):
            _ = node.shape, node.dtype
    t2 = time.perf_counter()
    if nodes != want:
        raise AssertionError(f"listed {nodes} nodes, expected {want}")
    if attrs != want * p["attrs"]:
        raise AssertionError(f"read {attrs} attributes, expected {want * p['attrs']}")
    return {"seconds": t2 - t0, "nodes": nodes, "open_s": t1 - t0, "list_s": t2 - t1}


# --- W5: one chunk of an array of a million -------------------------------------


def update_setup(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """The 1M-chunk array: int8, chunks of one element, every element 1, so
    every chunk is real (not the fill value 0). Each chunk is one byte, so
    both versioned systems keep it inside their manifests (their default
    inline threshold is 512 bytes for both): the same layout for both.

    zarr-python spends a few hundred microseconds per chunk, so a million
    chunks through ``arr[...] = ...`` would take many minutes per system.
    The chunks are therefore put through the store's own ``set`` (the
    zarr.abc.store.Store API, the call zarr itself makes), with exactly the
    keys and bytes zarr would write: ``data/c/<i>`` -> ``b"\\x01"`` (the bytes
    codec, no compressor). Reading back through zarr checks it."""
    import asyncio

    import zarr
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    n, batch = p["chunks"], p["slab_chunks"]
    t0 = time.perf_counter()
    h = system.create(loc)
    root = zarr.create_group(h.store)
    root.create_array(ARRAY, **_array_kwargs(n, 1, dtype="int8"))
    one = default_buffer_prototype().buffer.from_bytes(b"\x01")

    async def fill() -> None:
        sem = asyncio.Semaphore(64)

        async def put(i: int) -> None:
            async with sem:
                await h.store.set(f"{ARRAY}/c/{i}", one)

        for first in range(0, n, batch):
            await asyncio.gather(*(put(i) for i in range(first, min(n, first + batch))))

    sync(fill())
    t1 = time.perf_counter()
    h.commit(f"{n} one-byte chunks")
    t2 = time.perf_counter()
    arr = zarr.open_array(system.readonly(loc).store, path=ARRAY, mode="r")
    probe = [0, 1, n // 2, n - 1]
    if [int(arr[i]) for i in probe] != [1] * len(probe):
        raise AssertionError("the 1M-chunk array does not read back as ones")
    return {"seconds": t2 - t0, "chunks": n, "write_s": t1 - t0, "commit_s": t2 - t1}


def update_one(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """Measured: open the repository, write one chunk, commit (each run a
    different chunk, on top of the previous runs' commits)."""
    import zarr

    n = p["chunks"]
    run = int(ctx.get("run_index", 0))
    k = (run * 7919 + 12345) % n  # spread over the array
    value = 2 + run % 100
    t0 = time.perf_counter()
    h = system.writable(loc)
    arr = zarr.open_array(h.store, path=ARRAY, mode="r+")
    t1 = time.perf_counter()
    arr[k] = value
    t2 = time.perf_counter()
    h.commit(f"update chunk {k}")
    t3 = time.perf_counter()
    if ctx.get("verify"):
        check = zarr.open_array(system.readonly(loc).store, path=ARRAY, mode="r")
        if int(check[k]) != value:
            raise AssertionError(f"chunk {k} reads {check[k]}, expected {value}")
    return {"seconds": t3 - t0, "chunk": k, "open_s": t1 - t0, "write_s": t2 - t1, "commit_s": t3 - t2}


# --- W6: writers in several processes committing to one branch ------------------


def contend_setup(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    import zarr

    chunk_elems = p["chunk_bytes"] // DTYPE.itemsize
    t0 = time.perf_counter()
    h = system.create(loc)
    root = zarr.create_group(h.store)
    root.create_array(ARRAY, **_array_kwargs(p["procs"] * p["commits"] * chunk_elems, chunk_elems))
    h.commit("the array the writers share")
    return {"seconds": time.perf_counter() - t0}


def contend_worker(
    system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any], wait_for_start: Any
) -> dict[str, Any]:
    """One of the writers: ``commits`` times, a session on main, one chunk
    of its own (disjoint from every other writer's), commit with rebase
    (BasicConflictSolver). wait_for_start blocks until every writer is ready."""
    import zarr

    chunk_elems = p["chunk_bytes"] // DTYPE.itemsize
    w = int(ctx["worker"])
    repo = system.open_repo(loc)
    buf = _base(chunk_elems, seed=w)
    wait_for_start()
    start = time.monotonic()
    cpu0 = time.process_time()
    commit_lat, cycle_lat = [], []
    for i in range(p["commits"]):
        c0 = time.perf_counter()
        h = system.writable(loc, repo=repo)
        arr = zarr.open_array(h.store, path=ARRAY, mode="r+")
        k = w * p["commits"] + i
        _stamp(buf, chunk_elems, k)
        arr[k * chunk_elems : (k + 1) * chunk_elems] = buf
        c1 = time.perf_counter()
        h.commit_rebasing(f"writer {w} commit {i}", tries=10_000)
        c2 = time.perf_counter()
        commit_lat.append(c2 - c1)
        cycle_lat.append(c2 - c0)
    end = time.monotonic()
    return {
        "seconds": end - start,
        "released_cpu_s": time.process_time() - cpu0,
        "start_monotonic": start,
        "end_monotonic": end,
        "commit_latencies": commit_lat,
        "cycle_latencies": cycle_lat,
    }


def contend_verify(system: Any, loc: dict[str, Any], p: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """After the writers: is every commit in main's history and every chunk
    readable with the data its writer wrote?"""
    import zarr

    chunk_elems = p["chunk_bytes"] // DTYPE.itemsize
    commits = system.commit_count(loc)
    want = 2 + p["procs"] * p["commits"]  # the repository's first snapshot, the setup's, the writers'
    arr = zarr.open_array(system.readonly(loc).store, path=ARRAY, mode="r")
    data = arr[:]
    bad = 0
    for k in range(p["procs"] * p["commits"]):
        if data[k * chunk_elems] != k + 1:
            bad += 1
    return {"seconds": 0.0, "commits": commits, "expected_commits": want, "missing_chunks": bad}


PHASES = {
    "write_chunks": write_chunks,
    "read_chunks": read_chunks,
    "write_meta": write_meta,
    "read_meta": read_meta,
    "update_setup": update_setup,
    "update_one": update_one,
    "contend_setup": contend_setup,
    "contend_verify": contend_verify,
}
