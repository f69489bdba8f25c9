"""The repository, session and error API of icechunk_go."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

import icechunk_go as ic


def write_array(session: ic.Session, path: str = "a", value: float = 1.0, shape=(4, 4), chunks=(2, 2)) -> zarr.Array:
    root = zarr.open_group(session.store, mode="a")
    if path in root:
        arr = root[path]
    else:
        arr = root.create_array(path, shape=shape, chunks=chunks, dtype="f8", fill_value=np.nan)
    arr[:] = value
    return arr


def read_array(session: ic.Session, path: str = "a") -> np.ndarray:
    return zarr.open_array(session.store, path=path, mode="r")[:]


# --- repositories ----------------------------------------------------------------


def test_create_open_exists(storage: ic.Storage) -> None:
    assert not ic.Repository.exists(storage)
    with pytest.raises(ic.RepositoryNotFoundError):
        ic.Repository.open(storage)
    repo = ic.Repository.create(storage)
    assert ic.Repository.exists(storage)
    with pytest.raises(ic.RepositoryExistsError):
        ic.Repository.create(storage)
    again = ic.Repository.open_or_create(storage)
    assert again.list_branches() == {"main"}
    assert ic.Repository.open(storage).lookup_branch("main") == repo.lookup_branch("main")
    assert repr(repo).startswith("<icechunk_go.Repository ")


def test_local_storage_creates_its_folder_on_the_first_write(tmp_path: Path) -> None:
    """Looking for a repository at a mistyped path leaves no folders behind;
    creating one makes the folder and its parents."""
    path = tmp_path / "typo" / "repo"
    storage = ic.local_filesystem_storage(path)
    assert not ic.Repository.exists(storage)
    with pytest.raises(ic.RepositoryNotFoundError):
        ic.Repository.open(storage)
    assert ic.Repository.fetch_config(storage) is None
    assert list(tmp_path.iterdir()) == []
    repo = ic.Repository.create(storage)
    assert path.is_dir()
    assert ic.Repository.open(ic.local_filesystem_storage(path)).lookup_branch("main") == repo.lookup_branch("main")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ic.StorageError, match="not a directory"):
        ic.local_filesystem_storage(tmp_path / "file")


def test_local_reopening_holds_one_descriptor(tmp_path: Path) -> None:
    """Opening a repository through a new local storage again and again (a
    task each, or unpickling) shares one open root folder rather than
    holding one per storage until Go's collector runs."""
    path = tmp_path / "r"
    ic.Repository.create(ic.local_filesystem_storage(path))

    def held() -> int:
        n = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                n += os.readlink(f"/proc/self/fd/{fd}") == str(path)
            except OSError:
                pass  # closed meanwhile (the listing's own descriptor)
        return n

    repos = [ic.Repository.open(ic.local_filesystem_storage(path)) for _ in range(100)]
    assert all(r.list_branches() == {"main"} for r in repos)
    assert held() == 1


def test_config(storage: ic.Storage) -> None:
    cfg = ic.RepositoryConfig(inline_chunk_threshold_bytes=64)
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer("file:///data/", name="data"))
    repo = ic.Repository.create(storage, config=cfg)
    got = repo.config
    assert got.inline_chunk_threshold_bytes == 64
    assert got.virtual_chunk_containers == {"file:///data/": ic.VirtualChunkContainer("file:///data/", name="data")}
    repo.save_config(ic.RepositoryConfig(inline_chunk_threshold_bytes=128))
    assert ic.Repository.open(storage).config.inline_chunk_threshold_bytes == 128
    with pytest.raises(ic.InvalidArgumentError):
        repo.save_config(ic.RepositoryConfig(manifest_block_chunks=-1))


def test_library_metadata() -> None:
    assert ic.library_version() == "0.1.0"
    assert ic.ABI_VERSION == 1
    assert Path(ic.library_path()).is_file()


# --- branches, tags, history ---------------------------------------------------------


