"""Stopping library calls: the C interface's cancellation tokens
(icechunk.h, "Cancellation") behind the ``*_async`` twins, which stop their
call when their task is cancelled, and behind the blocking calls that wait
for storage, which stop on Ctrl-C (KeyboardInterrupt) in the main thread.

A token is bound to the thread that makes the calls; a scope here is a
token's life on one call's thread, and cancelling the scope from any other
thread triggers it. A call stopped that way raises
:class:`~icechunk_go.errors.OperationCancelledError`, which the wrappers
below turn back into the cancellation that caused it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from . import _ffi

T = TypeVar("T")

_bound = threading.local()  # .token: the handle bound to this thread, 0 if none


class Scope:
    """One call's token. :meth:`run` makes it on the calling thread, binds
    it around the call and frees it after; :meth:`cancel`, from any thread,
    triggers it, or marks the scope so that a call not started yet is
    stopped as soon as it starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token = 0
        self._cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._token:
                _ffi.call(_ffi.lib.ic_cancel_trigger, self._token)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        token = _ffi.handle_result(_ffi.lib.ic_cancel_new)
        with self._lock:
            self._token = token
            if self._cancelled:
                _ffi.call(_ffi.lib.ic_cancel_trigger, token)
        outer = getattr(_bound, "token", 0)
        _ffi.call(_ffi.lib.ic_cancel_bind, token)
        _bound.token = token
        try:
            return fn(*args, **kwargs)
        finally:
            _ffi.call(_ffi.lib.ic_cancel_bind, outer)
            _bound.token = outer
            with self._lock:
                self._token = 0
            _ffi.call_noerr(_ffi.lib.ic_cancel_free, token)


def interruptible(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` (a blocking method that waits for storage), stopped by Ctrl-C:
    in the main thread it runs on a thread of its own while the main thread
    waits, so that a KeyboardInterrupt arrives at once, stops the call, and
    is raised when the call has returned. Elsewhere (and inside another
    such call) ``fn`` runs as it is."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        if threading.current_thread() is not threading.main_thread() or getattr(_bound, "token", 0):
            return fn(*args, **kwargs)
        scope = Scope()
        result: list[Any] = []
        failure: list[BaseException] = []
        done = threading.Event()

        def work() -> None:
            try:
                result.append(scope.run(fn, *args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
                failure.append(e)
            finally:
                done.set()

        threading.Thread(target=work, name=f"icechunk_go {fn.__name__}", daemon=True).start()
        try:
            # Short waits: a signal that another thread received is only
            # acted on when the main thread returns to the interpreter.
            while not done.wait(0.05):
                pass
        except KeyboardInterrupt:
            scope.cancel()
            done.wait()
            raise
        if failure:
            raise failure[0]
        return result[0]

    return run
