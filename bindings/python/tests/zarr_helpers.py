"""Zarr documents and keys for tests that talk to the store directly."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from icechunk_go import IcechunkStore
from icechunk_go import store as _store

GROUP_JSON = b'{"zarr_format":3,"node_type":"group","attributes":{}}'


def group_json(attributes: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes or {}}).encode()


def array_json(
    shape: list[int],
    chunks: list[int] | None = None,
    *,
    encoding: str = "default",
    separator: str = "/",
    dtype: str = "uint8",
    attributes: dict[str, Any] | None = None,
) -> bytes:
    """The zarr.json of a Zarr v3 array with the given chunk key encoding."""
    return json.dumps(
        {
            "zarr_format": 3,
            "node_type": "array",
            "shape": shape,
            "data_type": dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks or [1] * len(shape)}},
            "chunk_key_encoding": {"name": encoding, "configuration": {"separator": separator}},
            "fill_value": 0,
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
            "attributes": attributes or {},
        }
    ).encode()


_DIGITS = re.compile(r"^(0|[1-9][0-9]*)$")


def _all_digits(parts: list[str]) -> bool:
    return bool(parts) and all(_DIGITS.match(p) for p in parts)


def owner_of(key: str) -> tuple[str, bytes] | None:
    """For a chunk-shaped key, the zarr.json key and document of an array
    that owns it (the shortest prefix whose rest decodes as a chunk key):
    "c/0" is a chunk of a 1-d root array with the default encoding,
    "foo/c/0.0" of a 2-d array "foo" with separator ".", "foo/0/0" of a
    2-d array "foo" with the v2 encoding. None for zarr.json keys and for
    keys no array can own."""
    segs = key.split("/")
    if segs[-1] == "zarr.json":
        return None
    for n in range(len(segs)):
        rest = segs[n:]
        prefix = "/".join(segs[:n])
        meta_key = f"{prefix}/zarr.json" if prefix else "zarr.json"
        if rest[0] == "c" and len(rest) > 1 and _all_digits(rest[1:]):
            rank = len(rest) - 1
            return meta_key, array_json([1000] * rank, encoding="default", separator="/")
        if len(rest) == 1 and rest[0].startswith("c.") and _all_digits(rest[0][2:].split(".")):
            rank = len(rest[0][2:].split("."))
            return meta_key, array_json([1000] * rank, encoding="default", separator=".")
        if _all_digits(rest):
            return meta_key, array_json([1000] * len(rest), encoding="v2", separator="/")
        if len(rest) == 1 and _all_digits(rest[0].split(".")):
            rank = len(rest[0].split("."))
            return meta_key, array_json([1000] * rank, encoding="v2", separator=".")
    return None


def raw_set(store: IcechunkStore, key: str, value: bytes) -> None:
    """Sets a key through the library, not through the IcechunkStore class."""
    _store._set(store.session._h, key, np.frombuffer(value, dtype=np.uint8))


def raw_get(store: IcechunkStore, key: str) -> bytes | None:
    """Reads a key through the library, not through the IcechunkStore class."""
    data = _store._get(store.session._h, key, None)
    return None if data is None else bytes(data)


def ensure_owner(store: IcechunkStore, key: str) -> None:
    """Creates, if missing, an array owning the chunk-shaped key."""
    owner = owner_of(key)
    if owner is not None and raw_get(store, owner[0]) is None:
        raw_set(store, owner[0], owner[1])