def test_branches_and_tags(repo: ic.Repository) -> None:
    init = repo.lookup_branch("main")
    s = repo.writable_session("main")
    write_array(s)
    first = s.commit("first")
    assert repo.lookup_branch("main") == first

    repo.create_branch("dev", init)
    assert repo.list_branches() == {"main", "dev"}
    assert repo.lookup_branch("dev") == init
    with pytest.raises(ic.BranchExistsError):
        repo.create_branch("dev", first)
    with pytest.raises(ic.BranchNotFoundError):
        repo.lookup_branch("nope")
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.create_branch("x", "1" * 19 + "0")
    with pytest.raises(ic.InvalidArgumentError):
        repo.create_branch(".bad", init)
    with pytest.raises(ic.InvalidArgumentError, match="without '/'"):
        repo.create_branch("a/b", init)
    repo.create_branch("nightly run+2", init)
    assert ic.Repository.open(repo.storage).lookup_branch("nightly run+2") == init
    repo.delete_branch("nightly run+2")

    repo.reset_branch("dev", first)
    assert repo.lookup_branch("dev") == first
    with pytest.raises(ic.ConflictError):
        repo.reset_branch("dev", init, from_snapshot_id=init)
    repo.reset_branch("dev", init, from_snapshot_id=first)
    repo.delete_branch("dev")
    assert repo.list_branches() == {"main"}

    repo.create_tag("v1", first)
    assert repo.list_tags() == {"v1"}
    assert repo.lookup_tag("v1") == first
    with pytest.raises(ic.TagExistsError):
        repo.create_tag("v1", init)
    repo.delete_tag("v1")
    assert repo.list_tags() == set()
    with pytest.raises(ic.TagNotFoundError):
        repo.lookup_tag("v1")
    with pytest.raises(ic.TagExistsError):  # deleted tag names are never reused
        repo.create_tag("v1", init)
    # the not-found errors are LookupErrors
    with pytest.raises(LookupError):
        repo.lookup_tag("never")


def test_ancestry_and_snapshot_info(repo: ic.Repository) -> None:
    ids = []
    for i in range(3):
        s = repo.writable_session("main")
        write_array(s, value=i)
        ids.append(s.commit(f"commit {i}", metadata={"i": i}))
    hist = list(repo.ancestry(branch="main"))
    assert [h.id for h in hist[:3]] == ids[::-1]
    assert [h.message for h in hist] == ["commit 2", "commit 1", "commit 0", "Repository initialized"]
    assert hist[0].parent_id == ids[1]
    assert hist[-1].parent_id is None
    assert hist[0].metadata == {"i": 2}
    assert hist[0].written_at.tzinfo is not None
    assert hist[0].written_at >= hist[1].written_at
    assert isinstance(hist[0], ic.SnapshotInfo)
    repo.create_tag("t", ids[1])
    assert [h.id for h in repo.ancestry(tag="t")][:2] == [ids[1], ids[0]]
    assert [h.id for h in repo.ancestry(snapshot_id=ids[0])][0] == ids[0]
    assert repo.lookup_snapshot(ids[2]) == hist[0]
    with pytest.raises(ValueError):
        list(repo.ancestry(branch="main", tag="t"))


def test_long_ancestry_pages(mem_repo: ic.Repository) -> None:
    # more than one page of ic_repo_ancestry_json
    root = zarr.open_group(mem_repo.writable_session("main").store, mode="a")
    del root
    for i in range(205):
        s = mem_repo.writable_session("main")
        zarr.open_group(s.store, mode="a").attrs["i"] = i
        s.commit(f"c{i}")
    hist = list(mem_repo.ancestry(branch="main"))
    assert len(hist) == 206
    assert hist[0].message == "c204" and hist[-1].parent_id is None
    assert len({h.id for h in hist}) == 206


def test_default_commit_metadata(repo: ic.Repository) -> None:
    repo.set_default_commit_metadata({"author": "ada", "team": "x"})
    assert repo.default_commit_metadata() == {"author": "ada", "team": "x"}
    s = repo.writable_session("main")
    write_array(s)
    sid = s.commit("with meta", metadata={"team": "y"})
    assert repo.lookup_snapshot(sid).metadata == {"author": "ada", "team": "y"}


def test_diff(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s, "a")
    zarr.open_group(s.store, mode="a").create_group("g")
    first = s.commit("first")
    s = repo.writable_session("main")
    arr = zarr.open_array(s.store, path="a", mode="a")
    arr[0:2, 0:2] = 5
    zarr.open_group(s.store, path="g", mode="a").attrs["x"] = 1
    second = s.commit("second")
    d = repo.diff(from_snapshot_id=first, to_branch="main")
    assert d.updated_chunks == {"/a": [[0, 0]]}
    assert d.updated_groups == {"/g"}
    assert not d.new_arrays
    assert str(d) == "Group definitions updated:\n    /g\n\nChunks updated:\n    /a:\n        [0, 0]\n"
    repo.create_tag("v2", second)
    assert repo.diff(from_snapshot_id=first, to_tag="v2") == d
    with pytest.raises(ic.IcechunkError) as e:
        repo.diff(from_branch="main", to_snapshot_id=first)  # not an ancestor
    assert e.value.code_name == "IC_ERR_BAD_SNAPSHOT_CHAIN"


