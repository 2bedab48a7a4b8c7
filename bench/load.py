#!/usr/bin/env python3
"""The load-generator benchmark (issue 14, item 5): `ferry load` against wrk and h2load.

Everything runs on 127.0.0.1, against nginx (Debian nginx-light over HTTPS, set up as
bench/bench.py does) serving a 1 KiB file, and `ferry origin` for the injected delay:

1. closed: the same N keep-alive connections for each tool, --seconds each, tools alternating
   within each round: `ferry load` (constant-vus N, --max-connections N), `wrk -t2 -c N`,
   `h2load --h1 -c N` (one thread, as ferry load). Requests/s, CPU seconds per request (user +
   sys from /usr/bin/time -v), peak RSS, nginx's CPU per request.
2. many: constant-vus --many (10,000) from one ferry process against nginx with two workers
   (worker_connections from the fd limit): connections opened, the most established at the
   server at once (sampled from /proc/net/tcp every 0.5 s), peak RSS.
3. open: constant-arrival-rate at each of --rates for --rate-seconds: the achieved rate from
   --summary-export against the target, dropped iterations, failures, p99.
4. co: coordinated omission. `ferry origin` delays the first byte of one request in every
   --co-period worth of requests by --co-delay (rules `delay=...,skip=K,times=1`); ferry load
   sends --co-rate/s over one connection (--max-connections 1), so every delayed request stalls
   the queue behind it. Corrected p99 (from the intended send time) against the delay, and the
   uncorrected p99 (from the moment the request went out) that hides it.

Usage: bench/run.sh load [--runs 2] [--connections 64,256] [--seconds 10] [--many 10000]
       [--rates 2000,10000] [--rate-seconds 20] [--only closed,many,open,co] [--report JSON]
Writes bench/results/load-latest.json (and a timestamped copy) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

SECTIONS = ("closed", "many", "open", "co")
TOOLS = ("ferry", "wrk", "h2load")
FILE_SIZE = 1024


def label(tool: str, n: int) -> str:
    return {"ferry": f"`ferry load` (constant-vus {n}, --max-connections {n})",
            "wrk": f"`wrk -t2 -c {n}`", "h2load": f"`h2load --h1 -c {n}`"}[tool]


# --------------------------------------------------------------------------------------------
# running the tools


def find_process(marker: str) -> int | None:
    """The process whose command line holds `marker` (a file name unique to one run)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker.encode() in argv and b"time" not in Path(argv[0].decode(errors="replace")).name.encode():
                return int(entry.name)
    return None


def open_sockets(pid: int) -> int:
    n = 0
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(fd.path).startswith("socket:"):
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


class PeakSampler:
    """Every 0.5 s: the sockets the ferry process running `marker` holds (its connections), and
    the established connections at the server's port in /proc/net/tcp (read while it changes, so
    only roughly)."""

    def __init__(self, port: int, marker: str, target: int):
        self.port, self.marker, self.target = port, marker, target
        self.peak = self.peak_sockets = 0
        self.first_full: float | None = None
        self.t0 = time.monotonic()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        pid = None
        while not self.stop_flag.wait(0.5):
            pid = pid or find_process(self.marker)
            self.peak = max(self.peak, B.established_connections(self.port))
            if pid:
                n = open_sockets(pid)
                self.peak_sockets = max(self.peak_sockets, n)
                if n >= self.target and self.first_full is None:
                    self.first_full = time.monotonic() - self.t0

    def stop(self):
        self.stop_flag.set()
        self.thread.join()


