"""The "understanding write conflicts" tutorial (seed 004) through this API.

Two users, A and B, work on one repository through their own sessions.
Changes to different objects (metadata vs chunks, or different chunks)
rebase on their own; changes to the same object fail with an error naming
the path. Arraylake's commit rebases automatically; here that is
``commit(..., rebase_with=ConflictDetector())`` (a plain ``commit`` tells
the user the branch moved)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

import icechunk_go as ic


def attrs(session: ic.Session, path: str = "") -> dict:
    return dict(zarr.open_group(session.store, path=path, mode="r").attrs)


def test_write_conflicts_tutorial(repo: ic.Repository) -> None:
    # Both users start on the same commit, with a root group.
    setup = repo.writable_session("main")
    zarr.open_group(setup.store, mode="w")
    setup.commit("root group")
    repo_a = repo.writable_session("main")
    repo_b = repo.writable_session("main")
    assert str(repo_a.status()) == "No changes\n"

    # User A adds a metadata attribute to the root group.
    zarr.open_group(repo_a.store, mode="a").attrs["foo"] = "bar"
    assert attrs(repo_a) == {"foo": "bar"}
    st = repo_a.status()
    assert st.updated_groups == {"/"}
    assert str(st) == "Group definitions updated:\n    /\n"
    c1 = repo_a.commit("User A added metadata")
    # B is behind until it checks out again.
    assert repo_b.snapshot_id != c1
    assert attrs(repo_b) == {}
    repo_b = repo.writable_session("main")
    repo_a = repo.writable_session("main")
    assert repo_a.snapshot_id == repo_b.snapshot_id == c1
    assert attrs(repo_a) == attrs(repo_b) == {"foo": "bar"}

    # Example 1: two changes that don't conflict. A: metadata. B: a new
    # group and array.
    zarr.open_group(repo_a.store, mode="a").attrs["a new key"] = "a new val"
    assert repo_a.status().updated_groups == {"/"}
    repo_a.commit("User A made a metadata update")  # C2

    root_b = zarr.open_group(repo_b.store, mode="a")
    toy = root_b.create_group("toy_data")
    ones = toy.create_array("ones", shape=(3, 3), chunks=(2, 2), dtype="f8", fill_value=0)
    ones[:] = np.ones((3, 3))
    st = repo_b.status()
    assert st.new_groups == {"/toy_data"}
    assert st.new_arrays == {"/toy_data/ones"}
    assert sorted(st.updated_chunks["/toy_data/ones"]) == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert "/" not in st.paths()  # B did not touch what A changed
    with pytest.raises(ic.ConflictError):
        repo_b.commit("User B wrote chunk data to repo")  # the branch moved
    repo_b.commit("User B wrote chunk data to repo", rebase_with=ic.ConflictDetector())  # C3
    assert attrs(repo.readonly_session(branch="main")) == {"foo": "bar", "a new key": "a new val"}

    # Example 2: a change that conflicts. Both update toy_data's attributes.
    repo_a = repo.writable_session("main")
    repo_b = repo.writable_session("main")
    zarr.open_group(repo_a.store, path="toy_data", mode="a").attrs["toy_key"] = "toy_val"
    assert repo_a.status().updated_groups == {"/toy_data"}
    c4 = repo_a.commit("User A modified toy_data metadata")  # C4
    zarr.open_group(repo_b.store, path="toy_data", mode="a").attrs["another toy key"] = "another toy val"
    assert repo_b.status().updated_groups == {"/toy_data"}  # the same path as A's change
    with pytest.raises(ic.RebaseFailedError) as e:
        repo_b.commit("User B added attr to metadata", rebase_with=ic.ConflictDetector())
    err = e.value
    assert err.snapshot == c4
    assert [(c.conflict_type, c.path) for c in err.conflicts] == [
        (ic.ConflictType.ZarrMetadataDoubleUpdate, "/toy_data")
    ]
    assert "/toy_data" in str(err) and "User A modified toy_data metadata" in str(err.conflicts[0])
    assert repo.lookup_branch("main") == c4  # C5 is not in the history
    assert repo_b.has_uncommitted_changes  # nothing was lost

    # Independent chunk writes: A changes chunk (0, 0), B chunk (1, 1).
    repo_a = repo.writable_session("main")
    repo_b = repo.writable_session("main")
    ones_a = zarr.open_array(repo_a.store, path="toy_data/ones", mode="a")
    np.testing.assert_array_equal(ones_a[:], np.ones((3, 3)))
    ones_a[0, 0:2] = 10
    st = repo_a.status()
    assert st.updated_chunks == {"/toy_data/ones": [[0, 0]]} and not st.updated_arrays
    c5 = repo_a.commit("User A modified 1 chunk")

    ones_b = zarr.open_array(repo_b.store, path="toy_data/ones", mode="a")
    ones_b[-1, -1] = 3
    assert repo_b.status().updated_chunks == {"/toy_data/ones": [[1, 1]]}
    c6 = repo_b.commit("User B modified chunk data", rebase_with=ic.ConflictDetector())

    both = np.ones((3, 3))
    both[0, 0:2] = 10
    both[-1, -1] = 3
    np.testing.assert_array_equal(zarr.open_array(repo_b.store, path="toy_data/ones", mode="r")[:], both)
    # A's view (its session, now read-only at C5) does not include B's change...
    only_a = np.ones((3, 3))
    only_a[0, 0:2] = 10
    np.testing.assert_array_equal(zarr.open_array(repo_a.store, path="toy_data/ones", mode="r")[:], only_a)
    # ...until A checks out again.
    repo_a = repo.readonly_session(branch="main")
    np.testing.assert_array_equal(zarr.open_array(repo_a.store, path="toy_data/ones", mode="r")[:], both)
    hist = [h.id for h in repo.ancestry(branch="main")]
    assert hist[:2] == [c6, c5]

    # And writes to the same chunk conflict.
    repo_a = repo.writable_session("main")
    repo_b = repo.writable_session("main")
    zarr.open_array(repo_a.store, path="toy_data/ones", mode="a")[0, 0] = 1
    zarr.open_array(repo_b.store, path="toy_data/ones", mode="a")[1, 1] = 2
    repo_a.commit("A rewrites chunk (0, 0)")
    with pytest.raises(ic.RebaseFailedError) as e:
        repo_b.commit("B rewrites chunk (0, 0)", rebase_with=ic.ConflictDetector())
    (c,) = e.value.conflicts
    assert c.conflict_type == ic.ConflictType.ChunkDoubleUpdate
    assert c.path == "/toy_data/ones" and c.conflicted_chunks == [[0, 0]]