# --- sessions ----------------------------------------------------------------------


def test_session_properties_and_status(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    assert s.branch == "main"
    assert not s.read_only and not s.is_fork
    assert not s.has_uncommitted_changes
    assert str(s.status()) == "No changes\n"
    assert s.status().is_empty()
    write_array(s)
    assert s.has_uncommitted_changes
    st = s.status()
    assert st.new_groups == {"/"} and st.new_arrays == {"/a"}
    assert sorted(st.updated_chunks["/a"]) == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert "Arrays created:\n    /a\n" in str(st)
    assert st.paths() == ["/", "/a"]
    base = s.snapshot_id
    s.discard_changes()
    assert not s.has_uncommitted_changes
    write_array(s)
    sid = s.commit("c")
    assert sid != base and s.snapshot_id == sid
    assert s.read_only
    with pytest.raises(ValueError, match="read-only"):
        write_array(s)
    with pytest.raises(ic.ReadOnlyError):
        s.store.set_sync("a/c/0/0", s.store.get_sync("a/c/0/0"))
    ro = repo.readonly_session(branch="main")
    assert ro.read_only and ro.branch is None and ro.snapshot_id == sid
    with pytest.raises(ic.NoChangesToCommitError):
        repo.writable_session("main").commit("nothing")
    with pytest.raises(ValueError):
        ro.store.with_read_only(False)


def test_time_travel(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s, value=1)
    first = s.commit("one")
    time.sleep(0.01)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    s = repo.writable_session("main")
    write_array(s, value=2)
    s.commit("two")
    repo.create_tag("one", first)
    assert (read_array(repo.readonly_session(branch="main")) == 2).all()
    assert (read_array(repo.readonly_session(snapshot_id=first)) == 1).all()
    assert (read_array(repo.readonly_session(snapshot_id=first.lower())) == 1).all()  # as upstream takes it
    assert (read_array(repo.readonly_session(tag="one")) == 1).all()
    assert (read_array(repo.readonly_session(branch="main", as_of=between)) == 1).all()
    assert repo.resolve("main", as_of=between) == first
    with pytest.raises(ValueError):
        repo.readonly_session(tag="one", as_of=between)
    with pytest.raises(TypeError, match="as_of must be a datetime.datetime, not str"):
        repo.readonly_session(branch="main", as_of=between.isoformat())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="snapshot_id must be a str, not NoneType"):
        repo.reset_branch("main", None)  # type: ignore[arg-type]
    # A naive time would be read differently in every time zone.
    with pytest.raises(ic.NaiveDatetimeError, match="as_of is a naive datetime"):
        repo.readonly_session(branch="main", as_of=between.replace(tzinfo=None))
    with pytest.raises(TypeError):
        repo.resolve("main", as_of=dt.datetime.now())
    # Times past the library's range: the tip, or before every commit.
    far = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
    assert repo.resolve("main", as_of=far) == repo.lookup_branch("main")
    with pytest.raises(ic.SnapshotNotFoundError):
        repo.resolve("main", as_of=dt.datetime(1, 1, 1, tzinfo=dt.UTC))


def test_wrong_solver_is_a_type_error(repo: ic.Repository) -> None:
    """A solver that is not one says so, before any work is done."""
    s = repo.writable_session("main")
    write_array(s)
    with pytest.raises(TypeError, match="solver must be a ConflictSolver .*, not str"):
        s.rebase("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rebase_with must be a ConflictSolver .*, not type"):
        s.commit("m", rebase_with=ic.ConflictDetector)  # type: ignore[arg-type]

    class Mine(ic.ConflictSolver):
        pass

    with pytest.raises(TypeError, match="rebase_with must be"):
        with repo.transaction("main", message="m", rebase_with=object()):  # type: ignore[arg-type]
            raise AssertionError("the block ran")
    with pytest.raises(NotImplementedError, match="Mine: conflict solvers written in Python are not supported"):
        s.rebase(Mine())
    s.commit("m")


