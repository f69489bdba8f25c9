"""What changed between two versions, or in a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Diff"]


@dataclass(frozen=True)
class Diff:
    """The changes between two versions of a repository
    (:meth:`Repository.diff`) or of a session (:meth:`Session.status`).

    ``str()`` lists the paths changed, by kind; an empty diff prints as
    ``No changes``. Paths are node paths (``"/"`` is the root).

    Attributes
    ----------
    new_groups, new_arrays : set of str
        Nodes created.
    deleted_groups, deleted_arrays : set of str
        Nodes deleted.
    updated_groups, updated_arrays : set of str
        Nodes whose definition (zarr.json: attributes, shape, ...) changed.
    updated_chunks : dict of str to list of list of int
        For each array, the coordinates of the chunks written or deleted.
    """

    new_groups: set[str] = field(default_factory=set)
    new_arrays: set[str] = field(default_factory=set)
    deleted_groups: set[str] = field(default_factory=set)
    deleted_arrays: set[str] = field(default_factory=set)
    updated_groups: set[str] = field(default_factory=set)
    updated_arrays: set[str] = field(default_factory=set)
    updated_chunks: dict[str, list[list[int]]] = field(default_factory=dict)

    @classmethod
    def _from_json(cls, d: dict[str, Any]) -> Diff:
        return cls(
            new_groups=set(d.get("new_groups") or []),
            new_arrays=set(d.get("new_arrays") or []),
            deleted_groups=set(d.get("deleted_groups") or []),
            deleted_arrays=set(d.get("deleted_arrays") or []),
            updated_groups=set(d.get("updated_groups") or []),
            updated_arrays=set(d.get("updated_arrays") or []),
            updated_chunks={
                p: [[int(i) for i in c] for c in cs] for p, cs in (d.get("updated_chunks") or {}).items()
            },
        )

    def is_empty(self) -> bool:
        """True if nothing changed."""
        return not (
            self.new_groups
            or self.new_arrays
            or self.deleted_groups
            or self.deleted_arrays
            or self.updated_groups
            or self.updated_arrays
            or self.updated_chunks
        )

    def __bool__(self) -> bool:
        return not self.is_empty()

    def paths(self) -> list[str]:
        """Every node path that changed in any way, sorted."""
        s = (
            self.new_groups
            | self.new_arrays
            | self.deleted_groups
            | self.deleted_arrays
            | self.updated_groups
            | self.updated_arrays
            | set(self.updated_chunks)
        )
        return sorted(s)

    def __str__(self) -> str:
        # Upstream Icechunk's text, section by section, so that printed
        # diffs read the same; an empty diff says so, as the tutorial's does.
        if self.is_empty():
            return "No changes\n"
        out: list[str] = []

        def section(title: str, paths: set[str]) -> None:
            if paths:
                out.append(f"{title}:\n" + "".join(f"    {p}\n" for p in sorted(paths)))

        section("Groups created", self.new_groups)
        section("Arrays created", self.new_arrays)
        section("Group definitions updated", self.updated_groups)
        section("Array definitions updated", self.updated_arrays)
        section("Groups deleted", self.deleted_groups)
        section("Arrays deleted", self.deleted_arrays)
        if self.updated_chunks:
            shown = 10
            text = "Chunks updated:\n"
            for p in sorted(self.updated_chunks):
                coords = sorted(self.updated_chunks[p])
                text += f"    {p}:\n" + "".join(f"        {list(c)}\n" for c in coords[:shown])
                if len(coords) > shown:
                    text += f"        ... {len(coords) - shown} more\n"
            out.append(text)
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)
