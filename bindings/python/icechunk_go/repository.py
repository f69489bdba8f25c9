"""Repositories: branches, tags, history, diffs and sessions."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import numbers
from collections.abc import AsyncIterator, Iterator, Mapping
from ctypes import byref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import _ffi
from ._aio import on_thread
from ._cancel import interruptible
from .config import RepositoryConfig
from .conflicts import ConflictSolver, _solver
from .credentials import S3Credentials, s3_anonymous_credentials, s3_from_env_credentials
from .diff import Diff
from .errors import InvalidArgumentError
from .session import Session, _dumps, _session_class
from .storage import Storage

if TYPE_CHECKING:
    from .store import IcechunkStore

__all__ = ["ChunkStorageStats", "GCSummary", "NaiveDatetimeError", "Repository", "SnapshotInfo"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


@dataclass(frozen=True)
class ManifestFileInfo:
    """One manifest file a snapshot lists (upstream's ``ManifestFileInfo``).

    Attributes
    ----------
    id : str
        The manifest id (20 characters).
    size_bytes : int
        The size of the stored (encoded) manifest.
    num_chunk_refs : int
        The chunk references it holds, inline and virtual ones included.
    """

    id: str
    size_bytes: int
    num_chunk_refs: int


@dataclass(frozen=True, repr=False)
class SnapshotInfo:
    """One snapshot (commit) of a repository.

    Attributes
    ----------
    id : str
        The snapshot id (20 characters).
    parent_id : str or None
        The previous snapshot; None for the repository's first.
    written_at : datetime.datetime
        When it was committed (UTC).
    message : str
        The commit message.
    metadata : dict
        The commit metadata.
    manifests : list of ManifestFileInfo
        The manifest files the snapshot's arrays refer to, sorted by id
        (empty before any chunk is written).
    """

    id: str
    parent_id: str | None
    written_at: _dt.datetime
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    manifests: list[ManifestFileInfo] = field(default_factory=list)

    def __repr__(self) -> str:
        # Upstream's text: the id quoted, the time as datetime's fields, the
        # message cut to ten characters.
        w = self.written_at
        when = f"datetime.datetime({w.year},{w.month},{w.day},{w.hour},{w.minute},{w.second},{w.microsecond}, "
        message = self.message if len(self.message) <= 10 else self.message[:10] + "..."
        return (
            f'SnapshotInfo(id="{self.id}", parent_id={self.parent_id}, '
            f'written_at={when}tzinfo=datetime.timezone.utc), message="{message}")'
        )

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> SnapshotInfo:
        nanos = d.get("written_at_unix_nanos")
        if nanos is not None:
            written = _EPOCH + _dt.timedelta(microseconds=int(nanos) // 1000)
        else:
            written = _dt.datetime.fromisoformat(str(d["written_at"]).replace("Z", "+00:00")[:26] + "+00:00")
        return cls(
            id=d["id"],
            parent_id=d.get("parent_id") or None,
            written_at=written,
            message=d.get("message", ""),
            metadata=dict(d.get("metadata") or {}),
            manifests=[
                ManifestFileInfo(id=m["id"], size_bytes=int(m["size_bytes"]), num_chunk_refs=int(m["num_chunk_refs"]))
                for m in d.get("manifests") or ()
            ],
        )


@dataclass(frozen=True)
class GCSummary:
    """What :meth:`Repository.garbage_collect` deleted (or, in a dry run,
    would delete).

    Attributes
    ----------
    snapshots_deleted : int
        Snapshots no branch or tag reaches.
    manifests_deleted : int
        Manifests no reachable snapshot lists.
    transaction_logs_deleted : int
        Transaction logs of the deleted snapshots.
    chunks_deleted : int
        Chunk objects no reachable manifest names (one object may hold
        many chunks).
    bytes_deleted : int
        The size of everything counted above.
    dry_run : bool
        True if nothing was deleted and the counts say what would be.
    attributes_deleted : int
        Upstream's count of attribute files; this format keeps attributes
        in snapshots, so it is always 0.
    """

    snapshots_deleted: int
    manifests_deleted: int
    transaction_logs_deleted: int
    chunks_deleted: int
    bytes_deleted: int
    dry_run: bool
    attributes_deleted: int = 0

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> GCSummary:
        return cls(
            snapshots_deleted=int(d["snapshots_deleted"]),
            manifests_deleted=int(d["manifests_deleted"]),
            transaction_logs_deleted=int(d["transaction_logs_deleted"]),
            chunks_deleted=int(d["chunks_deleted"]),
            bytes_deleted=int(d["bytes_deleted"]),
            dry_run=bool(d["dry_run"]),
        )


@dataclass(frozen=True)
class RepackSummary:
    """What :meth:`Repository.repack_chunks` did.

    Attributes
    ----------
    snapshot_id : str or None
        The commit's id; None when nothing was committed (no chunk object
        qualified, or a dry run).
    objects_repacked : int
        Chunk objects the branch's tip no longer uses.
    chunks_moved : int
        Chunks copied into new objects.
    bytes_moved : int
        Their size.
    bytes_freeable : int
        The repacked objects' size less the bytes moved: what
        :meth:`Repository.garbage_collect` frees once no branch or tag
        reaches a snapshot before the commit.
    dry_run : bool
        True if nothing was copied or committed and the counts say what a
        repack would do.
    """

    snapshot_id: str | None
    objects_repacked: int
    chunks_moved: int
    bytes_moved: int
    bytes_freeable: int
    dry_run: bool = False

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> RepackSummary:
        return cls(
            snapshot_id=d["snapshot_id"],
            objects_repacked=int(d["objects_repacked"]),
            chunks_moved=int(d["chunks_moved"]),
            bytes_moved=int(d["bytes_moved"]),
            bytes_freeable=int(d["bytes_freeable"]),
            dry_run=bool(d["dry_run"]),
        )


@dataclass(frozen=True)
class ChunkStorageStats:
    """The bytes of chunks that the branches and tags reach
    (:meth:`Repository.chunk_storage_stats`).

    Attributes
    ----------
    native_bytes : int
        Chunks in the repository's own chunk objects, each counted once
        however many snapshots share it.
    virtual_bytes : int
        Byte ranges of objects outside the repository that virtual
        references name, each distinct range counted once.
    inlined_bytes : int
        Chunks kept inside manifests, counted once per manifest.
    """

    native_bytes: int
    virtual_bytes: int
    inlined_bytes: int

    @property
    def total_bytes(self) -> int:
        """All three together."""
        return self.native_bytes + self.virtual_bytes + self.inlined_bytes

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> ChunkStorageStats:
        return cls(
            native_bytes=int(d["native_bytes"]),
            virtual_bytes=int(d["virtual_bytes"]),
            inlined_bytes=int(d["inlined_bytes"]),
        )


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class NaiveDatetimeError(TypeError, ValueError):
    """A time without a time zone, where one is needed (a maintenance
    cutoff, ``as_of``): a ``TypeError`` as upstream's, and a
    ``ValueError`` as this package raised before for cutoffs."""


def _cutoff_nanos(t: object, param: str) -> int:
    """Exact Unix nanoseconds of a timezone-aware datetime, for the cutoff of
    a maintenance operation (which must never be guessed: naive times are
    refused). ``param`` is the caller's parameter name, for the errors."""
    if not isinstance(t, _dt.datetime):
        raise TypeError(f"{param} must be a datetime.datetime, not {type(t).__name__}")
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{param} is a naive datetime; pass a timezone-aware datetime "
            "(for example datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=7)): "
            "a naive time is ambiguous, and what this cutoff drops cannot be restored"
        )
    n = _unix_nanos(t)
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise ValueError(f"{param} {t.isoformat()} is outside the years 1678-2262 the library takes")
    return n