def run_ferry_load(args, work: Path, name: str, scenario: dict, extra: list[str], ca: Path, timeout: float,
                   server_cpu=None) -> dict:
    spec = work / f"{name}.json"
    spec.write_text(json.dumps(scenario))
    summary = work / f"{name}.summary.json"
    argv = [args.ferry, "load", "-q", "--ca-cert", str(ca), "--summary-export", str(summary), *extra, str(spec)]
    cpu0 = server_cpu() if server_cpu else None
    r = B.timed_run(argv, work / f"{name}.log", work / f"{name}.time", timeout)
    if server_cpu:
        r["server_cpu"] = server_cpu() - cpu0
    try:
        s = json.loads(summary.read_text())
    except (OSError, ValueError):
        r["error"] = f"no summary (exit {r['exit']}): {B.tail(work / f'{name}.log')}"
        return r
    m = s["metrics"]
    seconds = s["state"]["testRunDurationMs"] / 1000
    r.update({
        "seconds": seconds,
        "requests": m["http_reqs"]["values"]["count"],
        "failed": round(m["http_req_failed"]["values"]["rate"] * m["http_reqs"]["values"]["count"]),
        "p50_ms": m["http_req_duration"]["values"]["med"],
        "p99_ms": m["http_req_duration"]["values"]["p(99)"],
        "max_ms": m["http_req_duration"]["values"]["max"],
        "p99_uncorrected_ms": m["http_req_duration_uncorrected"]["values"]["p(99)"],
        "max_uncorrected_ms": m["http_req_duration_uncorrected"]["values"]["max"],
        "dropped": m["dropped_iterations"]["values"]["count"],
        "connections_opened": s["ferry"].get("connections_opened"),
        "scenarios": s["ferry"]["scenarios"],
        "errors": s["ferry"].get("errors", {}),
    })
    r["rps"] = r["requests"] / seconds if seconds else None
    if r["exit"] not in (0, 99):
        r["error"] = f"exit {r['exit']}: {B.tail(work / f'{name}.log')}"
    return r


