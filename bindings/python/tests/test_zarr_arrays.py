"""Zarr arrays and groups through IcechunkStore, committed and read back."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, BytesCodec, ShardingCodec

import icechunk_go as ic


def committed(repo: ic.Repository, s: ic.Session, msg: str = "c") -> zarr.Group:
    s.commit(msg)
    return zarr.open_group(repo.readonly_session(branch="main").store, mode="r")


@pytest.mark.parametrize(
    ("dtype", "fill"),
    [
        ("int8", -3),
        ("uint16", 7),
        ("int64", np.iinfo(np.int64).min),
        ("float32", np.nan),
        ("float64", -0.5),
        ("complex64", 1 + 2j),
        ("bool", True),
        ("datetime64[s]", np.datetime64("2000-01-01", "s")),
    ],
)
def test_dtypes_and_fill_values(repo: ic.Repository, dtype: str, fill: object) -> None:
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="x", shape=(5, 7), chunks=(2, 3), dtype=dtype, fill_value=fill)
    rng = np.random.default_rng(0)
    if dtype == "bool":
        data = rng.integers(0, 2, size=(3, 3)).astype(bool)
    elif dtype.startswith("datetime"):
        data = (np.datetime64("2020-01-01", "s") + rng.integers(0, 10**6, size=(3, 3))).astype(dtype)
    elif dtype.startswith("complex"):
        data = (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))).astype(dtype)
    else:
        data = rng.integers(0, 100, size=(3, 3)).astype(dtype)
    arr[1:4, 2:5] = data
    g = committed(repo, s)
    got = g["x"][:]
    want = np.full((5, 7), fill, dtype=dtype)
    want[1:4, 2:5] = data
    np.testing.assert_array_equal(got, want)
    # only chunks that were written exist; the rest read as the fill value
    written = set(repo.readonly_session(branch="main").chunk_coordinates("/x"))
    assert written and written <= {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_string_dtype(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="s", shape=(4,), chunks=(2,), dtype=str)
    arr[:] = np.array(["a", "bc", "", "déjà"])
    g = committed(repo, s)
    assert g["s"][:].tolist() == ["a", "bc", "", "déjà"]


def test_zero_dimensional(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="scalar", shape=(), dtype="f8", fill_value=0.0)
    arr[...] = 42.5
    g = committed(repo, s)
    assert g["scalar"].shape == ()
    assert g["scalar"][...] == 42.5
    assert g["scalar"][()] == 42.5


def test_resize_and_append(repo: ic.Repository) -> None:
    # The same steps on zarr's MemoryStore give the expected contents.
    model = zarr.storage.MemoryStore()

    def steps(store: object, step: int) -> None:
        if step == 0:
            arr = zarr.create_array(store, name="t", shape=(4, 3), chunks=(2, 3), dtype="i4", fill_value=-1)
            arr[:] = np.arange(12).reshape(4, 3)
            return
        arr = zarr.open_array(store, path="t", mode="a")
        if step == 1:
            arr.append(np.full((3, 3), 9, dtype="i4"), axis=0)
        elif step == 2:
            arr.resize((3, 3))
        else:
            arr.resize((5, 3))

    for step, msg in enumerate(["four rows", "append", "shrink", "grow"]):
        s = repo.writable_session("main")
        steps(s.store, step)
        steps(model, step)
        s.commit(msg)
    got = zarr.open_array(repo.readonly_session(branch="main").store, path="t", mode="r")
    want = zarr.open_array(model, path="t", mode="r")
    assert got.shape == want.shape == (5, 3)
    np.testing.assert_array_equal(got[:], want[:])
    hist = list(repo.ancestry(branch="main"))
    assert [h.message for h in hist][:4] == ["grow", "shrink", "append", "four rows"]
    after_append = repo.readonly_session(snapshot_id=hist[2].id)
    t = zarr.open_array(after_append.store, path="t", mode="r")
    assert t.shape == (7, 3)
    np.testing.assert_array_equal(t[4:], np.full((3, 3), 9))


@pytest.mark.parametrize(
    ("encoding", "keys"),
    [
        ({"name": "default", "separator": "/"}, {"e/c/0/0", "e/c/1/1"}),
        ({"name": "default", "separator": "."}, {"e/c.0.0", "e/c.1.1"}),
        ({"name": "v2", "separator": "."}, {"e/0.0", "e/1.1"}),
        ({"name": "v2", "separator": "/"}, {"e/0/0", "e/1/1"}),
    ],
)
def test_chunk_key_encodings(repo: ic.Repository, encoding: dict[str, str], keys: set[str]) -> None:
    s = repo.writable_session("main")
    arr = zarr.create_array(
        s.store, name="e", shape=(4, 4), chunks=(2, 2), dtype="u1", fill_value=0, chunk_key_encoding=encoding
    )
    arr[0:2, 0:2] = 1
    arr[2:4, 2:4] = 2
    listed = set(zarr.core.sync.sync(_collect(s.store.list_prefix("e/"))))
    assert listed == keys | {"e/zarr.json"}
    g = committed(repo, s)
    got = g["e"][:]
    assert got[0, 0] == 1 and got[3, 3] == 2 and got[0, 3] == 0


async def _collect(ait):  # type: ignore[no-untyped-def]
    return [k async for k in ait]


def test_sharded_array(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    arr = zarr.create_array(
        s.store,
        name="sh",
        shape=(16, 16),
        shards=(8, 8),
        chunks=(2, 2),
        dtype="i2",
        fill_value=0,
        compressors=BloscCodec(cname="zstd", clevel=1),
    )
    data = np.arange(256, dtype="i2").reshape(16, 16)
    arr[:] = data
    assert sorted(s.chunk_coordinates("/sh")) == [(0, 0), (0, 1), (1, 0), (1, 1)]  # one object per shard
    g = committed(repo, s)
    sh = g["sh"]
    assert isinstance(sh.metadata.codecs[0], ShardingCodec)
    np.testing.assert_array_equal(sh[:], data)
    # reading a few inner chunks goes through byte-range reads of the shards
    np.testing.assert_array_equal(sh[3:5, 9:11], data[3:5, 9:11])
    np.testing.assert_array_equal(sh[15, :], data[15, :])


def test_sharded_array_partial_shards(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    arr = zarr.create_array(
        s.store,
        name="p",
        shape=(10,),
        shards=(4,),
        chunks=(2,),
        dtype="f4",
        fill_value=np.nan,
        serializer=BytesCodec(),
    )
    arr[1:3] = [1, 2]
    g = committed(repo, s)
    got = g["p"][:]
    assert got[1] == 1 and got[2] == 2 and np.isnan(got[0]) and np.isnan(got[5:]).all()


def test_nested_groups_and_attributes(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    root = zarr.open_group(s.store, mode="w", attributes={"title": "root"})
    a = root.create_group("a", attributes={"level": 1})
    b = a.create_group("b")
    b.attrs.update({"nested": {"x": [1, 2, 3]}, "unicode": "ünï"})
    b.create_array("arr", shape=(3,), dtype="i1", attributes={"units": "m"})[:] = [1, 2, 3]
    root.create_group("empty")
    g = committed(repo, s)
    assert g.attrs["title"] == "root"
    assert g["a"].attrs["level"] == 1
    assert dict(g["a/b"].attrs) == {"nested": {"x": [1, 2, 3]}, "unicode": "ünï"}
    assert g["a/b/arr"].attrs["units"] == "m"
    assert g["a/b/arr"][:].tolist() == [1, 2, 3]
    assert sorted(k for k, _ in g.members(max_depth=None)) == ["a", "a/b", "a/b/arr", "empty"]
    assert sorted(g.group_keys()) == ["a", "empty"]

    # attributes update, delete of a subtree, commit
    s = repo.writable_session("main")
    root = zarr.open_group(s.store, mode="a")
    root["a"].attrs["level"] = 2
    del root["a/b"]
    st = s.status()
    assert st.updated_groups == {"/a"}
    assert st.deleted_groups == {"/a/b"} and st.deleted_arrays == {"/a/b/arr"}
    g = committed(repo, s, "edit")
    assert sorted(k for k, _ in g.members(max_depth=None)) == ["a", "empty"]
    assert g["a"].attrs["level"] == 2


def test_overwrite_node_type(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    root = zarr.open_group(s.store, mode="w")
    root.create_group("x")
    root.create_array("x", shape=(2,), dtype="i1", overwrite=True)[:] = 5
    g = committed(repo, s)
    assert isinstance(g["x"], zarr.Array) and g["x"][:].tolist() == [5, 5]


def test_open_consolidated_is_not_needed(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    zarr.open_group(s.store, mode="w").create_array("a", shape=(2,), dtype="i1")
    with pytest.raises(TypeError, match="consolidated"):
        zarr.consolidate_metadata(s.store)


def test_inline_and_native_chunks(storage: ic.Storage) -> None:
    repo = ic.Repository.create(storage, ic.RepositoryConfig(inline_chunk_threshold_bytes=16))
    s = repo.writable_session("main")
    small = zarr.create_array(s.store, name="small", shape=(2,), dtype="u1", compressors=None)
    big = zarr.create_array(s.store, name="big", shape=(1024,), chunks=(1024,), dtype="f8", compressors=None)
    small[:] = [1, 2]
    big[:] = np.arange(1024.0)
    g = committed(repo, s)
    assert g["small"][:].tolist() == [1, 2]
    np.testing.assert_array_equal(g["big"][:], np.arange(1024.0))
