"""The benchmark suite: icechunk_go against upstream icechunk and zarr's
LocalStore, on the same machine, same data, same zarr-python, same run.

    python bench/run.py                 # the full suite (what `make bench` runs)
    python bench/run.py --size smoke    # one tiny iteration of each workload (`make test`)
    python bench/run.py --only W1,W2 --runs 3

Each measured run is a fresh worker process (bench/worker.py); its time is
measured inside it (after the imports) and its peak RSS is read by this
process with wait4(2). Every workload has a warm-up round, then --runs
rounds, each running the systems one after another (A B C A B C ...), so
that drift of the machine hits all alike. The ratios are computed round by
round (the peer's time over ours in the same round), then summarised.

Writes results.json (every run), results.md and ratios.png into --out
(default: this folder; the smoke run writes into a temporary folder
unless --out is given). Figures are printed; nothing here fails on a slow
machine. A workload that *errors* is reported, and with --strict (the
smoke run's default) makes the exit status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import minio_server  # beside this file: `python bench/run.py` puts bench/ first on sys.path
import systems as systems_mod
import workloads as wl

HERE = Path(__file__).resolve().parent

# The workloads as reported. Each has a group (the runs that produce it)
# and the systems it compares.
WORKLOADS: dict[str, dict[str, Any]] = {  # titles of the full size; see titled()
    "W1": {"title": "write 1 GiB (4,096 x 256 KiB chunks) + commit", "group": "big", "kind": "throughput"},
    "W2": {"title": "read the 1 GiB back (cold process)", "group": "big", "kind": "throughput"},
    "W3w": {"title": "200,000 x 4 KiB chunks: write + commit", "group": "small", "kind": "throughput"},
    "W3r": {"title": "200,000 x 4 KiB chunks: read (cold process)", "group": "small", "kind": "throughput"},
    "W4w": {"title": "1,000 groups/arrays with attributes + commit", "group": "meta", "kind": "time"},
    "W4r": {"title": "open the hierarchy and list it (cold process)", "group": "meta", "kind": "time"},
    "W5": {"title": "update 1 chunk of a 1,000,000-chunk array + commit", "group": "update", "kind": "time"},
    "W6": {
        "title": "8 processes x 20 commits, disjoint chunks, rebase (S3, MinIO)",
        "group": "contend",
        "kind": "commits",
    },
    "W7w": {"title": "S3 (MinIO, loopback): write 1 GiB + commit", "group": "s3", "kind": "throughput"},
    "W7r": {"title": "S3 (MinIO, loopback): read the 1 GiB back", "group": "s3", "kind": "throughput"},
}


def _size(n: float) -> str:
    for unit, f in (("GiB", wl.GiB), ("MiB", wl.MiB), ("KiB", wl.KiB)):
        if n >= f:
            return f"{n / f:g} {unit}"
    return f"{n:g} B"


def scaled(sizes: dict[str, dict[str, Any]], scale: float) -> dict[str, dict[str, Any]]:
    """sizes with the counts of chunks (and of groups) multiplied by scale."""
    if scale == 1.0:
        return sizes
    out = {k: dict(v) for k, v in sizes.items()}
    for g in ("big", "small", "update"):
        out[g]["chunks"] = max(1, int(out[g]["chunks"] * scale))
        out[g]["slab_chunks"] = max(1, min(out[g]["slab_chunks"], out[g]["chunks"]))
    out["meta"]["groups"] = max(1, int(out["meta"]["groups"] * scale))
    return out


def titled(z: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """WORKLOADS with titles that give the sizes actually run."""
    b, sm, m, u, c = z["big"], z["small"], z["meta"], z["update"], z["contend"]
    big = f"{_size(b['chunks'] * b['chunk_bytes'])} ({b['chunks']:,} x {_size(b['chunk_bytes'])} chunks)"
    small = f"{sm['chunks']:,} x {_size(sm['chunk_bytes'])} chunks"
    nodes = m["groups"] * (1 + m["arrays_per_group"])
    titles = {
        "W1": f"write {big} + commit",
        "W2": f"read the {_size(b['chunks'] * b['chunk_bytes'])} back (cold process)",
        "W3w": f"{small}: write + commit",
        "W3r": f"{small}: read (cold process)",
        "W4w": f"{nodes:,} groups/arrays with {m['attrs']} attributes each + commit",
        "W4r": "open the hierarchy and list it (cold process)",
        "W5": f"update 1 chunk of a {u['chunks']:,}-chunk array + commit",
        "W6": f"{c['procs']} processes x {c['commits']} commits, disjoint chunks, rebase (S3, MinIO)",
        "W7w": f"S3 (MinIO, loopback): write {big} + commit",
        "W7r": f"S3 (MinIO, loopback): read the {_size(b['chunks'] * b['chunk_bytes'])} back",
    }
    return {w: {**meta, "title": titles[w]} for w, meta in WORKLOADS.items()}


# W3 (small) last: it creates and then deletes millions of files, which
# slows down creating files on ext4 for a while afterwards.
GROUP_ORDER = ["big", "meta", "update", "s3", "contend", "small"]
GROUP_SYSTEMS = {
    "big": systems_mod.SYSTEMS,
    "small": systems_mod.SYSTEMS,
    "meta": systems_mod.SYSTEMS,
    # W5 and W6 are about versions (manifests, commits, rebase): LocalStore
    # has none, so it has nothing to compare there.
    "update": systems_mod.VERSIONED,
    "contend": systems_mod.VERSIONED,
    # LocalStore is local disk only.
    "s3": systems_mod.VERSIONED,
}


# --- running one worker ------------------------------------------------------------


class Runner:
    def __init__(self, args: argparse.Namespace, tmp_root: Path) -> None:
        self.minio: Any = None  # set by the suite while a MinIO server runs
        self.args = args
        self.tmp_root = tmp_root
        self.python = args.python or sys.executable
        self.counter = 0
        self.timeout = args.timeout
        self.profile_dir: Path | None = None
        if args.profile:
            self.profile_dir = Path(args.out) / "profiles"
            self.profile_dir.mkdir(parents=True, exist_ok=True)

    def _spec(self, system: str, phase: str, loc: dict, params: dict, ctx: dict, profile_name: str | None) -> Path:
        self.counter += 1
        d = self.tmp_root / "specs"
        d.mkdir(exist_ok=True)
        spec_path = d / f"{self.counter:06d}.json"
        spec = {
            "system": system,
            "phase": phase,
            "loc": loc,
            "params": params,
            "ctx": ctx,
            "result": str(d / f"{self.counter:06d}.result.json"),
        }
        if profile_name and self.profile_dir is not None:
            spec["cprofile"] = str(self.profile_dir / f"{profile_name}.prof")
        spec_path.write_text(json.dumps(spec))
        return spec_path

    def _env(self, profile_name: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("PYTHONHASHSEED", "0")
        # Upstream icechunk warns on every open of a local repository that its
        # local storage is not safe for concurrent commits (see W6 in the
        # README); once in the README is enough.
        env.setdefault("ICECHUNK_LOG", "error")
        return env

    def popen(
        self, spec_path: Path, profile_name: str | None = None, pass_fds: tuple[int, ...] = ()
    ) -> subprocess.Popen:
        cmd = [self.python, str(HERE / "worker.py"), str(spec_path)]
        if profile_name and self.args.pyspy and self.profile_dir is not None:
            cmd = [
                self.args.pyspy, "record", "--native", "--rate", "250", "--format", "speedscope",
                "-o", str(self.profile_dir / f"{profile_name}.speedscope.json"), "--",
            ] + cmd  # fmt: skip
        return subprocess.Popen(
            cmd,
            env=self._env(profile_name),
            stdin=subprocess.DEVNULL,
            pass_fds=pass_fds,
            start_new_session=True,
        )

    def wait(self, proc: subprocess.Popen, timeout: float) -> tuple[int, int, float]:
        """Waits for proc with wait4(2): (exit code, peak RSS in KiB, CPU
        seconds, user + system). Kills its process group after timeout seconds."""

        def kill() -> None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # so that Popen does not wait for it again
        return code, int(usage.ru_maxrss), usage.ru_utime + usage.ru_stime

    def run(
        self,
        system: str,
        phase: str,
        loc: dict,
        params: dict,
        ctx: dict | None = None,
        profile_name: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Runs one phase in a fresh process; returns its result with rss_kib."""
        spec_path = self._spec(system, phase, loc, params, ctx or {}, profile_name)
        if self.args.sync:
            os.sync()  # the previous run's writeback should not land in this one
        server0 = self.server_state()
        proc = self.popen(spec_path, profile_name=profile_name)
        code, rss, cpu = self.wait(proc, timeout or self.timeout)
        res = self._result(spec_path, code, rss, cpu, system)
        res.update(self.server_delta(server0))
        return res

    def server_state(self) -> tuple[float, dict[str, float]] | None:
        """The MinIO server's CPU seconds and request counts so far (None without one)."""
        if self.minio is None:
            return None
        return self.minio.cpu_seconds(), self.minio.requests()

    def server_delta(self, before: tuple[float, dict[str, float]] | None) -> dict[str, Any]:
        """What the server did since server_state() returned before."""
        after = self.server_state()
        if before is None or after is None:
            return {}
        reqs = {k: int(v - before[1].get(k, 0.0)) for k, v in after[1].items() if v - before[1].get(k, 0.0) > 0}
        return {"server_cpu_s": after[0] - before[0], "s3_requests": reqs}

    def _result(self, spec_path: Path, code: int, rss: int, cpu: float, system: str) -> dict[str, Any]:
        """The worker's result. A worker that wrote a complete result and
        then died of a signal (upstream icechunk aborts now and then while
        the interpreter shuts down) keeps its figures if it ran a peer, with
        the death noted (exit_signal); for icechunk_go it is an error, since
        a crash at exit is this project's bug."""
        res_path = spec_path.with_suffix(".result.json")
        try:
            res = json.loads(res_path.read_text())
        except (OSError, ValueError):
            res = {"ok": False, "error": f"worker exited with {code} and no result (killed or timed out?)"}
        res["rss_kib"] = rss
        res["cpu_s"] = cpu
        if code != 0 and res.get("ok"):
            if code < 0 and system != "icechunk_go":
                res["exit_signal"] = -code
            else:
                res = {"ok": False, "error": f"worker exited with {code}"}
        spec_path.unlink(missing_ok=True)
        res_path.unlink(missing_ok=True)
        return res

    def run_writers(self, system: str, loc: dict, params: dict, profile_name: str | None = None) -> dict[str, Any]:
        """W6: `procs` writer processes, released together; returns the round's figures."""
        procs = []
        specs = []
        pipes = []  # (ready read end, go write end) per writer
        server0 = None
        try:
            for w in range(params["procs"]):
                pn = f"{profile_name}_w{w}" if profile_name and w == 0 else None
                ready_r, ready_w = os.pipe()
                go_r, go_w = os.pipe()
                ctx = {"worker": w, "ready_fd": ready_w, "go_fd": go_r}
                sp = self._spec(system, "contend_worker", loc, params, ctx, pn)
                specs.append(sp)
                procs.append(self.popen(sp, profile_name=pn, pass_fds=(ready_w, go_r)))
                os.close(ready_w)
                os.close(go_r)
                pipes.append((ready_r, go_w))
            ready_ok = True
            deadline = time.monotonic() + self.timeout
            for ready_r, _ in pipes:
                readable, _, _ = select.select([ready_r], [], [], max(0.0, deadline - time.monotonic()))
                if not readable or os.read(ready_r, 16) != b"ready\n":
                    ready_ok = False
            server0 = self.server_state()  # from the start, not counting the writers' opening
            t_go = time.monotonic()
            for _, go_w in pipes:
                try:
                    if ready_ok:
                        os.write(go_w, b"go\n")
                except OSError:
                    pass
        finally:
            for fds in pipes:
                for fd in fds:
                    os.close(fd)
        results = []
        for p, sp in zip(procs, specs, strict=True):
            code, rss, cpu = self.wait(p, self.timeout)
            results.append(self._result(sp, code, rss, cpu, system))
        server = self.server_delta(server0)
        errors = [r["error"] for r in results if not r.get("ok")]
        if errors or not ready_ok:
            return {"ok": False, "error": "; ".join(errors) or "a writer did not start", "rss_kib": 0}
        wall = max(r["end_monotonic"] for r in results) - t_go
        lat = sorted(x for r in results for x in r["commit_latencies"])
        cyc = sorted(x for r in results for x in r["cycle_latencies"])
        n = len(lat)
        out = {
            "ok": True,
            "seconds": wall,
            "commits": n,
            "commits_per_s": n / wall,
            "p50_s": _quantile(lat, 0.50),
            "p99_s": _quantile(lat, 0.99),
            "cycle_p50_s": _quantile(cyc, 0.50),
            "cycle_p99_s": _quantile(cyc, 0.99),
            "rss_kib": max(r["rss_kib"] for r in results),
            "rss_sum_kib": sum(r["rss_kib"] for r in results),
            "cpu_s": sum(r["cpu_s"] for r in results),
            # the writers' CPU from their release on, without Python's start and imports
            "released_cpu_s": sum(r["released_cpu_s"] for r in results),
            "writer_ends_s": sorted(r["end_monotonic"] - t_go for r in results),
            **server,
        }
        signals = [r["exit_signal"] for r in results if r.get("exit_signal")]
        if signals:
            out["exit_signal"] = signals[0]
        return out


