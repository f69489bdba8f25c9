"""The ``*_async`` twins of blocking methods, as upstream Icechunk has them:
the same call run on a worker thread, so that an event loop keeps running
while the library talks to storage (library calls release the GIL).
Cancelling the task (``task.cancel()``, ``asyncio.wait_for``'s timeout)
stops the library call too (see _cancel.py)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from ._cancel import Scope


def on_thread(fn: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The coroutine function running ``fn`` (a plain function or method) on
    a thread with the same arguments; its result and exceptions are
    ``fn``'s."""

    @functools.wraps(fn)
    async def run(*args: Any, **kwargs: Any) -> Any:
        scope = Scope()
        try:
            return await asyncio.to_thread(scope.run, fn, *args, **kwargs)
        except asyncio.CancelledError:
            scope.cancel()  # the thread's call stops, its error unheard
            raise

    run.__name__ = run.__qualname__ = f"{fn.__name__}_async"
    run.__doc__ = f"As :meth:`{fn.__name__}`, run on a thread so that the event loop is not blocked."
    return run