def parse_wrk(text: str) -> dict:
    out: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if m:
        unit = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
        out["requests"], out["seconds"] = int(m.group(1)), float(m.group(2)) * unit
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["failed"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["failed"] += sum(int(x) for x in m.groups())
    return out


def parse_h2load(text: str) -> dict:
    out: dict = {}
    m = re.search(r"finished in ([\d.]+)(ms|s)", text)
    if m:
        out["seconds"] = float(m.group(1)) * (1e-3 if m.group(2) == "ms" else 1)
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    if m:
        out["requests"] = int(m.group(1))
        out["failed"] = int(m.group(2)) + int(m.group(3))
    return out


def run_peer(args, work: Path, name: str, tool: str, n: int, url: str, server_cpu) -> dict:
    if tool == "wrk":
        argv = ["wrk", "-t2", "-c", str(n), "-d", f"{args.seconds}s", url]
    else:
        argv = ["h2load", "--h1", "-c", str(n), "-D", str(args.seconds), url]
    cpu0 = server_cpu()
    r = B.timed_run(argv, work / f"{name}.log", work / f"{name}.time", args.seconds + 60)
    r["server_cpu"] = server_cpu() - cpu0
    text = (work / f"{name}.log").read_text(errors="replace")
    r.update(parse_wrk(text) if tool == "wrk" else parse_h2load(text))
    if "requests" not in r or not r.get("seconds"):
        r["error"] = f"exit {r['exit']}: {text.strip()[-300:]}"
    else:
        r["rps"] = r["requests"] / r["seconds"]
    return r


def per_request(r: dict, key: str) -> float | None:
    if r.get(key) is None or not r.get("requests"):
        return None
    return r[key] / r["requests"] * 1e6  # µs


# --------------------------------------------------------------------------------------------
# the sections


def closed_section(args, work: Path, nginx: B.Nginx, ca: Path) -> list[dict]:
    url = f"https://127.0.0.1:{nginx.uncapped}/1k.bin"
    server_cpu = lambda: B.process_tree_cpu(nginx.proc.pid)  # noqa: E731
    runs = []
    for n in args.connections:
        for round_no in range(1, args.runs + 1):
            # Rotate the order each round: each tool goes first once in three rounds.
            k = (round_no - 1) % len(args.tools)
            for tool in args.tools[k:] + args.tools[:k]:
                name = f"closed-{n}-{tool}-{round_no}"
                if tool == "ferry":
                    scenario = {"requests": [{"url": url}],
                                "scenarios": {"closed": {"executor": "constant-vus", "vus": n,
                                                         "duration": f"{args.seconds}s", "gracefulStop": "5s"}}}
                    r = run_ferry_load(args, work, name, scenario, ["--max-connections", str(n)], ca,
                                       args.seconds + 60, server_cpu)
                else:
                    r = run_peer(args, work, name, tool, n, url, server_cpu)
                r.update({"tool": tool, "connections": n, "round": round_no,
                          "cpu_us_per_request": per_request(r, "cpu"),
                          "server_cpu_us_per_request": per_request(r, "server_cpu")})
                B.log(f"  closed c={n} {tool:7s} round {round_no}: {r.get('rps') or 0:9.0f} req/s  "
                      f"CPU {r.get('cpu_us_per_request') or 0:5.1f} µs/req  nginx "
                      f"{r.get('server_cpu_us_per_request') or 0:5.1f} µs/req  RSS {r.get('rss_mib') or 0:6.1f} MiB  "
                      f"failed {r.get('failed')} {r.get('error', '')}")
                runs.append(r)
    return runs


def many_section(args, work: Path, www: Path, pki: B.Pki) -> dict:
    # Two workers: worker_connections (half the fd limit each) must hold --many between them.
    nginx = B.Nginx(work / "many", www, pki, 2)
    try:
        url = f"https://127.0.0.1:{nginx.uncapped}/1k.bin"
        sampler = PeakSampler(nginx.uncapped, str(work / "many.json"), args.many)
        scenario = {"requests": [{"url": url}],
                    "scenarios": {"many": {"executor": "constant-vus", "vus": args.many,
                                           "duration": f"{args.many_seconds}s", "gracefulStop": "10s"}}}
        try:
            r = run_ferry_load(args, work, "many", scenario,
                               ["--timeout", "60", "--max-connecting", str(args.many_connecting)], pki.ca,
                               args.many_seconds + 120)
        finally:
            sampler.stop()
        r.update({"vus": args.many, "max_connecting": args.many_connecting, "peak_established": sampler.peak,
                  "peak_sockets": sampler.peak_sockets, "all_connected_after_s": sampler.first_full,
                  "seconds_planned": args.many_seconds,
                  "nginx_worker_connections": re.search(r"worker_connections (\d+)", nginx.conf.read_text()).group(1)})
    finally:
        nginx.stop()
    B.log(f"  many: {args.many} VUs: {r.get('connections_opened')} connections opened, at most {r['peak_sockets']} "
          f"sockets open in ferry (all after {r['all_connected_after_s']} s), about {r['peak_established']} "
          f"established at nginx, "
          f"{r.get('requests')} requests ({r.get('failed')} failed), RSS {r.get('rss_mib') or 0:.1f} MiB "
          f"{r.get('error', '')}")
    return r


def open_section(args, work: Path, nginx: B.Nginx, ca: Path) -> list[dict]:
    url = f"https://127.0.0.1:{nginx.uncapped}/1k.bin"
    server_cpu = lambda: B.process_tree_cpu(nginx.proc.pid)  # noqa: E731
    out = []
    for rate in args.rates:
        # VUs for half a second of arrivals: a stall of the shared machine delays iterations
        # (the corrected latency shows it) instead of dropping them.
        pre = max(16, rate // 50)
        scenario = {"requests": [{"url": url}],
                    "scenarios": {"open": {"executor": "constant-arrival-rate", "rate": rate, "timeUnit": "1s",
                                           "duration": f"{args.rate_seconds}s", "preAllocatedVUs": pre,
                                           "maxVUs": max(pre * 8, rate // 2)}}}
        # A fixed pool of connections, as wrk2's: a VU added when the others are busy waits for one
        # instead of opening its own (a TLS handshake each, just when the server is behind).
        r = run_ferry_load(args, work, f"open-{rate}", scenario, ["--max-connections", str(args.open_connections)],
                           ca, args.rate_seconds + 60, server_cpu)
        sc = r.get("scenarios", {}).get("open", {})
        r.update({"target_rate": rate, "max_connections": args.open_connections, "achieved_rate": sc.get("achieved_rate"), "rate_missed": sc.get("rate_missed"),
                  "vus_max": sc.get("vus_max"), "cpu_us_per_request": per_request(r, "cpu")})
        if r.get("requests") is not None:
            # The requests completed over the scenario's length, beside what it started.
            r["completed_rate"] = r["requests"] / args.rate_seconds
        B.log(f"  open {rate}/s: achieved {r.get('achieved_rate') or 0:.1f}/s (completed "
              f"{r.get('completed_rate') or 0:.1f}/s), dropped {r.get('dropped')}, failed {r.get('failed')}, "
              f"p99 {r.get('p99_ms') or 0:.2f} ms, VUs {r.get('vus_max')}, CPU {r.get('cpu') or 0:.1f} s "
              f"{r.get('error', '')}")
        out.append(r)
    return out


def co_section(args, work: Path) -> dict:
    delay_ms = args.co_delay
    every = max(2, round(args.co_rate * args.co_period / 1000))  # one delayed request per period
    total = args.co_rate * args.co_seconds
    rules = [f"/co.bin:delay={delay_ms}ms,skip={k},times=1" for k in range(every // 2, total, every)]
    extra = []
    for rule in rules:
        extra += ["--fault", rule]
    origin = B.FerryOrigin(args.ferry, work, "co", [("co.bin", FILE_SIZE)], None, extra=extra)
    try:
        scenario = {"requests": [{"url": f"https://127.0.0.1:{origin.port}/co.bin"}],
                    "scenarios": {"co": {"executor": "constant-arrival-rate", "rate": args.co_rate, "timeUnit": "1s",
                                         "duration": f"{args.co_seconds}s", "preAllocatedVUs": 32,
                                         "maxVUs": max(400, args.co_rate)}}}
        r = run_ferry_load(args, work, "co", scenario, ["--max-connections", "1"], origin.ca, args.co_seconds + 60)
    finally:
        origin.stop()
    r.update({"rate": args.co_rate, "delay_ms": delay_ms, "period_ms": args.co_period, "delayed": len(rules),
              "every": every})
    # What the schedule gives, if every other request took no time: the requests arriving in a
    # stall wait for its end, so latencies spread evenly over [0, delay] for delay/period of the
    # requests; the top 1% lie within 1% of a period of the delay.
    r["expected_p99_ms"] = delay_ms - 0.01 * args.co_period
    B.log(f"  co: {args.co_rate}/s on one connection, {delay_ms} ms on 1 request in {every} ({len(rules)} in all): "
          f"corrected p99 {r.get('p99_ms') or 0:.1f} ms (max {r.get('max_ms') or 0:.1f}), uncorrected p99 "
          f"{r.get('p99_uncorrected_ms') or 0:.2f} ms (max {r.get('max_uncorrected_ms') or 0:.1f}), "
          f"{r.get('requests')} requests, failed {r.get('failed')} {r.get('error', '')}")
    return r


# --------------------------------------------------------------------------------------------
# report


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def ratio(x, y):
    return x / y if x is not None and y else None


def summarize_closed(report: dict) -> dict:
    out: dict = {}
    for n in report["connections"]:
        per: dict = {}
        for tool in report["tools"]:
            ok = [r for r in report["closed"] if r["connections"] == n and r["tool"] == tool and "error" not in r]
            per[tool] = {key: B.median([r[key] for r in ok if r.get(key) is not None])
                         for key in ("rps", "cpu_us_per_request", "server_cpu_us_per_request", "rss_mib")}
            per[tool]["runs"] = len(ok)
            per[tool]["failed"] = sum(r.get("failed") or 0 for r in ok)
            per[tool]["rps_range"] = (min((r["rps"] for r in ok), default=None), max((r["rps"] for r in ok), default=None))
        out[str(n)] = per
    return out


def markdown(report: dict) -> str:
    lines: list[str] = []
    targets: list[tuple[str, str, str, bool | None]] = []
    if report.get("closed"):
        s = summarize_closed(report)
        lines += ["| connections | tool | runs | requests/s (median; min–max) | CPU µs per request | "
                  "nginx CPU µs per request | peak RSS MiB | failed |",
                  "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
        for n in report["connections"]:
            for tool in report["tools"]:
                d = s[str(n)][tool]
                lo, hi = d["rps_range"]
                lines.append(f"| {n} | {label(tool, n)} | {d['runs']} | {fmt(d['rps'], 0)} ({fmt(lo, 0)}–{fmt(hi, 0)}) | "
                             f"{fmt(d['cpu_us_per_request'])} | {fmt(d['server_cpu_us_per_request'])} | "
                             f"{fmt(d['rss_mib'])} | {d['failed']} |")
        if "ferry" in report["tools"]:
            lines += ["", "| connections | ferry ÷ wrk: requests/s | CPU per request | ferry ÷ h2load: requests/s | "
                      "CPU per request |", "| ---: | ---: | ---: | ---: | ---: |"]
            for n in report["connections"]:
                d = s[str(n)]
                f = d["ferry"]
                w, h = d.get("wrk", {}), d.get("h2load", {})
                rw, cw = ratio(f["rps"], w.get("rps")), ratio(f["cpu_us_per_request"], w.get("cpu_us_per_request"))
                rh, ch = ratio(f["rps"], h.get("rps")), ratio(f["cpu_us_per_request"], h.get("cpu_us_per_request"))
                lines.append(f"| {n} | {fmt(rw, 2)} | {fmt(cw, 2)} | {fmt(rh, 2)} | {fmt(ch, 2)} |")
                targets.append((f"closed, {n} connections", "requests/s ≥ 0.9 × wrk", f"{fmt(rw, 2)} × wrk",
                                None if rw is None else rw >= 0.9))
                targets.append((f"closed, {n} connections", "CPU per request ≤ 1.25 × wrk", f"{fmt(cw, 2)} × wrk",
                                None if cw is None else cw <= 1.25))
    if report.get("many"):
        m = report["many"]
        lines += ["", "| VUs (constant-vus) | --max-connecting | connections opened | sockets open in ferry at once | "
                  "all open after (of the run) | requests | failed | CPU s | peak RSS MiB |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines.append(f"| {m['vus']:,} | {m.get('max_connecting')} | {fmt(m.get('connections_opened'), 0)} | "
                     f"{m.get('peak_sockets', 0):,} | {fmt(m.get('all_connected_after_s'))} s (of {m.get('seconds_planned')} s) | "
                     f"{fmt(m.get('requests'), 0)} | "
                     f"{fmt(m.get('failed'), 0)} | {fmt(m.get('cpu'))} | {fmt(m.get('rss_mib'))} |")
        # All open at once while the scenario still ran (not only in its gracefulStop).
        ok = (m.get("all_connected_after_s") is not None and m["all_connected_after_s"] < m.get("seconds_planned", 1e9)
              and (m.get("rss_mib") or 1e9) <= 256 and not m.get("failed")
              and m.get("connections_opened") == m["vus"])
        targets.append((f"{m['vus']:,} connections from one process", "all connected, peak RSS ≤ 256 MiB",
                        f"{m.get('peak_sockets', 0):,} open at once, {fmt(m.get('rss_mib'))} MiB", ok))
    if report.get("open"):
        lines += ["", "| target rate /s | achieved (started) /s | off by | completed /s | dropped | failed | p50 ms | "
                  "p99 ms | VUs at most | CPU s | CPU µs per request |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in report["open"]:
            off = None if r.get("achieved_rate") is None else (r["achieved_rate"] / r["target_rate"] - 1) * 100
            lines.append(f"| {r['target_rate']:,} | {fmt(r.get('achieved_rate'))} | {fmt(off, 2)}% | "
                         f"{fmt(r.get('completed_rate'))} | {fmt(r.get('dropped'), 0)} | {fmt(r.get('failed'), 0)} | "
                         f"{fmt(r.get('p50_ms'), 2)} | {fmt(r.get('p99_ms'), 2)} | {fmt(r.get('vus_max'), 0)} | "
                         f"{fmt(r.get('cpu'))} | {fmt(r.get('cpu_us_per_request'))} |")
            targets.append((f"open, {r['target_rate']:,}/s", "achieved within 1% of the target",
                            f"{fmt(off, 2)}%", None if off is None else abs(off) <= 1))
    if report.get("co"):
        c = report["co"]
        lines += ["", "| rate /s, one connection | injected delay | delayed requests | corrected p99 ms | corrected max ms | "
                  "uncorrected p99 ms | uncorrected max ms | schedule's p99 ms | requests | failed |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        lines.append(f"| {c['rate']:,} | {c['delay_ms']} ms, 1 request in {c['every']} ({c['period_ms']} ms) | "
                     f"{c['delayed']} | {fmt(c.get('p99_ms'))} | {fmt(c.get('max_ms'))} | {fmt(c.get('p99_uncorrected_ms'), 2)} | "
                     f"{fmt(c.get('max_uncorrected_ms'))} | {fmt(c['expected_p99_ms'])} | {fmt(c.get('requests'), 0)} | "
                     f"{fmt(c.get('failed'), 0)} |")
        p99 = c.get("p99_ms")
        targets.append(("coordinated omission", f"corrected p99 within 5 ms of the {c['delay_ms']} ms delay",
                        f"{fmt(p99)} ms (uncorrected {fmt(c.get('p99_uncorrected_ms'), 2)} ms)",
                        None if p99 is None else abs(p99 - c["delay_ms"]) <= 5))
    if targets:
        lines += ["", "| scenario | target | measured | status |", "| --- | --- | --- | --- |"]
        for sc, target, measured, ok in targets:
            lines.append(f"| {sc} | {target} | {measured} | {'–' if ok is None else 'pass' if ok else '**not met**'} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh load", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="rounds of the closed model; tools alternate (default 3)")
    p.add_argument("--connections", default="64,256", help="connection counts of the closed model (default 64,256)")
    p.add_argument("--seconds", type=int, default=8, help="length of each closed-model run (default 8)")
    p.add_argument("--tools", default=",".join(TOOLS), help="closed model: comma list of ferry, wrk, h2load")
    p.add_argument("--many", type=int, default=10000, help="VUs (connections) of the many section (default 10000)")
    p.add_argument("--many-seconds", type=int, default=40, help="its length (default 40)")
    p.add_argument("--many-connecting", type=int, default=1000,
                   help="its --max-connecting: handshakes at once (default 1000; ferry load's own is 64)")
    p.add_argument("--rates", default="2000,10000", help="open-model target rates per second (default 2000,10000)")
    p.add_argument("--rate-seconds", type=int, default=20, help="length of each open-model run (default 20)")
    p.add_argument("--open-connections", type=int, default=256,
                   help="open model: --max-connections, the pool the VUs share (default 256)")
    p.add_argument("--co-rate", type=int, default=400, help="co: requests per second on one connection (default 400)")
    p.add_argument("--co-delay", type=int, default=200, help="co: the injected delay, ms (default 200)")
    p.add_argument("--co-period", type=int, default=400, help="co: one delayed request per this many ms of "
                   "requests (default 400: under 1%% of the requests delayed, and 200 ms to catch up after each)")
    p.add_argument("--co-seconds", type=int, default=20, help="co: length (default 20)")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma list of closed, many, open, co (default all)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary (default $FERRY or build/ferry)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    args.connections = [int(x) for x in args.connections.split(",") if x]
    args.rates = [int(x) for x in args.rates.split(",") if x]
    args.tools = [x for x in args.tools.split(",") if x]
    sections = [x for x in args.only.split(",") if x]
    if set(sections) - set(SECTIONS) or set(args.tools) - set(TOOLS) or not args.tools:
        p.error(f"--only takes {', '.join(SECTIONS)}; --tools {', '.join(TOOLS)}")
    if args.runs < 1 or args.seconds < 1:
        p.error("--runs and --seconds must be at least 1")
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    for tool in ("nginx", "openssl") + tuple(t for t in args.tools if t != "ferry" and "closed" in sections):
        if not shutil.which(tool):
            p.error(f"{tool} not found: run `sh tools/install-deps.sh`")

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    B.log(f"load: open files per process: {soft} (hard limit {hard})")
    if "many" in sections and soft != resource.RLIM_INFINITY and soft < args.many + 256:
        raise SystemExit(f"load: --many {args.many} needs {args.many + 256} open files per process, `ulimit -n` "
                         f"gives {soft} (hard limit {hard}): lower --many or raise the limit")

    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    load_at_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="ferry-load-bench-"))
    report: dict = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "command": "bench/run.sh load " + " ".join(sys.argv[1:]),
                    "machine": B.machine_info(args.ferry), "wrk": B.first_line(["wrk", "-v"]),
                    "h2load": B.first_line(["h2load", "--version"]), "nginx": B.first_line(["nginx", "-v"]),
                    "load_average_at_start": load_at_start, "fd_limit": [soft, hard],
                    "connections": args.connections, "tools": args.tools, "seconds_per_run": args.seconds,
                    "runs": args.runs}
    nginx = None
    try:
        www = work / "www"
        www.mkdir()
        (www / "1k.bin").write_bytes(os.urandom(FILE_SIZE))
        pki = B.Pki(work / "pki")
        if "closed" in sections or "open" in sections:
            nginx = B.Nginx(work, www, pki, 1)
        if "closed" in sections:
            B.log(f"load: closed model, {args.connections} connections, {args.seconds} s each, {args.runs} rounds")
            report["closed"] = closed_section(args, work, nginx, pki.ca)
        if "open" in sections:
            B.log(f"load: open model at {args.rates}/s, {args.rate_seconds} s each")
            report["open"] = open_section(args, work, nginx, pki.ca)
        if nginx:
            nginx.stop()
            nginx = None
        if "many" in sections:
            B.log(f"load: {args.many} concurrent connections from one ferry load")
            report["many"] = many_section(args, work, www, pki)
        if "co" in sections:
            B.log("load: coordinated omission against ferry origin's delay fault")
            report["co"] = co_section(args, work)
    finally:
        if nginx:
            nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    report["seconds"] = time.monotonic() - t_start
    B.save_results("load", report, markdown(report))
    return 0


if __name__ == "__main__":
    B.run_main("load", main)