def _unix_nanos(t: _dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000


def _version(
    branch: str | None = None,
    tag: str | None = None,
    snapshot_id: str | None = None,
    as_of: _dt.datetime | None = None,
    *,
    what: str = "version",
) -> _ffi.Version:
    given = [x for x in (branch, tag, snapshot_id) if x is not None]
    if len(given) != 1:
        raise ValueError(f"{what}: give exactly one of branch=, tag= or snapshot_id=")
    if as_of is not None and branch is None:
        raise ValueError(f"{what}: as_of= goes with branch=")
    if as_of is not None and not isinstance(as_of, _dt.datetime):
        raise TypeError(f"{what}: as_of must be a datetime.datetime, not {type(as_of).__name__}")
    if as_of is not None and (as_of.tzinfo is None or as_of.utcoffset() is None):
        raise NaiveDatetimeError(
            f"{what}: as_of is a naive datetime; pass a timezone-aware datetime "
            "(for example datetime.datetime.now(datetime.UTC)): a naive time could be "
            "read in any time zone, and would pick a different commit in each"
        )
    if branch is not None:
        # A datetime names a whole microsecond (SnapshotInfo.written_at is
        # a commit's time cut to microseconds): as_of takes all of it.
        # Times past the library's range (1678-2262) mean "before every
        # commit" or "the tip".
        nanos = min(max(_unix_nanos(as_of) + 999, _INT64_MIN), _INT64_MAX) if as_of else 0
        return _ffi.Version(_ffi.AT_BRANCH, _ffi.cstr(branch, "branch"), nanos)
    if tag is not None:
        return _ffi.Version(_ffi.AT_TAG, _ffi.cstr(tag, "tag"), 0)
    return _ffi.Version(_ffi.AT_SNAPSHOT, _ffi.cstr(snapshot_id or "", "snapshot id"), 0)


class Repository:
    """A versioned Zarr repository in a :class:`Storage`.

    Open one with :meth:`create`, :meth:`open` or :meth:`open_or_create`.
    A repository object is safe to use from many threads. Sessions made
    from it keep working after it is garbage collected.
    """

    __slots__ = ("__weakref__", "_authorized_prefixes", "_handle", "_storage")

    def __init__(self, handle: int, storage: Storage) -> None:
        # Not for users: use create, open or open_or_create.
        self._handle = _ffi.Handle(handle, _ffi.lib.ic_repo_free)
        self._storage = storage
        self._authorized_prefixes: frozenset[str] = frozenset()

    @property
    def _h(self) -> int:
        return self._handle.live("repository")

    # --- opening -------------------------------------------------------------

    @classmethod
    @interruptible
    def create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: Mapping[str, S3Credentials | None] | None = None,
    ) -> Repository:
        """Creates a repository in ``storage``, with an initial empty commit
        on branch ``main``. ``authorize_virtual_chunk_access`` as in
        :meth:`open`.

        Raises
        ------
        RepositoryExistsError
            The storage already holds one (even when two processes create at once).
        InvalidArgumentError
            The storage holds files that are not a repository's (one is
            named): as upstream's, a repository is created only in an
            empty location.
        UnsupportedFormatVersionError
            The storage holds an upstream Icechunk repository.
        """
        h = _ffi.handle_result(_ffi.lib.ic_repo_create, storage._h, _config_arg(config))
        return cls(h, storage)._authorized(authorize_virtual_chunk_access)

    @classmethod
    @interruptible
    def open(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: Mapping[str, S3Credentials | None] | None = None,
    ) -> Repository:
        """Opens the repository in ``storage``. If ``config`` is given, its
        fields that are set are used by this handle over the stored
        configuration, as upstream's: they are not stored (needing no write
        access) until :meth:`save_config`. Its storage settings are in force
        from the first read: ``StorageRetriesSettings(max_tries=1)`` makes
        an open against a server that does not answer fail after one try.

        ``authorize_virtual_chunk_access`` maps URL prefixes of virtual
        chunk containers with an S3 store (:func:`s3_store`) to the
        credentials to read them with (:func:`s3_credentials` and the
        like; None: anonymous if the store says so, else the AWS default
        chain), and those with an HTTP store (:func:`http_store`) to None.
        Only the containers named are connected: opening a repository
        never makes this process read a bucket or a web server by itself.
        ``file://`` containers need no authorization, and prefixes of
        containers the repository does not have are ignored (one mapping
        may serve many repositories).

        Raises
        ------
        RepositoryNotFoundError
        ValueError
            A prefix names a container without an S3 or HTTP store.
        TypeError
            Credentials for an HTTP container.
        """
        js = config._to_json() if config is not None else None
        h = _ffi.handle_result(_ffi.lib.ic_repo_open_config, storage._h, _ffi.cstr(json.dumps(js)) if js else None)
        return cls(h, storage)._authorized(authorize_virtual_chunk_access)

    @classmethod
    @interruptible
    def open_or_create(
        cls,
        storage: Storage,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: Mapping[str, S3Credentials | None] | None = None,
    ) -> Repository:
        """Opens the repository in ``storage`` (using ``config`` in this
        handle, as :meth:`open`), or creates it with ``config`` (stored) if
        there is none. ``authorize_virtual_chunk_access`` as in
        :meth:`open`."""
        h = _ffi.handle_result(_ffi.lib.ic_repo_open_or_create, storage._h, _config_arg(config))
        return cls(h, storage)._using(config)._authorized(authorize_virtual_chunk_access)

    def _using(self, config: RepositoryConfig | None) -> Repository:
        """Uses the fields of ``config`` that are set in this handle, without
        storing them, and returns self."""
        if config is not None and config._to_json():
            _ffi.call(_ffi.lib.ic_repo_use_config, self._h, _ffi.cstr(json.dumps(config._to_json())))
        return self

    def _authorized(self, access: Mapping[str, S3Credentials | None] | None) -> Repository:
        """Connects the virtual chunk containers ``access`` names to their S3
        stores with the credentials given (HTTP stores take none), and
        returns self."""
        if not access:
            return self
        from .storage import http_storage, s3_storage

        containers = self.config.virtual_chunk_containers or {}
        for prefix, creds in access.items():
            c = containers.get(prefix)
            if c is None or prefix.startswith("file://"):
                # Credentials for containers this repository does not have
                # are not used (one mapping may serve many repositories);
                # local files are read straight from the filesystem.
                continue
            if c.store is not None and c.store.kind == "http":
                if creds is not None:
                    raise TypeError(f"authorize_virtual_chunk_access: {prefix!r} is an HTTP container, which takes no credentials (give None)")
                self.set_virtual_chunk_storage(prefix, http_storage(prefix, c.store.options))
                continue
            if c.store is None or c.store.kind != "s3" or not prefix.startswith("s3://"):
                raise ValueError(
                    f"authorize_virtual_chunk_access: container {prefix!r} has no S3 or HTTP store to connect to; "
                    "give it one (VirtualChunkContainer(url_prefix, s3_store(...) or http_store())) or register a storage "
                    "with set_virtual_chunk_storage"
                )
            if creds is not None and not isinstance(creds, S3Credentials):
                raise TypeError(f"authorize_virtual_chunk_access: {prefix!r} maps to {type(creds).__name__}, not S3 credentials")
            if creds is None:
                creds = s3_anonymous_credentials() if c.store.anonymous else s3_from_env_credentials()
            bucket, _, key_prefix = prefix[len("s3://") :].partition("/")
            st = s3_storage(
                bucket=bucket,
                prefix=key_prefix or None,
                region=c.store.region,
                endpoint_url=c.store.endpoint_url,
                allow_http=c.store.allow_http,
                force_path_style=c.store.force_path_style,
                network_stream_timeout_seconds=c.store.network_stream_timeout_seconds,
                **creds._storage_kwargs(),
            )
            self.set_virtual_chunk_storage(prefix, st)
        self._authorized_prefixes = frozenset(access)
        return self

    @staticmethod
    @interruptible
    def exists(storage: Storage) -> bool:
        """True if ``storage`` holds a repository."""
        return _ffi.bool_result(_ffi.lib.ic_repo_exists, storage._h)

    @property
    def storage(self) -> Storage:
        """The storage the repository lives in."""
        return self._storage

    @property
    def authorized_virtual_container_prefixes(self) -> set[str]:
        """The URL prefixes this handle was given in
        ``authorize_virtual_chunk_access`` (a new set each time)."""
        return set(self._authorized_prefixes)

    def __reduce__(self) -> Any:
        return (Repository.open, (self._storage,))

    def close(self) -> None:
        """Releases the repository handle now instead of when it is garbage
        collected (sessions made from it keep working)."""
        self._handle.free()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<icechunk_go.Repository {self._storage.describe()}>"

    # --- configuration --------------------------------------------------------

    @property
    def config(self) -> RepositoryConfig:
        """The repository's configuration."""
        return RepositoryConfig._from_json(_ffi.json_result(_ffi.lib.ic_repo_config_get, self._h))

    def save_config(self, config: RepositoryConfig | None = None) -> None:
        """Stores ``config`` (its fields that are set) over the repository's
        configuration; this handle and handles opened afterwards use it.
        Without ``config`` (upstream's form) this handle's configuration is
        stored, including what :meth:`open` or :meth:`reopen` were given.
        :meth:`create` stores its ``config`` by itself."""
        if config is None:
            config = self.config
        _ffi.call(_ffi.lib.ic_repo_config_set, self._h, _ffi.cstr(json.dumps(config._to_json())))

    def reopen(
        self,
        config: RepositoryConfig | None = None,
        authorize_virtual_chunk_access: Mapping[str, S3Credentials | None] | None = None,
    ) -> Repository:
        """A new handle on the same storage, as :meth:`open` with ``config``
        (used by the new handle, not stored: :meth:`save_config` stores it)
        and ``authorize_virtual_chunk_access``. This handle and its sessions
        are not affected."""
        return Repository.open(self._storage, config, authorize_virtual_chunk_access)

    @staticmethod
    def fetch_config(storage: Storage) -> RepositoryConfig | None:
        """The configuration stored in ``storage``, or None if it holds no
        repository."""
        if not Repository.exists(storage):
            return None
        with Repository.open(storage) as repo:
            return repo.config

    def set_default_commit_metadata(self, metadata: dict[str, Any]) -> None:
        """Metadata merged into every commit of the sessions created
        afterwards from this object (a commit's own keys win)."""
        _ffi.call(_ffi.lib.ic_repo_set_default_commit_metadata, self._h, _ffi.cstr(_dumps(metadata)))

    def default_commit_metadata(self) -> dict[str, Any]:
        """The default commit metadata."""
        return dict(_ffi.json_result(_ffi.lib.ic_repo_default_commit_metadata, self._h))

    def set_virtual_chunk_storage(self, url_prefix: str, storage: Storage) -> None:
        """Registers the storage serving virtual chunks whose location starts
        with ``url_prefix`` (a virtual chunk container of the configuration)."""
        _ffi.call(_ffi.lib.ic_repo_set_virtual_chunk_storage, self._h, _ffi.cstr(url_prefix, "url_prefix"), storage._h)

    # --- branches ----------------------------------------------------------------

    def create_branch(self, branch: str, snapshot_id: str) -> None:
        """Creates ``branch`` pointing at ``snapshot_id``.

        Raises
        ------
        BranchExistsError, SnapshotNotFoundError
        """
        _ffi.call(_ffi.lib.ic_repo_create_branch, self._h, _ffi.cstr(branch, "branch"), _ffi.cstr(snapshot_id, "snapshot_id"))

    def list_branches(self) -> set[str]:
        """The names of the branches."""
        return set(_ffi.json_result(_ffi.lib.ic_repo_list_branches, self._h))

    def lookup_branch(self, branch: str) -> str:
        """The snapshot id at the tip of ``branch``.

        Raises
        ------
        BranchNotFoundError
        """
        return _ffi.string_result(_ffi.lib.ic_repo_lookup_branch, self._h, _ffi.cstr(branch, "branch"))

    def reset_branch(self, branch: str, snapshot_id: str, *, from_snapshot_id: str | None = None) -> None:
        """Points ``branch`` at ``snapshot_id``. With ``from_snapshot_id``,
        only while the tip is still that snapshot (else :class:`ConflictError`).

        Without ``from_snapshot_id`` it also repairs a branch whose head
        entry is damaged (every read of the branch raises
        :class:`CorruptObjectError`): the new head follows the damaged
        entry, which stays in the branch's log."""
        _ffi.call(
            _ffi.lib.ic_repo_reset_branch,
            self._h,
            _ffi.cstr(branch, "branch"),
            _ffi.cstr(snapshot_id, "snapshot_id"),
            _ffi.opt_cstr(from_snapshot_id),
        )

    def rewrite_manifests(self, message: str, *, branch: str, metadata: dict[str, Any] | None = None) -> str:
        """Commits on ``branch`` a snapshot with the same nodes and chunks as
        its tip, whose arrays' chunk references are rewritten into manifests
        split as the configuration's ``manifest.splitting`` rules say now
        (arrays no rule matches get the default split), and returns its id
        (upstream Icechunk's ``rewrite_manifests``).

        Use it after changing the rules: a commit keeps each array's split
        and rewrites only the manifests it touches. ``metadata`` is merged
        over the default commit metadata, with ``splitting_config`` set to
        the rules when there are any. The commit changes no data: diffs
        across it are empty.

        Raises
        ------
        BranchNotFoundError
        ConflictError
            The branch moved while the manifests were written; nothing was
            committed, call it again.
        """
        meta = None if metadata is None else _ffi.cstr(_dumps(metadata), "metadata")
        return _ffi.string_result(
            _ffi.lib.ic_repo_rewrite_manifests,
            self._h,
            _ffi.cstr(branch, "branch"),
            _ffi.cstr(message, "message"),
            meta,
        )

    @interruptible
    def repack_chunks(
        self,
        message: str = "repack chunks",
        *,
        branch: str = "main",
        max_live_fraction: float = 0.5,
        metadata: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> RepackSummary:
        """Commits on ``branch`` a snapshot with the same data as its tip, in
        which the chunks that sit in mostly unused chunk objects are copied
        into new ones, and returns what it did.

        Chunks written together share one object in storage, and an object
        is deleted whole. Once later commits rewrite most of its chunks (an
        array appended to with a partial last chunk, a region updated
        again and again), the tip uses little of it, yet
        :meth:`garbage_collect` cannot free the rest while any snapshot
        uses any of it. A repack moves the tip's chunks out of such
        objects; after it only older snapshots use them, so expiring those
        and collecting frees the space::

            summary = repo.repack_chunks(branch="main")
            cutoff = repo.lookup_snapshot(summary.snapshot_id).written_at
            repo.expire_snapshots(cutoff)
            repo.garbage_collect(cutoff)  # with no other session writing

        The collection's cutoff is still bound by :meth:`garbage_collect`'s
        rule: older than the start of every session writing, whose chunks no
        snapshot names yet. With writers at work, collect with their start
        instead, and the rest later. Objects last written just before a
        cutoff (50 ms on local disk, a second on S3) are kept for a
        collection with a later one. The old objects go once no branch or
        tag reaches a snapshot before the repack: what other branches' or
        tags' older snapshots use stays, and ``bytes_freeable`` counts it
        all the same.

        An object is repacked when the tip's chunks in it take at most
        ``max_live_fraction`` of its size, and not all of it (at 1, every
        object with a byte the tip does not use). ``metadata`` is merged over the
        default commit metadata. The commit records no change: diffs across
        it are empty, and a session that committed meanwhile rebases over
        it, its own chunks winning. When no object qualifies nothing is
        committed (``snapshot_id`` is None); ``dry_run=True`` only measures
        what a repack would move and free.

        Parameters
        ----------
        message : str
            The commit message.
        branch : str
            The branch to repack.
        max_live_fraction : float
            In (0, 1]: the most of an object the tip may use for it to be
            repacked.
        metadata : dict, optional
            Commit metadata.
        dry_run : bool
            Copy and commit nothing; the summary counts what would be done.

        Raises
        ------
        BranchNotFoundError
        ConflictError
            The branch moved while chunks were copied; nothing was
            committed, call it again (a rebase could put the old copy of a
            chunk over a newer value).
        NotFoundError
            Chunk objects the tip uses are not in storage (the message names
            one); nothing was copied.
        TypeError
            ``max_live_fraction`` is not a real number.
        ValueError
            ``max_live_fraction`` is not in (0, 1] (:class:`InvalidArgumentError`).
        """
        if isinstance(max_live_fraction, bool) or not isinstance(max_live_fraction, numbers.Real):
            raise TypeError(f"max_live_fraction must be a number, not {type(max_live_fraction).__name__}")
        if max_live_fraction == 0:  # the C call's "default", out of range here
            raise InvalidArgumentError("max_live_fraction is 0; it must be in (0, 1]", code=_ffi.IC_ERR_INVALID_ARGUMENT)
        meta = None if metadata is None else _ffi.cstr(_dumps(metadata), "metadata")
        d = _ffi.json_result(
            _ffi.lib.ic_repo_repack_chunks,
            self._h,
            _ffi.cstr(branch, "branch"),
            _ffi.cstr(message, "message"),
            meta,
            float(max_live_fraction),
            1 if dry_run else 0,
        )
        return RepackSummary._from_json(d)

    def delete_branch(self, branch: str) -> None:
        """Deletes ``branch`` (not ``main``), even one whose head entry is
        damaged."""
        _ffi.call(_ffi.lib.ic_repo_delete_branch, self._h, _ffi.cstr(branch, "branch"))

    # --- tags ----------------------------------------------------------------------

    def create_tag(self, tag: str, snapshot_id: str) -> None:
        """Creates the immutable tag ``tag`` at ``snapshot_id``.

        Raises
        ------
        TagExistsError
            Also for the name of a deleted tag: tag names are never reused.
        """
        _ffi.call(_ffi.lib.ic_repo_create_tag, self._h, _ffi.cstr(tag, "tag"), _ffi.cstr(snapshot_id, "snapshot_id"))

    def list_tags(self) -> set[str]:
        """The names of the tags."""
        return set(_ffi.json_result(_ffi.lib.ic_repo_list_tags, self._h))

    def lookup_tag(self, tag: str) -> str:
        """The snapshot id ``tag`` points at.

        Raises
        ------
        TagNotFoundError
        """
        return _ffi.string_result(_ffi.lib.ic_repo_lookup_tag, self._h, _ffi.cstr(tag, "tag"))

    def delete_tag(self, tag: str) -> None:
        """Deletes ``tag``; its name can never be used again."""
        _ffi.call(_ffi.lib.ic_repo_delete_tag, self._h, _ffi.cstr(tag, "tag"))

    # --- history -------------------------------------------------------------------

    def lookup_snapshot(self, snapshot_id: str) -> SnapshotInfo:
        """The description of one snapshot."""
        return SnapshotInfo._from_json(
            _ffi.json_result(_ffi.lib.ic_repo_snapshot_info, self._h, _ffi.cstr(snapshot_id, "snapshot_id"))
        )

    def resolve(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: _dt.datetime | None = None,
    ) -> str:
        """The snapshot id a version names: a branch tip (or, with
        ``as_of``, its newest commit at or before that time), a tag, or a
        snapshot id."""
        v = _version(branch, tag, snapshot_id, as_of, what="resolve")
        return _ffi.string_result(_ffi.lib.ic_repo_resolve, self._h, byref(v))

    def ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> Iterator[SnapshotInfo]:
        """The history of a version, newest first: its snapshot and every
        ancestor, read one page at a time."""
        v = _version(branch, tag, snapshot_id, what="ancestry")
        return self._ancestry(v)

    def _ancestry(self, v: _ffi.Version) -> Iterator[SnapshotInfo]:
        # The first page is read now, so that a missing branch, tag or
        # snapshot raises here, as upstream's does; the rest as iterated.
        page = 100
        first = _ffi.json_result(_ffi.lib.ic_repo_ancestry_json, self._h, byref(v), page)
        return self._ancestry_pages(first, page)

    def _ancestry_pages(self, items: list[dict[str, Any]], page: int) -> Iterator[SnapshotInfo]:
        # Pages of ic_repo_ancestry_json, each continuing from the parent of
        # the last entry: no library state is kept between pages.
        while True:
            for d in items:
                yield SnapshotInfo._from_json(d)
            if len(items) < page or not items[-1].get("parent_id"):
                return
            v = _ffi.Version(_ffi.AT_SNAPSHOT, _ffi.cstr(items[-1]["parent_id"]), 0)
            items = _ffi.json_result(_ffi.lib.ic_repo_ancestry_json, self._h, byref(v), page)

    def diff(
        self,
        *,
        from_branch: str | None = None,
        from_tag: str | None = None,
        from_snapshot_id: str | None = None,
        to_branch: str | None = None,
        to_tag: str | None = None,
        to_snapshot_id: str | None = None,
    ) -> Diff:
        """What changed from one version to a later one (``from`` must be an
        ancestor of ``to``)."""
        f = _version(from_branch, from_tag, from_snapshot_id, what="diff from")
        t = _version(to_branch, to_tag, to_snapshot_id, what="diff to")
        return Diff._from_json(_ffi.json_result(_ffi.lib.ic_repo_diff, self._h, byref(f), byref(t)))

    # --- sessions ------------------------------------------------------------------

    def readonly_session(
        self,
        branch: str | None = None,
        *,
        tag: str | None = None,
        snapshot_id: str | None = None,
        as_of: _dt.datetime | None = None,
    ) -> Session:
        """A read-only session at a branch tip (or, with ``as_of``, the
        branch's newest commit at or before that time; naive datetimes are
        UTC), at a tag, or at a snapshot id."""
        v = _version(branch, tag, snapshot_id, as_of, what="readonly_session")
        return Session(_ffi.handle_result(_ffi.lib.ic_repo_readonly_session, self._h, byref(v)), self)

    def writable_session(self, branch: str) -> Session:
        """A writable session on ``branch``, based on its tip."""
        h = _ffi.handle_result(_ffi.lib.ic_repo_writable_session, self._h, _ffi.cstr(branch, "branch"))
        return Session(h, self)

    @contextlib.contextmanager
    def transaction(
        self,
        branch: str,
        *,
        message: str,
        metadata: dict[str, Any] | None = None,
        rebase_with: ConflictSolver | None = None,
        rebase_tries: int = 1_000,
    ) -> Iterator[IcechunkStore]:
        """A writable session on ``branch`` as a context manager: yields its
        store, and commits when the block ends without an exception
        (:meth:`Session.commit` with ``message``, ``metadata``,
        ``rebase_with`` and ``rebase_tries``); the store then stays
        readable, at the new snapshot. If the block raises, nothing is
        committed and the session's changes are dropped::

            with repo.transaction("main", message="add temperatures") as store:
                zarr.open_group(store, mode="a")["t"][:] = data
        """
        if rebase_with is not None:
            _solver(rebase_with, "rebase_with")  # before the block's work, not after it
        session = self.writable_session(branch)
        try:
            yield session.store
        except BaseException:
            session.close()  # its changes are dropped
            raise
        # The store stays readable afterwards, at the new snapshot.
        session.commit(message, metadata, rebase_with=rebase_with, rebase_tries=rebase_tries)

    def session_from_bytes(self, data: bytes) -> Session:
        """Restores a session serialized with :meth:`Session.as_bytes` (in this
        process or another) into this repository."""
        buf = bytes(data)
        h = _ffi.handle_result(_ffi.lib.ic_repo_session_from_bytes, self._h, buf, len(buf))
        # A restored session reads its base snapshot on first use.
        return _session_class(h)(h, self, loaded=False)

    def inspect_snapshot(self, snapshot_id: str, *, pretty: bool = True) -> str:
        """The snapshot's file described as JSON: id, parent, time, message,
        metadata, manifests (with sizes and chunk counts) and nodes (with
        their manifests' extents), as upstream's ``inspect_snapshot``.

        Raises
        ------
        SnapshotNotFoundError
        """
        d = _ffi.json_result(_ffi.lib.ic_repo_inspect_snapshot, self._h, _ffi.cstr(snapshot_id, "snapshot id"))
        return json.dumps(d, indent=2 if pretty else None)

    # --- maintenance ---------------------------------------------------------------

    def chunk_storage_stats(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> ChunkStorageStats:
        """The bytes of chunks every snapshot a branch or tag reaches uses,
        by kind of chunk. Snapshots no ref reaches (of deleted or reset
        branches, or expired) are not counted: :meth:`garbage_collect`
        reclaims them.

        The keyword arguments are upstream's tuning knobs, taken so that
        calls port unchanged; the library bounds its own memory and
        concurrency (manifests are read a few at a time), so their values
        change nothing.
        """
        _check_tuning(
            max_snapshots_in_memory, max_compressed_manifest_mem_bytes, max_concurrent_manifest_fetches
        )
        return ChunkStorageStats._from_json(_ffi.json_result(_ffi.lib.ic_repo_chunk_storage_stats, self._h))

    def total_chunks_storage(
        self,
        *,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> int:
        """The bytes of native chunks reachable from branches and tags:
        ``chunk_storage_stats().native_bytes``, upstream's older name."""
        return self.chunk_storage_stats(
            max_snapshots_in_memory=max_snapshots_in_memory,
            max_compressed_manifest_mem_bytes=max_compressed_manifest_mem_bytes,
            max_concurrent_manifest_fetches=max_concurrent_manifest_fetches,
        ).native_bytes

    @interruptible
    def garbage_collect(
        self,
        delete_object_older_than: _dt.datetime,
        *,
        dry_run: bool = False,
        max_snapshots_in_memory: int = 50,
        max_compressed_manifest_mem_bytes: int = 512 * 1024 * 1024,
        max_concurrent_manifest_fetches: int = 500,
    ) -> GCSummary:
        """Deletes the objects no branch or tag can reach and returns what was
        deleted.

        Unreachable objects are snapshots that are not the tip of a branch,
        a tag's snapshot or an ancestor of one (those of deleted branches,
        or of branches reset away from them), their transaction logs,
        manifests no reachable snapshot lists, and chunk objects no
        reachable manifest names (among them the chunks of sessions that
        never committed and the files a crash left). Refs, the
        configuration and keys that are not the repository's objects are
        never touched.

        Only objects last written (by the storage's clock) before
        ``delete_object_older_than`` are deleted. Choose it older than the
        start of every session still writing to the repository: the chunks
        such a session wrote are not yet named by any snapshot, and
        deleting them would make its commit name missing objects. Objects
        stamped just before the cutoff (within a second on S3, 50 ms on
        local disk, whose timestamps are coarser than the clock) are kept
        for a later collection, since they may have been written after it.
        Read-only sessions at a snapshot that becomes unreachable fail on
        their next read of a deleted object.

        Everything reachable is found before anything is deleted: if part
        of the reachable history cannot be read, the call raises and
        deletes nothing. A failure part-way leaves only unreachable objects
        deleted; calling again finishes the job.

        The call can be long and does not hold the GIL while the library
        works; from async code run it on a thread
        (``await asyncio.to_thread(repo.garbage_collect, cutoff)``).

        Parameters
        ----------
        delete_object_older_than : datetime.datetime
            The cutoff, timezone-aware (converted exactly, to the
            microsecond), after 1970.
        dry_run : bool
            Delete nothing; the summary counts what would be deleted.
        max_snapshots_in_memory, max_compressed_manifest_mem_bytes, max_concurrent_manifest_fetches : int
            Upstream's tuning knobs, taken so that calls port unchanged;
            the library bounds its own memory and concurrency, so their
            values change nothing.

        Returns
        -------
        GCSummary

        Raises
        ------
        TypeError
            ``delete_object_older_than`` is not a datetime, or is naive (no
            time zone; :class:`NaiveDatetimeError`, also a ValueError).
        ValueError
            It is not after 1970 (:class:`InvalidArgumentError`).
        """
        _check_tuning(
            max_snapshots_in_memory, max_compressed_manifest_mem_bytes, max_concurrent_manifest_fetches
        )
        nanos = _cutoff_nanos(delete_object_older_than, "delete_object_older_than")
        d = _ffi.json_result(_ffi.lib.ic_repo_garbage_collect, self._h, nanos, 1 if dry_run else 0)
        return GCSummary._from_json(d)

    @interruptible
    def expire_snapshots(
        self,
        older_than: _dt.datetime,
        *,
        delete_expired_branches: bool = False,
        delete_expired_tags: bool = False,
    ) -> set[str]:
        """Cuts the snapshots written before ``older_than`` out of the
        history of every branch and tag, and returns their ids.

        Nothing is deleted here: :meth:`garbage_collect` afterwards deletes
        the expired snapshots no ref reaches any more, with the manifests
        and chunks only they use. For each branch or tag whose snapshot is
        not itself expired, the oldest snapshot it keeps is rewritten in
        place with the repository's initial snapshot as its parent: snapshot
        ids, contents and newer snapshots do not change, and every kept
        snapshot reads as before. A diff across such a rewritten snapshot
        raises :class:`IcechunkError` (``code_name ==
        "IC_ERR_BAD_SNAPSHOT_CHAIN"``) rather than replay a change from a
        parent it no longer has. A rebase takes the commits it passes from
        the branch's log, so a session based before the cut still rebases
        while their transaction logs exist; where the log cannot tell (the
        branch was reset since the session's base) it raises
        :class:`RebaseFailedError` at the cut.

        A branch or tag whose snapshot is expired keeps that snapshot,
        readable as before, but not the history behind it: the snapshot is
        rewritten with the initial snapshot as parent, as upstream does.
        ``delete_expired_branches`` / ``delete_expired_tags`` delete such
        refs instead (``main`` is never deleted).

        This is an administrative operation: do not run it beside another
        expiration, a garbage collection, or branch resets and deletes.
        Other repository handles may see the old history from their caches
        until opened again. From async code run it on a thread
        (``await asyncio.to_thread(repo.expire_snapshots, cutoff)``).

        The maintenance recipe, dropping history older than a week::

            cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=7)
            expired = repo.expire_snapshots(cutoff)
            summary = repo.garbage_collect(cutoff)

        Parameters
        ----------
        older_than : datetime.datetime
            The cutoff, timezone-aware (converted exactly, to the
            microsecond), after 1970: snapshots written before it expire.
        delete_expired_branches : bool
            Delete the branches (except ``main``) whose snapshot is expired.
        delete_expired_tags : bool
            Delete the tags whose snapshot is expired.

        Returns
        -------
        set of str
            The ids of the snapshots this call cut out of some branch's or
            tag's history (a ref kept at one of them still reaches it), of
            the expired snapshots of kept refs whose history it cut, and
            those of the history of a ref it deleted that no remaining ref
            reaches. With the same cutoff and flags, a second call returns
            an empty set.

        Raises
        ------
        TypeError
            ``older_than`` is not a datetime, or is naive (no time zone;
            :class:`NaiveDatetimeError`, also a ValueError).
        ValueError
            It is not after 1970 (:class:`InvalidArgumentError`).
        """
        nanos = _cutoff_nanos(older_than, "older_than")
        d = _ffi.json_result(
            _ffi.lib.ic_repo_expire_snapshots,
            self._h,
            nanos,
            1 if delete_expired_branches else 0,
            1 if delete_expired_tags else 0,
        )
        return set(d["expired_snapshots"])

    # --- async twins (upstream's *_async methods) ---------------------------------

    create_async = classmethod(on_thread(create.__func__))
    open_async = classmethod(on_thread(open.__func__))
    open_or_create_async = classmethod(on_thread(open_or_create.__func__))
    exists_async = staticmethod(on_thread(exists))
    fetch_config_async = staticmethod(on_thread(fetch_config))
    save_config_async = on_thread(save_config)
    reopen_async = on_thread(reopen)
    create_branch_async = on_thread(create_branch)
    list_branches_async = on_thread(list_branches)
    lookup_branch_async = on_thread(lookup_branch)
    reset_branch_async = on_thread(reset_branch)
    delete_branch_async = on_thread(delete_branch)
    rewrite_manifests_async = on_thread(rewrite_manifests)
    repack_chunks_async = on_thread(repack_chunks)
    create_tag_async = on_thread(create_tag)
    list_tags_async = on_thread(list_tags)
    lookup_tag_async = on_thread(lookup_tag)
    delete_tag_async = on_thread(delete_tag)
    lookup_snapshot_async = on_thread(lookup_snapshot)
    diff_async = on_thread(diff)
    readonly_session_async = on_thread(readonly_session)
    writable_session_async = on_thread(writable_session)
    inspect_snapshot_async = on_thread(inspect_snapshot)
    chunk_storage_stats_async = on_thread(chunk_storage_stats)
    total_chunks_storage_async = on_thread(total_chunks_storage)
    garbage_collect_async = on_thread(garbage_collect)
    expire_snapshots_async = on_thread(expire_snapshots)

    async def async_ancestry(
        self,
        *,
        branch: str | None = None,
        tag: str | None = None,
        snapshot_id: str | None = None,
    ) -> AsyncIterator[SnapshotInfo]:
        """As :meth:`ancestry`, an async iterator reading each page of
        history on a thread."""
        import asyncio

        v = _version(branch, tag, snapshot_id, what="ancestry")
        pages = await asyncio.to_thread(self._ancestry, v)
        done = object()
        while True:
            info = await asyncio.to_thread(next, pages, done)
            if info is done:
                return
            yield info


def _check_tuning(*values: int) -> None:
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"tuning values must be positive integers, got {v!r}")


def _config_arg(config: RepositoryConfig | None) -> bytes | None:
    if config is None:
        return None
    return _ffi.cstr(json.dumps(config._to_json()))
