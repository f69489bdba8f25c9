"""What a chunk reference is: its kind, and the description of a virtual
chunk (bytes of an object outside the repository)."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

__all__ = ["ChunkType", "VirtualChunkSpec"]


class ChunkType(IntEnum):
    """How a chunk is stored (:meth:`Session.chunk_type`). The values are
    those of upstream Icechunk's ``ChunkType``."""

    UNINITIALIZED = 0
    """No chunk was written at those coordinates: reads give the fill value."""
    NATIVE = 1
    """Bytes in a chunk object of the repository."""
    VIRTUAL = 2
    """Bytes of an object outside the repository (a virtual reference)."""
    INLINE = 3
    """Bytes kept in the manifest itself (small chunks)."""


@dataclass(frozen=True)
class VirtualChunkSpec:
    """One virtual chunk for :meth:`IcechunkStore.set_virtual_refs`:
    ``length`` bytes at ``offset`` of the object at ``location``.

    Attributes
    ----------
    index : sequence of int
        The chunk's coordinates in the array's chunk grid.
    location : str
        The object's URL, under a virtual chunk container of the
        repository's configuration (``"s3://bucket/file.nc"``,
        ``"file:///data/file.nc"``).
    offset, length : int
        Where the chunk's bytes are in the object.
    etag_checksum : str, optional
        The object's entity tag when the reference was made: reads fail if
        the object no longer has it.
    last_updated_at_checksum : datetime.datetime, optional
        The object's modification time when the reference was made (naive
        times are UTC): reads fail if it was modified after that.
    """

    index: tuple[int, ...] | list[int]
    location: str
    offset: int
    length: int
    etag_checksum: str | None = None
    last_updated_at_checksum: _dt.datetime | None = None

    def _to_json(self) -> dict[str, Any]:
        return _virtual_ref_json(
            self.index, self.location, self.offset, self.length, self.etag_checksum, self.last_updated_at_checksum
        )


def _virtual_ref_json(
    coords: Any,
    location: str,
    offset: int,
    length: int,
    etag: str | None,
    modified: _dt.datetime | None,
) -> dict[str, Any]:
    """One element of ic_session_set_virtual_refs' JSON array."""
    if not isinstance(location, str):
        raise TypeError(f"virtual chunk location must be a str, not {type(location).__name__}")
    d: dict[str, Any] = {
        "coords": [_index(c) for c in coords],
        "location": location,
        "offset": _index(offset),
        "length": _index(length),
    }
    if etag is not None:
        if not isinstance(etag, str):
            raise TypeError(f"virtual chunk ETag must be a str, not {type(etag).__name__}")
        d["etag"] = etag
    if modified is not None:
        if not isinstance(modified, _dt.datetime):
            raise TypeError(f"virtual chunk modification time must be a datetime, not {type(modified).__name__}")
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=_dt.UTC)
        d["last_modified"] = int(modified.timestamp())
    return d


def _index(v: Any) -> int:
    # numpy integers are welcome; floats and bools are not indices.
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"expected a non-negative integer, got {v!r}")
    n = int(v.__index__())
    if n < 0:
        raise ValueError(f"expected a non-negative integer, got {n}")
    return n
