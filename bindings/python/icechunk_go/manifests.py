"""How arrays' chunk references are split into manifests, and which
manifests a session loads when it opens: upstream Icechunk's
``ManifestConfig`` and the classes it is built from, set as
``RepositoryConfig.manifest``.

Conditions and dimension conditions are immutable and hashable, so that
they can key the dict given to :meth:`ManifestSplittingConfig.from_dict`.
Regular expressions use RE2 syntax (Go's ``regexp``, close to the Rust
``regex`` crate upstream uses) and match anywhere in the text unless
anchored with ``^`` and ``$``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Union

from ._checks import check_int

__all__ = [
    "ManifestConfig",
    "ManifestPreloadCondition",
    "ManifestPreloadConfig",
    "ManifestSplitCondition",
    "ManifestSplitDimCondition",
    "ManifestSplittingConfig",
]


@dataclass(frozen=True, slots=True, repr=False)
class _Condition:
    op: str
    regex: str | None = None
    from_refs: int | None = None
    to_refs: int | None = None
    of: tuple[Any, ...] = ()

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op}
        if self.regex is not None:
            d["regex"] = self.regex
        if self.from_refs is not None:
            d["from"] = self.from_refs
        if self.to_refs is not None:
            d["to"] = self.to_refs
        if self.op in ("and", "or"):
            d["of"] = [c._to_json() for c in self.of]
        return d

    @classmethod
    def path_matches(cls, regex: str) -> Any:
        """Arrays (or their manifests) whose absolute path
        (``/path/to/array``) matches ``regex``."""
        return cls("path_matches", regex=_regex(regex, "path_matches"))

    @classmethod
    def name_matches(cls, regex: str) -> Any:
        """Arrays (or their manifests) whose name, the last part of the
        path, matches ``regex``."""
        return cls("name_matches", regex=_regex(regex, "name_matches"))

    @classmethod
    def and_conditions(cls, conditions: list[Any]) -> Any:
        """What meets every one of ``conditions``."""
        return cls("and", of=_conditions(cls, conditions, "and_conditions"))

    @classmethod
    def or_conditions(cls, conditions: list[Any]) -> Any:
        """What meets any of ``conditions``."""
        return cls("or", of=_conditions(cls, conditions, "or_conditions"))

    def __and__(self, other: Any) -> Any:
        return type(self).and_conditions([self, other])

    def __or__(self, other: Any) -> Any:
        return type(self).or_conditions([self, other])

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> Any:
        of = tuple(cls._from_json(c) for c in d.get("of") or ())
        return cls(d["op"], regex=d.get("regex"), from_refs=d.get("from"), to_refs=d.get("to"), of=of)

    def __repr__(self) -> str:
        name = type(self).__name__
        if self.op in ("and", "or"):
            return f"{name}.{self.op}_conditions([{', '.join(map(repr, self.of))}])"
        if self.op == "num_refs":
            return f"{name}.num_refs({self.from_refs!r}, {self.to_refs!r})"
        if self.regex is not None:
            return f"{name}.{self.op}({self.regex!r})"
        return f"{name}.{'AnyArray' if self.op == 'any_array' else self.op}()"


def _regex(regex: Any, what: str) -> str:
    if not isinstance(regex, str):
        raise TypeError(f"{what}: the regex must be a str, not {type(regex).__name__}")
    return regex


def _conditions(cls: type, conditions: Iterable[Any], what: str) -> tuple[Any, ...]:
    out = tuple(conditions)
    for c in out:
        if not isinstance(c, cls):
            raise TypeError(f"{what}: every condition must be a {cls.__name__}, not {type(c).__name__}")
    return out


@dataclass(frozen=True, slots=True, repr=False)
class ManifestSplitCondition(_Condition):
    """Which arrays a splitting rule applies to (upstream Icechunk's
    ``ManifestSplitCondition``). Combine conditions with ``&`` and ``|``."""

    @staticmethod
    def AnyArray() -> ManifestSplitCondition:  # noqa: N802 (upstream's name)
        """Every array."""
        return ManifestSplitCondition("any_array")


@dataclass(frozen=True, slots=True, repr=False)
class ManifestPreloadCondition(_Condition):
    """Which manifests a session preloads (upstream Icechunk's
    ``ManifestPreloadCondition``). Combine conditions with ``&`` and ``|``."""

    @staticmethod
    def num_refs(from_refs: int | None, to_refs: int | None) -> ManifestPreloadCondition:
        """Manifests holding at least ``from_refs`` (inclusive) and fewer
        than ``to_refs`` (exclusive) chunk references; None leaves that
        side open."""
        check_int(from_refs, "num_refs: from_refs")
        check_int(to_refs, "num_refs: to_refs")
        return ManifestPreloadCondition("num_refs", from_refs=from_refs, to_refs=to_refs)

    @staticmethod
    def true() -> ManifestPreloadCondition:
        """Every manifest."""
        return ManifestPreloadCondition("true")

    @staticmethod
    def false() -> ManifestPreloadCondition:
        """No manifest."""
        return ManifestPreloadCondition("false")


class ManifestSplitDimCondition:
    """Which dimensions of an array a split size applies to (upstream
    Icechunk's ``ManifestSplitDimCondition``): ``Axis(i)``,
    ``DimensionName(regex)`` or ``Any()``. For each dimension the first
    entry of a rule that matches it decides; a dimension none matches is
    not split."""

    @dataclass(frozen=True, slots=True)
    class Axis:
        """The dimension at index ``axis``."""

        axis: int

        def __post_init__(self) -> None:
            check_int(self.axis, "Axis: the axis", optional=False)

        def _to_json(self) -> dict[str, Any]:
            return {"kind": "axis", "axis": self.axis}

    @dataclass(frozen=True, slots=True)
    class DimensionName:
        """Dimensions whose name matches ``regex`` (never an unnamed one)."""

        regex: str

        def __post_init__(self) -> None:
            _regex(self.regex, "DimensionName")

        def _to_json(self) -> dict[str, Any]:
            return {"kind": "dimension_name", "regex": self.regex}

    @dataclass(frozen=True, slots=True)
    class Any:
        """Any dimension not matched by an earlier entry."""

        def _to_json(self) -> dict[str, Any]:
            return {"kind": "any"}

    @staticmethod
    def _from_json(d: Mapping[str, Any]) -> Any:
        kind = d.get("kind")
        if kind == "axis":
            return ManifestSplitDimCondition.Axis(int(d.get("axis", 0)))
        if kind == "dimension_name":
            return ManifestSplitDimCondition.DimensionName(d.get("regex", ""))
        return ManifestSplitDimCondition.Any()


_DimCondition = Union[ManifestSplitDimCondition.Axis, ManifestSplitDimCondition.DimensionName, ManifestSplitDimCondition.Any]
SplitSizes = tuple[tuple[ManifestSplitCondition, tuple[tuple[_DimCondition, int], ...]], ...]


def _split_sizes(value: Iterable[Any]) -> SplitSizes:
    out = []
    for rule in value:
        cond, dims = rule
        if not isinstance(cond, ManifestSplitCondition):
            raise TypeError(f"ManifestSplittingConfig: a rule's condition must be a ManifestSplitCondition, not {type(cond).__name__}")
        entries = []
        for dim, size in dims:
            if not isinstance(dim, (ManifestSplitDimCondition.Axis, ManifestSplitDimCondition.DimensionName, ManifestSplitDimCondition.Any)):
                raise TypeError(f"ManifestSplittingConfig: {dim!r} is not a ManifestSplitDimCondition")
            check_int(size, f"ManifestSplittingConfig: the split size for {dim!r}", 1, 2**32 - 1, optional=False)
            entries.append((dim, size))
        out.append((cond, tuple(entries)))
    return tuple(out)


class ManifestSplittingConfig:
    """How arrays' chunk references are split into manifests (upstream
    Icechunk's ``ManifestSplittingConfig``): rules of an array condition
    and split sizes, in chunks, per dimension condition. The first rule
    whose condition an array meets decides.

    A new array takes its split from the rules when it is first committed,
    and keeps it when the rules change; :meth:`Repository.rewrite_manifests`
    rewrites existing arrays to the rules in force.

    Examples
    --------
    >>> ManifestSplittingConfig.from_dict(
    ...     {ManifestSplitCondition.AnyArray(): {ManifestSplitDimCondition.DimensionName("time"): 365 * 24}}
    ... )  # doctest: +SKIP
    """

    __slots__ = ("_split_sizes",)

    def __init__(self, split_sizes: Iterable[Any]) -> None:
        self._split_sizes = _split_sizes(split_sizes)

    @staticmethod
    def from_dict(split_sizes: Mapping[ManifestSplitCondition, Mapping[Any, int]]) -> ManifestSplittingConfig:
        """The rules from a dict of condition to a dict of dimension
        condition to split size (dicts keep their order: the first
        matching entry wins)."""
        return ManifestSplittingConfig([(cond, list(dims.items())) for cond, dims in split_sizes.items()])

    @property
    def split_sizes(self) -> SplitSizes:
        """The rules, as ``((condition, ((dim_condition, size), ...)), ...)``."""
        return self._split_sizes

    @split_sizes.setter
    def split_sizes(self, value: Iterable[Any]) -> None:
        self._split_sizes = _split_sizes(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ManifestSplittingConfig) and self._split_sizes == other._split_sizes

    def __hash__(self) -> int:
        return hash(self._split_sizes)

    def __repr__(self) -> str:
        return f"ManifestSplittingConfig({self._split_sizes!r})"

    def _to_json(self) -> list[dict[str, Any]]:
        return [
            {"if": cond._to_json(), "dims": [{**dim._to_json(), "chunks": size} for dim, size in dims]}
            for cond, dims in self._split_sizes
        ]

    @classmethod
    def _from_json(cls, rules: list[Mapping[str, Any]]) -> ManifestSplittingConfig:
        return cls(
            [
                (
                    ManifestSplitCondition._from_json(r["if"]),
                    [(ManifestSplitDimCondition._from_json(d), int(d["chunks"])) for d in r.get("dims") or ()],
                )
                for r in rules
            ]
        )


@dataclass(slots=True)
class ManifestPreloadConfig:
    """Which manifests a session starts loading when it opens (upstream
    Icechunk's ``ManifestPreloadConfig``).

    Parameters
    ----------
    max_total_refs : int, optional
        Bound on the chunk references of all the manifests preloaded
        together (default 10,000); manifests are taken in the snapshot's
        order while they fit.
    preload_if : ManifestPreloadCondition, optional
        The manifests to preload; None preloads nothing.
    """

    max_total_refs: int | None = None
    preload_if: ManifestPreloadCondition | None = None

    def __post_init__(self) -> None:
        check_int(self.max_total_refs, "ManifestPreloadConfig: max_total_refs")
        if self.preload_if is not None and not isinstance(self.preload_if, ManifestPreloadCondition):
            raise TypeError(f"ManifestPreloadConfig: preload_if must be a ManifestPreloadCondition, not {type(self.preload_if).__name__}")

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.max_total_refs is not None:
            d["max_total_refs"] = self.max_total_refs
        if self.preload_if is not None:
            d["if"] = self.preload_if._to_json()
        return d

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> ManifestPreloadConfig:
        cond = d.get("if")
        return cls(d.get("max_total_refs"), ManifestPreloadCondition._from_json(cond) if cond else None)


@dataclass(slots=True)
class ManifestConfig:
    """How manifests are split and preloaded (upstream Icechunk's
    ``ManifestConfig``), set as ``RepositoryConfig.manifest``. Set, it
    replaces the repository's manifest configuration whole.

    Parameters
    ----------
    preload : ManifestPreloadConfig, optional
    splitting : ManifestSplittingConfig, optional
    """

    preload: ManifestPreloadConfig | None = None
    splitting: ManifestSplittingConfig | None = field(default=None)

    def __post_init__(self) -> None:
        if self.preload is not None and not isinstance(self.preload, ManifestPreloadConfig):
            raise TypeError(f"ManifestConfig: preload must be a ManifestPreloadConfig, not {type(self.preload).__name__}")
        if self.splitting is not None and not isinstance(self.splitting, ManifestSplittingConfig):
            raise TypeError(f"ManifestConfig: splitting must be a ManifestSplittingConfig, not {type(self.splitting).__name__}")

    @staticmethod
    def default() -> ManifestConfig:
        """No splitting rules, no preloading."""
        return ManifestConfig()

    def _to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.preload is not None:
            d["preload"] = self.preload._to_json()
        if self.splitting is not None:
            d["splitting"] = self.splitting._to_json()
        return d

    @classmethod
    def _from_json(cls, d: Mapping[str, Any]) -> ManifestConfig:
        return cls(
            preload=ManifestPreloadConfig._from_json(d["preload"]) if d.get("preload") else None,
            splitting=ManifestSplittingConfig._from_json(d["splitting"]) if d.get("splitting") else None,
        )
