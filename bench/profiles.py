#!/usr/bin/env python3
"""The transfer-profile benchmark: what `ferry get --profile balanced|speed|memory|background` costs
and gives, on loopback and beside a competing download on a shaped link.

Part 1, "throughput": one `ferry origin --threads 2` on 127.0.0.1 serves a big synthetic file
(default 1 GiB) and a model (four 128 MiB shards, a 2 KiB config.json and a 2 MiB tokenizer.json).
Each profile downloads them into a fresh directory under /dev/shm:

    ferry get --profile P --ca-cert CA -d DIR -q URL/big.bin
    ferry get --profile P --ca-cert CA -d DIR -q URL/model/config.json ... URL/model/shard-4.bin
    ferry get --profile P --ca-cert CA -d DIR -q URL/capped/shard-1.bin ... URL/capped/shard-4.bin

(capped: the four shards again, every response capped at 4 MiB/s as a CDN caps each connection:
`--fault '/capped/*:rate=4M'`).

Wall, CPU (user + sys) and peak RSS come from `/usr/bin/time -v`. Every output's size is checked,
big.bin's sha256 against a curl download made once at the start. Cases alternate within each round
(round-robin over the profiles). Reported: medians with min–max, MiB/s, and wall ÷ balanced's.

Part 2, "background" (root, `ip` and `tc` of iproute2; skipped with a log line otherwise): a network
namespace ferry-bench-bg, created here and always deleted at the end, whose loopback is shaped:

    ip netns exec ferry-bench-bg ip link set lo mtu 1500 up
    ip netns exec ferry-bench-bg tc qdisc add dev lo root tbf rate 80mbit burst 32k latency 200ms

Inside it a `ferry origin` serves /a.bin (2 GiB), /b.bin (1 GiB) and /c.bin (200 MiB), and:

    curl-alone              curl -s --cacert CA -o /dev/null --max-time 10 -w '%{speed_download}' URL/b.bin
    curl-beside-balanced    the same curl, 3 s after `ferry get --profile balanced URL/a.bin` started
                            in the background (stopped with SIGINT after the curl)
    curl-beside-background  the same with `--profile background`
    ferry-alone-balanced    `ferry get --profile balanced URL/c.bin` alone: wall → MiB/s
    ferry-alone-background  the same with `--profile background`

Reported: curl's MB/s (10^6 bytes/s, as the link rate) and its share of curl-alone's; ferry's
MiB/s during the curl (bytes it wrote to its .part, from /proc/PID/io) and alone, and
background ÷ balanced.

Usage: bench/run.sh profiles [--runs 3] [--parts throughput,background] [--big-size 1G]
       [--link-rate 80mbit] [--queue-ms 200] [--timeout 300] [--report JSON]
Writes bench/results/profiles-latest.json (and a timestamped copy) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

MiB = B.MiB
PROFILES = ("balanced", "speed", "memory", "background")
PARTS = ("throughput", "background")
MODEL = [("model/config.json", 2 * B.KiB), ("model/tokenizer.json", 2 * MiB)] + \
    [(f"model/shard-{i}.bin", 128 * MiB) for i in range(1, 5)]
# The model's shards again behind a CDN that caps each response (connection) at CAPPED_RATE.
CAPPED = [(f"capped/shard-{i}.bin", 128 * MiB) for i in range(1, 5)]
CAPPED_RATE = "4M"
SETS = ("big", "model", "capped")
NS = "ferry-bench-bg"
BG_FILES = {"a.bin": 2 * B.GiB, "b.bin": 1 * B.GiB}   # a: ferry beside curl, b: curl
CURL_SECONDS = 10       # curl's --max-time
FERRY_HEAD_START = 3.0  # seconds ferry runs before the curl starts
BG_CASES = ("curl-alone", "curl-beside-balanced", "curl-beside-background",
            "ferry-alone-balanced", "ferry-alone-background")


# --------------------------------------------------------------------------------------------
# helpers


def parse_link_rate(text: str) -> int:
    """tc's rate syntax (80mbit, 500kbit, 1gbit, 10000000bit) as bits/s."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)", text.strip().lower())
    if not m:
        raise ValueError(f"--link-rate takes NUMBER followed by bit, kbit, mbit or gbit, not {text!r}")
    return int(float(m.group(1)) * {"bit": 1, "kbit": 1000, "mbit": 1000 ** 2, "gbit": 1000 ** 3}[m.group(2)])