def test_commit_conflict_and_rebase(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s, value=0)
    s.commit("init")
    a = repo.writable_session("main")
    b = repo.writable_session("main")
    zarr.open_array(a.store, path="a", mode="a")[0:2, 0:2] = 1
    zarr.open_array(b.store, path="a", mode="a")[2:4, 2:4] = 2
    tip = a.commit("a")
    with pytest.raises(ic.ConflictError) as e:
        b.commit("b")
    assert e.value.expected_parent == b.snapshot_id
    assert e.value.actual_parent == tip
    assert b.has_uncommitted_changes  # nothing lost
    b.rebase(ic.ConflictDetector())
    assert b.snapshot_id == tip
    b.commit("b")
    data = read_array(repo.readonly_session(branch="main"))
    assert (data[0:2, 0:2] == 1).all() and (data[2:4, 2:4] == 2).all() and (data[0:2, 2:4] == 0).all()


def test_rebase_failed_names_the_conflicts(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s, value=0)
    s.commit("init")
    a = repo.writable_session("main")
    b = repo.writable_session("main")
    zarr.open_array(a.store, path="a", mode="a")[0, 0] = 1
    zarr.open_array(b.store, path="a", mode="a")[0, 0] = 2
    theirs = a.commit("a wins")
    with pytest.raises(ic.RebaseFailedError) as e:
        b.rebase(ic.ConflictDetector())
    err = e.value
    assert err.snapshot == theirs
    assert len(err.conflicts) == 1
    c = err.conflicts[0]
    assert c.conflict_type == ic.ConflictType.ChunkDoubleUpdate
    assert c.path == "/a"
    assert c.conflicted_chunks == [[0, 0]]
    assert c.commit_id == theirs
    assert "/a" in str(c) and "a wins" in str(c)
    assert "/a" in str(err)
    # the solver settles it: ours, theirs, or fail
    with pytest.raises(ic.RebaseFailedError):
        b.rebase(ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.Fail))
    b.rebase(ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseTheirs))
    assert b.snapshot_id == theirs
    assert read_array(b)[0, 0] == 1  # their chunk won: our change is gone
    # ...and the session still commits, on top of theirs (as upstream's)
    assert b.has_uncommitted_changes
    tip = repo.lookup_branch("main")
    assert repo.lookup_snapshot(b.commit("superseded")).parent_id == tip
    # errors survive pickling (they cross process boundaries)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ic.RebaseFailedError and again.conflicts == err.conflicts


def test_commit_rebase_with(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s, value=0)
    s.commit("init")
    a = repo.writable_session("main")
    b = repo.writable_session("main")
    zarr.open_array(a.store, path="a", mode="a")[0, 0] = 1
    zarr.open_array(b.store, path="a", mode="a")[0, 0] = 2
    a.commit("a")
    b.commit("b", rebase_with=ic.BasicConflictSolver())  # ours wins by default
    assert read_array(repo.readonly_session(branch="main"))[0, 0] == 2
    assert [h.message for h in repo.ancestry(branch="main")][:3] == ["b", "a", "init"]


def test_solvers_repr_and_pickle() -> None:
    for s in (
        ic.ConflictDetector(),
        ic.BasicConflictSolver(on_chunk_conflict=ic.VersionSelection.UseTheirs, fail_on_delete_of_updated_group=True),
    ):
        again = pickle.loads(pickle.dumps(s))
        assert repr(again) == repr(s)
        assert isinstance(again, ic.ConflictSolver)


# --- pickling, fork and merge -----------------------------------------------------------


def test_pickling_policy(local_repo: ic.Repository) -> None:
    s = local_repo.writable_session("main")
    with pytest.raises(ic.SessionPicklingError, match=r"fork\(\)"):
        pickle.dumps(s)
    with pytest.raises(pickle.PicklingError):
        pickle.dumps(s.store)
    write_array(s)
    sid = s.commit("c")
    # a committed session is read-only: it pickles
    again = pickle.loads(pickle.dumps(s))
    assert again.snapshot_id == sid and again.read_only
    ro = local_repo.readonly_session(branch="main")
    ro2 = pickle.loads(pickle.dumps(ro))
    assert (read_array(ro2) == 1).all()
    assert pickle.loads(pickle.dumps(ro.store)) == ro.store
    assert pickle.loads(pickle.dumps(local_repo)).lookup_branch("main") == sid


