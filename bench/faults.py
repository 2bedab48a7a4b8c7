#!/usr/bin/env python3
"""The fault benchmark: ferry and aria2c against an origin that misbehaves like a real CDN.

For each seed S and each tool, a fresh `ferry origin --fault-mix cdn --fault-seed S` (per request:
10% connection closed mid-body, 5% 503 and 2% 429 with Retry-After: 1, 1% a 20 s pause mid-body,
3% Range ignored, 2% closed before the body) serves 207 synthetic files: four 128 MiB shards,
three small configs and 200 files of 128 KiB. The tool downloads them all into /dev/shm:

    ferry get -j 8 -x 4 -i LIST --ca-cert CA
    aria2c -j8 -x4 --max-tries=50 --retry-wait=1 --ca-certificate=CA -i LIST

Every file's sha256 is checked, and the origin's counters (`--stats-file`, written when it exits)
give the body bytes it sent: bytes sent / payload says how much a tool fetched again. A run that
outlives --timeout is killed and counted as failed. Both tools see the same seed, hence the same
fault mix; which request gets which fault depends on the order requests arrive in.

Usage: bench/run.sh faults [--seeds 20] [--first-seed 1] [--tools ferry,aria2c] [--timeout 300]
Writes bench/results/faults-latest.json (and a timestamped copy) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

KiB, MiB = B.KiB, B.MiB
TOOLS = ("ferry", "aria2c")


def model_files(shard_size: int, small_count: int) -> list[tuple[str, int]]:
    """(path, size) of the files served: a model's shards and configs, then many small files."""
    files = [(f"model/model-{i:05d}-of-00004.safetensors", shard_size) for i in range(1, 5)]
    files += [("model/config.json", 1523), ("model/generation_config.json", 243),
              ("model/tokenizer_config.json", 9 * KiB + 118)]
    files += [(f"data/part-{i:04d}.bin", 128 * KiB) for i in range(small_count)]
    return files


def command(tool: str, ferry: str, ca: Path, listfile: Path, out: Path) -> list[str]:
    if tool == "ferry":
        return [ferry, "get", "-j", "8", "-x", "4", "-i", str(listfile), "--ca-cert", str(ca), "-d", str(out),
                "--progress", "none"]
    # Errors only (no progress readout), and the per-file result table that names failed files.
    return ["aria2c", "-j8", "-x4", "--max-tries=50", "--retry-wait=1", f"--ca-certificate={ca}", "-i", str(listfile),
            "-d", str(out), "--allow-overwrite=true", "--auto-file-renaming=false", "--file-allocation=none",
            "--console-log-level=error", "--summary-interval=0", "--show-console-readout=false"]


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def problems(log: Path, most: int = 3) -> str:
    """The first reasons in a tool's output: ferry's line per failed file, aria2c's
    `-> [...] errorCode=N reason` lines."""
    try:
        lines = ANSI.sub("", log.read_text(errors="replace")).splitlines()
    except OSError:
        return ""
    reasons = [re.sub(r"^-> \[[^]]*\] ", "", l.strip()) for l in lines
               if l.startswith("ferry: https") or l.strip().startswith("-> [")]
    return " | ".join(reasons[:most]) if reasons else B.tail(log, most)


def files_right(out: Path, files: list[tuple[str, int]], digests: dict[str, str]) -> int:
    right = 0
    for path, size in files:
        p = out / path.rsplit("/", 1)[1]
        try:
            if p.stat().st_size == size and B.sha256_file(p) == digests[path]:
                right += 1
        except OSError:
            pass
    return right


def run_once(args, tool: str, seed: int, files, digests, work: Path, shm: Path) -> dict:
    name = f"{tool}-seed{seed}"
    stats_file = work / f"{name}.stats.json"
    origin = B.FerryOrigin(args.ferry, work, name, files, None,
                           extra=["--fault-mix", "cdn", "--fault-seed", str(seed), "--stats-file", str(stats_file)])
    out = shm / name
    out.mkdir(parents=True)
    listfile = work / f"{name}.list"
    listfile.write_text("".join(origin.url(p) + "\n" for p, _ in files))
    time_file = work / f"{name}.time"
    log_file = work / f"{name}.log"
    result: dict = {"tool": tool, "seed": seed, "files": len(files)}
    try:
        argv = command(tool, args.ferry, origin.ca, listfile, out)
        result.update(B.timed_run(argv, log_file, time_file, args.timeout))
    finally:
        origin.stop()  # it writes the stats file as it exits
    try:
        stats = json.loads(stats_file.read_text())
    except (OSError, ValueError) as e:
        stats = {}
        result["error"] = f"no origin stats: {e}"
    payload = sum(size for _, size in files)
    result["files_right"] = files_right(out, files, digests)
    result["body_bytes_sent"] = stats.get("body_bytes_sent")
    result["ratio"] = stats["body_bytes_sent"] / payload if "body_bytes_sent" in stats else None
    result["requests"] = stats.get("requests")
    result["statuses"] = stats.get("statuses")
    result["ok"] = not result.get("timed_out") and result["exit"] == 0 and result["files_right"] == len(files)
    if not result["ok"] and "error" not in result:
        result["error"] = ("timed out (killed)" if result.get("timed_out") else f"exit {result['exit']}") + \
            f": {problems(log_file)}"
    shutil.rmtree(out, ignore_errors=True)
    return result


