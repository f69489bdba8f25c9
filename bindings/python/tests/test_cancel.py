"""Stopping library calls: an ``*_async`` call whose task is cancelled, and a
blocking call interrupted by Ctrl-C, stop waiting on a server that never
answers (which would otherwise take the transport's timeouts, a minute
per try), and release what they held."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time

import numpy as np
import pytest
import zarr

import icechunk_go as ic
from icechunk_go import _cancel, _ffi


@pytest.fixture
def silent_storage(silent_server: str) -> ic.Storage:
    """An S3 storage whose server accepts connections and never answers."""
    return ic.s3_storage(
        bucket="silent",
        prefix="repo",
        endpoint_url=silent_server,
        allow_http=True,
        force_path_style=True,
        access_key_id="key",
        secret_access_key="secret",
    )


def _wait_for_handles(want: int) -> int:
    """The live handle count once the library's threads have let go (a
    stopped call's thread returns shortly after its task was cancelled)."""
    deadline = time.monotonic() + 10
    while True:
        handles, _ = _ffi.live_objects()
        if handles <= want or time.monotonic() > deadline:
            return handles


def test_cancelled_task_stops_its_call(silent_storage: ic.Storage) -> None:
    before, _ = _ffi.live_objects()
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(asyncio.TimeoutError):
            loop.run_until_complete(asyncio.wait_for(ic.Repository.open_async(silent_storage), 0.3))
    finally:
        loop.close()  # without waiting for the call's thread
    # The stopped call returned and its thread freed its token (and opened
    # nothing): a call that went on waiting would hold its token.
    assert _wait_for_handles(before) == before


def test_ctrl_c_stops_a_blocking_call(silent_storage: ic.Storage) -> None:
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            ic.Repository.exists(silent_storage)
    finally:
        timer.cancel()
    took = time.monotonic() - t0
    assert 0.25 < took < 5, took


def test_stopped_call_raises_operation_cancelled(silent_storage: ic.Storage) -> None:
    """On the call's own thread, what the library raises: the cancellation
    error, with the library's message."""
    scope = _cancel.Scope()
    scope.cancel()  # before the call starts: it stops when it would wait
    with pytest.raises(ic.OperationCancelledError, match="cancelled") as info:
        scope.run(ic.Repository.exists, silent_storage)
    assert info.value.code == _ffi.IC_ERR_CANCELLED
    # The thread is unbound again: a call that waits for nothing works.
    assert ic.Repository.exists(ic.in_memory_storage()) is False


def test_calls_under_a_scope_run_as_usual(silent_storage: ic.Storage) -> None:
    """An async twin whose task runs to the end: nothing is stopped, and a
    scope nested in another restores the outer token."""
    storage = ic.in_memory_storage()

    async def work() -> str:
        repo = await ic.Repository.create_async(storage)
        session = repo.writable_session("main")
        root = zarr.open_group(session.store, mode="w")
        root.create_array("a", shape=(4,), chunks=(2,), dtype="i4")[:] = np.arange(4)
        return await session.commit_async("under a token")

    snap = asyncio.run(work())
    repo = ic.Repository.open(storage)
    assert repo.lookup_branch("main") == snap

    outer = _cancel.Scope()
    inner = _cancel.Scope()

    def nested() -> bool:
        inner.run(lambda: None)
        outer.cancel()  # the outer token is bound again: this call stops
        return ic.Repository.exists(silent_storage)

    with pytest.raises(ic.OperationCancelledError):
        outer.run(nested)