def test_fork_and_merge_in_process(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(8,), chunks=(2,), dtype="i4", fill_value=-1)
    s.commit("create")
    s = repo.writable_session("main")
    assert type(s) is ic.Session and isinstance(s.fork(), ic.ForkSession)
    forks = [pickle.loads(pickle.dumps(s.fork())) for _ in range(4)]
    for i, f in enumerate(forks):
        assert f.is_fork and isinstance(f, ic.ForkSession) and isinstance(f, ic.Session)
        zarr.open_array(f.store, path="a", mode="a")[2 * i : 2 * i + 2] = i
    with pytest.raises(ic.IcechunkError):
        forks[0].commit("forks cannot commit")
    s.merge(*forks)
    assert s.has_uncommitted_changes
    s.commit("merged")
    assert read_array(repo.readonly_session(branch="main"), "a").tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_fork_refused_with_changes(repo: ic.Repository) -> None:
    s = repo.writable_session("main")
    write_array(s)
    with pytest.raises(ic.InvalidArgumentError, match="uncommitted"):
        s.fork()


def test_memory_storage_stays_in_process(mem_repo: ic.Repository) -> None:
    ro = mem_repo.readonly_session(branch="main")
    data = pickle.dumps(ro)
    assert pickle.loads(data).snapshot_id == ro.snapshot_id  # same process: fine
    code = (
        "import pickle, sys\n"
        "import icechunk_go as ic\n"
        "try:\n"
        "    pickle.loads(sys.stdin.buffer.read())\n"
        "except ic.IcechunkError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    assert b"refused: an in-memory storage cannot be used outside the process" in out.stdout


# --- errors and the library boundary ---------------------------------------------------------


def test_error_classes() -> None:
    assert issubclass(ic.ReadOnlyError, ValueError)
    assert issubclass(ic.InvalidKeyError, ValueError)
    assert issubclass(ic.NotFoundError, LookupError)
    assert issubclass(ic.StorageError, OSError)
    for cls in (
        ic.ConflictError,
        ic.RebaseFailedError,
        ic.NotFoundError,
        ic.ReadOnlyError,
        ic.InvalidKeyError,
        ic.CorruptObjectError,
        ic.StorageError,
    ):
        assert issubclass(cls, ic.IcechunkError)


def test_nul_in_names_is_refused(repo: ic.Repository) -> None:
    with pytest.raises(ic.InvalidArgumentError):
        repo.lookup_branch("ma\x00in")


def test_corrupt_object(tmp_path: Path) -> None:
    storage = ic.local_filesystem_storage(tmp_path / "r")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    write_array(s)
    sid = s.commit("c")
    # damage every snapshot file on disk
    damaged = 0
    for f in (tmp_path / "r").rglob("*"):
        if f.is_file() and sid in f.name:
            f.write_bytes(b"garbage" * 10)
            damaged += 1
    assert damaged
    fresh = ic.Repository.open(ic.local_filesystem_storage(tmp_path / "r"))
    with pytest.raises(ic.CorruptObjectError):
        read_array(fresh.readonly_session(snapshot_id=sid))


def test_truncated_chunk_object_is_corrupt(tmp_path: Path) -> None:
    """A chunk object cut short (a damaged disk, a partial copy) is a
    CorruptObjectError naming the key, not a bad argument of the reader."""
    storage = ic.local_filesystem_storage(tmp_path / "r")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(2, 1000), chunks=(1, 1000), dtype="f8", compressors=None)
    arr[:] = 1.0
    s.commit("c")
    for f in (tmp_path / "r" / "chunks").iterdir():
        with open(f, "r+b") as fh:
            fh.truncate(100)
    fresh = ic.Repository.open(ic.local_filesystem_storage(tmp_path / "r")).readonly_session("main")
    with pytest.raises(ic.CorruptObjectError, match=r'"a/c/0/0": chunk object \w+ is shorter than its reference says'):
        zarr.open_array(fresh.store, path="a", mode="r")[:]


