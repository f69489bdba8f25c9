"""Every public name of icechunk_go has a docstring and the package is typed."""

from __future__ import annotations

import inspect
from pathlib import Path

import icechunk_go as ic
import icechunk_go.xarray as icx


def public_members(obj: object) -> list[tuple[str, object]]:
    out = []
    for name, member in vars(obj).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property | staticmethod | classmethod) or inspect.isfunction(member):
            out.append((name, member))
    return out


def test_every_public_name_is_documented() -> None:
    missing = []
    for name in ic.__all__:
        obj = getattr(ic, name)
        if name.startswith("__") or isinstance(obj, int | str):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj) and obj.__module__.startswith("icechunk_go"):
            for mname, member in public_members(obj):
                fn = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                if not inspect.getdoc(fn) and not _inherits_doc(obj, mname):
                    missing.append(f"{name}.{mname}")
    if not inspect.getdoc(icx.to_icechunk):
        missing.append("xarray.to_icechunk")
    assert not missing, f"undocumented: {missing}"


def _inherits_doc(cls: type, name: str) -> bool:
    # Methods implementing zarr's Store interface keep zarr's documentation.
    for base in cls.__mro__[1:]:
        if name in vars(base) and inspect.getdoc(getattr(base, name)):
            return True
    return False


def test_package_is_typed() -> None:
    assert (Path(ic.__file__).parent / "py.typed").is_file()


def test_installs_beside_upstream_icechunk() -> None:
    # Our import name and distribution never shadow upstream's.
    from importlib.metadata import distribution

    assert ic.__name__ == "icechunk_go"
    dist = distribution("icechunk-go")
    files = [str(f) for f in dist.files or []]
    assert not any(f.startswith("icechunk/") for f in files)
    assert any(f.startswith("icechunk_go/_lib/libicechunk") for f in files)