class Origin:
    """`ferry origin` (behind `prefix`, e.g. `ip netns exec NS`) on 127.0.0.1:port; stdout goes to a
    file, read until it prints `ferry origin: serving URL (ca: FILE)`."""

    def __init__(self, ferry: str, work: Path, name: str, files: list[tuple[str, int]], prefix: list[str] = (),
                 extra: list[str] = ()):
        self.dir = work / f"origin-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = self.dir / "ca.pem"
        self.port = B.free_port()  # free here; in a fresh namespace every port is
        argv = [*prefix, ferry, "origin", "--write-ca", str(self.ca), "--port", str(self.port), "--threads", "2"]
        for path, size in files:
            argv += ["--synthetic", f"/{path}:{size}"]
        argv += extra
        self.out = self.dir / "stdout.log"
        self.err = self.dir / "stderr.log"
        with open(self.out, "wb") as so, open(self.err, "wb") as se:
            self.proc = subprocess.Popen(argv, stdout=so, stderr=se, stdin=subprocess.DEVNULL,
                                         preexec_fn=B._die_with_parent)
        deadline = time.monotonic() + 30
        while True:
            if "ferry origin: serving" in self.out.read_text(errors="replace") and self.ca.exists():
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ferry origin ({name}) did not start: {B.tail(self.out, 2)} {B.tail(self.err, 3)}")
            time.sleep(0.05)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        B.stop_group(self.proc, signal.SIGTERM)


def sizes_of(args) -> dict:
    """Bytes of each set of part 1."""
    return {"big": args.big_bytes, "model": sum(s for _, s in MODEL), "capped": sum(s for _, s in CAPPED)}


def reference_digest(origin: Origin, path: str, size: int, shm: Path, timeout: float) -> str:
    """sha256 of one file, fetched once with curl from the running origin."""
    out = shm / f"reference-{Path(path).name}"
    try:
        r = subprocess.run(["curl", "-sS", "-f", "--cacert", str(origin.ca), "-o", str(out), origin.url(path)],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"curl of /{path} failed ({r.returncode}): {r.stderr.strip()[:300]}")
        if out.stat().st_size != size:
            raise RuntimeError(f"ferry origin served {out.stat().st_size} bytes for /{path}, expected {size}")
        return B.sha256_file(out)
    finally:
        out.unlink(missing_ok=True)


def check_outputs(out: Path, files: list[tuple[str, int]], digests: dict[str, str]) -> str | None:
    """None when every file is in `out` (by its base name) with its size and, where known, sha256."""
    bad = []
    for path, size in files:
        f = out / Path(path).name
        try:
            got = f.stat().st_size
        except OSError:
            bad.append(f"{f.name}: missing")
            continue
        if got != size:
            bad.append(f"{f.name}: {got} bytes, expected {size}")
        elif path in digests and B.sha256_file(f) != digests[path]:
            bad.append(f"{f.name}: wrong sha256")
    return "; ".join(bad) or None


def failure(result: dict, log_file: Path, bad: str | None) -> str:
    why = "timed out (killed)" if result.get("timed_out") else f"exit {result.get('exit')}"
    return why + (f", {bad}" if bad else "") + f": {B.tail(log_file, 3)}"


# --------------------------------------------------------------------------------------------
# part 1: throughput on loopback