def test_corrupt_branch_head_hides_no_other_branch(tmp_path: Path) -> None:
    """A branch whose newest log entry is damaged is still listed, and
    using it names the damage; a damaged main still lets the repository
    open and its other branches and tags read."""
    storage = ic.local_filesystem_storage(tmp_path / "r")
    repo = ic.Repository.create(storage)
    s = repo.writable_session("main")
    write_array(s)
    tip = s.commit("c")
    repo.create_branch("dev", tip)
    repo.create_tag("v1", tip)

    def damage(branch: str) -> None:
        # Slots count down in the key names: the head sorts first.
        head = sorted((tmp_path / "r" / "refs" / f"branch.{branch}").iterdir())[0]
        head.write_bytes(b"garbage" * 10)

    damage("dev")
    fresh = ic.Repository.open(ic.local_filesystem_storage(tmp_path / "r"))
    assert fresh.list_branches() == {"main", "dev"}
    with pytest.raises(ic.CorruptObjectError, match='branch "dev"'):
        fresh.lookup_branch("dev")
    damage("main")
    fresh = ic.Repository.open(ic.local_filesystem_storage(tmp_path / "r"))
    assert fresh.list_branches() == {"main", "dev"}
    assert fresh.lookup_tag("v1") == tip
    with pytest.raises(ic.CorruptObjectError, match='branch "main"'):
        fresh.readonly_session("main")

    # The repair: a reset without from_snapshot_id writes a new head after
    # the damaged entry, a delete writes the tombstone; a reset that names
    # the tip it expects cannot compare it and refuses.
    with pytest.raises(ic.CorruptObjectError):
        fresh.reset_branch("main", tip, from_snapshot_id=tip)
    fresh.reset_branch("main", tip)
    fresh.delete_branch("dev")
    again = ic.Repository.open(ic.local_filesystem_storage(tmp_path / "r"))
    assert again.list_branches() == {"main"}
    assert again.lookup_branch("main") == tip
    s = again.writable_session("main")
    zarr.open_array(s.store, path="a", mode="a")[0, 0] = 7
    s.commit("after the repair")
    assert [a.message for a in again.ancestry(branch="main")][:2] == ["after the repair", "c"]


def test_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ic.IcechunkError) as e:
        ic.Repository.create(ic.local_filesystem_storage(blocker / "repo"))
    assert isinstance(e.value, ic.StorageError | ic.InvalidArgumentError)


def test_no_leaks(repo: ic.Repository, no_leaks) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        s = repo.writable_session("main")
        arr = write_array(s)
        _ = arr[:]
        s.status()
        list(repo.ancestry(branch="main"))
        s.commit("c")
        ro = repo.readonly_session(branch="main")
        pickle.loads(pickle.dumps(ro))
        with pytest.raises(ic.IcechunkError):
            repo.lookup_branch("nope")
        del s, arr, ro
    ic.session._repo_cache.clear()  # repositories kept open for unpickling
    no_leaks()


def test_threads_share_a_session(mem_repo: ic.Repository) -> None:
    from concurrent.futures import ThreadPoolExecutor

    s = mem_repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(64, 64), chunks=(8, 8), dtype="i4")

    def write(i: int) -> None:
        arr[i * 8 : (i + 1) * 8, :] = i

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    s.commit("threads")
    got = read_array(mem_repo.readonly_session(branch="main"), "a")
    assert (got == np.repeat(np.arange(8), 8)[:, None]).all()


