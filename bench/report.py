"""results.json -> results.md and ratios.png.

    python bench/report.py [FOLDER]     # regenerate both from FOLDER/results.json

Ratios are computed pair by pair: for each round, the peer's figure over
ours in that same round (the runs of a round are back to back, so machine
drift hits both), then the median and range over the rounds.

- speed ratio  = peer time / our time  (> 1: icechunk_go is faster);
  for W6, our commits per second / the peer's;
- memory ratio = our peak RSS / the peer's (< 1: icechunk_go uses less).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

OURS = "icechunk_go"
PEERS = ("icechunk", "localstore")
LABELS = {"icechunk_go": "icechunk_go", "icechunk": "icechunk (upstream)", "localstore": "zarr LocalStore"}
SHORT = {"icechunk": "upstream icechunk", "localstore": "LocalStore"}

# The targets: minimum speed ratio per (workload, peer).
SPEED_TARGETS: dict[tuple[str, str], float] = {
    **{(w, "icechunk"): 1.5 for w in ("W1", "W2", "W3w", "W3r", "W4w", "W4r", "W7w", "W7r")},
    ("W5", "icechunk"): 10.0,
    ("W6", "icechunk"): 2.0,
    **{(w, "localstore"): 0.9 for w in ("W1", "W2", "W3w", "W3r")},
}
# Peak memory no higher than upstream icechunk's, everywhere.
MEMORY_TARGET = {"icechunk": 1.0}

MiB = 1024 * 1024


def _ok_runs(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in data["runs"] if r.get("ok") and not r.get("warmup")]


def _by(data: dict[str, Any]) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    out: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for r in _ok_runs(data):
        out.setdefault((r["workload"], r["system"]), {})[r["round"]] = r
    return out


def _summary(xs: list[float]) -> tuple[float, float, float] | None:
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def _speed(w: str, kind: str, ours: dict[str, Any], peer: dict[str, Any]) -> float:
    if kind == "commits":
        return ours["commits_per_s"] / peer["commits_per_s"]
    return peer["seconds"] / ours["seconds"]


def ratios(data: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """{(workload, peer): {"speed": (med, lo, hi), "memory": (med, lo, hi), "pairs": n}}"""
    by = _by(data)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for w, meta in data["workloads"].items():
        ours = by.get((w, OURS), {})
        for peer in PEERS:
            theirs = by.get((w, peer), {})
            rounds = sorted(set(ours) & set(theirs))
            if not rounds:
                continue
            sp = [_speed(w, meta["kind"], ours[k], theirs[k]) for k in rounds]
            mem = [ours[k]["rss_kib"] / theirs[k]["rss_kib"] for k in rounds if theirs[k].get("rss_kib")]
            out[(w, peer)] = {"speed": _summary(sp), "memory": _summary(mem), "pairs": len(rounds)}
    return out


# --- formatting ----------------------------------------------------------------------


def _fmt_s(x: float) -> str:
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    return f"{x * 1000:.1f} ms" if x >= 0.01 else f"{x * 1000:.2f} ms"


def _fmt_ratio(t: tuple[float, float, float] | None) -> str:
    if t is None:
        return "-"
    med, lo, hi = t
    return f"**{med:.2f}x** ({lo:.2f}-{hi:.2f})"


def _cell(w: str, kind: str, runs: dict[int, dict[str, Any]]) -> str:
    if not runs:
        return "-"
    rs = list(runs.values())
    if kind == "commits":
        cps = _summary([r["commits_per_s"] for r in rs])
        p50 = statistics.median(r["p50_s"] for r in rs)
        p99 = statistics.median(r["p99_s"] for r in rs)
        assert cps is not None
        return f"**{cps[0]:.1f} commits/s** ({cps[1]:.1f}-{cps[2]:.1f}); p50 {_fmt_s(p50)}, p99 {_fmt_s(p99)}"
    secs = _summary([r["seconds"] for r in rs])
    assert secs is not None
    out = f"**{_fmt_s(secs[0])}** ({_fmt_s(secs[1])}-{_fmt_s(secs[2])})"
    if kind == "throughput" and rs[0].get("bytes"):
        mibs = statistics.median(r["bytes"] / MiB / r["seconds"] for r in rs)
        out += f"; {mibs:.0f} MiB/s"
    return out


def _target_cell(rat: dict[str, Any] | None, target: float | None, memory: bool = False) -> str:
    if target is None:
        return ""
    if rat is None:
        return f"{'<=' if memory else '>='}{target:g}x: not measured"
    med = rat["memory" if memory else "speed"]
    if med is None:
        return "-"
    met = med[0] <= target if memory else med[0] >= target
    return f"{'<=' if memory else '>='}{target:g}x: {'met' if met else '**missed**'}"


def markdown(data: dict[str, Any]) -> str:
    m, st = data["machine"], data["settings"]
    by = _by(data)
    rat = ratios(data)
    systems = st["systems"]
    wls = [w for w in data["workloads"] if w in st["workloads"]]
    v = m.get("versions", {})
    lines = [
        "# Benchmarks: icechunk_go, upstream icechunk, zarr LocalStore",
        "",
        "Generated by `make bench` (`bench/run.py`); do not edit by hand.",
        "",
        (
            f"- {m.get('date')}; {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('memory_gib', '?')} GiB RAM; "
            f"{m.get('platform')}; Python {m.get('python')}"
        ),
        f"- zarr {v.get('zarr')}, numpy {v.get('numpy')}; "
        + ", ".join(f"{LABELS[s]} {v.get(s, 'not available')}" for s in ("icechunk_go", "icechunk")),
        (
            f"- size `{st['size']}`: {st['runs']} measured round(s) per workload after {st['warmup']} warm-up "
            f"round(s), systems interleaved in each round; every run a fresh process; "
            f"{st['elapsed_s'] / 60:.1f} min in all"
        ),
    ]
    if st.get("scale", 1.0) != 1.0:
        lines.append(f"- counts scaled by {st['scale']:g} (`--scale`)")
    if st["size"] != "full":
        lines.append("- **not the full sizes**: the ratios say nothing about the targets")
    if st.get("profiled"):
        lines.append("- **profiled run** (cProfile / py-spy on): the figures are slower than normal")
    lines += [
        "",
        "## Figures",
        "",
        (
            "Median (min-max) over the rounds. Times are wall clock inside the worker, after its imports,"
            " from opening the repository (or store) to the end of the commit (or read)."
        ),
        "",
        "| # | workload | " + " | ".join(LABELS[s] for s in systems) + " |",
        "|---|---|" + "---|" * len(systems),
    ]
    for w in wls:
        meta = data["workloads"][w]
        cells = [_cell(w, meta["kind"], by.get((w, s), {})) for s in systems]
        lines.append(f"| {w} | {meta['title']} | " + " | ".join(cells) + " |")

    if OURS in systems:
        lines += [
            "",
            "## Ratios (icechunk_go against each peer, same run, round by round)",
            "",
            (
                "Speed: the peer's time over ours (W6: our commits/s over the peer's), > 1 means icechunk_go is"
                " faster. Memory: our peak RSS over the peer's, < 1 means icechunk_go uses less."
                " Median (min-max) over the rounds."
            ),
            "",
            (
                "| # | speed vs upstream icechunk | target | speed vs LocalStore | target "
                "| memory vs upstream icechunk | target | memory vs LocalStore |"
            ),
            "|---|---|---|---|---|---|---|---|",
        ]
        for w in wls:
            r_ic, r_ls = rat.get((w, "icechunk")), rat.get((w, "localstore"))
            row = [
                _fmt_ratio(r_ic["speed"]) if r_ic else "-",
                _target_cell(r_ic, SPEED_TARGETS.get((w, "icechunk"))) if "icechunk" in systems else "",
                _fmt_ratio(r_ls["speed"]) if r_ls else "-",
                _target_cell(r_ls, SPEED_TARGETS.get((w, "localstore"))) if "localstore" in systems else "",
                _fmt_ratio(r_ic["memory"]) if r_ic else "-",
                _target_cell(r_ic, MEMORY_TARGET["icechunk"], memory=True) if r_ic else "",
                _fmt_ratio(r_ls["memory"]) if r_ls else "-",
            ]
            lines.append(f"| {w} | " + " | ".join(row) + " |")
        missed = []
        for (w, peer), t in sorted(SPEED_TARGETS.items()):
            r = rat.get((w, peer))
            if r and r["speed"] and r["speed"][0] < t:
                missed.append(f"{w} speed vs {SHORT[peer]}: {r['speed'][0]:.2f}x < {t:g}x")
        for (w, peer), r in sorted(rat.items()):
            if peer in MEMORY_TARGET and r["memory"] and r["memory"][0] > MEMORY_TARGET[peer]:
                missed.append(f"{w} memory vs {SHORT[peer]}: {r['memory'][0]:.2f}x > {MEMORY_TARGET[peer]:g}x")
        lines += ["", f"Targets missed in this run: {len(missed)}" + (":" if missed else ".")]
        lines += [f"- {x}" for x in missed]

    lines += [
        "",
        "## Peak memory (RSS of the worker process, median)",
        "",
        (
            "The whole process: Python, numpy, zarr and the library, plus the workload's own buffers"
            " (W1/W7 writers hold a 64 MiB slab). W6: the largest of the writer processes."
        ),
        "",
        "| # | " + " | ".join(LABELS[s] for s in systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for w in wls:
        cells = []
        for s in systems:
            rs = by.get((w, s), {})
            cells.append(f"{statistics.median(r['rss_kib'] for r in rs.values()) / 1024:.0f} MiB" if rs else "-")
        lines.append(f"| {w} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## CPU time (median, user + system)",
        "",
        (
            "Of the worker process (W6: all writers together, and in brackets their CPU from their release on,"
            " without Python's start and imports), and for W6/W7 also of the MinIO server during"
            f" the run (`+ n s server`): where the time went, on a machine with {m.get('cpus')} CPUs."
        ),
        "",
        "| # | " + " | ".join(LABELS[s] for s in systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for w in wls:
        cells = []
        for s in systems:
            rs = [r for r in by.get((w, s), {}).values() if r.get("cpu_s") is not None]
            if not rs:
                cells.append("-")
                continue
            cell = f"{statistics.median(r['cpu_s'] for r in rs):.2f} s"
            rel = [r["released_cpu_s"] for r in rs if r.get("released_cpu_s") is not None]
            if rel:
                cell += f" ({statistics.median(rel):.2f} s after release)"
            srv = [r["server_cpu_s"] for r in rs if r.get("server_cpu_s") is not None]
            if srv:
                cell += f" + {statistics.median(srv):.2f} s server"
            cells.append(cell)
        lines.append(f"| {w} | " + " | ".join(cells) + " |")

    s3 = [w for w in wls if any(r.get("s3_requests") for s in systems for r in by.get((w, s), {}).values())]
    if s3:
        lines += [
            "",
            "## S3 requests (median per run, counted by the MinIO server; W6: per commit)",
            "",
            "| # | " + " | ".join(LABELS[s] for s in systems) + " |",
            "|---|" + "---|" * len(systems),
        ]
        for w in s3:
            cells = []
            for s in systems:
                rs = [r for r in by.get((w, s), {}).values() if r.get("s3_requests")]
                if not rs:
                    cells.append("-")
                    continue
                apis = sorted({k for r in rs for k in r["s3_requests"]})
                per = (lambda r: r.get("commits") or 1) if w == "W6" else (lambda r: 1)
                med = {a: statistics.median(r["s3_requests"].get(a, 0) / per(r) for r in rs) for a in apis}
                total = sum(med.values())
                fmt = "{:.1f}" if w == "W6" else "{:.0f}"
                cells.append(f"{fmt.format(total)}: " + ", ".join(f"{a} {fmt.format(v)}" for a, v in med.items() if v))
            lines.append(f"| {w} | " + " | ".join(cells) + " |")

    if "W6" in wls:
        lines += ["", "## W6 in detail", ""]
        for s in systems:
            rs = list(by.get(("W6", s), {}).values())
            if not rs:
                continue
            lost = sum(1 for r in rs if r.get("lost"))
            lines.append(
                f"- {LABELS[s]}: commit latency p50 {_fmt_s(statistics.median(r['p50_s'] for r in rs))}, "
                f"p99 {_fmt_s(statistics.median(r['p99_s'] for r in rs))}; whole cycle (session, write, commit) "
                f"p50 {_fmt_s(statistics.median(r['cycle_p50_s'] for r in rs))}, "
                f"p99 {_fmt_s(statistics.median(r['cycle_p99_s'] for r in rs))}; "
                f"history checked after each round: "
                + (f"**{lost} round(s) lost commits**" if lost else "every commit present")
            )

    if data.get("setups"):
        lines += ["", "## Setup (not measured)", ""]
        for s in data["setups"]:
            lines.append(
                f"- {s['workload']} {LABELS[s['system']]}: {s.get('chunks', 0):,} chunks written and committed in "
                f"{_fmt_s(s['seconds'])} (commit {_fmt_s(s.get('commit_s', 0))}), peak RSS {s['rss_kib'] / 1024:.0f} MiB"
            )
    if data.get("notes") or data.get("errors"):
        lines += ["", "## Notes and errors", ""]
        lines += [f"- {n}" for n in data.get("notes", [])]
        lines += [f"- **error**: {e}" for e in data.get("errors", [])]
    lines += ["", "See `bench/README.md` for what each workload does and why it is set up that way.", ""]
    return "\n".join(lines)


def chart(data: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart", file=sys.stderr)
        return False
    rat = ratios(data)
    wls = [w for w in data["workloads"] if w in data["settings"]["workloads"] and any((w, p) in rat for p in PEERS)]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, 1.1 * len(wls) + 3), 8.5), sharex=True)
    width = 0.38
    colors = {"icechunk": "#4C72B0", "localstore": "#DD8452"}
    xs = list(range(len(wls)))
    for ax, key in ((ax1, "speed"), (ax2, "memory")):
        for i, peer in enumerate(PEERS):
            off = (i - 0.5) * width
            meds, los, his, pos = [], [], [], []
            for x, w in zip(xs, wls, strict=True):
                r = rat.get((w, peer))
                if r and r[key]:
                    med, lo, hi = r[key]
                    meds.append(med)
                    los.append(med - lo)
                    his.append(hi - med)
                    pos.append(x + off)
            if meds:
                ax.bar(pos, meds, width, yerr=[los, his], capsize=3, color=colors[peer], label=f"vs {SHORT[peer]}")
                for p, mval in zip(pos, meds, strict=True):
                    ax.annotate(f"{mval:.2f}", (p, mval), ha="center", va="bottom", fontsize=7,
                                xytext=(0, 2), textcoords="offset points")  # fmt: skip
            if key == "speed":
                for x, w in zip(xs, wls, strict=True):
                    t = SPEED_TARGETS.get((w, peer))
                    if t is not None:
                        ax.hlines(t, x + off - width / 2, x + off + width / 2, colors="black", linestyles="--", lw=1.2)
        ax.axhline(1.0, color="grey", lw=0.8)
        if key == "speed":
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3, which="both")
    ax1.set_ylabel("speed ratio (peer time / ours)\n> 1: icechunk_go faster")
    ax1.set_title("icechunk_go vs peers, same run (dashed: targets; bars: median, whiskers: min-max)")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.set_ylabel("peak RSS ratio (ours / peer)\n< 1: icechunk_go smaller")
    ax2.set_title("peak memory (target vs upstream icechunk: <= 1)", fontsize=10)
    ax2.set_xticks(xs)
    ax2.set_xticklabels(wls)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(data: dict[str, Any], out: Path) -> str:
    md = markdown(data)
    (out / "results.md").write_text(md)
    chart(data, out / "ratios.png")
    return md


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    d = json.loads((folder / "results.json").read_text())
    print(write(d, folder))
