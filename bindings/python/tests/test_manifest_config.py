"""Manifest splitting, preloading and rewrite_manifests, as upstream
Icechunk's users configure them (ManifestConfig and its parts)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic
from icechunk_go import (
    ManifestConfig,
    ManifestPreloadCondition,
    ManifestPreloadConfig,
    ManifestSplitCondition,
    ManifestSplitDimCondition,
    ManifestSplittingConfig,
)


def split_every(n: int) -> ic.RepositoryConfig:
    rules = ManifestSplittingConfig.from_dict({ManifestSplitCondition.AnyArray(): {ManifestSplitDimCondition.Any(): n}})
    return ic.RepositoryConfig(manifest=ManifestConfig(splitting=rules))


def manifest_refs(repo: ic.Repository, snapshot_id: str) -> list[int]:
    return sorted(m.num_chunk_refs for m in repo.lookup_snapshot(snapshot_id).manifests)


def test_splitting_then_rewrite_as_in_upstreams_guide(storage: ic.Storage) -> None:
    """Upstream's walk-through: a split of one chunk per manifest, new rules
    kept out of existing arrays by plain commits, then rewrite_manifests
    putting the rules in force, recording them, and changing no data."""
    repo = ic.Repository.create(storage, config=split_every(1))
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    array = root.create_array("array", shape=(10,), dtype=int, chunks=(1,))
    array[:5] = np.arange(10, 15)
    first = session.commit("five chunks")
    assert manifest_refs(repo, first) == [1, 1, 1, 1, 1]

    repo = ic.Repository.open(storage, config=split_every(3))
    assert repo.config.manifest == split_every(3).manifest
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="array", mode="a")[6:9] = [1, 2, 3]
    appended = session.commit("appended")
    # The array keeps its split of one until its manifests are rewritten.
    assert manifest_refs(repo, appended) == [1] * 8

    rewritten = repo.rewrite_manifests("rewrite to blocks of 3", branch="main", metadata={"by": "test"})
    assert repo.lookup_branch("main") == rewritten
    # [0, 3): 10 11 12; [3, 6): 13 14; [6, 9): 1 2 3.
    assert manifest_refs(repo, rewritten) == [2, 3, 3]
    info = repo.lookup_snapshot(rewritten)
    assert info.message == "rewrite to blocks of 3"
    assert info.parent_id == appended
    assert info.metadata["by"] == "test"
    assert info.metadata["splitting_config"] == [{"if": {"op": "any_array"}, "dims": [{"kind": "any", "chunks": 3}]}]
    assert repo.diff(from_snapshot_id=appended, to_snapshot_id=rewritten).is_empty()
    got = zarr.open_array(repo.readonly_session("main").store, path="array", mode="r")[:]
    np.testing.assert_array_equal(got, [10, 11, 12, 13, 14, 0, 1, 2, 3, 0])

    # The handle's rules were never saved: a new handle splits by one.
    assert ic.Repository.open(storage).config.manifest == split_every(1).manifest


def test_dimension_conditions(storage: ic.Storage) -> None:
    """Upstream's example: longitude by 3, axis 1 by 2, any other by 1, for
    arrays named temperature or salinity; other arrays are not split."""
    cond = ManifestSplitCondition.name_matches("^temperature$") | ManifestSplitCondition.name_matches("^salinity$")
    rules = ManifestSplittingConfig.from_dict(
        {
            cond: {
                ManifestSplitDimCondition.DimensionName("longitude"): 3,
                ManifestSplitDimCondition.Axis(1): 2,
                ManifestSplitDimCondition.Any(): 1,
            }
        }
    )
    repo = ic.Repository.create(storage, config=ic.RepositoryConfig(manifest=ManifestConfig(splitting=rules)))
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    names = ("time", "latitude", "longitude")
    for name in ("temperature", "wind"):
        a = root.create_array(name, shape=(2, 4, 6), chunks=(1, 1, 1), dtype="i2", dimension_names=names)
        a[:] = 1
    snap = session.commit("two arrays")
    nodes = json.loads(repo.inspect_snapshot(snap))["nodes"]
    by_array = {n["path"]: len(n["manifest_refs"]) for n in nodes if n.get("manifest_refs")}
    # temperature: 2 x (4 / 2) x (6 / 3) = 8 manifests of 1 x 2 x 3 chunks.
    assert by_array == {"/temperature": 8, "/wind": 1}
    assert manifest_refs(repo, snap) == [6] * 8 + [48]
    np.testing.assert_array_equal(zarr.open_array(repo.readonly_session("main").store, path="temperature")[:], 1)


def test_manifest_config_round_trips_and_saves(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(tmp_path / "repo")
    preload = ManifestPreloadConfig(
        max_total_refs=500,
        preload_if=ManifestPreloadCondition.name_matches("^(time|x)$")
        & (ManifestPreloadCondition.num_refs(1, None) | ManifestPreloadCondition.false()),
    )
    rules = ManifestSplittingConfig(
        [
            (ManifestSplitCondition.path_matches("^/ocean/") & ManifestSplitCondition.AnyArray(), [(ManifestSplitDimCondition.Axis(0), 24)]),
            (ManifestSplitCondition.or_conditions([]), [(ManifestSplitDimCondition.DimensionName("t"), 7)]),
        ]
    )
    config = ic.RepositoryConfig(manifest=ManifestConfig(preload=preload, splitting=rules))
    repo = ic.Repository.create(storage, config=config)
    assert repo.config.manifest == config.manifest
    reopened = ic.Repository.open(storage)
    assert reopened.config.manifest == config.manifest
    assert ic.Repository.fetch_config(storage).manifest == config.manifest
    assert "ManifestSplitCondition.path_matches('^/ocean/')" in repr(rules)
    # Saving another manifest config replaces the whole; an empty one clears it.
    only_preload = ManifestConfig(preload=ManifestPreloadConfig(preload_if=ManifestPreloadCondition.true()))
    repo.save_config(ic.RepositoryConfig(manifest=only_preload))
    assert ic.Repository.open(storage).config.manifest == only_preload
    repo.save_config(ic.RepositoryConfig(manifest=ManifestConfig()))
    assert ic.Repository.open(storage).config.manifest is None
    # Leaving it out keeps it.
    repo.save_config(ic.RepositoryConfig(manifest=only_preload))
    repo.save_config(ic.RepositoryConfig(inline_chunk_threshold_bytes=8))
    assert ic.Repository.open(storage).config.manifest == only_preload
    # Split sizes can be read and replaced.
    rules.split_sizes = [(ManifestSplitCondition.AnyArray(), [(ManifestSplitDimCondition.Any(), 2)])]
    assert rules.split_sizes == ((ManifestSplitCondition.AnyArray(), ((ManifestSplitDimCondition.Any(), 2),)),)


def test_bad_manifest_configs_are_refused(storage: ic.Storage) -> None:
    with pytest.raises(ValueError, match="split size"):
        ManifestSplittingConfig.from_dict({ManifestSplitCondition.AnyArray(): {ManifestSplitDimCondition.Any(): 0}})
    with pytest.raises(TypeError, match="ManifestSplitCondition"):
        ManifestSplittingConfig([(ManifestPreloadCondition.true(), [])])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="ManifestSplitDimCondition"):
        ManifestSplittingConfig.from_dict({ManifestSplitCondition.AnyArray(): {0: 1}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="axis"):
        ManifestSplitDimCondition.Axis(-1)
    with pytest.raises(ValueError, match="from_refs"):
        ManifestPreloadCondition.num_refs(-1, None)
    with pytest.raises(TypeError, match="ManifestPreloadCondition"):
        ManifestPreloadConfig(preload_if=ManifestSplitCondition.AnyArray())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ManifestConfig"):
        ic.Repository.create(storage, config=ic.RepositoryConfig(manifest={"splitting": []}))  # type: ignore[arg-type]
    bad_regex = ManifestSplittingConfig.from_dict({ManifestSplitCondition.name_matches("("): {ManifestSplitDimCondition.Any(): 1}})
    with pytest.raises(ic.InvalidArgumentError, match="regex"):
        ic.Repository.create(storage, config=ic.RepositoryConfig(manifest=ManifestConfig(splitting=bad_regex)))


def test_rewrite_manifests_errors_and_async(storage: ic.Storage) -> None:
    repo = ic.Repository.create(storage, config=split_every(2))
    with pytest.raises(ic.BranchNotFoundError):
        repo.rewrite_manifests("x", branch="nope")
    session = repo.writable_session("main")
    zarr.create_array(session.store, name="a", shape=(4,), chunks=(1,), dtype="i1")[:] = [1, 2, 3, 4]
    session.commit("data")
    assert manifest_refs(repo, repo.lookup_branch("main")) == [2, 2]
    repo = repo.reopen(config=split_every(4))
    snap = asyncio.run(repo.rewrite_manifests_async("async rewrite", branch="main"))
    assert manifest_refs(repo, snap) == [4]
    # With no rules at all the rewrite uses the default split and records none.
    repo = repo.reopen(config=ic.RepositoryConfig(manifest=ManifestConfig()))
    plain = repo.rewrite_manifests("default split", branch="main")
    assert manifest_refs(repo, plain) == [4]
    assert "splitting_config" not in repo.lookup_snapshot(plain).metadata


def test_preloaded_manifests_are_read_at_session_open(tmp_path: Path) -> None:
    """A session opened with a preload condition loads the matching
    manifests into the handle's cache: with the manifest files then gone
    from disk, the preloaded arrays still read and the others do not."""
    storage = ic.local_filesystem_storage(tmp_path / "repo")
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    for name in ("time", "data"):
        root.create_array(name, shape=(8,), chunks=(2,), dtype="i4")[:] = np.arange(8)
    session.commit("two arrays")

    config = ic.RepositoryConfig(
        manifest=ManifestConfig(preload=ManifestPreloadConfig(preload_if=ManifestPreloadCondition.name_matches("^time$")))
    )
    reader = ic.Repository.open(storage, config=config)
    store = reader.readonly_session("main").store
    time.sleep(2)  # the preload runs in the background; three small files take milliseconds
    shutil.rmtree(tmp_path / "repo" / "manifests")
    np.testing.assert_array_equal(zarr.open_array(store, path="time", mode="r")[:], np.arange(8))
    with pytest.raises(ic.IcechunkError, match="manifest"):
        zarr.open_array(store, path="data", mode="r")[:]
