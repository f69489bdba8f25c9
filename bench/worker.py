"""One measured (or setup) run, in a process of its own.

    python bench/worker.py SPEC.json

SPEC holds: system, phase, loc, params, ctx, result (where to write the
result JSON). The process imports only the system it runs, so each run
starts cold (nothing cached in the process) and its peak RSS, which the
parent reads with wait4(2), is its own.

The phase ``contend_worker`` writes ``ready`` to the pipe ctx.ready_fd once
it has opened the repository, and waits for ``go`` on ctx.go_fd before it
starts committing, so that the parent can release all the writers at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result_path = Path(spec["result"])
    t_start = time.perf_counter()
    try:
        import systems
        import workloads

        system = systems.System(spec["system"])
        _ = system.mod  # import the library before any clock starts
        import zarr  # noqa: F401

        t_imported = time.perf_counter()
        ctx = dict(spec.get("ctx") or {})
        params = spec["params"]
        loc = spec["loc"]

        def run() -> dict:
            if spec["phase"] == "contend_worker":

                def wait_for_start() -> None:
                    os.write(int(ctx["ready_fd"]), b"ready\n")
                    os.close(int(ctx["ready_fd"]))
                    got = os.read(int(ctx["go_fd"]), 16)
                    os.close(int(ctx["go_fd"]))
                    if got != b"go\n":
                        raise RuntimeError("the parent did not release the writers")

                return workloads.contend_worker(system, loc, params, ctx, wait_for_start)
            return workloads.PHASES[spec["phase"]](system, loc, params, ctx)

        prof_path = spec.get("cprofile")
        if prof_path:
            import cProfile

            prof = cProfile.Profile()
            result = prof.runcall(run)
            prof.dump_stats(prof_path)
        else:
            result = run()
        result["import_s"] = t_imported - t_start
        result["ok"] = True
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides
        result = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    result_path.write_text(json.dumps(result))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
