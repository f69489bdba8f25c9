"""Repository configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["RepositoryConfig", "VirtualChunkContainer"]


@dataclass
class VirtualChunkContainer:
    """A place virtual chunks may be read from. Only locations under a
    container of the repository's configuration are ever read, so opening
    a repository cannot make this process read arbitrary files or buckets.

    Parameters
    ----------
    name : str
        A name for the container.
    url_prefix : str
        Locations starting with it belong to the container, such as
        ``"file:///data/"`` or ``"s3://bucket/prefix/"``. ``file://``
        containers are read from the local filesystem; others need a storage
        registered with :meth:`Repository.set_virtual_chunk_storage`.
    """

    name: str
    url_prefix: str


@dataclass(slots=True)
class RepositoryConfig:
    """Settings of a repository. Fields left as None keep the repository's
    current value (or the library's default when creating one). Setting
    an attribute that is not one of these fields (such as one of upstream
    Icechunk's other settings) raises AttributeError rather than being
    silently ignored.

    Parameters
    ----------
    inline_chunk_threshold_bytes : int, optional
        Chunks up to this many bytes are stored inside manifests instead of
        as objects of their own (default 512).
    manifest_block_chunks : int, optional
        Chunk references per manifest (default 65,536).
    snapshot_cache_bytes, manifest_cache_bytes : int, optional
        Sizes of the caches of decoded snapshots and manifests (default 256 MiB each).
    disable_transaction_logs : bool, optional
        Gives up rebase and diff to save one small object per commit.
    virtual_chunk_containers : list of VirtualChunkContainer, optional
        Where virtual chunks may be read from.
    """

    inline_chunk_threshold_bytes: int | None = None
    manifest_block_chunks: int | None = None
    snapshot_cache_bytes: int | None = None
    manifest_cache_bytes: int | None = None
    disable_transaction_logs: bool | None = None
    virtual_chunk_containers: list[VirtualChunkContainer] | None = field(default=None)

    @classmethod
    def default(cls) -> RepositoryConfig:
        """A configuration that changes nothing (library defaults)."""
        return cls()

    def set_virtual_chunk_container(self, container: VirtualChunkContainer) -> None:
        """Adds a container, replacing one with the same url_prefix."""
        cs = [c for c in (self.virtual_chunk_containers or []) if c.url_prefix != container.url_prefix]
        cs.append(container)
        self.virtual_chunk_containers = cs

    def _to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.inline_chunk_threshold_bytes is not None:
            out["inline_chunk_threshold"] = int(self.inline_chunk_threshold_bytes)
        if self.manifest_block_chunks is not None:
            out["manifest_block_chunks"] = int(self.manifest_block_chunks)
        if self.snapshot_cache_bytes is not None:
            out["snapshot_cache_bytes"] = int(self.snapshot_cache_bytes)
        if self.manifest_cache_bytes is not None:
            out["manifest_cache_bytes"] = int(self.manifest_cache_bytes)
        if self.disable_transaction_logs is not None:
            out["disable_transaction_logs"] = bool(self.disable_transaction_logs)
        if self.virtual_chunk_containers is not None:
            out["virtual_chunk_containers"] = [
                {"name": c.name, "url_prefix": c.url_prefix} for c in self.virtual_chunk_containers
            ]
        return out

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> RepositoryConfig:
        vcc = d.get("virtual_chunk_containers")
        return cls(
            inline_chunk_threshold_bytes=d.get("inline_chunk_threshold"),
            manifest_block_chunks=d.get("manifest_block_chunks"),
            snapshot_cache_bytes=d.get("snapshot_cache_bytes"),
            manifest_cache_bytes=d.get("manifest_cache_bytes"),
            disable_transaction_logs=d.get("disable_transaction_logs"),
            virtual_chunk_containers=(
                [VirtualChunkContainer(c["name"], c["url_prefix"]) for c in vcc] if vcc is not None else None
            ),
        )
