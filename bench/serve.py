#!/usr/bin/env python3
"""The service benchmark: `ferry serve` against `aria2c --enable-rpc` holding 5,000 clients.

Everything runs on 127.0.0.1. One `ferry origin` serves a big synthetic file, every response
capped at --rate per connection (strict, no burst: the download's full speed); each daemon, in
its turn, downloads it with one connection (`split` and `max-connection-per-server` 1) into a
fresh directory on disk, and a keeper re-adds it whenever it ends, so that a download runs
throughout. Then, against that daemon:

1. baseline: --baseline seconds with no clients (the download's speed alone);
2. http: `wrk -c CLIENTS` keep-alive connections POSTing aria2.tellStatus of the running GID and
   aria2.getGlobalStat alternately, for --seconds (calls/s, p99, non-200 answers);
3. ws: CLIENTS WebSocket clients (bench/serve_js/ws_load.mjs, npm `ws`), each with one call in
   flight at a time, the same two calls, for --seconds;
4. burst: --burst connections, then one POST each, all at once: the bounded request queue
   answers beyond its capacity with 503 + Retry-After (counted; RSS before and after);
5. lag (ferry only): --lag-files files of --lag-size from an uncapped origin, each with a
   `checksum` option (sha-256), downloaded, verified and committed (synced and renamed) on disk,
   then added again so that the daemon hashes the files already there. The event-loop lag
   histogram of /metrics (ferry_event_loop_lag_seconds) before and after gives the phase's p99.
   --lag-limit RATE caps each of those downloads (aria2's max-download-limit), so that the loop
   is not saturated by the transfers themselves and the lag is that of verifying and committing.

The daemons' CPU seconds (utime + stime from /proc) and resident memory (sampled every 0.2 s)
are taken per phase; the download's speed per phase is the origin's body_bytes_sent over the
phase's time. Daemons alternate within each round (--runs rounds).

Usage: bench/run.sh serve [--runs 2] [--clients 5000] [--seconds 15] [--tools ferry,aria2c]
       [--rate 40M] [--burst 4000] [--lag-files 6] [--lag-size 128M] [--lag-limit RATE] [--report JSON]
Writes bench/results/serve-latest.json (and a timestamped copy) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

TOOLS = ("ferry", "aria2c")
LABELS = {"ferry": "`ferry serve`", "aria2c": "`aria2c --enable-rpc`"}
KEEP_SIZE = "4G"


# --------------------------------------------------------------------------------------------
# processes and their numbers


class StatsOrigin(B.FerryOrigin):
    """`ferry origin` with a stats file that SIGUSR1 refreshes (bytes sent so far)."""

    def __init__(self, ferry: str, work: Path, name: str, synthetic, rate, extra: list[str] = ()):
        self.stats_file = work / f"{name}.origin-stats.json"
        super().__init__(ferry, work, name, synthetic, rate, extra=["--stats-file", str(self.stats_file), *extra])

    def body_bytes_sent(self) -> int | None:
        """The counter now: the stats file removed, SIGUSR1, then its next version (bounded wait;
        two writes within one clock tick would share an mtime)."""
        self.stats_file.unlink(missing_ok=True)
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                return json.loads(self.stats_file.read_text())["body_bytes_sent"]
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)
        return None


def proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def proc_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


class Sampler:
    """Samples a process's RSS every 0.2 s on a thread; peak() since the last reset()."""

    def __init__(self, pid: int):
        self.pid = pid
        self.lock = threading.Lock()
        self.max_rss = 0.0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag.wait(0.2):
            rss = proc_rss_mib(self.pid)
            if rss is not None:
                with self.lock:
                    self.max_rss = max(self.max_rss, rss)

    def reset(self) -> None:
        with self.lock:
            self.max_rss = proc_rss_mib(self.pid) or 0.0

    def peak(self) -> float:
        with self.lock:
            return max(self.max_rss, proc_rss_mib(self.pid) or 0.0)

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join()


