#!/usr/bin/env python3
"""The tail-hedging benchmark: one connection throttled to 1% of the others.

A fresh `ferry origin` per run serves one synthetic file (default 512 MiB) with every response
capped at --cap bytes/s (default 8 MiB/s, strict, no burst). In the throttled case a first rule
caps every response on the K-th accepted connection at --slow-share of that (default 1%):

    ferry origin --synthetic /f.bin:512M --stats-file S \
        --fault '/f.bin:rate=83886,connection=3' --fault '/f.bin:rate=8M'     (throttled)
    ferry origin --synthetic /f.bin:512M --stats-file S --fault '/f.bin:rate=8M'  (baseline)

and the tools download it into /dev/shm:

    ferry get -x 8 --ca-cert CA -d DIR URL       (8 × 8 MiB/s: about 8 s for 512 MiB)
    ferry get --ca-cert CA -d DIR URL            (adaptive connections, up to 32)
    aria2c -x16 -s16 -k1M --ca-certificate=CA -d DIR URL   (its best flags; no hedging)

ferry's first connection carries the probe, so connection 3 is an ordinary worker; connection 1
(the probe's) is measured as well. Every output is checked by sha256; the origin's
`body_bytes_sent` (written when it exits) minus the file size is the bytes fetched twice.
The target (issue "Real CDNs and networks", item 6): throttled wall ≤ 1.1 × baseline wall
(medians), duplicate bytes ≤ 2% of the file. Cases alternate within each round.

Usage: bench/run.sh hedge [--runs 5] [--size 512M] [--cap 8M] [--slow-share 0.01]
       [--cases ferry-x8,ferry-x8-slow3,...] [--timeout 180] [--report JSON]
Writes bench/results/hedge-latest.json (and a timestamped copy) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

MiB = B.MiB
FILE = "f.bin"


@dataclass
class Case:
    name: str           # key in the results
    tool: str           # ferry | aria2c
    label: str          # the command, as shown in the tables
    flags: tuple        # the tool's own flags beyond the fixed ones
    slow: int | None    # the throttled connection (1-based), None for the baseline


def all_cases() -> list[Case]:
    cases = []
    for key, tool, label, flags, slows in (
            ("ferry-x8", "ferry", "ferry get -x 8", ("-x", "8"), (None, 3, 1)),
            ("ferry", "ferry", "ferry get", (), (None, 3)),
            ("aria2c", "aria2c", "aria2c -x16 -s16 -k1M", ("-x16", "-s16", "-k1M"), (None, 3))):
        for slow in slows:
            cases.append(Case(key if slow is None else f"{key}-slow{slow}", tool, label, flags, slow))
    return cases


DEFAULT_CASES = [c.name for c in all_cases()]


def command(case: Case, ferry: str, ca: Path, url: str, out: Path, stats: Path) -> list[str]:
    if case.tool == "ferry":
        return [ferry, "get", *case.flags, "--ca-cert", str(ca), "-d", str(out), "--progress", "none",
                "--stats", str(stats), url]
    return ["aria2c", *case.flags, f"--ca-certificate={ca}", "--allow-overwrite=true", "--auto-file-renaming=false",
            "--file-allocation=none", "-q", "-d", str(out), url]


def run_once(args, case: Case, round_no: int, digest: str, work: Path, shm: Path) -> dict:
    name = f"{case.name}-{round_no}"
    origin_stats = work / f"{name}.origin.json"
    slow_rate = max(1, int(args.cap_bytes * args.slow_share))
    faults = []
    if case.slow is not None:
        faults += ["--fault", f"/{FILE}:rate={slow_rate},connection={case.slow}"]
    faults += ["--fault", f"/{FILE}:rate={args.cap_bytes}"]
    origin = B.FerryOrigin(args.ferry, work, name, [(FILE, args.size_bytes)], None,
                           extra=["--stats-file", str(origin_stats), *faults])
    out = shm / name
    out.mkdir(parents=True)
    time_file = work / f"{name}.time"
    log_file = work / f"{name}.log"
    tool_stats = work / f"{name}.stats.json"
    result: dict = {"case": case.name, "round": round_no, "slow_connection": case.slow}
    try:
        argv = command(case, args.ferry, origin.ca, origin.url(FILE), out, tool_stats)
        result.update(B.timed_run(argv, log_file, time_file, args.timeout))
    finally:
        origin.stop()  # writes its stats file as it exits
    try:
        st = json.loads(origin_stats.read_text())
        result["body_bytes_sent"] = st["body_bytes_sent"]
        result["requests"] = st.get("requests")
        result["dup_bytes"] = st["body_bytes_sent"] - args.size_bytes
        result["dup_pct"] = 100.0 * result["dup_bytes"] / args.size_bytes
    except (OSError, ValueError, KeyError) as e:
        result["error"] = f"no origin stats: {e}"
    if case.tool == "ferry":
        try:
            conns = json.loads(tool_stats.read_text()).get("connections", {})
            result["connections_opened"] = conns.get("opened")
            result["peak_connections"] = conns.get("peak_open")
        except (OSError, ValueError):
            pass
    f = out / FILE
    right = f.is_file() and f.stat().st_size == args.size_bytes and B.sha256_file(f) == digest
    result["ok"] = bool(right and result.get("exit") == 0 and not result.get("timed_out"))
    if not result["ok"] and "error" not in result:
        result["error"] = ("timed out (killed)" if result.get("timed_out") else f"exit {result.get('exit')}") + \
            ("" if right else ", file wrong or missing") + f": {B.tail(log_file, 3)}"
    shutil.rmtree(out, ignore_errors=True)
    return result


def summarize(report: dict) -> dict:
    out = {}
    for name in report["cases"]:
        mine = [r for r in report["runs"] if r["case"] == name]
        ok = [r for r in mine if r["ok"]]
        out[name] = {"runs": len(mine), "ok": len(ok),
                     "wall": B.spread([r["wall"] for r in ok]),
                     "cpu": B.spread([r["cpu"] for r in ok if r.get("cpu") is not None]),
                     "dup_pct": B.spread([r["dup_pct"] for r in ok if r.get("dup_pct") is not None]),
                     "requests": B.spread([r["requests"] for r in ok if r.get("requests") is not None]),
                     "connections_opened": B.spread([r["connections_opened"] for r in ok
                                                   if r.get("connections_opened") is not None])}
    return out


def baseline_of(name: str) -> str:
    return name.split("-slow")[0]


def markdown(report: dict) -> str:
    s = summarize(report)
    cases = {c.name: c for c in all_cases()}
    f3 = lambda d, fmt="{:.2f}": " / ".join(fmt.format(d[k]) for k in ("min", "median", "max")) if d else "–"  # noqa: E731
    lines = ["| case | command | throttled connection | runs ok | wall s min / median / max | "
             "CPU s median | requests median | connections opened median | duplicate bytes % of the file "
             "min / median / max | wall ÷ baseline (medians) |",
             "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: |"]
    for name in report["cases"]:
        c, d = cases[name], s[name]
        base = s.get(baseline_of(name))
        ratio = "–"
        if c.slow is not None and base and base["wall"] and d["wall"]:
            ratio = f"{d['wall']['median'] / base['wall']['median']:.2f}"
        slow = f"#{c.slow} at {report['slow_rate'] / 1024:.0f} KiB/s" if c.slow else "none"
        med = lambda key, fmt="{:.2f}": fmt.format(d[key]["median"]) if d[key] else "–"  # noqa: E731
        lines.append(f"| {name} | `{c.label}` | {slow} | {d['ok']}/{d['runs']} | {f3(d['wall'])} | {med('cpu')} | "
                     f"{med('requests', '{:.0f}')} | {med('connections_opened', '{:.0f}')} | "
                     f"{f3(d['dup_pct'], '{:.2f}')} | {ratio} |")
    lines += ["", "| target (issue item 6) | case | measured (medians) | status |", "| --- | --- | --- | --- |"]
    for name in report["cases"]:
        c, d = cases[name], s[name]
        base = s.get(baseline_of(name))
        if c.slow is None or c.tool != "ferry" or not d["wall"] or not base or not base["wall"]:
            continue
        r = d["wall"]["median"] / base["wall"]["median"]
        dup = d["dup_pct"]["median"] if d["dup_pct"] else None
        lines.append(f"| wall ≤ 1.1 × without the slow connection | {name} | {r:.2f} × | "
                     f"{'pass' if r <= 1.1 else 'FAIL'} |")
        if dup is not None:
            worst = d["dup_pct"]["max"]
            lines.append(f"| duplicate bytes ≤ 2% of the file | {name} | {dup:.2f}% (worst run {worst:.2f}%) | "
                         f"{'pass' if dup <= 2 else 'FAIL'} |")
    failed = [r for r in report["runs"] if not r["ok"]]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['case']} round {r['round']}: {r.get('error', '?')[:300]}"
                                         for r in failed]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh hedge", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="rounds; each runs every case once (default 5)")
    p.add_argument("--size", default="512M", help="file size (default 512M)")
    p.add_argument("--cap", default="8M", help="per-response cap of the origin, bytes/s (default 8M)")
    p.add_argument("--slow-share", type=float, default=0.01, help="the slow connection's share of --cap (0.01)")
    p.add_argument("--cases", default=",".join(DEFAULT_CASES), help=f"comma list of {', '.join(DEFAULT_CASES)}")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary, client and origin (default $FERRY or build/ferry)")
    p.add_argument("--timeout", type=float, default=180, help="seconds per run before it is killed (default 180)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    known = {c.name: c for c in all_cases()}
    names = [n for n in args.cases.split(",") if n]
    if not names or set(names) - set(known):
        p.error(f"--cases takes {', '.join(known)}")
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    for needed in ["curl"] + (["aria2c"] if any(known[n].tool == "aria2c" for n in names) else []):
        if not shutil.which(needed):
            p.error(f"{needed} not found: run `sh tools/install-deps.sh`")
    args.size_bytes = B.parse_rate(args.size)
    args.cap_bytes = B.parse_rate(args.cap)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ferry-hedge-"))
    shm = Path(tempfile.mkdtemp(prefix="ferry-hedge-", dir="/dev/shm"))
    runs: list[dict] = []
    slow_rate = max(1, int(args.cap_bytes * args.slow_share))
    try:
        B.log(f"hedge: {B.human_size(args.size_bytes)} at {B.human_size(args.cap_bytes)}/s per response, "
              f"slow connection at {slow_rate} B/s; digest from an uncapped origin")
        digest = B.origin_digests(args.ferry, work, shm, [(FILE, args.size_bytes)], "hedge")[FILE]
        for round_no in range(1, args.runs + 1):
            for name in names:
                r = run_once(args, known[name], round_no, digest, work, shm)
                runs.append(r)
                dup = f"{r['dup_pct']:.2f}%" if r.get("dup_pct") is not None else "?"
                B.log(f"  round {round_no} {name:<16} {r['wall']:7.2f} s  dup {dup:>7}  requests "
                      f"{r.get('requests', '?')}  conns {r.get('connections_opened', '-')}  "
                      f"{'ok' if r['ok'] else 'FAILED: ' + r.get('error', '')[:200]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/run.sh hedge " + " ".join(sys.argv[1:]),
        "machine": B.machine_info(args.ferry),
        "size": args.size_bytes, "cap": args.cap_bytes, "slow_rate": slow_rate,
        "cases": names, "runs": runs, "seconds": time.monotonic() - t_start,
    }
    report["summary"] = summarize(report)
    B.save_results("hedge", report, markdown(report))
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    B.run_main("hedge", main)