def _quantile(xs: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted xs."""
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, round(q * len(xs) + 0.5) - 1))
    return xs[k]


# --- the groups of workloads -------------------------------------------------------


class Suite:
    def __init__(self, args: argparse.Namespace, runner: Runner, systems: list[str]) -> None:
        self.args = args
        self.r = runner
        self.systems = systems
        self.sizes = scaled(wl.SIZES[args.size], args.scale)
        self.records: list[dict[str, Any]] = []
        self.setups: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.minio: Any = None
        self.notes: list[str] = []
        self.trash: list[dict[str, Any]] = []
        self.titles = titled(self.sizes)

    def _warmup_params(self, group: str, params: dict[str, Any]) -> dict[str, Any]:
        """W3's warm-up round writes a tenth of the chunks: enough to warm the
        disk and the page cache, without adding minutes to the suite."""
        if group == "small":
            return {**params, "chunks": max(params["slab_chunks"], params["chunks"] // 10)}
        return params

    def _rounds(self) -> list[int]:
        """Round numbers: negative for warm-up rounds (not recorded)."""
        return list(range(-self.args.warmup, self.args.runs))

    def _dir(self, name: str) -> dict[str, Any]:
        p = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.r.tmp_root))
        shutil.rmtree(p)  # the systems create it themselves
        return {"kind": "local", "path": str(p)}

    def _clean(self, loc: dict[str, Any]) -> None:
        """Deletes a run's data at the end of its group, not now: on ext4,
        creating files soon after deleting many is slow (the allocator skips
        inodes freed in the last minute, reading their tables to find out),
        and deletes on a `discard` mount queue TRIMs; either would land in
        the next system's run. Disk use peaks at one group's data (W1: 18 GiB)."""
        self.trash.append(loc)

    def _empty_trash(self) -> None:
        for loc in self.trash:
            if loc["kind"] == "local":
                remove_tree(Path(loc["path"]))
            elif self.minio is not None:
                self.minio.delete_prefix(loc["prefix"])
        self.trash = []
        os.sync()
        if self.args.settle:
            time.sleep(self.args.settle)

    def _record(self, workload: str, system: str, rnd: int, res: dict[str, Any]) -> None:
        if not res.get("ok"):
            msg = f"{workload} {system} round {rnd}: {res.get('error')}"
            self.errors.append(msg)
            print(f"  ERROR {msg}", file=sys.stderr)
            tb = res.get("traceback")
            if tb:
                print("    " + tb.strip().replace("\n", "\n    "), file=sys.stderr)
        rec = {"workload": workload, "system": system, "round": rnd, "warmup": rnd < 0, **res}
        rec.pop("traceback", None)
        rec.pop("commit_latencies", None)
        rec.pop("cycle_latencies", None)
        if res.get("exit_signal"):
            self.notes.append(f"{workload} {system} round {rnd}: the worker died of signal {res['exit_signal']} after writing its result (kept)")
        if rnd >= 0 or self.args.keep_warmup:
            self.records.append(rec)
        if res.get("ok"):
            print(f"  {workload:4s} {system:12s} round {rnd:2d}: {_describe(workload, res)}", flush=True)

    def _profile_name(self, workload: str, system: str, rnd: int) -> str | None:
        if not self.args.profile or rnd != 0:
            return None
        return f"{workload}_{system}"

    def _active(self, group: str) -> list[str]:
        return [s for s in self.systems if s in GROUP_SYSTEMS[group]]

    def _wanted(self, *workloads: str) -> bool:
        return any(w in self.args.only for w in workloads)

    # write-then-read pairs: W1/W2, W3w/W3r, W7w/W7r
    def pair(self, group: str, w_write: str, w_read: str, params: dict, write_phase: str, read_phase: str) -> None:
        if not self._wanted(w_write, w_read):
            return
        print(f"== {w_write} / {w_read}: {self.titles[w_write]['title']}", flush=True)
        full_params = params
        for rnd in self._rounds():
            params = self._warmup_params(group, full_params) if rnd < 0 else full_params
            for s in self._active(group):
                if group == "s3":
                    loc = self.minio.location(f"{w_write}-{s}-r{rnd + 100}")
                else:
                    loc = self._dir(f"{w_write}-{s}")
                try:
                    res = self.r.run(s, write_phase, loc, params, profile_name=self._profile_name(w_write, s, rnd))
                    self._record(w_write, s, rnd, res)
                    if res.get("ok") and self._wanted(w_read):
                        ctx = {"verify": self.args.size == "smoke"}
                        res = self.r.run(
                            s, read_phase, loc, params, ctx, profile_name=self._profile_name(w_read, s, rnd)
                        )
                        self._record(w_read, s, rnd, res)
                finally:
                    self._clean(loc)

    def update(self) -> None:
        if not self._wanted("W5"):
            return
        params = self.sizes["update"]
        print(f"== W5: {self.titles['W5']['title']}", flush=True)
        locs = {}
        try:
            for s in self._active("update"):
                loc = self._dir(f"W5-{s}")
                locs[s] = loc
                print(f"  W5   {s:12s} setup: {params['chunks']:,} one-byte chunks (not measured) ...", flush=True)
                res = self.r.run(s, "update_setup", loc, params, timeout=self.args.timeout * 4)
                if not res.get("ok"):
                    self._record("W5", s, 0, res)
                    locs.pop(s)
                    continue
                self.setups.append({"workload": "W5", "system": s, **res})
                print(
                    f"  W5   {s:12s} setup took {res['seconds']:.1f} s "
                    f"(write {res['write_s']:.1f} s, commit {res['commit_s']:.2f} s), peak RSS {_mib(res['rss_kib'])}",
                    flush=True,
                )
            for rnd in self._rounds():
                for s in self._active("update"):
                    if s not in locs:
                        continue
                    ctx = {"run_index": rnd + self.args.warmup, "verify": self.args.size == "smoke"}
                    res = self.r.run(s, "update_one", locs[s], params, ctx, self._profile_name("W5", s, rnd))
                    self._record("W5", s, rnd, res)
        finally:
            for loc in locs.values():
                self._clean(loc)

    def contend(self) -> None:
        if not self._wanted("W6"):
            return
        params = self.sizes["contend"]
        print(f"== W6: {self.titles['W6']['title']}", flush=True)
        for rnd in self._rounds():
            for s in self._active("contend"):
                # On S3 (MinIO): upstream icechunk's local filesystem storage is not
                # safe for concurrent commits (it says so, and loses commits; README).
                loc = self.minio.location(f"W6-{s}-r{rnd + 100}")
                try:
                    res = self.r.run(s, "contend_setup", loc, params)
                    if not res.get("ok"):
                        self._record("W6", s, rnd, res)
                        continue
                    res = self.r.run_writers(s, loc, params, self._profile_name("W6", s, rnd))
                    if res.get("ok"):
                        v = self.r.run(s, "contend_verify", loc, params)
                        if not v.get("ok"):
                            res = {"ok": False, "error": f"verification: {v.get('error')}", "rss_kib": 0}
                        else:
                            res["history_commits"] = v["commits"]
                            res["expected_commits"] = v["expected_commits"]
                            res["missing_chunks"] = v["missing_chunks"]
                            if v["commits"] != v["expected_commits"] or v["missing_chunks"]:
                                res["lost"] = True
                                msg = (
                                    f"W6 {s} round {rnd}: main has {v['commits']} snapshots, expected "
                                    f"{v['expected_commits']}; {v['missing_chunks']} chunks missing (lost updates)"
                                )
                                self.notes.append(msg)
                                print(f"  WARNING {msg}", file=sys.stderr)
                    self._record("W6", s, rnd, res)
                finally:
                    self._clean(loc)

    def _start_minio(self, why: str) -> bool:
        """Starts the MinIO server once (for W6 and W7); False if there is none."""
        if self.minio is not None:
            return True
        binary = minio_binary(self.args)
        if binary is None:
            msg = f"{why} skipped: no MinIO binary (run `make tools`, or set MINIO_BIN)"
            self.notes.append(msg)
            print(msg, file=sys.stderr)
            if self.args.strict:
                self.errors.append(msg)
            return False
        self.minio = minio_server.MinIO(binary, str(self.r.tmp_root))
        self.r.minio = self.minio
        self.notes.append(f"W6 and W7 ran against MinIO {self.minio.endpoint} on loopback ({binary})")
        return True

    def run_all(self) -> None:
        big, small = self.sizes["big"], self.sizes["small"]
        try:
            for i, group in enumerate(GROUP_ORDER):
                if group == "big":
                    self.pair("big", "W1", "W2", big, "write_chunks", "read_chunks")
                elif group == "small":
                    self.pair("small", "W3w", "W3r", small, "write_chunks", "read_chunks")
                elif group == "meta":
                    self.pair("meta", "W4w", "W4r", self.sizes["meta"], "write_meta", "read_meta")
                elif group == "update":
                    self.update()
                elif group == "contend":
                    if self._wanted("W6") and self._active("contend") and self._start_minio("W6"):
                        self.contend()
                elif group == "s3" and self._wanted("W7w", "W7r") and self._active("s3") and self._start_minio("W7"):
                    self.pair("s3", "W7w", "W7r", big, "write_chunks", "read_chunks")
                if i + 1 < len(GROUP_ORDER):
                    self._empty_trash()  # the last group's data goes with the temp folder, after the report
                if self.minio is not None and not {"s3", "contend"} & set(GROUP_ORDER[i + 1 :]):
                    self.minio.stop()  # idle, it would still take some CPU from the rest
                    self.minio = self.r.minio = None
        finally:
            if self.minio is not None:
                self._empty_trash()  # S3 prefixes need the server
                self.minio.stop()
                self.minio = self.r.minio = None


def remove_tree(path: Path) -> None:
    """rm -rf: a few times faster than shutil.rmtree on millions of files."""
    if subprocess.run(["rm", "-rf", "--", str(path)], check=False).returncode != 0:
        shutil.rmtree(path, ignore_errors=True)


def minio_binary(args: argparse.Namespace) -> str | None:
    return args.minio or minio_server.find_binary()


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def _describe(workload: str, res: dict[str, Any]) -> str:
    out = f"{res['seconds']:.3f} s"
    if "bytes" in res and res["seconds"] > 0:
        out += f", {res['bytes'] / wl.MiB / res['seconds']:.0f} MiB/s"
    if "commits_per_s" in res:
        out += f", {res['commits_per_s']:.1f} commits/s, p50 {res['p50_s'] * 1000:.0f} ms, p99 {res['p99_s'] * 1000:.0f} ms"
    return out + f", peak RSS {_mib(res.get('rss_kib', 0))}"


# --- the machine ------------------------------------------------------------------


def machine_info(python: str, systems: list[str], versions: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info["versions"] = versions
    return info


def probe_systems(python: str, wanted: list[str]) -> dict[str, tuple[bool, str]]:
    """Which systems import here (in a child, so that this process loads
    neither library), with their versions, and in "lib:NAME" the file of
    each one's native library."""
    code = (
        "import json, sys, systems, zarr, numpy; "
        "out = {n: systems.available(n) for n in sys.argv[1:]}; "
        "out.update({'lib:' + n: (True, systems.native_library(n)) for n in sys.argv[1:] if out[n][0]}); "
        "out['zarr'] = (True, zarr.__version__); out['numpy'] = (True, numpy.__version__); "
        "print(json.dumps(out))"
    )
    env = dict(os.environ, PYTHONPATH=str(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [python, "-c", code, *wanted], check=False, capture_output=True, text=True, env=env, timeout=300
    )
    if out.returncode != 0:
        raise SystemExit(f"cannot import zarr/numpy with {python}:\n{out.stderr}")
    return {k: tuple(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def drop_from_page_cache(paths: list[str]) -> list[str]:
    """Write back and drop the files' pages from the page cache, so that
    every system's library is read from disk by read-ahead, as after a
    reboot. A library installed just before the run (``make bench``
    rebuilds icechunk_go's) is otherwise still in the pages its writer
    filled, which the kernel maps in larger blocks: the same library then
    adds about 2 MiB more to a worker's peak RSS (measured for both
    systems' libraries), whichever system was installed last. Returns the
    files it could not drop, with why."""
    failed = []
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)  # dirty pages are not dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
        except (OSError, AttributeError) as e:
            failed.append(f"{path}: {e}")
    return failed


# --- main -------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(wl.SIZES), default="full")
    ap.add_argument(
        "--scale", type=float, default=1.0, help="multiply the chunk and group counts (quick looks, profiling)"
    )
    ap.add_argument("--runs", type=int, help="measured rounds per workload (default 5; smoke 1)")
    ap.add_argument("--warmup", type=int, help="warm-up rounds, not recorded (default 1; smoke 0)")
    ap.add_argument("--only", help="comma-separated workloads (default all): " + ",".join(WORKLOADS))
    ap.add_argument("--systems", help="comma-separated systems (default all): " + ",".join(systems_mod.SYSTEMS))
    ap.add_argument("--out", help="folder for results.json, results.md, ratios.png (default bench/; smoke: a temp dir)")
    ap.add_argument("--tmp", help="folder for the repositories (default: the system's temp folder)")
    ap.add_argument("--python", help="the interpreter of the workers (default: this one)")
    ap.add_argument("--minio", help="the MinIO binary (default: $MINIO_BIN or $(go env GOPATH)/bin/minio)")
    ap.add_argument("--timeout", type=float, help="seconds before a run is killed (default 1800; smoke 300)")
    ap.add_argument("--strict", action=argparse.BooleanOptionalAction, help="exit 1 if a workload errors (smoke: on)")
    ap.add_argument(
        "--allow-missing", action="store_true", help="skip a system that does not import instead of failing"
    )
    ap.add_argument("--no-sync", dest="sync", action="store_false", help="do not sync(2) before each run")
    ap.add_argument("--settle", type=float, default=0.0, help="seconds to pause after each group's cleanup")
    ap.add_argument("--keep-warmup", action="store_true", help="keep the warm-up runs in results.json")
    ap.add_argument(
        "--profile", action="store_true", help="cProfile the first measured run of each (into OUT/profiles)"
    )
    ap.add_argument("--pyspy", help="with --profile: a py-spy binary to record native stacks (Go and Rust frames)")
    args = ap.parse_args(argv)
    smoke = args.size == "smoke"
    args.runs = args.runs if args.runs is not None else (1 if smoke else 5)
    args.warmup = args.warmup if args.warmup is not None else (0 if smoke else 1)
    args.timeout = args.timeout or (300.0 if smoke else 1800.0)
    args.strict = smoke if args.strict is None else args.strict
    args.only = [w.strip() for w in args.only.split(",")] if args.only else list(WORKLOADS)
    unknown = [w for w in args.only if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workloads {unknown}; known: {', '.join(WORKLOADS)}")
    args.systems = [s.strip() for s in args.systems.split(",")] if args.systems else list(systems_mod.SYSTEMS)
    for s in args.systems:
        if s not in systems_mod.SYSTEMS:
            ap.error(f"unknown system {s!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    python = args.python or sys.executable
    tmp_out = None
    if args.out is None:
        if args.size == "smoke":
            tmp_out = tempfile.mkdtemp(prefix="bench-smoke-out-")
            args.out = tmp_out
        else:
            args.out = str(HERE)
    Path(args.out).mkdir(parents=True, exist_ok=True)

    probe = probe_systems(python, args.systems)
    libraries = {k[4:]: v[1] for k, v in probe.items() if k.startswith("lib:") and v[1]}
    probe = {k: v for k, v in probe.items() if not k.startswith("lib:")}
    versions = {k: v[1] for k, v in probe.items() if v[0]}
    systems = []
    missing = []
    for s in args.systems:
        ok, what = probe[s]
        if ok:
            systems.append(s)
            print(f"{systems_mod.LABELS[s]:22s} {what}")
        else:
            missing.append(f"{s}: {what}")
            print(f"{systems_mod.LABELS[s]:22s} NOT AVAILABLE ({what})", file=sys.stderr)
    print(f"{'zarr':22s} {versions.get('zarr')}\n{'numpy':22s} {versions.get('numpy')}")
    if missing and not args.allow_missing:
        print("missing systems (use --allow-missing to run without them): " + "; ".join(missing), file=sys.stderr)
        return 2

    tmp_root = Path(tempfile.mkdtemp(prefix="bench-", dir=args.tmp))
    runner = Runner(args, tmp_root)
    suite = Suite(args, runner, systems)
    for m in missing:
        suite.notes.append(f"not run: {m}")
    if libraries:
        failed = drop_from_page_cache(list(libraries.values()))
        suite.notes.append(
            "the systems' native libraries were dropped from the page cache before the first run, so each "
            "was read from disk as after a reboot: " + ", ".join(f"{k} {v}" for k, v in sorted(libraries.items()))
            + ("" if not failed else "; could not drop: " + "; ".join(failed))
        )
    t0 = time.monotonic()
    try:
        suite.run_all()
    except KeyboardInterrupt:
        print("interrupted: writing what was measured", file=sys.stderr)
        suite.errors.append("interrupted")
    except BaseException:
        remove_tree(tmp_root)
        raise
    elapsed = time.monotonic() - t0

    data = {
        "machine": machine_info(python, systems, versions),
        "settings": {
            "size": args.size,
            "runs": args.runs,
            "warmup": args.warmup,
            "sizes": suite.sizes,
            "scale": args.scale,
            "systems": systems,
            "workloads": args.only,
            "profiled": bool(args.profile),
            "elapsed_s": elapsed,
        },
        "workloads": suite.titles,
        "runs": suite.records,
        "setups": suite.setups,
        "errors": suite.errors,
        "notes": suite.notes,
    }
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(data, indent=1))
    import report

    md = report.write(data, out)
    print()
    print(md)
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'ratios.png'} ({elapsed / 60:.1f} min)")
    print(f"removing the repositories in {tmp_root} ...", flush=True)
    remove_tree(tmp_root)
    if suite.errors:
        print(f"{len(suite.errors)} error(s):\n  " + "\n  ".join(suite.errors), file=sys.stderr)
        if args.strict:
            return 1
    if tmp_out and not suite.errors:
        shutil.rmtree(tmp_out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