def run_throughput(args, work: Path, shm: Path, runs: list[dict]) -> dict:
    sets = {"big": [("big.bin", args.big_bytes)], "model": MODEL, "capped": CAPPED}
    origin = Origin(args.ferry, work, "loopback", sets["big"] + sets["model"] + sets["capped"],
                    extra=["--fault", f"/capped/*:rate={CAPPED_RATE}"])
    try:
        B.log(f"throughput: big {B.human_size(args.big_bytes)}, model {B.human_size(sum(s for _, s in MODEL))} "
              f"in {len(MODEL)} files; reference sha256 of big.bin by curl")
        digests = {"big.bin": reference_digest(origin, "big.bin", args.big_bytes, shm, args.timeout)}
        n = 0
        for round_no in range(1, args.runs + 1):
            for what in SETS:
                for profile in PROFILES:
                    n += 1
                    name = f"{what}-{profile}"
                    stem = f"{n:03d}-{name}"
                    out = shm / stem
                    out.mkdir(parents=True)
                    log_file, time_file, stats = work / f"{stem}.log", work / f"{stem}.time", work / f"{stem}.stats.json"
                    argv = [args.ferry, "get", "--profile", profile, "--ca-cert", str(origin.ca), "-d", str(out), "-q",
                            "--stats", str(stats), *[origin.url(p) for p, _ in sets[what]]]
                    r: dict = {"part": "throughput", "case": name, "set": what, "profile": profile, "round": round_no}
                    try:
                        r.update(B.timed_run(argv, log_file, time_file, args.timeout))
                        bad = check_outputs(out, sets[what], digests)
                    finally:
                        shutil.rmtree(out, ignore_errors=True)
                    try:
                        conns = json.loads(stats.read_text()).get("connections", {})
                        r["connections_opened"], r["peak_connections"] = conns.get("opened"), conns.get("peak_open")
                    except (OSError, ValueError):
                        pass
                    r["ok"] = bool(r.get("exit") == 0 and not r.get("timed_out") and bad is None)
                    if not r["ok"]:
                        r["error"] = failure(r, log_file, bad)
                    runs.append(r)
                    rss = f"{r['rss_mib']:.0f}" if r.get("rss_mib") is not None else "?"
                    cpu = f"{r['cpu']:.2f}" if r.get("cpu") is not None else "?"
                    B.log(f"  round {round_no} {name:<17} {r['wall']:7.2f} s  cpu {cpu:>6} s  rss {rss:>5} MiB  "
                          f"conns {r.get('connections_opened', '-')}  "
                          f"{'ok' if r['ok'] else 'FAILED: ' + r.get('error', '')[:200]}")
    finally:
        origin.stop()
    return sizes_of(args)


# --------------------------------------------------------------------------------------------
# part 2: yielding to a competing download on a shaped link


def background_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces and tc)"
    missing = [t for t in ("ip", "tc", "curl") if not shutil.which(t)]
    if missing:
        return f"{', '.join(missing)} not found (package iproute2 for ip and tc)"
    return None


def sh(argv: list[str], timeout: float = 20) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({r.returncode}): {(r.stderr or r.stdout).strip()[:300]}")


def namespace_exists() -> bool:
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20)
    return any(line.split()[0] == NS for line in r.stdout.splitlines() if line.strip())


def make_namespace(args) -> None:
    sh(["ip", "netns", "add", NS])
    inside = ["ip", "netns", "exec", NS]
    sh(inside + ["ip", "link", "set", "lo", "mtu", "1500", "up"])
    sh(inside + ["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", args.link_rate, "burst", "32k",
                 "latency", f"{args.queue_ms}ms"])


def delete_namespace() -> None:
    try:
        if namespace_exists():
            sh(["ip", "netns", "delete", NS])
            B.log(f"background: deleted namespace {NS}")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as e:
        B.log(f"background: could not delete namespace {NS} ({e}); run `ip netns delete {NS}`")


def run_curl(inside: list[str], origin: Origin, log_file: Path) -> dict:
    argv = inside + ["curl", "-s", "--cacert", str(origin.ca), "-o", "/dev/null", "--max-time", str(CURL_SECONDS),
                     "-w", "%{speed_download} %{size_download} %{time_total}", origin.url("b.bin")]
    r: dict = {}
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=CURL_SECONDS + 30)
        r["curl_exit"] = p.returncode
        log_file.write_text(p.stdout + "\n" + p.stderr)
        speed, size, total = p.stdout.split()
        r.update(curl_bytes_s=float(speed), curl_bytes=int(float(size)), curl_seconds=float(total))
        r["curl_mb_s"] = r["curl_bytes_s"] / 1e6
        # 28: stopped by --max-time, as meant (b.bin takes longer than 10 s on the link)
        if p.returncode not in (0, 28) or r["curl_bytes"] == 0:
            r["error"] = f"curl exit {p.returncode}, {r['curl_bytes']} bytes: {p.stderr.strip()[:200]}"
    except subprocess.TimeoutExpired:
        r["error"] = "curl did not stop by itself (killed)"
    except ValueError:
        r["error"] = f"curl printed no speed (exit {r.get('curl_exit')}): {B.tail(log_file, 2)}"
    return r


