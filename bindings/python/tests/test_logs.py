"""The library's diagnostic log: set_logs_filter and ICECHUNK_LOG."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
import zarr

import icechunk_go as ic


@pytest.fixture(autouse=True)
def restore_filter() -> Iterator[None]:
    before = ic.set_logs_filter("warn")
    ic.set_logs_filter(before)
    yield
    ic.set_logs_filter(before)


def commit_something(storage: ic.Storage) -> str:
    repo = ic.Repository.create(storage)
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    arr = root.create_array("a", shape=(4,), chunks=(2,), dtype="i4")
    arr[:] = np.arange(4)
    return session.commit("logged")


def test_engine_lines_at_info(storage: ic.Storage, capfd: pytest.CaptureFixture[str]) -> None:
    ic.set_logs_filter("engine=info")
    snap = commit_something(storage)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "msg=committed" in line]
    assert len(lines) == 1, err
    assert "level=INFO" in lines[0] and "component=engine" in lines[0]
    assert "branch=main" in lines[0] and f"snapshot={snap}" in lines[0]
    assert "component=storage" not in err


def test_storage_requests_at_debug(storage: ic.Storage, capfd: pytest.CaptureFixture[str]) -> None:
    ic.set_logs_filter("storage=debug,engine=off")
    commit_something(storage)
    err = capfd.readouterr().err
    requests = [line for line in err.splitlines() if "msg=request" in line]
    assert any('op="put if absent" key=snapshots/' in line for line in requests), err
    assert any("op=put key=manifests/" in line for line in requests), err
    assert all("took=" in line for line in requests)
    # Each line names the store it went to.
    assert all(f" store={storage.describe()} " in line for line in requests), err
    assert "component=engine" not in err


def test_upstream_filter_values(storage: ic.Storage, capfd: pytest.CaptureFixture[str]) -> None:
    """A value written for upstream Icechunk's ICECHUNK_LOG works here."""
    ic.set_logs_filter("icechunk=info,icechunk::storage=trace,icechunk::session=off")
    commit_something(storage)
    err = capfd.readouterr().err
    assert "component=storage" in err and "level=DEBUG" in err, err
    assert "component=engine" not in err, err


def test_off_and_default_are_silent(capfd: pytest.CaptureFixture[str]) -> None:
    for quiet in ("off", "warn", ""):
        ic.set_logs_filter(quiet)
        commit_something(ic.in_memory_storage())
        assert capfd.readouterr().err == "", quiet


def test_overlapping_forks_warn_by_default(capfd: pytest.CaptureFixture[str]) -> None:
    """Forks that wrote the same chunk merge with the last one winning, as
    upstream's do; under the default filter that is said on stderr, since
    writes not aligned to chunks lose data that way."""
    ic.set_logs_filter("warn")
    repo = ic.Repository.create(ic.in_memory_storage())
    s = repo.writable_session("main")
    zarr.open_group(s.store, mode="w").create_array("a", shape=(4,), chunks=(2,), dtype="i4")
    s.commit("the array")
    s = repo.writable_session("main")
    forks = [s.fork() for _ in range(2)]
    zarr.open_array(forks[0].store, path="a")[0:2] = [1, 1]
    zarr.open_array(forks[1].store, path="a")[1:3] = [2, 2]  # chunk 0 again, not aligned
    capfd.readouterr()
    s.merge(*forks)
    err = capfd.readouterr().err
    assert "level=WARN" in err and "a merged fork replaced chunks" in err and "chunks=1" in err, err
    assert zarr.open_array(s.store, path="a", mode="r")[:].tolist() == [0, 2, 2, 0]


def test_returns_the_filter_it_replaces() -> None:
    ic.set_logs_filter("debug")
    assert ic.set_logs_filter("storage=info , engine=debug") == "debug"
    assert ic.set_logs_filter("off") == "storage=info , engine=debug"


def test_a_bad_filter_names_its_fault_and_changes_nothing() -> None:
    ic.set_logs_filter("info")
    with pytest.raises(ic.InvalidArgumentError, match='unknown level "loud"'):
        ic.set_logs_filter("storage=loud")
    with pytest.raises(ic.InvalidArgumentError, match=r'unknown component "network".*components: storage, engine'):
        ic.set_logs_filter("network=debug")
    assert ic.set_logs_filter("off") == "info"


def test_none_reads_the_environment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICECHUNK_LOG", "engine=debug")
    ic.set_logs_filter(None)
    assert ic.set_logs_filter("off") == "engine=debug"
    monkeypatch.delenv("ICECHUNK_LOG")
    ic.set_logs_filter(None)
    assert ic.set_logs_filter("off") == "warn"
    # upstream's name for the same
    monkeypatch.setenv("ICECHUNK_LOG", "storage=info")
    ic.initialize_logs()
    assert ic.set_logs_filter("off") == "storage=info"
    monkeypatch.setenv("ICECHUNK_LOG", "storage=loud")
    with pytest.raises(ic.InvalidArgumentError, match="loud"):
        ic.initialize_logs()
    monkeypatch.delenv("ICECHUNK_LOG")
    ic.set_logs_filter(None)


SCRIPT = """
import numpy as np, zarr, icechunk_go as ic
repo = ic.Repository.create(ic.in_memory_storage())
s = repo.writable_session("main")
zarr.open_group(s.store, mode="w").create_array("a", shape=(2,), chunks=(2,), dtype="i4")[:] = 1
s.commit("from a child")
"""


def run_child(log: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ICECHUNK_LOG=log)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)


def test_icechunk_log_at_start() -> None:
    child = run_child("engine=info")
    assert child.returncode == 0, child.stderr
    assert "msg=committed" in child.stderr and "branch=main" in child.stderr


def test_an_invalid_icechunk_log_is_reported_once_and_ignored() -> None:
    child = run_child("engine=chatty")
    assert child.returncode == 0, child.stderr
    lines = child.stderr.splitlines()
    assert len(lines) == 1, child.stderr
    assert lines[0].startswith("icechunk: ignoring ICECHUNK_LOG:") and 'unknown level "chatty"' in lines[0]
