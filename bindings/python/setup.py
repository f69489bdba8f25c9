"""Build step of the icechunk-go package: put libicechunk.so inside it.

The metadata is in pyproject.toml. This file only extends two setuptools
commands:

- build_py also places the C library in icechunk_go/_lib/: the file
  $ICECHUNK_GO_PREBUILT_LIB names if set (the Makefile passes the library
  it has just built), else one compiled here with
  `go build -buildmode=c-shared ./capi` in the Go module this folder sits
  in ($ICECHUNK_GO_SRC overrides where that is; $GO which go to run).
- bdist_wheel marks the wheel platform-specific (py3-none-<platform>),
  installed into platlib: the package is pure Python, the library it
  carries is not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
MODULE = "module github.com/icechunk-go/icechunk-go"
LIB = "libicechunk.dylib" if sys.platform == "darwin" else "libicechunk.so"


def _module_root() -> Path | None:
    env = os.environ.get("ICECHUNK_GO_SRC")
    candidates = [Path(env)] if env else []
    candidates += list(HERE.parents)
    for c in candidates:
        gomod = c / "go.mod"
        if gomod.is_file() and MODULE in gomod.read_text():
            return c
    return None


def _build_lib(target: Path) -> None:
    prebuilt = os.environ.get("ICECHUNK_GO_PREBUILT_LIB")
    if prebuilt:
        print(f"icechunk-go: bundling {prebuilt}")
        shutil.copyfile(prebuilt, target)
        return
    root = _module_root()
    if root is None:
        bundled = HERE / "icechunk_go" / "_lib" / LIB
        if bundled.is_file():  # an sdist that carries a library
            shutil.copyfile(bundled, target)
            return
        raise RuntimeError(
            "icechunk-go: cannot find the Go module (github.com/icechunk-go/icechunk-go) to build "
            "libicechunk from; set ICECHUNK_GO_SRC to its folder, or ICECHUNK_GO_PREBUILT_LIB to a "
            "built libicechunk.so"
        )
    go = os.environ.get("GO") or shutil.which("go")
    if not go:
        raise RuntimeError("icechunk-go: building libicechunk needs the Go toolchain (`go`) on PATH, or $GO")
    env = dict(os.environ)
    header = root / "include" / "icechunk.h"
    if "CGO_CFLAGS" not in env and header.is_file():
        # The same flags as the Makefile's `make lib`, so that both share Go's build cache.
        digest = hashlib.sha256(header.read_bytes()).hexdigest()[:16]
        env["CGO_CFLAGS"] = f"-O2 -g -DICECHUNK_HEADER_SUM={digest}"
    env.setdefault("CGO_ENABLED", "1")
    cmd = [go, "build", "-buildmode=c-shared"]
    if sys.platform.startswith("linux"):
        # The same link flag as the Makefile's `make lib`: relative
        # relocations packed (DT_RELR) load faster and keep about 1.3 MiB
        # fewer pages in every process. The linker leaves them unpacked
        # where the C library cannot read them.
        cmd.append("-ldflags=-extldflags=-Wl,-z,pack-relative-relocs")
    cmd += ["-o", str(target), "./capi"]
    print(f"icechunk-go: {' '.join(cmd)} (in {root})")
    subprocess.run(cmd, cwd=root, env=env, check=True)
    generated_header = target.with_suffix(".h")
    if generated_header.exists():
        generated_header.unlink()  # cgo's header; the public one is include/icechunk.h


class BuildPyWithLibrary(build_py):
    def run(self) -> None:
        super().run()
        target = (Path(self.build_lib) / "icechunk_go" / "_lib" / LIB).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        _build_lib(target)


class PlatformWheel(bdist_wheel):
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class BinaryDistribution(Distribution):
    """Installs into platlib: the package carries a platform's library."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": PlatformWheel},
    distclass=BinaryDistribution,
)