def run_beside(args, inside: list[str], origin: Origin, profile: str, stem: str, work: Path, shm: Path) -> dict:
    """curl while `ferry get --profile P` of a.bin runs; ferry's writes over the curl's 10 s as its rate."""
    out = shm / stem
    out.mkdir(parents=True)
    log_file, stats = work / f"{stem}.ferry.log", work / f"{stem}.stats.json"
    argv = inside + [args.ferry, "get", "--profile", profile, "-q", "--ca-cert", str(origin.ca), "-d", str(out),
                     "--stats", str(stats), origin.url("a.bin")]
    r: dict = {}
    with open(log_file, "wb") as lf:
        proc = subprocess.Popen(argv, stdout=lf, stderr=lf, stdin=subprocess.DEVNULL, preexec_fn=B._die_with_parent)
    try:
        time.sleep(FERRY_HEAD_START)
        if proc.poll() is not None:
            r["error"] = f"ferry exited ({proc.returncode}) before the curl: {B.tail(log_file, 3)}"
            return r
        w0, t0 = B.read_wchar(proc.pid), time.monotonic()  # ip netns exec execs ferry: the same pid
        r.update(run_curl(inside, origin, work / f"{stem}.curl.log"))
        w1, t1 = B.read_wchar(proc.pid), time.monotonic()
        if w0 is not None and w1 is not None and proc.poll() is None:
            r["ferry_bytes_beside"] = w1 - w0
            r["ferry_mib_s"] = (w1 - w0) / (t1 - t0) / MiB
        if proc.poll() is not None and "error" not in r:
            r["error"] = f"ferry exited ({proc.returncode}) during the curl: {B.tail(log_file, 3)}"
    finally:
        B.stop_group(proc, signal.SIGINT, grace=15)
        r["ferry_exit"] = proc.returncode
        shutil.rmtree(out, ignore_errors=True)
    try:
        st = json.loads(stats.read_text())
        r["ferry_bytes_total"] = st.get("bytes_fetched")
        r["ferry_connections_opened"] = st.get("connections", {}).get("opened")
        if "yielding" in st:
            r["ferry_yielding"] = st["yielding"]
    except (OSError, ValueError, AttributeError):
        pass
    return r


def run_alone(args, inside: list[str], origin: Origin, profile: str, stem: str, work: Path, shm: Path) -> dict:
    out = shm / stem
    out.mkdir(parents=True)
    log_file, time_file = work / f"{stem}.log", work / f"{stem}.time"
    argv = inside + [args.ferry, "get", "--profile", profile, "-q", "--ca-cert", str(origin.ca), "-d", str(out),
                     origin.url("c.bin")]
    try:
        r = B.timed_run(argv, log_file, time_file, args.timeout)
        bad = check_outputs(out, [("c.bin", args.alone_bytes)], {})
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if r.get("exit") == 0 and not r.get("timed_out") and bad is None:
        r["ferry_mib_s"] = args.alone_bytes / r["wall"] / MiB
    else:
        r["error"] = failure(r, log_file, bad)
    return r


def run_background(args, work: Path, shm: Path, runs: list[dict]) -> None:
    inside = ["ip", "netns", "exec", NS]
    if namespace_exists():
        raise RuntimeError(f"namespace {NS} already exists (another run, or one killed hard?); "
                           f"delete it with `ip netns delete {NS}`")
    origin = None
    try:  # from here on, the finally deletes whatever part of the namespace exists
        make_namespace(args)
        B.log(f"background: namespace {NS}, lo shaped by tbf rate {args.link_rate} burst 32k latency {args.queue_ms}ms")
        origin = Origin(args.ferry, work, "shaped", [*BG_FILES.items(), ("c.bin", args.alone_bytes)], prefix=inside)
        n = 0
        for round_no in range(1, args.bg_runs + 1):
            for case in BG_CASES:
                n += 1
                stem = f"bg-{n:03d}-{case}"
                r: dict = {"part": "background", "case": case, "round": round_no}
                t0 = time.monotonic()
                if case == "curl-alone":
                    r.update(run_curl(inside, origin, work / f"{stem}.curl.log"))
                elif case.startswith("curl-beside-"):
                    r.update(run_beside(args, inside, origin, case.rsplit("-", 1)[1], stem, work, shm))
                else:
                    r.update(run_alone(args, inside, origin, case.rsplit("-", 1)[1], stem, work, shm))
                r.setdefault("wall", time.monotonic() - t0)
                r["ok"] = "error" not in r
                runs.append(r)
                curl = f"curl {r['curl_mb_s']:6.2f} MB/s" if r.get("curl_mb_s") is not None else " " * 18
                ferry = f"ferry {r['ferry_mib_s']:6.2f} MiB/s" if r.get("ferry_mib_s") is not None else ""
                B.log(f"  round {round_no} {case:<23} {r['wall']:7.2f} s  {curl}  {ferry}  "
                      f"{'ok' if r['ok'] else 'FAILED: ' + r.get('error', '')[:200]}")
    finally:
        if origin is not None:
            origin.stop()
        delete_namespace()


