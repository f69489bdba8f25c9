"""Helpers of the garbage collection and expiry tests: a repository's files
on local disk, and its array read back at a snapshot."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import zarr

import icechunk_go as ic

ARRAY = "data/a"  # the array the tests' histories write


def files(root: Path | None) -> dict[str, tuple[str, int]]:
    """Every file under root: relative path -> (sha256 of its contents, size);
    empty for a repository in memory (root None)."""
    if root is None:
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            out[p.relative_to(root).as_posix()] = (hashlib.sha256(data).hexdigest(), len(data))
    return out


def read(repo: ic.Repository, snapshot_id: str) -> np.ndarray:
    """The whole array at a snapshot."""
    session = repo.readonly_session(snapshot_id=snapshot_id)
    return zarr.open_array(session.store, path=ARRAY, mode="r")[:]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
