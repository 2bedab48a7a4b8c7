#!/usr/bin/env python3
"""The durability benchmark: what fdatasync before each journal write costs on a real disk.

ferry syncs the .part's data (fdatasync) before each journal write (at a fiftieth of the file's
progress, 4 to 64 MiB, or after a second with 256 KiB of it: part_sink::journal_due) and before its final rename, unless
`--no-fsync`. A fresh uncapped
`ferry origin` per run serves one synthetic file (default 2 GiB), and ferry writes it to a
directory on disk (default: a fresh one under /var/tmp; refused on tmpfs), at its defaults:

    ferry get --ca-cert CA -d DIR URL               (default: durable)
    ferry get --no-fsync --ca-cert CA -d DIR URL    (no syncs)

The two alternate, --runs times each. Wall, CPU (user + sys) and peak RSS come from `/usr/bin/time -v`;
/proc/meminfo's Dirty is read as the run ends. Right after each run
a `sync` is timed ("sync after"): what the run left for the kernel to write back, which
`--no-fsync` only defers. Then the output's sha256 is checked, the file deleted, and `sync` run
again so the next run starts with no dirty pages. --strace adds one more run of each under
`strace -f -c` to count the sync calls (not timed).

Usage: bench/run.sh durability [--runs 5] [--size 2G] [--dir /var/tmp] [--strace] [--report JSON]
Writes bench/results/durability-latest.json (and a timestamped copy) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

FILE = "big.bin"
MODES = {"durable": ("ferry get", ()), "no-fsync": ("ferry get --no-fsync", ("--no-fsync",))}


def timed_sync() -> float:
    t0 = time.monotonic()
    subprocess.run(["sync"], check=False, timeout=600)
    return time.monotonic() - t0


def dirty_kib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("Dirty:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def run_once(args, mode: str, round_no: int, digest: str, work: Path, disk: Path, strace: bool = False) -> dict:
    name = f"{mode}-{round_no}" + ("-strace" if strace else "")
    origin = B.FerryOrigin(args.ferry, work, name, [(FILE, args.size_bytes)], None)
    out = disk / name
    out.mkdir(parents=True)
    time_file = work / f"{name}.time"
    log_file = work / f"{name}.log"
    strace_file = work / f"{name}.strace"
    result: dict = {"mode": mode, "round": round_no}
    argv = [args.ferry, "get", *MODES[mode][1], "--ca-cert", str(origin.ca), "-d", str(out), "--progress", "none",
            origin.url(FILE)]
    if strace:
        argv = ["strace", "-f", "-c", "-o", str(strace_file), *argv]
    try:
        result.update(B.timed_run(argv, log_file, time_file, args.timeout))
    finally:
        origin.stop()
    result["dirty_mib_after"] = (dirty_kib() or 0) / 1024
    result["sync_after"] = timed_sync()
    if strace:
        calls = {}
        try:
            for line in strace_file.read_text().splitlines():
                parts = line.split()
                if parts and parts[-1] in ("fdatasync", "fsync", "rename", "renameat", "renameat2", "pwrite64",
                                           "pwritev", "write", "sync_file_range"):
                    calls[parts[-1]] = int(parts[3]) if len(parts) >= 6 else int(parts[-2])
        except (OSError, ValueError, IndexError):
            pass
        result["calls"] = calls
    f = out / FILE
    right = f.is_file() and f.stat().st_size == args.size_bytes and (args.no_verify or B.sha256_file(f) == digest)
    result["ok"] = bool(right and result.get("exit") == 0 and not result.get("timed_out"))
    if not result["ok"]:
        result["error"] = ("timed out (killed)" if result.get("timed_out") else f"exit {result.get('exit')}") + \
            ("" if right else ", file wrong or missing") + f": {B.tail(log_file, 3)}"
    shutil.rmtree(out, ignore_errors=True)
    timed_sync()
    return result


def summarize(report: dict) -> dict:
    out = {}
    for mode in MODES:
        mine = [r for r in report["runs"] if r["mode"] == mode and not r.get("traced")]
        ok = [r for r in mine if r["ok"]]
        out[mode] = {"runs": len(mine), "ok": len(ok)}
        for key in ("wall", "cpu", "user", "sys", "sync_after", "rss_mib", "dirty_mib_after"):
            out[mode][key] = B.spread([r.get(key) for r in ok])
        out[mode]["wall_plus_sync"] = B.spread([r["wall"] + r["sync_after"] for r in ok])
    return out


def markdown(report: dict) -> str:
    s = summarize(report)
    f3 = lambda d, fmt="{:.2f}": " / ".join(fmt.format(d[k]) for k in ("min", "median", "max")) if d else "–"  # noqa: E731
    md = lambda d, fmt="{:.2f}": fmt.format(d["median"]) if d else "–"  # noqa: E731
    size = report["size"] / B.MiB
    lines = ["| command | runs ok | wall s min / median / max | MiB/s (median) | CPU s min / median / max | "
             "user / sys s (medians) | peak RSS MiB (median) | dirty MiB at exit (median) | "
             "sync after s (median) | wall + sync after s (median) |",
             "| --- | ---: | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for mode, (label, _) in MODES.items():
        d = s[mode]
        mibs = f"{size / d['wall']['median']:.0f}" if d["wall"] else "–"
        lines.append(f"| `{label}` | {d['ok']}/{d['runs']} | {f3(d['wall'])} | {mibs} | {f3(d['cpu'])} | "
                     f"{md(d['user'])} / {md(d['sys'])} | {md(d['rss_mib'], '{:.1f}')} | "
                     f"{md(d['dirty_mib_after'], '{:.0f}')} | {md(d['sync_after'])} | {md(d['wall_plus_sync'])} |")
    a, b = s["durable"], s["no-fsync"]
    if a["wall"] and b["wall"]:
        lines += ["", "| ratio durable ÷ --no-fsync (medians) | value |", "| --- | ---: |",
                  f"| wall | {a['wall']['median'] / b['wall']['median']:.2f} |",
                  f"| CPU (user + sys) | {a['cpu']['median'] / b['cpu']['median']:.2f} |",
                  f"| wall + sync after | {a['wall_plus_sync']['median'] / b['wall_plus_sync']['median']:.2f} |"]
    traced = [r for r in report["runs"] if r.get("traced")]
    if traced:
        lines += ["", "System calls in one run under `strace -f -c` (not timed):", ""]
        for r in traced:
            calls = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
            lines.append(f"- `{MODES[r['mode']][0]}`: {calls}")
    failed = [r for r in report["runs"] if not r["ok"] and not r.get("traced")]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['mode']} round {r['round']}: {r.get('error', '?')[:300]}"
                                         for r in failed]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh durability", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="runs of each mode, alternating (default 5)")
    p.add_argument("--size", default="2G", help="file size (default 2G)")
    p.add_argument("--dir", default="/var/tmp", help="a directory on the disk to measure (default /var/tmp)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary, client and origin (default $FERRY or build/ferry)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per run before it is killed (default 300)")
    p.add_argument("--strace", action="store_true", help="one more run of each mode under strace -f -c")
    p.add_argument("--no-verify", action="store_true", help="check sizes only, not sha256")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    if not os.access(B.TIME, os.X_OK):
        p.error(f"{B.TIME} not found: run `sh tools/install-deps.sh` (Debian package time)")
    fstype = subprocess.run(["stat", "-f", "-c", "%T", args.dir], capture_output=True, text=True).stdout.strip()
    if fstype in ("tmpfs", "ramfs"):
        p.error(f"{args.dir} is on {fstype}: give --dir a directory on a disk")
    args.size_bytes = B.parse_rate(args.size)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ferry-durability-"))
    disk = Path(tempfile.mkdtemp(prefix="ferry-durability-", dir=args.dir))
    shm = Path(tempfile.mkdtemp(prefix="ferry-durability-", dir="/dev/shm"))
    device = subprocess.run(["df", "--output=source,fstype", str(disk)], capture_output=True,
                            text=True).stdout.split("\n")[1].split()
    runs: list[dict] = []
    try:
        B.log(f"durability: {B.human_size(args.size_bytes)} into {disk} ({' '.join(device)}); "
              "digest from the origin first")
        digest = "" if args.no_verify else \
            B.origin_digests(args.ferry, work, shm, [(FILE, args.size_bytes)], "durability")[FILE]
        timed_sync()
        for round_no in range(1, args.runs + 1):
            order = list(MODES) if round_no % 2 else list(reversed(MODES))
            for mode in order:
                r = run_once(args, mode, round_no, digest, work, disk)
                runs.append(r)
                B.log(f"  round {round_no} {mode:<9} wall {r['wall']:6.2f} s  cpu {r.get('cpu', 0):5.2f} s  "
                      f"dirty at exit {r['dirty_mib_after']:6.0f} MiB  sync after {r['sync_after']:5.2f} s  "
                      f"{'ok' if r['ok'] else 'FAILED: ' + r.get('error', '')[:200]}")
        if args.strace:
            for mode in MODES:
                r = run_once(args, mode, 0, digest, work, disk, strace=True)
                r["traced"] = True  # not timed: kept out of the summary
                runs.append(r)
                B.log(f"  strace {mode:<9} {r.get('calls')}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/run.sh durability " + " ".join(sys.argv[1:]),
        "machine": B.machine_info(args.ferry),
        "size": args.size_bytes, "dir": args.dir, "device": " ".join(device),
        "runs": runs, "seconds": time.monotonic() - t_start,
    }
    report["summary"] = summarize(report)
    B.save_results("durability", report, markdown(report))
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    B.run_main("durability", main)