# --------------------------------------------------------------------------------------------
# report


def summarize(report: dict) -> dict:
    out: dict = {"throughput": {}, "background": {}}
    tp = [r for r in report["runs"] if r["part"] == "throughput"]
    for what in SETS:
        size = report["sizes"].get(what)
        if size is None:
            continue
        for profile in PROFILES:
            mine = [r for r in tp if r["set"] == what and r["profile"] == profile]
            if not mine:
                continue
            ok = [r for r in mine if r["ok"]]
            wall = B.spread([r["wall"] for r in ok])
            out["throughput"][f"{what}-{profile}"] = {
                "set": what, "profile": profile, "runs": len(mine), "ok": len(ok), "bytes": size,
                "wall": wall, "cpu": B.spread([r.get("cpu") for r in ok]),
                "rss_mib": B.spread([r.get("rss_mib") for r in ok]),
                "mib_s": size / wall["median"] / MiB if wall else None,
                "connections_opened": B.spread([r.get("connections_opened") for r in ok])}
        base = out["throughput"].get(f"{what}-balanced")
        for profile in PROFILES:
            s = out["throughput"].get(f"{what}-{profile}")
            if s:
                s["wall_vs_balanced"] = (s["wall"]["median"] / base["wall"]["median"]
                                         if s["wall"] and base and base["wall"] else None)
    bg = [r for r in report["runs"] if r["part"] == "background"]
    for case in BG_CASES:
        mine = [r for r in bg if r["case"] == case]
        if not mine:
            continue
        ok = [r for r in mine if r["ok"]]
        out["background"][case] = {"runs": len(mine), "ok": len(ok),
                                   "curl_mb_s": B.spread([r.get("curl_mb_s") for r in ok]),
                                   "ferry_mib_s": B.spread([r.get("ferry_mib_s") for r in ok]),
                                   "wall": B.spread([r.get("wall") for r in ok])}
    b = out["background"]
    alone = (b.get("curl-alone") or {}).get("curl_mb_s")
    for case, s in b.items():
        s["curl_share"] = (s["curl_mb_s"]["median"] / alone["median"]
                           if s["curl_mb_s"] and alone and alone["median"] else None)
        base = (b.get(case.replace("background", "balanced")) or {}).get("ferry_mib_s")
        s["ferry_vs_balanced"] = (s["ferry_mib_s"]["median"] / base["median"]
                                  if case.endswith("-background") and s["ferry_mib_s"] and base and base["median"]
                                  else None)
    return out


def cell(d: dict | None, fmt: str = "{:.2f}") -> str:
    if not d:
        return "–"
    if d["min"] == d["max"]:
        return fmt.format(d["median"])
    return f"{fmt.format(d['median'])} ({fmt.format(d['min'])}–{fmt.format(d['max'])})"