def test_fork_after_load_is_refused() -> None:
    code = (
        "import os, sys\n"
        "import icechunk_go as ic\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    try:\n"
        "        ic.in_memory_storage()\n"
        "        os._exit(1)\n"
        "    except RuntimeError as e:\n"
        "        os._exit(0 if 'spawn' in str(e) else 2)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_library_override_and_abi_check(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-c", "import icechunk_go"],
        env={"ICECHUNK_GO_LIB": str(tmp_path / "nope.so"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "ICECHUNK_GO_LIB" in missing.stderr
    import shutil

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a library of another ABI version")
    src = tmp_path / "fake.c"
    src.write_text("unsigned int ic_abi_version(void) { return 999; }\n")
    lib = tmp_path / "libicechunk.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    wrong = subprocess.run(
        [sys.executable, "-c", "import icechunk_go"],
        env={"ICECHUNK_GO_LIB": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0
    assert "ABI version 999" in wrong.stderr and "needs ABI version 1" in wrong.stderr


def test_virtual_chunks(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    raw = np.arange(8, dtype="<i4")
    (data_dir / "blob.bin").write_bytes(b"HEADER__" + raw.tobytes())
    cfg = ic.RepositoryConfig()
    cfg.set_virtual_chunk_container(ic.VirtualChunkContainer(f"file://{data_dir}/", name="data"))
    repo = ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"), cfg)
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="v", shape=(8,), chunks=(4,), dtype="<i4", compressors=None, fill_value=0)
    loc = f"file://{data_dir}/blob.bin"
    s.set_virtual_ref("/v", (0,), loc, offset=8, length=16)
    s.set_virtual_ref("/v", (1,), loc, offset=24, length=16)
    s.commit("virtual")
    got = zarr.open_array(repo.readonly_session(branch="main").store, path="v", mode="r")[:]
    np.testing.assert_array_equal(got, raw)
    # a location outside every container is refused
    s = repo.writable_session("main")
    with pytest.raises(ic.IcechunkError):
        s.set_virtual_ref("/v", (0,), f"file://{tmp_path}/elsewhere.bin", offset=0, length=16)
        zarr.open_array(s.store, path="v", mode="r")[:]


def test_close_and_context_managers(mem_repo: ic.Repository, no_leaks) -> None:  # type: ignore[no-untyped-def]
    with mem_repo.writable_session("main") as s:
        write_array(s)
        s.commit("c")
    with pytest.raises(ic.IcechunkError) as e:
        s.snapshot_id
    assert e.value.code_name == "IC_ERR_INVALID_HANDLE"
    s.close()  # a second close does nothing
    with ic.Repository.open(mem_repo.storage) as r:
        ro = r.readonly_session(branch="main")
    assert (read_array(ro) == 1).all()  # sessions outlive their repository handle
    ro.close()
    no_leaks()


def test_print_debug_info(capsys: pytest.CaptureFixture[str]) -> None:
    ic.print_debug_info()
    out = capsys.readouterr().out
    assert f"icechunk_go:  {ic.__version__}" in out
    assert f"libicechunk:  {ic.library_version()}" in out
    assert "format 1)" in out
    assert "zarr:  " in out and "python:  " in out


def test_spec_version() -> None:
    # docs/format.md: the format version every file's header carries
    assert ic.spec_version() == 1


def test_error_messages_say_what_fits(storage: ic.Storage) -> None:
    """Out-of-range settings, chunks outside the grid and closed handles
    are refused with messages that say what would have been right."""
    repo = ic.Repository.create(storage)
    with pytest.raises(ic.InvalidArgumentError, match=r"inline_chunk_threshold_bytes must be an int from 0 to 4294967295"):
        repo.save_config(ic.RepositoryConfig(inline_chunk_threshold_bytes=-1))
    cfg = ic.RepositoryConfig()
    cfg.snapshot_cache_bytes = -5  # set after construction: checked when used
    with pytest.raises(ic.InvalidArgumentError, match="snapshot_cache_bytes"):
        ic.Repository.open(storage, config=cfg)
    s = repo.writable_session("main")
    arr = zarr.create_array(s.store, name="a", shape=(4,), chunks=(2,), dtype="i4")
    with pytest.raises(ic.InvalidArgumentError, match=r"outside the chunk grid \[2\] of the array at \"/a\" \(shape \[4\], chunk shape \[2\]\)"):
        s.store.set_virtual_refs("a", [ic.VirtualChunkSpec(index=[7], location="file:///x", offset=0, length=4)], validate_containers=False)
    arr[:] = [1, 2, 3, 4]
    s.close()
    with pytest.raises(ic.IcechunkError, match=r"this session was closed"):
        s.status()
    repo.close()
    with pytest.raises(ic.IcechunkError, match=r"this repository was closed"):
        repo.list_branches()


def test_an_upstream_repository_is_refused_as_unsupported(tmp_path: Path) -> None:
    """A repository written by upstream Icechunk (installed beside this
    package) is refused as a format this library does not read, not
    opened and then reported corrupt, and nothing is created over it."""
    upstream = pytest.importorskip("icechunk")
    path = str(tmp_path / "upstream")
    repo = upstream.Repository.create(upstream.local_filesystem_storage(path))
    s = repo.writable_session("main")
    zarr.create_array(s.store, name="a", shape=(2,), chunks=(1,), dtype="i4")[:] = [1, 2]
    s.commit("upstream")
    storage = ic.local_filesystem_storage(path)
    for call in (ic.Repository.open, ic.Repository.exists, ic.Repository.create):
        with pytest.raises(ic.UnsupportedFormatVersionError, match="upstream Icechunk repository"):
            call(storage)
    # Still upstream's to read.
    again = upstream.Repository.open(upstream.local_filesystem_storage(path))
    assert zarr.open_array(again.readonly_session("main").store, path="a", mode="r")[:].tolist() == [1, 2]