def rpc(port: int, method: str, params: list, timeout: float = 10, tries: int = 20):
    """One JSON-RPC call over HTTP POST; retried on 503 (the daemon's queue) within `tries`."""
    body = json.dumps({"jsonrpc": "2.0", "id": "bench", "method": method, "params": params}).encode()
    for attempt in range(tries):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/jsonrpc", data=body,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code == 503 and attempt + 1 < tries:
                time.sleep(0.25)
                continue
            try:
                answer = json.loads(e.read())
            except ValueError:
                raise RuntimeError(f"{method}: HTTP {e.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            if attempt + 1 < tries:
                time.sleep(0.25)
                continue
            raise RuntimeError(f"{method}: {e}") from None
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]
    raise RuntimeError(f"{method}: no answer")


class Daemon:
    """ferry serve or aria2c --enable-rpc on a free port, downloading into `dir`."""

    def __init__(self, tool: str, args, work: Path, dir: Path, ca: Path):
        self.tool = tool
        self.port = B.free_port()
        self.dir = dir
        self.log = work / f"{tool}-{self.port}.log"
        if tool == "ferry":
            # One connection per download, as aria2c's below: both downloads at the origin's cap.
            argv = [args.ferry, "serve", "--rpc-listen-port", str(self.port), "-d", str(dir), "--ca-cert", str(ca),
                    "-x", "1"]
        else:
            argv = ["aria2c", "--enable-rpc", f"--rpc-listen-port={self.port}", "--rpc-listen-all=false",
                    f"--ca-certificate={ca}", f"--dir={dir}", "--allow-overwrite=true", "--auto-file-renaming=false",
                    "--file-allocation=none", "--max-download-result=1000", "--split=1",
                    "--max-connection-per-server=1", "--console-log-level=warn",
                    "--summary-interval=0"]
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=B._die_with_parent)
        B.wait_for_port(self.port, self.proc)
        self.sampler = Sampler(self.proc.pid)

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid) or 0.0

    def stop(self) -> None:
        self.sampler.stop()
        B.stop_group(self.proc, signal.SIGTERM, grace=10)


class Keeper:
    """Keeps one download of the big file running: re-adds it (to a new name, the old file
    deleted) whenever it ended; `gid` is the current one."""

    def __init__(self, daemon: Daemon, url: str):
        self.daemon, self.url = daemon, url
        self.n = 0
        self.restarts = 0
        self.gid = self.add()
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def add(self) -> str:
        self.n += 1
        options = {"out": f"keep-{self.n}.bin", "split": "1", "max-connection-per-server": "1"}
        return rpc(self.daemon.port, "aria2.addUri", [[self.url], options])

    def run(self) -> None:
        while not self.stop_flag.wait(1.0):
            try:
                status = rpc(self.daemon.port, "aria2.tellStatus", [self.gid, ["status"]], tries=4)["status"]
            except RuntimeError:
                continue  # busy under load: ask again
            if status in ("complete", "error", "removed"):
                try:
                    rpc(self.daemon.port, "aria2.removeDownloadResult", [self.gid], tries=4)
                except RuntimeError:
                    pass
                (self.daemon.dir / f"keep-{self.n}.bin").unlink(missing_ok=True)
                self.gid = self.add()
                self.restarts += 1

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join()


# --------------------------------------------------------------------------------------------
# the load generators

WRK_SCRIPT = r"""
-- bench/serve.py: aria2.tellStatus of the running download and aria2.getGlobalStat, alternately.
local bodies = {
  '{"jsonrpc":"2.0","id":"s","method":"aria2.tellStatus","params":["GID",["gid","status","completedLength","downloadSpeed"]]}',
  '{"jsonrpc":"2.0","id":"g","method":"aria2.getGlobalStat","params":[]}',
}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; status_503 = 0; retry_after = 0; rpc_errors = 0; other = 0 end
function request()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n % 2) + 1])
end
function response(status, headers, body)
  if status == 503 then
    status_503 = status_503 + 1
    if headers["Retry-After"] or headers["retry-after"] then retry_after = retry_after + 1 end
  elseif status ~= 200 then
    other = other + 1
  elseif string.find(body, '"error"', 1, true) then
    rpc_errors = rpc_errors + 1
  end
end
function done(summary, latency, requests)
  local s = {status_503 = 0, retry_after = 0, rpc_errors = 0, other = 0}
  for _, t in ipairs(threads) do
    for k, _ in pairs(s) do s[k] = s[k] + (t:get(k) or 0) end
  end
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"max_us":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,' ..
    '"timeouts":%d,"status_503":%d,"retry_after":%d,"rpc_errors":%d,"other_status":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, s.status_503, s.retry_after, s.rpc_errors, s.other))
end
"""