def num(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def markdown(report: dict) -> str:
    s = summarize(report)
    lines = []
    if s["throughput"]:
        sz = report["sizes"]
        lines += [f"Throughput on loopback (big: one {B.human_size(sz['big'])} file; model: "
                  f"{B.human_size(sz['model'])} in {len(MODEL)} files; capped: {B.human_size(sz['capped'])} in "
                  f"{len(CAPPED)} files, each response capped at {CAPPED_RATE}/s), medians (min–max):", "",
                  "| case | profile | runs ok | wall s | MiB/s | CPU s | peak RSS MiB | connections opened | "
                  "wall ÷ balanced |",
                  "| --- | --- | ---: | --- | ---: | --- | --- | ---: | ---: |"]
        for name, d in s["throughput"].items():
            lines.append(f"| {d['set']} | {d['profile']} | {d['ok']}/{d['runs']} | {cell(d['wall'])} | "
                         f"{num(d['mib_s'], '{:.1f}')} | {cell(d['cpu'])} | {cell(d['rss_mib'], '{:.0f}')} | "
                         f"{num(d['connections_opened'] and d['connections_opened']['median'], '{:.0f}')} | "
                         f"{num(d['wall_vs_balanced'])} |")
    if s["background"]:
        st = report["settings"]
        link = parse_link_rate(st["link_rate"])
        if lines:
            lines.append("")
        lines += [f"Background on a shaped loopback (tbf {st['link_rate']} = {link / 8e6:.1f} MB/s = "
                  f"{link / 8 / MiB:.2f} MiB/s, queue {st['queue_ms']} ms): curl of b.bin for {CURL_SECONDS} s, "
                  f"alone or {FERRY_HEAD_START:.0f} s after ferry started on a.bin; ferry alone on c.bin "
                  f"({B.human_size(st['alone_size'])}). Medians (min–max):", "",
                  "| case | runs ok | curl MB/s | curl ÷ curl-alone | ferry MiB/s | ferry ÷ balanced |",
                  "| --- | ---: | --- | ---: | --- | ---: |"]
        for case, d in s["background"].items():
            lines.append(f"| {case} | {d['ok']}/{d['runs']} | {cell(d['curl_mb_s'])} | "
                         f"{num(d['curl_share'] and d['curl_share'] * 100, '{:.0f}%')} | {cell(d['ferry_mib_s'])} | "
                         f"{num(d['ferry_vs_balanced'])} |")
        lines += ["", "ferry MiB/s: beside curl, the bytes ferry wrote during the curl's seconds; alone, "
                  "c.bin's size over the wall time."]
    for part, why in report.get("skipped", {}).items():
        lines += ["", f"{part}: skipped ({why})"]
    failed = [r for r in report["runs"] if not r["ok"]]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['case']} round {r['round']}: {r.get('error', '?')[:300]}"
                                         for r in failed]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh profiles", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="rounds; each runs every case once (default 3)")
    p.add_argument("--bg-runs", type=int, default=None, help="rounds of the background part (default --runs)")
    p.add_argument("--parts", default=",".join(PARTS), help="comma list of throughput, background (default both)")
    p.add_argument("--big-size", default="1G", help="size of big.bin in the throughput part (default 1G)")
    p.add_argument("--alone-size", default="200M", help="size of c.bin, fetched alone on the shaped link (200M)")
    p.add_argument("--link-rate", default="80mbit", help="tbf rate of the shaped loopback, tc syntax (80mbit)")
    p.add_argument("--queue-ms", type=int, default=200, help="tbf latency: the longest a packet queues (200)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary, client and origin (default $FERRY or build/ferry)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per run before it is killed (default 300)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    parts = [x for x in args.parts.split(",") if x]
    if not parts or set(parts) - set(PARTS):
        p.error(f"--parts takes {', '.join(PARTS)}")
    if args.runs < 1 or (args.bg_runs is not None and args.bg_runs < 1):
        p.error("--runs and --bg-runs must be at least 1")
    args.bg_runs = args.bg_runs or args.runs
    try:
        parse_link_rate(args.link_rate)
        args.big_bytes = B.parse_rate(args.big_size)
        args.alone_bytes = B.parse_rate(args.alone_size)
    except ValueError as e:
        p.error(str(e))
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    if not shutil.which("curl"):
        p.error("curl not found: run `sh tools/install-deps.sh`")
    if not os.access(B.TIME, os.X_OK):
        p.error(f"{B.TIME} not found: run `sh tools/install-deps.sh` (Debian package time)")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ferry-profiles-"))
    shm = Path(tempfile.mkdtemp(prefix="ferry-profiles-", dir="/dev/shm"))
    runs: list[dict] = []
    skipped: dict = {}
    broken = False  # a part that should have run could not be set up
    sizes = sizes_of(args)
    try:
        if "throughput" in parts:
            run_throughput(args, work, shm, runs)
        if "background" in parts:
            why = background_unavailable()
            if why:
                B.log(f"background: skipped, {why}")
                skipped["background"] = why
            else:
                try:
                    run_background(args, work, shm, runs)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    B.log(f"background: could not run: {e}")
                    skipped["background"] = str(e)[:500]
                    broken = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/run.sh profiles " + " ".join(sys.argv[1:]),
        "machine": B.machine_info(args.ferry),
        "nproc": os.cpu_count(), "nproc_usable": len(os.sched_getaffinity(0)),
        "settings": {"runs": args.runs, "bg_runs": args.bg_runs, "parts": parts, "big_size": args.big_bytes,
                     "alone_size": args.alone_bytes, "link_rate": args.link_rate, "queue_ms": args.queue_ms,
                     "timeout": args.timeout, "curl_seconds": CURL_SECONDS, "ferry_head_start": FERRY_HEAD_START,
                     "profiles": list(PROFILES)},
        "sizes": sizes, "runs": runs, "skipped": skipped, "seconds": time.monotonic() - t_start,
    }
    report["summary"] = summarize(report)
    B.save_results("profiles", report, markdown(report))
    return 0 if all(r["ok"] for r in runs) and not broken else 1


if __name__ == "__main__":
    B.run_main("profiles", main)