def summary(runs: list[dict], tool: str) -> dict:
    mine = [r for r in runs if r["tool"] == tool]
    ratios = [r["ratio"] for r in mine if r.get("ratio") is not None]
    walls = [r["wall"] for r in mine if not r.get("timed_out")]
    out = {"runs": len(mine), "ok": sum(r["ok"] for r in mine),
           "files_right": sum(r["files_right"] for r in mine), "files": sum(r["files"] for r in mine)}
    for key, values in (("ratio", ratios), ("wall", walls)):
        if values:
            out[key] = {"min": min(values), "median": statistics.median(values), "max": max(values)}
    return out


def markdown(report: dict) -> str:
    lines = ["| seed | tool | files right | bytes sent ÷ payload | wall s | requests | outcome |",
             "| ---: | --- | ---: | ---: | ---: | ---: | --- |"]
    for r in report["runs"]:
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "–"
        outcome = "ok" if r["ok"] else ANSI.sub("", r.get("error", "failed"))[:100].replace("|", "/")
        lines.append(f"| {r['seed']} | {r['tool']} | {r['files_right']}/{r['files']} | {ratio} | {r['wall']:.1f} | "
                     f"{r.get('requests', '–')} | {outcome} |")
    lines += ["", "| tool | runs ok | files right | ratio min / median / max | wall s min / median / max (runs not killed) |",
              "| --- | ---: | ---: | --- | --- |"]
    tools = list(dict.fromkeys(r["tool"] for r in report["runs"]))
    for tool, s in ((t, summary(report["runs"], t)) for t in tools):
        fmt = lambda d: " / ".join(f"{d[k]:.2f}" for k in ("min", "median", "max")) if d else "–"  # noqa: E731
        lines.append(f"| {tool} | {s['ok']}/{s['runs']} | {s['files_right']}/{s['files']} | {fmt(s.get('ratio'))} | "
                     f"{fmt(s.get('wall'))} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh faults", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20, help="how many seeds (default 20)")
    p.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    p.add_argument("--tools", default="ferry,aria2c", help="comma list: ferry, aria2c (default both)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary, client and origin (default $FERRY or build/ferry)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per run before it is killed (default 300)")
    p.add_argument("--shard-size", type=int, default=128 * MiB, help="bytes per shard (default 128 MiB)")
    p.add_argument("--small-files", type=int, default=200, help="files of 128 KiB (default 200)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    tools = [t for t in args.tools.split(",") if t]
    if set(tools) - set(TOOLS) or not tools:
        p.error(f"--tools takes {', '.join(TOOLS)}")
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    for needed in ["curl"] + [t for t in tools if t == "aria2c"]:
        if not shutil.which(needed):
            p.error(f"{needed} not found: run `sh tools/install-deps.sh`")
    if not os.access(B.TIME, os.X_OK):
        p.error(f"{B.TIME} not found: run `sh tools/install-deps.sh` (Debian package time)")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    files = model_files(args.shard_size, args.small_files)
    payload = sum(size for _, size in files)
    started = dt.datetime.now(dt.timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="ferry-faults-"))
    shm = Path(tempfile.mkdtemp(prefix="ferry-faults-", dir="/dev/shm"))
    runs: list[dict] = []
    try:
        B.log(f"faults: {len(files)} files, {B.human_size(payload)}; digests from a fault-free origin")
        digests = B.origin_digests(args.ferry, work, shm, files, "faults")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for tool in tools:
                r = run_once(args, tool, seed, files, digests, work, shm)
                runs.append(r)
                ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "?"
                B.log(f"  seed {seed:3d} {tool:<7} {r['files_right']}/{r['files']} right  bytes sent/payload {ratio}"
                      f"  {r['wall']:6.1f} s  {'ok' if r['ok'] else 'FAILED: ' + r.get('error', '')[:200]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/run.sh faults " + " ".join(sys.argv[1:]),
        "machine": B.machine_info(args.ferry),
        "files": len(files), "payload": payload,
        "runs": runs,
        "summary": {tool: summary(runs, tool) for tool in tools},
    }
    B.save_results("faults", report, markdown(report))
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    B.run_main("faults", main)
