"""The memory state the benchmark's runs start in.

A write of a gigabyte needs a gigabyte of page cache. Where those pages
come from decides much of what the write costs, and it has nothing to do
with the system being measured:

- On a machine in use, free memory is mostly page cache already, and the
  kernel takes the new pages from old, clean cache: cheap.
- On a virtual machine that hands free memory back to its host (a balloon
  with free page reporting, as on the machine this suite was built on),
  every page never touched since it was handed back costs a fault in the
  host first: about 2.6 s of CPU per GiB here (NOTES.md, sections 11-13).

Left alone, the runs of one benchmark land in either state depending on how
much the previous runs filled, so a round's figures moved by seconds with
its position in the run. ``UsedMemory`` puts every write run in the first
state: a sparse file as large as the free memory, read through before each
run that writes, keeps the page cache full, so every system's new pages
come from reclaiming clean ones. Runs that read what the previous run wrote
get no refill, which would push that data out of the cache first.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

GIB = 1 << 30


def available_bytes() -> int:
    """MemAvailable of /proc/meminfo (0 where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class UsedMemory:
    """A sparse file whose cached pages fill the memory the runs do not use.

    ``headroom`` bytes stay free for the workers' own memory when the file
    is created; the file's holes read as zeros and take no disk space."""

    def __init__(self, folder: Path, headroom: int = GIB) -> None:
        self.size = max(0, available_bytes() - headroom)
        self.path = folder / "page-cache-filler"
        with open(self.path, "wb") as f:
            f.truncate(self.size)
        self.refills = 0
        self.refill_seconds = 0.0

    def refill(self) -> None:
        """Reads the file through, so its pages the last run's new page
        cache reclaimed are cached again (the first call caches them all)."""
        t0 = time.monotonic()
        buf = bytearray(4 << 20)
        with open(self.path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
        self.refills += 1
        self.refill_seconds += time.monotonic() - t0

    def close(self) -> None:
        """Deletes the file (its pages leave the cache with it)."""
        self.path.unlink(missing_ok=True)

    def describe(self) -> str:
        return (
            f"memory in use: a {self.size / GIB:.1f} GiB sparse file read through the page cache before each "
            f"run that writes ({self.refills} refills, {self.refill_seconds:.0f} s), so every system's new page "
            f"cache came from reclaiming clean pages, as on a machine whose memory is in use (bench/memstate.py)"
        )
