"""Checks of the integer settings the configuration classes take."""

from __future__ import annotations

from typing import Any


def check_int(value: Any, what: str, low: int = 0, high: int | None = None, *, optional: bool = True) -> None:
    """Raises ValueError naming ``what`` unless value is an int (not a
    bool) from low to high (inclusive; None: no upper bound), or None when
    optional."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else ("positive" if low == 1 else "non-negative") + " int"
        kind = f"an int {bound}" if high is not None else f"a {bound}"
        raise ValueError(f"{what} must be {kind}{' or None' if optional else ''}, got {value!r}")