def run_wrk(args, work: Path, port: int, gid: str) -> dict:
    script = work / "load.lua"
    script.write_text(WRK_SCRIPT.replace("GID", gid))
    argv = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.clients), "-d", f"{args.seconds}s", "--timeout", "10s",
            "-s", str(script), f"http://127.0.0.1:{port}/jsonrpc"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 120)
    m = re.search(r"WRKJSON (\{.*\})", r.stdout)
    if not m:
        return {"error": f"wrk exit {r.returncode}: {(r.stdout + r.stderr).strip()[-400:]}"}
    w = json.loads(m.group(1))
    seconds = w["duration_us"] / 1e6
    ok = w["requests"] - w["status_503"] - w["other_status"] - w["rpc_errors"]
    return {**w, "seconds": seconds, "calls_per_second": ok / seconds, "p50_ms": w["p50_us"] / 1000,
            "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000}


def run_ws(args, port: int, gid: str) -> dict:
    argv = [args.node, str(args.serve_js / "ws_load.mjs"), f"ws://127.0.0.1:{port}/jsonrpc", str(args.clients),
            str(args.seconds), gid]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + 180)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"node exit {r.returncode}: {(r.stdout + r.stderr).strip()[-400:]}"}


async def burst_async(port: int, count: int, timeout: float) -> dict:
    """`count` connections opened first, then one POST on each at once; answers by status."""
    body = json.dumps({"jsonrpc": "2.0", "id": "b", "method": "aria2.getGlobalStat", "params": []}).encode()
    request = (f"POST /jsonrpc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    conns = []
    failed = 0
    for i in range(0, count, 500):
        opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                        for _ in range(min(500, count - i))), return_exceptions=True)
        for c in opened:
            if isinstance(c, BaseException):
                failed += 1
            else:
                conns.append(c)
    for _, w in conns:
        w.write(request)
    t0 = time.monotonic()

    async def answer(reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status = int(head.split(b" ", 2)[1])
            retry = b"\r\nretry-after:" in head.lower()
            return status, retry
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            return None, False
        finally:
            writer.close()

    answers = await asyncio.gather(*(answer(r, w) for r, w in conns))
    out = {"connections": count, "connect_failed": failed, "seconds": time.monotonic() - t0,
           "status_200": sum(1 for s, _ in answers if s == 200),
           "status_503": sum(1 for s, _ in answers if s == 503),
           "retry_after": sum(1 for s, r in answers if s == 503 and r),
           "other": sum(1 for s, _ in answers if s not in (200, 503, None)),
           "no_answer": sum(1 for s, _ in answers if s is None)}
    return out


def run_burst(port: int, count: int) -> dict:
    return asyncio.run(burst_async(port, count, 30))


# --------------------------------------------------------------------------------------------
# the event-loop lag of ferry serve


def lag_histogram(port: int) -> dict[float, int]:
    """le -> cumulative count of ferry_event_loop_lag_seconds from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^ferry_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\d+)', text, re.M):
        out[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = int(m.group(2))
    if not out:
        raise RuntimeError("no ferry_event_loop_lag_seconds in /metrics")
    return out


def lag_between(before: dict, after: dict) -> dict:
    """The phase's lag samples from two cumulative histograms: count, p50/p99 (bucket bounds, ms),
    and the largest bucket that got a sample."""
    les = sorted(after)
    diff = [(le, after[le] - before.get(le, 0)) for le in les]
    total = diff[-1][1]

    def pct(p):
        for le, c in diff:
            if c >= p * total:
                return le * 1000
        return None

    worst = None
    prev = 0
    for le, c in diff:
        if c > prev:
            worst = le * 1000
        prev = c
    over_5ms = total - next((c for le, c in diff if le >= 0.005), total)
    return {"samples": total, "p50_ms": pct(0.5) if total else None, "p99_ms": pct(0.99) if total else None,
            "max_bucket_ms": worst, "over_5ms": over_5ms}


def wait_for(port: int, gids: list[str], timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        states = [rpc(port, "aria2.tellStatus", [g, ["gid", "status", "errorMessage"]]) for g in gids]
        if all(s["status"] in ("complete", "error", "removed") for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.25)


def lag_phase(args, daemon: Daemon, lag_origin: StatsOrigin, digests: dict, lag_dir: str) -> dict:
    out: dict = {}
    port = daemon.port
    for step in ("download", "again"):
        h0 = lag_histogram(port)
        t0 = time.monotonic()
        cpu0 = daemon.cpu()
        options = {"dir": lag_dir}
        if args.lag_limit != "0":
            options["max-download-limit"] = args.lag_limit
        gids = [rpc(port, "aria2.addUri", [[lag_origin.url(p)], {**options, "out": Path(p).name,
                                                                  "checksum": f"sha-256={d}"}])
                for p, d in digests.items()]
        states = wait_for(port, gids, 180)
        # A few more probe periods, so the last commit's lag is in.
        time.sleep(0.5)
        h1 = lag_histogram(port)
        out[step] = {"seconds": time.monotonic() - t0, "cpu": daemon.cpu() - cpu0,
                     "complete": sum(1 for s in states if s["status"] == "complete"), "files": len(gids),
                     "errors": [s.get("errorMessage", s["status"]) for s in states if s["status"] != "complete"][:3],
                     **lag_between(h0, h1)}
        for g in gids:
            try:
                rpc(port, "aria2.removeDownloadResult", [g], tries=4)
            except RuntimeError:
                pass
    shutil.rmtree(lag_dir, ignore_errors=True)
    return out


# --------------------------------------------------------------------------------------------
# one daemon's turn


def measure(daemon: Daemon, origin: StatsOrigin, fn):
    """Runs fn(); returns its result with the daemon's CPU seconds, peak RSS and the download's
    MiB/s over the call."""
    daemon.sampler.reset()
    sent0, cpu0, t0 = origin.body_bytes_sent(), daemon.cpu(), time.monotonic()
    result = fn()
    sent1, cpu1, t1 = origin.body_bytes_sent(), daemon.cpu(), time.monotonic()
    result = dict(result)
    result["daemon_cpu"] = cpu1 - cpu0
    result["daemon_rss_peak_mib"] = daemon.sampler.peak()
    result["download_mib_s"] = (sent1 - sent0) / B.MiB / (t1 - t0) if sent0 is not None and sent1 is not None else None
    result["phase_seconds"] = t1 - t0
    return result


def turn(args, tool: str, round_no: int, work: Path, origin: StatsOrigin, lag_origin, digests) -> dict:
    dir = work / f"{tool}-{round_no}"
    dir.mkdir()
    daemon = Daemon(tool, args, work, dir, origin.ca)
    keeper = None
    r: dict = {"tool": tool, "round": round_no}
    try:
        keeper = Keeper(daemon, origin.url("big.bin"))
        time.sleep(1.0)  # the download up to speed
        r["rss_start_mib"] = proc_rss_mib(daemon.proc.pid)
        r["baseline"] = measure(daemon, origin, lambda: (time.sleep(args.baseline), {})[1])
        B.log(f"  {tool} round {round_no}: download alone {r['baseline']['download_mib_s'] or 0:.1f} MiB/s")
        r["http"] = measure(daemon, origin, lambda: run_wrk(args, work, daemon.port, keeper.gid))
        h = r["http"]
        B.log(f"  {tool} round {round_no}: http {h.get('calls_per_second', 0):9.0f} calls/s  p99 "
              f"{h.get('p99_ms', 0):7.1f} ms  503s {h.get('status_503', 0)}  cpu {h['daemon_cpu']:.1f} s  "
              f"rss {h['daemon_rss_peak_mib']:.0f} MiB  download {h['download_mib_s'] or 0:.1f} MiB/s {h.get('error', '')}")
        time.sleep(1.0)  # wrk's sockets closed
        r["ws"] = measure(daemon, origin, lambda: run_ws(args, daemon.port, keeper.gid))
        w = r["ws"]
        B.log(f"  {tool} round {round_no}: ws   {w.get('calls_per_second', 0):9.0f} calls/s  p99 "
              f"{w.get('p99_ms') or 0:7.1f} ms  opened {w.get('opened')}/{args.clients}  busy {w.get('busy')}  "
              f"cpu {w['daemon_cpu']:.1f} s  rss {w['daemon_rss_peak_mib']:.0f} MiB  download "
              f"{w['download_mib_s'] or 0:.1f} MiB/s {w.get('error', '')}")
        time.sleep(1.0)
        rss_before = proc_rss_mib(daemon.proc.pid)
        r["burst"] = measure(daemon, origin, lambda: run_burst(daemon.port, args.burst))
        r["burst"]["rss_before_mib"] = rss_before
        r["burst"]["rss_after_mib"] = proc_rss_mib(daemon.proc.pid)
        b = r["burst"]
        B.log(f"  {tool} round {round_no}: burst of {args.burst}: 200 {b['status_200']}, 503 {b['status_503']} "
              f"(Retry-After {b['retry_after']}), no answer {b['no_answer']}, rss {b['rss_before_mib']:.0f} -> "
              f"{b['daemon_rss_peak_mib']:.0f} (peak) -> {b['rss_after_mib']:.0f} MiB")
        if tool == "ferry" and digests:
            r["lag"] = measure(daemon, origin, lambda: lag_phase(args, daemon, lag_origin, digests, str(daemon.dir / "lag")))
            for step in ("download", "again"):
                s = r["lag"][step]
                B.log(f"  {tool} round {round_no}: lag while {step}: {s['complete']}/{s['files']} files in "
                      f"{s['seconds']:.1f} s, p99 ≤ {s['p99_ms']} ms, worst ≤ {s['max_bucket_ms']} ms "
                      f"({s['samples']} samples)")
        r["restarts"] = keeper.restarts
        r["rss_hwm_mib"] = B.read_vmhwm_mib(daemon.proc.pid)
        r["cpu_total"] = daemon.cpu()
    finally:
        if keeper:
            keeper.stop()
        daemon.stop()
        shutil.rmtree(dir, ignore_errors=True)
    return r


# --------------------------------------------------------------------------------------------
# report


def summarize(report: dict) -> dict:
    out: dict = {}
    for tool in report["tools"]:
        mine = [r for r in report["turns"] if r["tool"] == tool]
        s: dict = {"turns": len(mine)}
        for phase in ("http", "ws"):
            ok = [r[phase] for r in mine if phase in r and "error" not in r[phase]]
            s[phase] = {key: B.median([x[key] for x in ok if x.get(key) is not None])
                        for key in ("calls_per_second", "p99_ms", "p50_ms", "daemon_cpu", "daemon_rss_peak_mib",
                                    "download_mib_s")}
            s[phase]["runs"] = len(ok)
            s[phase]["non_200"] = sum(x.get("status_503", 0) + x.get("busy", 0) or 0 for x in ok)
        s["baseline_mib_s"] = B.median([r["baseline"]["download_mib_s"] for r in mine if "baseline" in r
                                        and r["baseline"]["download_mib_s"] is not None])
        bursts = [r["burst"] for r in mine if "burst" in r]
        s["burst"] = {key: B.median([b[key] for b in bursts if b.get(key) is not None])
                      for key in ("status_200", "status_503", "retry_after", "no_answer", "rss_before_mib",
                                  "daemon_rss_peak_mib", "rss_after_mib")}
        s["rss_hwm_mib"] = max((r.get("rss_hwm_mib") or 0 for r in mine), default=None)
        lags = [r["lag"] for r in mine if "lag" in r]
        if lags:
            s["lag"] = {step: {"p99_ms": max(x[step]["p99_ms"] or 0 for x in lags),
                               "max_bucket_ms": max(x[step]["max_bucket_ms"] or 0 for x in lags),
                               "samples": sum(x[step]["samples"] for x in lags),
                               "complete": sum(x[step]["complete"] for x in lags),
                               "files": sum(x[step]["files"] for x in lags)} for step in ("download", "again")}
        out[tool] = s
    return out


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def markdown(report: dict) -> str:
    s = summarize(report)
    tools = report["tools"]
    n = report["clients"]
    lines = [f"| phase | daemon | runs | calls/s (median) | p50 ms | p99 ms | daemon CPU s | daemon peak RSS MiB | "
             f"download MiB/s (alone: baseline) | refused (503 / busy) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for phase, label in (("http", f"HTTP keep-alive, {n:,} clients (wrk)"), ("ws", f"WebSocket, {n:,} clients")):
        for tool in tools:
            d = s[tool][phase]
            lines.append(f"| {label} | {LABELS[tool]} | {d['runs']} | {fmt(d['calls_per_second'], 0)} | "
                         f"{fmt(d['p50_ms'])} | {fmt(d['p99_ms'])} | {fmt(d['daemon_cpu'])} | "
                         f"{fmt(d['daemon_rss_peak_mib'])} | {fmt(d['download_mib_s'])} "
                         f"({fmt(s[tool]['baseline_mib_s'])}) | {d['non_200']} |")
    if "ferry" in s and "aria2c" in s:
        lines += ["", "| phase | ferry ÷ aria2c: calls/s | p99 | CPU s per call |", "| --- | ---: | ---: | ---: |"]
        for phase in ("http", "ws"):
            f, a = s["ferry"][phase], s["aria2c"][phase]

            def ratio(x, y):
                return f"{x / y:.2f}" if x is not None and y else "–"
            cpc = [d["daemon_cpu"] / (d["calls_per_second"] * report["seconds_per_phase"])
                   if d["daemon_cpu"] and d["calls_per_second"] else None for d in (f, a)]
            lines.append(f"| {phase} | {ratio(f['calls_per_second'], a['calls_per_second'])} | "
                         f"{ratio(f['p99_ms'], a['p99_ms'])} | {ratio(cpc[0], cpc[1])} |")
    lines += ["", f"| burst of {report['burst']:,} POSTs at once | 200 | 503 | of them with Retry-After | no answer | "
              "RSS before → peak → after MiB |", "| --- | ---: | ---: | ---: | ---: | --- |"]
    for tool in tools:
        b = s[tool]["burst"]
        lines.append(f"| {LABELS[tool]} | {fmt(b['status_200'], 0)} | {fmt(b['status_503'], 0)} | "
                     f"{fmt(b['retry_after'], 0)} | {fmt(b['no_answer'], 0)} | {fmt(b['rss_before_mib'])} → "
                     f"{fmt(b['daemon_rss_peak_mib'])} → {fmt(b['rss_after_mib'])} |")
    if "ferry" in s and "lag" in s["ferry"]:
        lag = s["ferry"]["lag"]
        lines += ["", "| event-loop lag of `ferry serve` (ferry_event_loop_lag_seconds, 10 ms probe) | files | "
                  "samples | p99 ≤ ms (bucket bound) | worst ≤ ms | target p99 < 5 ms |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for step, label in (("download", "download, verify (sha-256 checksum), sync and rename"),
                            ("again", "the same files added again: sha-256 of the files on disk")):
            d = lag[step]
            status = "met" if d["p99_ms"] is not None and d["p99_ms"] < 5 else "**not met**"
            lines.append(f"| {label} | {d['complete']}/{d['files']} | {d['samples']} | {fmt(d['p99_ms'], 2)} | "
                         f"{fmt(d['max_bucket_ms'], 2)} | {status} |")
    failed = [(r["tool"], r["round"], p, r[p]["error"]) for r in report["turns"] for p in ("http", "ws")
              if p in r and "error" in r[p]]
    if failed:
        lines += ["", "Failed phases:"] + [f"- {t} round {n} {p}: {e[:300]}" for t, n, p, e in failed]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def ensure_js(serve_js: Path) -> None:
    if (serve_js / "node_modules" / "ws").is_dir() and (serve_js / "ws_load.mjs").is_file() and \
            (serve_js / "ws_load.mjs").read_bytes() == (B.REPO / "bench" / "serve_js" / "ws_load.mjs").read_bytes():
        return
    B.log(f"serve: installing the npm packages of bench/serve_js into {serve_js}")
    subprocess.run(["sh", str(B.REPO / "test" / "hub_js" / "setup.sh"), str(B.REPO / "bench" / "serve_js"),
                    str(serve_js)], check=True)


def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard) if hard != resource.RLIM_INFINITY
                                                    else need, hard))
    except (ValueError, OSError):
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        raise SystemExit(f"serve: {need} open files needed per process (clients and daemon sockets), but "
                         f"`ulimit -n` is {soft} (hard limit {hard}): raise the hard limit (limits.conf, "
                         f"LimitNOFILE=) and run again")


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh serve", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=2, help="rounds; each gives every daemon one turn (default 2)")
    p.add_argument("--clients", type=int, default=5000, help="concurrent clients per load phase (default 5000)")
    p.add_argument("--seconds", type=int, default=15, help="length of each load phase (default 15)")
    p.add_argument("--baseline", type=float, default=3, help="seconds of download alone per turn (default 3)")
    p.add_argument("--burst", type=int, default=4000, help="connections of the burst (default 4000)")
    p.add_argument("--rate", default="40M", help="the origin's cap per connection, bytes/s (default 40M)")
    p.add_argument("--lag-files", type=int, default=6, help="files of the lag phase (default 6; 0: none)")
    p.add_argument("--lag-size", default="128M", help="size of each (default 128M)")
    p.add_argument("--lag-limit", default="0",
                   help="max-download-limit of each lag file, e.g. 16M: the loop not saturated by the downloads "
                        "themselves, so the lag is that of verifying and committing (default 0: uncapped)")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk's threads (default 2)")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma list of ferry, aria2c (default both)")
    p.add_argument("--dir", default="/var/tmp", help="where the daemons' downloads go: on disk (default /var/tmp)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary (default $FERRY or build/ferry)")
    p.add_argument("--serve-js", type=Path, default=B.REPO / "build" / "serve_js",
                   help="where bench/serve_js's npm packages are installed (default build/serve_js)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    tools = [x for x in args.tools.split(",") if x]
    if not tools or set(tools) - set(TOOLS):
        p.error(f"--tools takes {', '.join(TOOLS)}")
    if args.runs < 1 or args.clients < 1 or args.seconds < 1:
        p.error("--runs, --clients and --seconds must be at least 1")
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    for tool in ("wrk", "node") + (("aria2c",) if "aria2c" in tools else ()):
        if not shutil.which(tool):
            p.error(f"{tool} not found: run `sh tools/install-deps.sh`")
    args.node = shutil.which("node")
    args.serve_js = args.serve_js.resolve()
    ensure_js(args.serve_js)
    # Each side holds one descriptor per client (plus the daemon's files and the origin's side).
    raise_fd_limit(max(args.clients, args.burst) + 1024)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    load_at_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="ferry-serve-bench-", dir=args.dir))
    lag_size = B.parse_rate(args.lag_size)
    lag_paths = [(f"lag/file-{i}.bin", lag_size) for i in range(1, args.lag_files + 1)] if "ferry" in tools else []
    turns: list[dict] = []
    origin = lag_origin = None
    try:
        B.log(f"serve: origin of the running download ({KEEP_SIZE}, {args.rate}/s per connection)")
        digests = {}
        if lag_paths:
            B.log(f"serve: {len(lag_paths)} files of {args.lag_size} for the lag phase (sha256 via curl)")
            shm = Path(tempfile.mkdtemp(prefix="ferry-serve-bench-", dir="/dev/shm"))
            try:
                digests = B.origin_digests(args.ferry, work, shm, lag_paths, "lag")
            finally:
                shutil.rmtree(shm, ignore_errors=True)
        # One origin (one CA): the big file capped per connection, the lag phase's files not.
        origin = StatsOrigin(args.ferry, work, "keep", [("big.bin", B.parse_rate(KEEP_SIZE))] + lag_paths, None,
                             extra=["--fault", f"/big.bin:rate={B.parse_rate(args.rate)}"])
        lag_origin = origin
        for round_no in range(1, args.runs + 1):
            order = tools if round_no % 2 else list(reversed(tools))
            for tool in order:
                turns.append(turn(args, tool, round_no, work, origin, lag_origin, digests))
    finally:
        if origin:
            origin.stop()
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/run.sh serve " + " ".join(sys.argv[1:]),
        "machine": B.machine_info(args.ferry),
        "wrk": B.first_line(["wrk", "--version"]),
        "node": B.first_line([args.node, "--version"]),
        "load_average_at_start": load_at_start,
        "clients": args.clients, "seconds_per_phase": args.seconds, "burst": args.burst, "rate": args.rate,
        "lag_files": args.lag_files, "lag_size": lag_size,
        "tools": tools, "turns": turns, "seconds": time.monotonic() - t_start,
    }
    report["summary"] = summarize(report)
    B.save_results("serve", report, markdown(report))
    return 0


if __name__ == "__main__":
    B.run_main("serve", main)
