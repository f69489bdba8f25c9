"""Fixtures shared by the tests of icechunk_go."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import icechunk_go as ic

# Bounded property tests: the whole suite must stay quick on two cores.
settings.register_profile(
    "icechunk_go",
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "25")),
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
    database=None,  # no .hypothesis folder in the working tree
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "icechunk_go"))


@pytest.fixture(params=["memory", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ic.Storage:
    """A fresh storage, in memory and on local disk."""
    if request.param == "memory":
        return ic.in_memory_storage()
    return ic.local_filesystem_storage(tmp_path / "repo")


@pytest.fixture(params=["memory", "local"])
def storage_root(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ic.Storage, Path | None]:
    """A fresh storage, in memory and on local disk, with the folder of the
    local one (None in memory), for tests that look at its files."""
    if request.param == "memory":
        return ic.in_memory_storage(), None
    root = tmp_path / "repo"
    return ic.local_filesystem_storage(root), root


@pytest.fixture
def repo(storage: ic.Storage) -> ic.Repository:
    """A new repository, in memory and on local disk."""
    return ic.Repository.create(storage)


@pytest.fixture
def local_repo(tmp_path: Path) -> ic.Repository:
    """A new repository on local disk (for tests that cross processes)."""
    return ic.Repository.create(ic.local_filesystem_storage(tmp_path / "repo"))


@pytest.fixture
def mem_repo() -> ic.Repository:
    """A new repository in memory."""
    return ic.Repository.create(ic.in_memory_storage())


@pytest.fixture
def no_leaks() -> Iterator[Callable[[], None]]:
    """Yields a function checking that the library holds no more handles or
    buffers than when the test started (after a garbage collection)."""
    import gc

    gc.collect()
    before = ic._ffi.live_objects()

    def check() -> None:
        gc.collect()
        after = ic._ffi.live_objects()
        assert after[1] <= before[1], f"buffers leaked: {before} -> {after}"
        assert after[0] <= before[0], f"handles leaked: {before} -> {after}"

    yield check


@pytest.fixture
def silent_server() -> Iterator[str]:
    """The endpoint URL of a server that accepts connections and never
    reads or answers: a hung S3 server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # read nothing, answer nothing

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    t.join()
    for conn in held:
        conn.close()
