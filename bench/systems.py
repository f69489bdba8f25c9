"""The systems compared, behind one small interface.

Every workload is written once, against zarr-python, and runs unchanged
against each system; only how a store is obtained and how changes are made
durable differ:

- ``icechunk_go``  this project (Go engine, ctypes binding);
- ``icechunk``     upstream Icechunk from PyPI (Rust engine, pyo3 binding);
- ``localstore``   zarr's own ``LocalStore``: no versions, no commits, the
                   practical limit for local writes.

The two versioned systems expose the same Python names (the binding mirrors
upstream's API), so one adapter serves both; only the module differs. Both
are used with their default repository configuration: what a user gets.

A *location* is a plain dict, so that it crosses process boundaries as
JSON: ``{"kind": "local", "path": ...}`` or ``{"kind": "s3", "endpoint":
..., "bucket": ..., "prefix": ..., "access_key": ..., "secret_key": ...,
"region": ...}``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from typing import Any

SYSTEMS = ("icechunk_go", "icechunk", "localstore")
VERSIONED = ("icechunk_go", "icechunk")

LABELS = {
    "icechunk_go": "icechunk_go",
    "icechunk": "icechunk (upstream)",
    "localstore": "zarr LocalStore",
}


def available(name: str) -> tuple[bool, str]:
    """Whether a system can run here, and its version (or why not)."""
    try:
        if name == "localstore":
            import zarr

            return True, f"zarr {zarr.__version__}"
        mod = importlib.import_module(name)
        version = getattr(mod, "__version__", "?")
        if name == "icechunk_go":
            with contextlib.suppress(Exception):  # informational only
                version = f"{version} (lib {mod.library_version()})"
        return True, str(version)
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        return False, f"{type(e).__name__}: {e}"


def native_library(name: str) -> str | None:
    """The file of the system's native library (None for LocalStore), once
    the system imports."""
    if name == "icechunk_go":
        from icechunk_go import _ffi

        return str(_ffi.library_path())
    if name == "icechunk":
        from icechunk import _icechunk_python

        return str(_icechunk_python.__file__)
    return None


class Handle:
    """A store to use with zarr, and how to make its changes durable."""

    def __init__(self, store: Any, session: Any = None, repo: Any = None, mod: Any = None) -> None:
        self.store = store
        self.session = session
        self.repo = repo
        self.mod = mod

    def commit(self, message: str) -> str | None:
        if self.session is None:
            return None  # LocalStore: every write is already in place
        return self.session.commit(message)

    def commit_rebasing(self, message: str, tries: int = 1000) -> str | None:
        if self.session is None:
            return None
        return self.session.commit(message, rebase_with=self.mod.BasicConflictSolver(), rebase_tries=tries)


class System:
    def __init__(self, name: str) -> None:
        if name not in SYSTEMS:
            raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
        self.name = name
        self.versioned = name in VERSIONED
        self._mod: Any = None

    @property
    def mod(self) -> Any:
        if self._mod is None:
            self._mod = importlib.import_module("zarr.storage" if self.name == "localstore" else self.name)
        return self._mod

    # --- storage -------------------------------------------------------------

    def _storage(self, loc: dict[str, Any]) -> Any:
        m = self.mod
        if loc["kind"] == "local":
            return m.local_filesystem_storage(loc["path"])
        if loc["kind"] == "s3":
            return m.s3_storage(
                bucket=loc["bucket"],
                prefix=loc["prefix"],
                region=loc.get("region", "us-east-1"),
                endpoint_url=loc["endpoint"],
                allow_http=True,
                force_path_style=True,
                access_key_id=loc["access_key"],
                secret_access_key=loc["secret_key"],
            )
        raise ValueError(f"unknown location kind {loc['kind']!r}")

    def _localstore(self, loc: dict[str, Any], read_only: bool) -> Any:
        if loc["kind"] != "local":
            raise ValueError("LocalStore runs on local disk only")
        return self.mod.LocalStore(loc["path"], read_only=read_only)

    # --- the four ways a workload gets a store --------------------------------

    def create(self, loc: dict[str, Any]) -> Handle:
        """A new, empty repository (or folder) at loc, and a writable store on it."""
        if not self.versioned:
            return Handle(self._localstore(loc, read_only=False))
        repo = self.mod.Repository.create(self._storage(loc))
        session = repo.writable_session("main")
        return Handle(session.store, session, repo, self.mod)

    def open_repo(self, loc: dict[str, Any]) -> Any:
        """The repository at loc (None for LocalStore)."""
        if not self.versioned:
            return None
        return self.mod.Repository.open(self._storage(loc))

    def writable(self, loc: dict[str, Any], repo: Any = None) -> Handle:
        """A writable store on the tip of main."""
        if not self.versioned:
            return Handle(self._localstore(loc, read_only=False))
        repo = repo if repo is not None else self.open_repo(loc)
        session = repo.writable_session("main")
        return Handle(session.store, session, repo, self.mod)

    def readonly(self, loc: dict[str, Any]) -> Handle:
        """A read-only store on the tip of main."""
        if not self.versioned:
            return Handle(self._localstore(loc, read_only=True))
        repo = self.open_repo(loc)
        session = repo.readonly_session(branch="main")
        return Handle(session.store, None, repo, self.mod)

    def commit_count(self, loc: dict[str, Any]) -> int | None:
        """How many snapshots main's history holds (None for LocalStore)."""
        if not self.versioned:
            return None
        repo = self.open_repo(loc)
        return sum(1 for _ in repo.ancestry(branch="main"))
