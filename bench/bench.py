#!/usr/bin/env python3
"""ferry's side-by-side benchmark (issue 5): ferry against curl and aria2c on the same servers.

Sets up its own servers in a temp dir -- a real nginx (Debian nginx-light) over HTTPS on 127.0.0.1
with a throwaway CA, one server block uncapped and one with `limit_rate 10m`, and `ferry origin`
for the strict-cap and many-transfers scenarios -- runs every scenario N times alternating the
tools, verifies every downloaded file's sha256 (a wrong or missing file is a failed run, never a
time), and reports medians of wall time, CPU (user+sys) and peak RSS from `/usr/bin/time -v`.

Writes bench/results/latest.json (plus a timestamped copy) and regenerates docs/benchmarks.md
above its hand-written section. Run it through bench/run.sh (which raises the fd limit).
Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import hashlib
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
TIME = "/usr/bin/time"
DOCS_MARKER = "<!-- Hand-written below this line: bench/run.sh keeps everything after it. -->"

# --------------------------------------------------------------------------------------------
# small utilities


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed_run(argv: list[str], log_file: Path, time_file: Path, timeout: float) -> dict:
    """Runs argv under /usr/bin/time -v (output to log_file), killed with its group after
    `timeout` s: wall, exit, timed_out, and user/sys/cpu seconds and rss_mib when time reported."""
    result: dict = {}
    with open(log_file, "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen([TIME, "-v", "-o", str(time_file)] + argv, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            result["timed_out"] = True
        finally:  # a timeout, or an interrupted benchmark
            stop_group(proc, signal.SIGKILL, grace=10)
        result["wall"] = time.monotonic() - t0
    result["exit"] = proc.returncode
    try:
        t = parse_time_v(time_file.read_text())
        result["user"], result["sys"] = t.get("user"), t.get("sys")
        result["cpu"] = t.get("user", 0) + t.get("sys", 0)
        result["rss_mib"] = t.get("rss_mib")
    except OSError:
        pass
    return result


def save_results(name: str, report: dict, table: str) -> None:
    """Writes bench/results/NAME-latest.json and a timestamped copy, and prints the table."""
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=1)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (results / f"{name}-{stamp}.json").write_text(text)
    (results / f"{name}-latest.json").write_text(text)
    print(table)
    log(f"\n{name}: results in bench/results/{name}-latest.json and bench/results/{name}-{stamp}.json")


def run_main(name: str, main) -> None:
    """Runs a scenario script's main(); Ctrl-C exits 130 with a line saying so."""
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        log(f"{name}: interrupted ({e})")
        sys.exit(130)


def human_size(n: float) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            v = n / size
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{int(n)} B"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


_libc = None


def _die_with_parent() -> None:
    """preexec_fn: own process group, and SIGTERM when the driver dies (even by SIGKILL)."""
    global _libc
    os.setsid()
    try:
        if _libc is None:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Signals the child's whole process group, then SIGKILLs it after `grace` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=grace)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(8 * MiB)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def write_random_file(path: Path, size: int) -> str:
    """Random bytes from the kernel's generator, hashed while written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MiB))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def write_text_file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not available"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def spread(values: list[float]) -> dict | None:
    """min, median and max of a scenario's runs (None when none measured it)."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# --------------------------------------------------------------------------------------------
# measured runs


@dataclass
class Expected:
    rel: str        # path relative to the output directory
    size: int
    sha256: str


@dataclass
class Variant:
    label: str                      # shown in the table, e.g. "aria2c -x16 -s16 -k1M"
    tool: str                       # curl | aria2c | ferry
    argv: Callable[[Path], list[str]]   # output dir -> command line
    role: str = ""                  # key the targets refer to (e.g. "ferry-x16")


@dataclass
class Scenario:
    name: str
    group: str
    description: str
    variants: list[Variant]
    expected: list[Expected]
    total_bytes: int
    on_disk: bool = False           # write to the temp dir on disk instead of /dev/shm
    sample: bool = False            # sample progress every 100 ms (limit scenario)
    rate_limit: int = 0             # the configured overall cap, for the window analysis
    count_port: int = 0             # count established connections to this server port
    info: dict = field(default_factory=dict)


def parse_time_v(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            value = line.rsplit(": ", 1)[1]
            parts = [float(p) for p in value.split(":")]
            secs = 0.0
            for p in parts:
                secs = secs * 60 + p
            out["wall"] = secs
        elif line.startswith("User time (seconds):"):
            out["user"] = float(line.split(":")[1])
        elif line.startswith("System time (seconds):"):
            out["sys"] = float(line.split(":")[1])
        elif line.startswith("Maximum resident set size (kbytes):"):
            out["rss_mib"] = int(line.split(":")[1]) / 1024
    return out


def child_pid(pid: int) -> int | None:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def read_wchar(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def read_vmhwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (nginx's workers), 0 when gone."""
    total = 0.0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            pending += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def dir_bytes(root: Path) -> tuple[int, int]:
    """(sum of st_size, sum of allocated bytes) of the files under root."""
    size = alloc = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(Path(e.path))
                        else:
                            st = e.stat(follow_symlinks=False)
                            size += st.st_size
                            alloc += st.st_blocks * 512
                    except OSError:
                        pass
        except OSError:
            pass
    return size, alloc


def established_connections(port: int) -> int:
    """Established TCP connections whose local port is `port` (the server side), from /proc."""
    hexport = f":{port:04X}"
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    parts = line.split(None, 4)
                    if len(parts) > 3 and parts[3] == "01" and parts[1].endswith(hexport):
                        n += 1
        except OSError:
            pass
    return n


def verify(outdir: Path, expected: list[Expected]) -> str | None:
    """None when every expected file is there with the right size and digest, else why not."""
    bad = []
    for e in expected:
        p = outdir / e.rel
        try:
            size = p.stat().st_size
        except OSError:
            bad.append(f"{e.rel}: missing")
            continue
        if size != e.size:
            bad.append(f"{e.rel}: {size} bytes, expected {e.size}")
        elif sha256_file(p) != e.sha256:
            bad.append(f"{e.rel}: wrong sha256")
        if len(bad) >= 5:
            break
    if not bad:
        return None
    more = "" if len(bad) < 5 else " ..."
    return "; ".join(bad) + more


def rate_windows(samples: list[tuple[float, int]], total: int, skip: float = 1.0) -> dict:
    """Per-1-second windows (sliding by one sample, ~100 ms) of a (t, bytes) series, after the
    first `skip` seconds and before the transfer completed."""
    if len(samples) < 3:
        return {}
    done_at = next((t for t, b in samples if b >= total), samples[-1][0])
    rates = []
    j = 0
    for i, (ti, bi) in enumerate(samples):
        if ti < skip:
            continue
        j = max(j, i + 1)
        while j < len(samples) and samples[j][0] < ti + 1.0:
            j += 1
        if j >= len(samples) or samples[j][0] > done_at + 1e-9:
            break
        tj, bj = samples[j]
        rates.append((bj - bi) / (tj - ti))
    if not rates:
        return {}
    return {"windows": len(rates), "min_rate": min(rates), "max_rate": max(rates)}


class Runner:
    def __init__(self, work: Path, shm: Path, timeout: float, servers_cpu: Callable[[], float]):
        self.servers_cpu = servers_cpu
        self.work = work
        self.shm = shm
        self.timeout = timeout
        self.counter = 0

    def run(self, sc: Scenario, v: Variant, rep: int) -> dict:
        self.counter += 1
        base = (self.work / "disk-out") if sc.on_disk else self.shm
        outdir = base / f"{sc.name}-{v.tool}-{self.counter}"
        if outdir.exists():
            shutil.rmtree(outdir)
        outdir.mkdir(parents=True)
        logdir = self.work / "logs"
        logdir.mkdir(exist_ok=True)
        stem = f"{self.counter:03d}-{sc.name}-{v.tool}"
        time_file = logdir / f"{stem}.time"
        out_log = logdir / f"{stem}.out"
        err_log = logdir / f"{stem}.err"
        argv = v.argv(outdir)
        result: dict = {"rep": rep, "ok": False, "command": " ".join(argv)}

        samples_wchar: list[tuple[float, int]] = []
        samples_size: list[tuple[float, int]] = []
        peak_conns = 0
        peak_hwm = 0.0
        next_conn_count = 0.0
        server_cpu_before = self.servers_cpu()
        with open(out_log, "wb") as so, open(err_log, "wb") as se:
            t0 = time.monotonic()
            proc = subprocess.Popen([TIME, "-v", "-o", str(time_file)] + argv, stdout=so, stderr=se,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            tool_pid = None
            timed_out = False
            try:
                while True:
                    now = time.monotonic() - t0
                    if proc.poll() is not None:
                        break
                    if now > self.timeout:
                        timed_out = True
                        stop_group(proc, signal.SIGKILL, grace=10)
                        break
                    if sc.sample:
                        if tool_pid is None:
                            tool_pid = child_pid(proc.pid)
                        w = read_wchar(tool_pid) if tool_pid else None
                        t = time.monotonic() - t0
                        if w is not None:
                            samples_wchar.append((t, w))
                        samples_size.append((t, dir_bytes(outdir)[0]))
                    if sc.count_port and now >= next_conn_count:
                        peak_conns = max(peak_conns, established_connections(sc.count_port))
                        next_conn_count = now + 1.0
                        if tool_pid is None:
                            tool_pid = child_pid(proc.pid)
                        if tool_pid:  # kept for runs killed at the time limit (no time -v then)
                            peak_hwm = max(peak_hwm, read_vmhwm_mib(tool_pid) or 0.0)
                    step = 0.1 if (sc.sample or sc.count_port) else 0.05
                    try:
                        proc.wait(timeout=max(0.0, step - ((time.monotonic() - t0) % step)))
                    except subprocess.TimeoutExpired:
                        pass
            finally:
                if proc.poll() is None:
                    stop_group(proc, signal.SIGKILL, grace=10)
        elapsed = time.monotonic() - t0
        # The servers share the machine's cores: their CPU per run says whether they were the limit.
        result["server_cpu"] = round(self.servers_cpu() - server_cpu_before, 3)

        try:
            time_text = time_file.read_text()
        except OSError:
            time_text = ""
        stats = parse_time_v(time_text)
        killed = re.search(r"Command terminated by signal (\d+)", time_text)
        result.update(stats)
        if "user" in stats and "sys" in stats:
            result["cpu"] = stats["user"] + stats["sys"]
        if "wall" not in result:
            result["wall"] = elapsed
        result["exit"] = proc.returncode
        if sc.count_port:
            result["peak_connections"] = peak_conns

        if timed_out:
            result["timed_out"] = True
            done = sum(1 for e in sc.expected if (outdir / e.rel).exists())
            result["files_complete"] = done
            result["error"] = f"timed out after {self.timeout:.0f} s (killed); {done}/{len(sc.expected)} files in place"
            if sc.count_port:
                result["error"] += f", peak {peak_conns} connections, peak RSS {peak_hwm:.1f} MiB (sampled)"
        elif killed:
            name = signal.Signals(int(killed.group(1))).name
            result["error"] = f"killed by {name}: {tail(err_log) or tail(out_log)}"
        elif proc.returncode != 0:
            result["error"] = f"exit status {proc.returncode}: {tail(err_log) or tail(out_log)}"
        else:
            problem = verify(outdir, sc.expected)
            if problem:
                result["error"] = f"verification failed: {problem}"
            else:
                result["ok"] = True
                result["rate_mib_s"] = sc.total_bytes / result["wall"] / MiB if result["wall"] > 0 else None
        if result["ok"]:
            names = {e.rel for e in sc.expected}
            extra = []
            for p in outdir.rglob("*"):
                if p.is_file() and str(p.relative_to(outdir)) not in names:
                    extra.append(str(p.relative_to(outdir)))
            if extra:
                result["extra_files"] = sorted(extra)[:10]
        if sc.sample:
            result.update(self.window_analysis(sc, samples_wchar, samples_size, elapsed, result["ok"]))
        shutil.rmtree(outdir, ignore_errors=True)
        return result

    @staticmethod
    def window_analysis(sc: Scenario, wchar: list, size: list, t_end: float, ok: bool) -> dict:
        """Progress from the tool's written bytes (/proc/PID/io wchar: write/pwrite, not socket
        sends), or else from the output file sizes when the tool does not preallocate. A verified
        run also gets the point (exit time, all bytes): /proc/PID/io is gone once the tool exits,
        and tools that cache writes (aria2c --disk-cache) flush the last part at exit. wchar counts
        from the tool's start: what it wrote before the first sample (a rate limiter's first burst
        can be 10 MiB within 100 ms) is progress, not an offset (subtracted, it came back as a jump
        at the end and made the last window 13% fast)."""
        total = sc.total_bytes
        series, source = None, None
        if wchar and len(wchar) > 2:
            written = wchar[-1][1]
            if written <= 1.2 * total and (ok or written >= 0.95 * total):
                series = [(t, min(w, total)) for t, w in wchar]
                source = "wchar"
        if series is None and size and len(size) > 2:
            first_nonzero = next((b for _, b in size if b > 0), 0)
            if first_nonzero < 0.5 * total:
                series = list(size)
                source = "file size"
        if series is not None and ok and series[-1][1] < total:
            series.append((t_end, total))
        out: dict = {"progress_source": source}
        if series is None:
            return out
        out["samples"] = [(round(t, 3), b) for t, b in series]
        w = rate_windows(series, total)
        if w:
            out["window_min_mib_s"] = w["min_rate"] / MiB
            out["window_max_mib_s"] = w["max_rate"] / MiB
            out["windows"] = w["windows"]
            if sc.rate_limit:
                lim = sc.rate_limit
                out["worst_window_dev"] = max(abs(w["min_rate"] - lim), abs(w["max_rate"] - lim)) / lim
        return out


# --------------------------------------------------------------------------------------------
# servers


class Pki:
    def __init__(self, d: Path):
        d.mkdir(parents=True, exist_ok=True)
        self.ca = d / "ca.pem"
        self.cert = d / "leaf.pem"
        self.key = d / "leaf.key"
        ca_key = d / "ca.key"
        csr = d / "leaf.csr"
        ext = d / "leaf.ext"
        ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run("req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(self.ca), "-days", "7",
            "-subj", "/CN=ferry bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", *ec, "-keyout", str(self.key), "-out", str(csr), "-subj", "/CN=localhost")
        run("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(self.cert), "-days", "7", "-extfile", str(ext))


class Nginx:
    """nginx-light as a non-daemon child: its own config, pid, logs and temp paths."""

    def __init__(self, work: Path, www: Path, pki: Pki, workers: int):
        self.dir = work / "nginx"
        for sub in ("tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.uncapped = free_port()
        self.capped = free_port()
        while self.capped == self.uncapped:
            self.capped = free_port()
        user = ""
        if os.geteuid() == 0:  # workers would drop to "nobody", which cannot read the 0700 temp dir
            import pwd
            user = f"user {pwd.getpwuid(os.geteuid()).pw_name};"
        t = self.dir / "tmp"
        import resource
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = 65536 if nofile == resource.RLIM_INFINITY else min(65536, nofile)
        conf = f"""
{user}
worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log warn;
events {{ worker_connections {max(1024, nofile // 2)}; }}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    types {{ application/json json; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 100000;
    ssl_certificate {pki.cert};
    ssl_certificate_key {pki.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench:10m;
    server {{
        listen 127.0.0.1:{self.uncapped} ssl;
        server_name localhost;
        root {www};
    }}
    server {{
        listen 127.0.0.1:{self.capped} ssl;
        server_name localhost;
        root {www};
        limit_rate 10m;
    }}
}}
"""
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(conf)
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.dir), "-e", str(self.dir / "logs" / "error.log"), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "logs" / "stderr.log", "wb"),
            stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        try:
            wait_for_port(self.uncapped, self.proc)
            wait_for_port(self.capped, self.proc)
        except Exception:
            self.stop()
            raise RuntimeError("nginx did not start: " + tail(self.dir / "logs" / "error.log")
                               + tail(self.dir / "logs" / "stderr.log"))

    def url(self, path: str, capped: bool = False) -> str:
        return f"https://localhost:{self.capped if capped else self.uncapped}/{path}"

    def stop(self) -> None:
        stop_group(self.proc, signal.SIGTERM)


class FerryOrigin:
    """`ferry origin` as a child until SIGTERM; reads the URL line it prints."""

    def __init__(self, ferry: str, work: Path, name: str, synthetic: list[tuple[str, int]], rate: str | None,
                 extra: list[str] = ()):
        self.dir = work / f"origin-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = self.dir / "ca.pem"
        # No --port: the default is an ephemeral port, printed on the first line.
        argv = [ferry, "origin", "--write-ca", str(self.ca), *extra]
        if rate:
            argv += ["--rate-per-connection", rate]
        for path, size in synthetic:
            argv += ["--synthetic", f"{path}:{size}"]
        self.stderr = self.dir / "stderr.log"
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(self.stderr, "wb"),
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        line = b""
        deadline = time.monotonic() + 30
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                break
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
        m = re.search(rb"serving (https?://\S+?)/? ", line)
        if not m:
            self.stop()
            raise RuntimeError(f"ferry origin did not start: {line!r} {tail(self.stderr)}")
        self.base = m.group(1).decode().rstrip("/")
        self.port = int(self.base.rsplit(":", 1)[1])

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def stop(self) -> None:
        stop_group(self.proc, signal.SIGTERM)


class Relay:
    """`ferry-relay` in front of a server on 127.0.0.1: adds a round trip, a per-connection window
    and a per-connection rate (tools/relay). Reads the port from the line it prints on stderr."""

    def __init__(self, binary: str, work: Path, name: str, to_port: int, rtt_ms: float, window: str, rate: str):
        self.dir = work / f"relay-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.argv = [binary, "--to", f"127.0.0.1:{to_port}", "--rtt", f"{rtt_ms:g}", "--window", window,
                     "--rate", rate]
        self.stderr = self.dir / "stderr.log"
        err = open(self.stderr, "w+b")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=err,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 15
        m = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.stderr.read_text(errors="replace"))
            if m:
                break
            time.sleep(0.02)
        if not m:
            self.stop()
            raise RuntimeError(f"ferry-relay did not start: {tail(self.stderr)}")
        self.port = int(m.group(1))

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}/{path}"

    def stop(self) -> None:
        stop_group(self.proc, signal.SIGTERM)


def origin_digests(ferry: str, work: Path, shm: Path, paths: list[tuple[str, int]], tag: str) -> dict[str, str]:
    """sha256 of synthetic files: downloaded once with curl from an uncapped ferry origin
    (same seed, so the same bytes as the capped one) and hashed."""
    origin = FerryOrigin(ferry, work, f"{tag}-digests", paths, None)
    out = shm / f"digests-{tag}"
    out.mkdir(parents=True)
    try:
        cfg = work / f"digests-{tag}.cfg"
        with open(cfg, "w") as f:
            for i, (p, _) in enumerate(paths):
                f.write(f'url = "{origin.url(p)}"\noutput = "{out}/{i}"\n')
        r = subprocess.run(["curl", "-sS", "-f", "--parallel", "--parallel-max", "16", "--cacert", str(origin.ca),
                            "-K", str(cfg)], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"curl from ferry origin failed ({r.returncode}): {r.stderr.strip()[:500]}")
        digests = {}
        for i, (p, size) in enumerate(paths):
            f = out / str(i)
            if f.stat().st_size != size:
                raise RuntimeError(f"ferry origin served {f.stat().st_size} bytes for /{p}, expected {size}")
            digests[p] = sha256_file(f)
        return digests
    finally:
        shutil.rmtree(out, ignore_errors=True)
        origin.stop()


# --------------------------------------------------------------------------------------------
# the benchmark


@dataclass
class Sizes:
    big: int = 2 * GiB
    capped: int = 256 * MiB
    small_count: int = 1000
    small_size: int = 128 * KiB
    tokenizer: int = 3 * MiB
    shard: int = 128 * MiB
    shards: int = 4
    many_count: int = 10000
    many_min: int = 100 * KiB
    many_max: int = 300 * KiB
    many_rate: str = "4K"
    limit: int = 512 * MiB
    limit_rate: str = "50M"
    # WAN scenarios (through ferry-relay): smaller than on loopback, since a connection is slow there
    wan_big: int = 128 * MiB
    wan_small_count: int = 200
    wan_shard: int = 64 * MiB
    wan_rtts: tuple = (20, 100)         # ms
    wan_window: str = "1M"              # bytes in flight per connection and direction
    wan_rate: str = "20M"               # bytes/s per connection and direction

    @staticmethod
    def quick() -> "Sizes":
        return Sizes(big=256 * MiB, capped=32 * MiB, small_count=125, shard=16 * MiB,
                     many_count=625, many_min=12 * KiB, many_max=36 * KiB, limit=128 * MiB,
                     wan_big=16 * MiB, wan_small_count=25, wan_shard=8 * MiB)


def parse_rate(text: str) -> int:
    mult = {"K": KiB, "M": MiB, "G": GiB}.get(text[-1].upper(), 1)
    return int(float(text[:-1] if mult != 1 else text) * mult)


LOOPBACK_SCENARIOS = ["big", "big-disk", "capped", "capped-strict", "small", "model", "many", "limit"]
WAN_SCENARIOS = [f"wan-{what}-{rtt}ms" for what in ("big", "model", "small") for rtt in Sizes.wan_rtts]
ALL_SCENARIOS = LOOPBACK_SCENARIOS + WAN_SCENARIOS
# --only also takes groups: big, capped (as before), wan (every WAN scenario), wan-big, wan-model,
# wan-small (both RTTs) and wan-20ms, wan-100ms (one RTT).
GROUPS = ["wan"] + [f"wan-{what}" for what in ("big", "model", "small")] + [f"wan-{rtt}ms" for rtt in Sizes.wan_rtts]


class Bench:
    def __init__(self, args):
        self.args = args
        self.sizes = Sizes.quick() if args.quick else Sizes()
        self.ferry = args.ferry
        self.tools = set(args.tools.split(","))
        if "ferry" in self.tools and not (os.path.isfile(self.ferry) and os.access(self.ferry, os.X_OK)):
            log(f"bench: no ferry binary at {self.ferry} (set FERRY=...): ferry runs and the ferry origin "
                "scenarios are skipped")
            self.tools.discard("ferry")
        self.only = set(args.only.split(",")) if args.only else None
        self.relay_binary = args.relay or str(Path(self.ferry).parent / "ferry-relay")
        self.relays: dict[int, Relay] = {}
        self.servers: list = []
        self.results: dict = {}
        self.skipped: dict = {}

    def wanted(self, name: str, group: str) -> bool:
        if self.only is None or name in self.only or group in self.only:
            return True
        if name.startswith("wan-"):  # wan-WHAT-RTTms: also wan-WHAT and wan-RTTms
            _, what, rtt = name.split("-")
            return bool({f"wan-{what}", f"wan-{rtt}"} & self.only)
        return False

    def relay(self, rtt_ms: int) -> Relay | None:
        """The relay adding `rtt_ms` in front of nginx's uncapped server (one per RTT, started on
        first use); None when there is no ferry-relay binary."""
        if rtt_ms not in self.relays:
            b = self.relay_binary
            if not (os.path.isfile(b) and os.access(b, os.X_OK)):
                return None
            s = self.sizes
            r = Relay(b, self.work, f"{rtt_ms}ms", self.nginx.uncapped, rtt_ms, s.wan_window, s.wan_rate)
            log(f"bench: ferry-relay on 127.0.0.1:{r.port}: {' '.join(r.argv[1:])}")
            self.relays[rtt_ms] = r
            self.servers.append(r)
        return self.relays[rtt_ms]

    # -- command lines ----------------------------------------------------------------------
    def curl(self, ca: Path, url: str, name: str, *extra: str) -> Callable[[Path], list[str]]:
        return lambda out: ["curl", "-sS", "-f", "--cacert", str(ca), *extra, "-o", str(out / name), url]

    def curl_parallel(self, ca: Path, urls: list[str], names: list[str], tag: str) -> Callable[[Path], list[str]]:
        def argv(out: Path) -> list[str]:
            cfg = self.work / f"curl-{tag}-{out.name}.cfg"
            with open(cfg, "w") as f:
                for u, n in zip(urls, names):
                    f.write(f'url = "{u}"\noutput = "{out / n}"\n')
            return ["curl", "-sS", "-f", "--parallel", "--parallel-max", "16", "--cacert", str(ca), "-K", str(cfg)]
        return argv

    def aria2c(self, ca: Path, *extra: str, urls: list[str] = (), listfile: Path | None = None):
        def argv(out: Path) -> list[str]:
            a = ["aria2c", f"--ca-certificate={ca}", "--allow-overwrite=true", "--auto-file-renaming=false",
                 "--file-allocation=none", "-q", "-d", str(out), *extra]
            if listfile:
                a += ["-i", str(listfile)]
            return a + list(urls)
        return argv

    def ferry_get(self, ca: Path, *extra: str, urls: list[str] = (), listfile: Path | None = None):
        def argv(out: Path) -> list[str]:
            a = [self.ferry, "get", "--ca-cert", str(ca), "-d", str(out), "--progress", "none", *extra]
            if listfile:
                a += ["-i", str(listfile)]
            return a + list(urls)
        return argv

    def write_list(self, name: str, urls: list[str]) -> Path:
        p = self.work / f"{name}.list"
        p.write_text("".join(u + "\n" for u in urls))
        return p

    # -- data --------------------------------------------------------------------------------
    def generate(self) -> None:
        s = self.sizes
        www = self.www
        self.files: dict[str, tuple[int, str]] = {}
        plan: list[tuple[str, int]] = []
        need = lambda *names: any(self.wanted(n, n.split("-")[0]) for n in names)  # noqa: E731
        if need("big", "big-disk"):
            plan.append(("big.bin", s.big))
        if need("big", "capped"):
            plan.append(("capped.bin", s.capped))
        if need("limit"):
            plan.append(("limit.bin", s.limit))
        wan = lambda what: any(self.wanted(f"wan-{what}-{rtt}ms", "wan") for rtt in s.wan_rtts)  # noqa: E731
        small_count = max(s.small_count if need("small") else 0, s.wan_small_count if wan("small") else 0)
        plan += [(f"small/f{i:04d}.bin", s.small_size) for i in range(small_count)]
        if need("model"):
            plan.append(("model/tokenizer.json", s.tokenizer))
            plan += [(f"model/model-{i:05d}-of-{s.shards:05d}.safetensors", s.shard) for i in range(1, s.shards + 1)]
        if wan("big"):
            plan.append(("wan/big.bin", s.wan_big))
        if wan("model"):
            plan.append(("wan-model/tokenizer.json", s.tokenizer))
            plan += [(f"wan-model/model-{i:05d}-of-{s.shards:05d}.safetensors", s.wan_shard)
                     for i in range(1, s.shards + 1)]
        total = sum(n for _, n in plan)
        log(f"bench: generating {len(plan)} test files ({human_size(total)}) in {www}")
        t0 = time.monotonic()
        for rel, size in plan:
            self.files[rel] = (size, write_random_file(www / rel, size))
        if need("model") or wan("model"):
            config = json.dumps({"architectures": ["BenchModel"], "hidden_size": 4096, "num_hidden_layers": 32,
                                 "vocab_size": 32000, "torch_dtype": "bfloat16", "note": "ferry benchmark"},
                                indent=2) + "\n"
            for d in ("model", "wan-model"):
                self.files[f"{d}/config.json"] = (len(config.encode()), write_text_file(www / f"{d}/config.json", config))
        os.chmod(www, 0o755)
        # The files are dirty in the page cache: written back while the first scenario runs, they
        # would take CPU from whichever tool is measured then (big: 0.98x curl instead of 0.64x).
        os.sync()
        log(f"bench: generated in {time.monotonic() - t0:.1f} s (synced)")

    def expected(self, rels: list[str]) -> list[Expected]:
        return [Expected(rel.rsplit("/", 1)[-1], *self.files[rel]) for rel in rels]

    def origin_digests(self, paths: list[tuple[str, int]], tag: str) -> dict[str, str]:
        return origin_digests(self.ferry, self.work, self.shm, paths, tag)

    # -- scenarios ------------------------------------------------------------------------------
    def build_scenarios(self) -> list[Scenario]:
        s, ng, ca = self.sizes, self.nginx, self.pki.ca
        T = self.tools
        out: list[Scenario] = []

        def keep(vs: list[Variant]) -> list[Variant]:
            return [v for v in vs if v.tool in T]

        if self.wanted("big", "big"):
            url = ng.url("big.bin")
            url256 = ng.url("capped.bin")
            out.append(Scenario(
                "big", "big", f"one {human_size(s.big)} file, uncapped nginx", keep([
                    Variant("curl", "curl", self.curl(ca, url, "big.bin"), "curl"),
                    Variant("aria2c -x16 -s16 -k1M", "aria2c", self.aria2c(ca, "-x16", "-s16", "-k1M", urls=[url]), "aria2c"),
                    Variant("ferry get", "ferry", self.ferry_get(ca, urls=[url]), "ferry"),
                ]), self.expected(["big.bin"]), s.big))
            if "ferry" in T:
                out.append(Scenario(
                    "big-256M", "big", f"ferry get (defaults) on the {human_size(s.capped)} file, uncapped nginx: "
                    "memory must stay flat in file size", [
                        Variant(f"ferry get ({human_size(s.capped)})", "ferry", self.ferry_get(ca, urls=[url256]), "ferry"),
                    ], self.expected(["capped.bin"]), s.capped))
        if self.wanted("big-disk", "big"):
            url = ng.url("big.bin")
            out.append(Scenario(
                "big-disk", "big", f"one {human_size(s.big)} file, uncapped nginx, written to disk "
                "(ferry syncs before its rename; curl does not)", keep([
                    Variant("curl", "curl", self.curl(ca, url, "big.bin"), "curl"),
                    Variant("aria2c -x16 -s16 -k1M", "aria2c", self.aria2c(ca, "-x16", "-s16", "-k1M", urls=[url]), "aria2c"),
                    Variant("ferry get", "ferry", self.ferry_get(ca, urls=[url]), "ferry"),
                ]), self.expected(["big.bin"]), s.big, on_disk=True))
        if self.wanted("capped", "capped"):
            url = ng.url("capped.bin", capped=True)
            out.append(Scenario(
                "capped", "capped", f"one {human_size(s.capped)} file, nginx limit_rate 10m per connection "
                "(bursts about 1 s per request)", keep([
                    Variant("aria2c -x16 -s16 -k1M", "aria2c", self.aria2c(ca, "-x16", "-s16", "-k1M", urls=[url]), "aria2c"),
                    Variant("ferry get -x 16", "ferry", self.ferry_get(ca, "-x", "16", urls=[url]), "ferry-x16"),
                    Variant("ferry get", "ferry", self.ferry_get(ca, urls=[url]), "ferry"),
                ]), self.expected(["capped.bin"]), s.capped))
        if self.wanted("capped-strict", "capped"):
            if "ferry" not in T:
                self.skipped["capped-strict"] = "needs ferry origin (no ferry binary)"
            else:
                path = "strict/capped.bin"
                digests = self.origin_digests([(path, s.capped)], "strict")
                origin = FerryOrigin(self.ferry, self.work, "strict", [(path, s.capped)], "10M")
                self.servers.append(origin)
                url = origin.url(path)
                sc = Scenario(
                    "capped-strict", "capped", f"one {human_size(s.capped)} file, ferry origin with a strict "
                    "10 MiB/s per connection (no burst); 16 connections allow 160 MiB/s", keep([
                        Variant("aria2c -x16 -s16 -k1M", "aria2c", self.aria2c(origin.ca, "-x16", "-s16", "-k1M", urls=[url]), "aria2c"),
                        Variant("ferry get -x 16", "ferry", self.ferry_get(origin.ca, "-x", "16", urls=[url]), "ferry-x16"),
                        Variant("ferry get", "ferry", self.ferry_get(origin.ca, urls=[url]), "ferry"),
                    ]), [Expected("capped.bin", s.capped, digests[path])], s.capped)
                sc.info["allowed_mib_s"] = 16 * 10
                out.append(sc)
        if self.wanted("small", "small"):
            rels = [f"small/f{i:04d}.bin" for i in range(s.small_count)]
            urls = [ng.url(r) for r in rels]
            names = [r.rsplit("/", 1)[1] for r in rels]
            lst = self.write_list("small", urls)
            out.append(Scenario(
                "small", "small", f"{s.small_count} files of {human_size(s.small_size)}, uncapped nginx", keep([
                    Variant("curl --parallel --parallel-max 16", "curl", self.curl_parallel(ca, urls, names, "small"), "curl"),
                    Variant("aria2c -j16", "aria2c", self.aria2c(ca, "-j16", listfile=lst), "aria2c"),
                    Variant("aria2c -j16 -x16 -s16 -k1M", "aria2c",
                            self.aria2c(ca, "-j16", "-x16", "-s16", "-k1M", listfile=lst), "aria2c-best"),
                    Variant("ferry get -j 16", "ferry", self.ferry_get(ca, "-j", "16", listfile=lst), "ferry"),
                ]), self.expected(rels), s.small_count * s.small_size))
        if self.wanted("model", "model"):
            rels = ["model/config.json", "model/tokenizer.json"] + [
                f"model/model-{i:05d}-of-{s.shards:05d}.safetensors" for i in range(1, s.shards + 1)]
            lst = self.write_list("model", [ng.url(r, capped=True) for r in rels])
            exp = self.expected(rels)
            out.append(Scenario(
                "model", "model", f"config.json, a {human_size(s.tokenizer)} tokenizer.json and {s.shards} shards of "
                f"{human_size(s.shard)}, nginx limit_rate 10m per connection", keep([
                    Variant("aria2c -j8 -x8", "aria2c", self.aria2c(ca, "-j8", "-x8", listfile=lst), "aria2c"),
                    Variant("aria2c -j8 -x8 -s8 -k1M", "aria2c", self.aria2c(ca, "-j8", "-x8", "-s8", "-k1M", listfile=lst), "aria2c-s8"),
                    Variant("aria2c -j8 -x16 -s16 -k1M", "aria2c",
                            self.aria2c(ca, "-j8", "-x16", "-s16", "-k1M", listfile=lst), "aria2c-best"),
                    Variant("ferry get -j 8 -x 8", "ferry", self.ferry_get(ca, "-j", "8", "-x", "8", listfile=lst), "ferry"),
                    Variant("ferry get -j 8", "ferry", self.ferry_get(ca, "-j", "8", listfile=lst), "ferry-default"),
                ]), exp, sum(e.size for e in exp)))
        if self.wanted("many", "many"):
            if "ferry" not in T:
                self.skipped["many"] = "needs ferry origin and ferry (no ferry binary)"
            else:
                span = max(1, (s.many_max - s.many_min) // KiB)
                paths = [(f"many/f{i:05d}.bin", s.many_min + ((i * 7919) % (span + 1)) * KiB)
                         for i in range(s.many_count)]
                digests = self.origin_digests(paths, "many")
                # ferry holds a socket and a .part per transfer, the origin a socket: raise the
                # limit (as root: the hard one too) before either starts, so all are in flight.
                import resource
                need = 2 * s.many_count + 256
                soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                if soft < need:
                    try:
                        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(need, hard)))
                    except (ValueError, OSError):
                        pass
                nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
                if nofile < need:
                    log(f"bench: note: many needs about {need} open files in ferry (a socket and a .part per "
                        f"transfer), the limit is {nofile}: ferry runs the transfers a share at a time")
                origin = FerryOrigin(self.ferry, self.work, "many", paths, s.many_rate)
                self.servers.append(origin)
                lst = self.write_list("many", [origin.url(p) for p, _ in paths])
                n = str(s.many_count)
                sc = Scenario(
                    "many", "many", f"{s.many_count} transfers at once, {human_size(s.many_min)}-{human_size(s.many_max)} "
                    f"each, ferry origin capped at {s.many_rate}/s per connection", [
                        Variant(f"ferry get -j {n} --max-connections {n}", "ferry",
                                self.ferry_get(origin.ca, "-j", n, "--max-connections", n, listfile=lst), "ferry"),
                    ], [Expected(p.rsplit("/", 1)[1], size, digests[p]) for p, size in paths],
                    sum(size for _, size in paths), count_port=origin.port)
                sc.info["transfers"] = s.many_count
                sc.info["nofile_limit"] = nofile
                out.append(sc)
        if self.wanted("limit", "limit"):
            url = ng.url("limit.bin")
            r = s.limit_rate
            sc = Scenario(
                "limit", "limit", f"--limit-rate {r} on one {human_size(s.limit)} file, uncapped nginx", keep([
                    Variant(f"curl --limit-rate {r}", "curl", self.curl(ca, url, "limit.bin", "--limit-rate", r), "curl"),
                    Variant(f"aria2c --max-overall-download-limit={r}", "aria2c",
                            self.aria2c(ca, f"--max-overall-download-limit={r}", urls=[url]), "aria2c"),
                    Variant(f"aria2c -x16 -s16 -k1M --max-overall-download-limit={r}", "aria2c",
                            self.aria2c(ca, "-x16", "-s16", "-k1M", f"--max-overall-download-limit={r}", urls=[url]),
                            "aria2c-best"),
                    Variant(f"ferry get --limit-rate {r}", "ferry", self.ferry_get(ca, "--limit-rate", r, urls=[url]), "ferry"),
                ]), self.expected(["limit.bin"]), s.limit, sample=True, rate_limit=parse_rate(r))
            sc.info["limit_mib_s"] = parse_rate(r) / MiB
            out.append(sc)
        out += self.wan_scenarios()
        return [sc for sc in out if sc.variants]

    def wan_scenarios(self) -> list[Scenario]:
        """big, model and small through ferry-relay in front of nginx's uncapped server, at each RTT:
        every connection gets the relay's window and rate, every request a round trip."""
        s, ca = self.sizes, self.pki.ca
        T = self.tools
        out: list[Scenario] = []

        def keep(vs: list[Variant]) -> list[Variant]:
            return [v for v in vs if v.tool in T]

        for what in ("big", "model", "small"):
            for rtt in s.wan_rtts:
                name = f"wan-{what}-{rtt}ms"
                if not self.wanted(name, "wan"):
                    continue
                relay = self.relay(rtt)
                if relay is None:
                    self.skipped[name] = f"no ferry-relay at {self.relay_binary} (build the ferry-relay target)"
                    continue
                cap = min(parse_rate(s.wan_rate), parse_rate(s.wan_window) * 1000 // rtt) / MiB
                where = (f"relay: +{rtt} ms RTT, {s.wan_window} window and {s.wan_rate}/s per connection "
                         f"(at most {cap:.0f} MiB/s each), uncapped nginx behind it")
                if what == "big":
                    url = relay.url("wan/big.bin")
                    sc = Scenario(name, "wan", f"one {human_size(s.wan_big)} file; {where}", keep([
                        Variant("aria2c -x16 -s16 -k1M", "aria2c", self.aria2c(ca, "-x16", "-s16", "-k1M", urls=[url]), "aria2c"),
                        Variant("ferry get -x 16", "ferry", self.ferry_get(ca, "-x", "16", urls=[url]), "ferry-x16"),
                        Variant("ferry get", "ferry", self.ferry_get(ca, urls=[url]), "ferry"),
                    ]), self.expected(["wan/big.bin"]), s.wan_big)
                elif what == "model":
                    rels = ["wan-model/config.json", "wan-model/tokenizer.json"] + [
                        f"wan-model/model-{i:05d}-of-{s.shards:05d}.safetensors" for i in range(1, s.shards + 1)]
                    lst = self.write_list(name, [relay.url(r) for r in rels])
                    exp = self.expected(rels)
                    sc = Scenario(name, "wan", f"config.json, a {human_size(s.tokenizer)} tokenizer.json and {s.shards} "
                                  f"shards of {human_size(s.wan_shard)}; {where}", keep([
                        Variant("aria2c -j8 -x16 -s16 -k1M", "aria2c",
                                self.aria2c(ca, "-j8", "-x16", "-s16", "-k1M", listfile=lst), "aria2c"),
                        Variant("ferry get -j 8", "ferry", self.ferry_get(ca, "-j", "8", listfile=lst), "ferry"),
                    ]), exp, sum(e.size for e in exp))
                else:
                    rels = [f"small/f{i:04d}.bin" for i in range(s.wan_small_count)]
                    urls = [relay.url(r) for r in rels]
                    names = [r.rsplit("/", 1)[1] for r in rels]
                    lst = self.write_list(name, urls)
                    sc = Scenario(name, "wan", f"{s.wan_small_count} files of {human_size(s.small_size)}; {where}", keep([
                        Variant("curl --parallel --parallel-max 16", "curl", self.curl_parallel(ca, urls, names, name), "curl"),
                        Variant("aria2c -j16 -x16 -s16 -k1M", "aria2c",
                                self.aria2c(ca, "-j16", "-x16", "-s16", "-k1M", listfile=lst), "aria2c"),
                        Variant("ferry get -j 16", "ferry", self.ferry_get(ca, "-j", "16", listfile=lst), "ferry"),
                    ]), self.expected(rels), s.wan_small_count * s.small_size)
                sc.info.update({"rtt_ms": rtt, "window": s.wan_window, "rate": s.wan_rate, "relay_port": relay.port})
                out.append(sc)
        return out

    # -- driving ----------------------------------------------------------------------------------
    def run(self) -> dict:
        started = dt.datetime.now(dt.timezone.utc)
        self.work = Path(tempfile.mkdtemp(prefix="ferry-bench-", dir=self.args.tmp))
        self.shm = Path(tempfile.mkdtemp(prefix="ferry-bench-", dir="/dev/shm"))
        self.www = self.work / "www"
        self.www.mkdir()
        s = self.sizes
        for where, need in ((self.work, s.big * 2 + s.limit + s.capped + s.shards * s.shard + 256 * MiB),
                            (self.shm, s.big + 256 * MiB)):
            free = shutil.disk_usage(where).free
            if free < need:
                shutil.rmtree(self.work, ignore_errors=True)
                shutil.rmtree(self.shm, ignore_errors=True)
                raise SystemExit(f"bench: {where} has {human_size(free)} free, needs about {human_size(need)}")
        log(f"bench: work dir {self.work}, downloads to {self.shm}")
        import resource
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < 65536:
            log(f"bench: note: open files limited to {soft} (ulimit -n 65536 was refused)")
        try:
            self.pki = Pki(self.work / "pki")
            self.generate()
            self.nginx = Nginx(self.work, self.www, self.pki, self.args.nginx_workers)
            self.servers.append(self.nginx)
            log(f"bench: nginx on 127.0.0.1:{self.nginx.uncapped} (uncapped) and :{self.nginx.capped} (limit_rate 10m)")
            scenarios = self.build_scenarios()
            runner = Runner(self.work, self.shm, self.args.timeout,
                            lambda: sum(process_tree_cpu(srv.proc.pid) for srv in self.servers))
            for sc in scenarios:
                self.results[sc.name] = self.run_scenario(runner, sc)
        finally:
            for srv in reversed(self.servers):
                try:
                    srv.stop()
                except Exception as e:  # keep stopping the others
                    log(f"bench: stopping a server: {e}")
            if self.args.keep:
                log(f"bench: kept {self.work}")
            else:
                shutil.rmtree(self.work, ignore_errors=True)
            shutil.rmtree(self.shm, ignore_errors=True)
        finished = dt.datetime.now(dt.timezone.utc)
        report = {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "duration_s": round((finished - started).total_seconds(), 1),
            "command": "bench/run.sh " + " ".join(sys.argv[1:]),
            "quick": self.args.quick,
            "runs": self.args.runs,
            "short_runs": self.args.short_runs,
            "machine": machine_info(self.ferry),
            "scenarios": self.results,
            "skipped": self.skipped,
        }
        report["targets"] = evaluate_targets(report)
        return report

    def run_scenario(self, runner: Runner, sc: Scenario) -> dict:
        log(f"\n== {sc.name}: {sc.description}")
        runs: dict[str, list[dict]] = {v.label: [] for v in sc.variants}
        gave_up: set[str] = set()
        reps = self.args.runs
        rep = 0
        while rep < reps:
            rep += 1
            for v in sc.variants:  # alternate: A B C A B C ...
                if v.label in gave_up:  # bounded time: a run that hit the time limit is not repeated
                    runs[v.label].append({"rep": rep, "ok": False, "error": "not run: an earlier run timed out"})
                    continue
                r = runner.run(sc, v, rep)
                if r.get("timed_out"):
                    gave_up.add(v.label)
                runs[v.label].append(r)
                if r["ok"]:
                    extra = ""
                    if "peak_connections" in r:
                        extra += f", peak connections {r['peak_connections']}"
                    if "window_min_mib_s" in r:
                        extra += (f", 1-s windows {r['window_min_mib_s']:.1f}-{r['window_max_mib_s']:.1f} MiB/s "
                                  f"({r['progress_source']})")
                    log(f"  [{rep}] {v.label:<40} {r['wall']:7.2f} s  cpu {r.get('cpu', 0):6.2f} s  "
                        f"server cpu {r.get('server_cpu', 0):6.2f} s  "
                        f"rss {r.get('rss_mib', 0):7.1f} MiB  {r.get('rate_mib_s') or 0:7.1f} MiB/s{extra}")
                else:
                    log(f"  [{rep}] {v.label:<40} FAILED: {r['error'][:400]}")
            if rep == 1 and reps < self.args.short_runs:
                # A scenario under a second is noisy: at least --short-runs runs, min and max shown.
                walls = [runs[v.label][0].get("wall") for v in sc.variants]
                if all(runs[v.label][0]["ok"] for v in sc.variants) and max(walls) < 1.0:
                    reps = self.args.short_runs
                    log(f"  (every run under a second: {reps} runs)")
        variants = {}
        for v in sc.variants:
            ok = [r for r in runs[v.label] if r["ok"]]
            med = {}
            for key in ("wall", "cpu", "user", "sys", "server_cpu", "rss_mib", "rate_mib_s", "peak_connections",
                        "window_min_mib_s", "window_max_mib_s", "worst_window_dev"):
                vals = [r[key] for r in ok if r.get(key) is not None]
                if vals:
                    med[key] = median(vals)
            variants[v.label] = {"tool": v.tool, "role": v.role, "ok": len(ok), "runs": len(runs[v.label]),
                                 "median": med, "all": runs[v.label],
                                 "spread": {k: spread([r.get(k) for r in ok]) for k in ("wall", "cpu", "rss_mib")}}
        return {"description": sc.description, "bytes": sc.total_bytes, "info": sc.info,
                "files": len(sc.expected), "on_disk": sc.on_disk, "variants": variants}


# --------------------------------------------------------------------------------------------
# machine, targets, reports


def machine_info(ferry: str) -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    commit = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    try:
        ferry = str(Path(ferry).resolve().relative_to(REPO))
    except ValueError:
        pass
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "ram": mem,
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "ferry": f"{ferry} (commit {commit}{' + local changes' if dirty else ''})",
        "curl": " ".join(first_line(["curl", "--version"]).split()[:2]
                         + re.findall(r"libcurl/\S+|OpenSSL/\S+", first_line(["curl", "--version"]))),
        "aria2c": first_line(["aria2c", "--version"]),
        "nginx": first_line(["nginx", "-v"]),
        "openssl": first_line(["openssl", "version"]),
        "python": platform.python_version(),
    }


def med(report: dict, scenario: str, role: str, key: str):
    sc = report["scenarios"].get(scenario)
    if not sc:
        return None
    for v in sc["variants"].values():
        if v["role"] == role:
            return v["median"].get(key)
    return None


def best_peer(sc: dict) -> tuple[str, dict] | None:
    """The peers' (curl's, aria2c's) fastest variant in a scenario: (label, variant) by median
    wall; None when no peer ran it."""
    peers = [(label, v) for label, v in sc["variants"].items()
             if v["tool"] in ("curl", "aria2c") and v["median"].get("wall")]
    return min(peers, key=lambda p: p[1]["median"]["wall"]) if peers else None


def default_ferry(sc: dict) -> tuple[str, dict] | None:
    """ferry at its defaults in a scenario (only -j, the scenario's files in flight): the variant
    with role ferry-default, else ferry."""
    for role in ("ferry-default", "ferry"):
        for label, v in sc["variants"].items():
            if v["role"] == role:
                return label, v
    return None


# Issue 15: default `ferry get` at most this many times the best peer configuration's wall time.
BEST_PEER_TARGET = 0.8
BEST_PEER_SCENARIOS = ["capped", "small", "model"] + WAN_SCENARIOS


def evaluate_targets(report: dict) -> list[dict]:
    targets = []

    def add(scenario: str, target: str, measured: str | None, ok: bool | None):
        targets.append({"scenario": scenario, "target": target, "measured": measured or "n/a",
                        "status": "n/a" if ok is None else ("pass" if ok else "FAIL")})

    def ratio(scenario: str, role: str, ref: str, key: str = "wall"):
        a, b = med(report, scenario, role, key), med(report, scenario, ref, key)
        return a / b if a is not None and b else None

    r = ratio("big", "ferry", "curl")
    add("big", "wall ≤ 0.7 × curl", r and f"{r:.2f} × curl", r <= 0.7 if r is not None else None)
    r = ratio("big", "ferry", "curl", "cpu")
    add("big", "CPU ≤ 0.6 × curl", r and f"{r:.2f} × curl", r <= 0.6 if r is not None else None)
    m = med(report, "big", "ferry", "rss_mib")
    add("big", "peak RSS ≤ 48 MiB", m and f"{m:.1f} MiB", m <= 48 if m is not None else None)
    a, b = med(report, "big", "ferry", "rss_mib"), med(report, "big-256M", "ferry", "rss_mib")
    g = (a / b - 1) if a is not None and b else None
    add("big vs 256 MiB", "peak RSS grows < 10%", g is not None and f"{a:.1f} vs {b:.1f} MiB ({g * 100:+.1f}%)",
        g < 0.10 if g is not None else None)
    sc = report["scenarios"].get("capped-strict")
    allowed = sc["info"]["allowed_mib_s"] if sc else 160
    rate = med(report, "capped-strict", "ferry-x16", "rate_mib_s")
    add("capped (strict origin)", f"ferry -x 16 ≥ 95% of {allowed} MiB/s",
        rate and f"{rate:.1f} MiB/s = {rate / allowed * 100:.0f}%", rate >= 0.95 * allowed if rate is not None else None)
    # The issue names no connection count for nginx: the figure is what `ferry get` does by default
    # (adaptive connections, beyond aria2c's 16 while each one adds speed); -x 16 is quoted beside.
    r = ratio("capped", "ferry", "aria2c")
    r16 = ratio("capped", "ferry-x16", "aria2c")
    add("capped (nginx)", "ferry (default) wall ≤ 0.8 × aria2c",
        r and f"{r:.2f} × aria2c" + (f" (-x 16: {r16:.2f} ×)" if r16 else ""), r <= 0.8 if r is not None else None)
    for scen, where in (("capped-strict", "strict origin"), ("capped", "nginx")):
        r = ratio(scen, "ferry", "ferry-x16")
        add(f"capped ({where})", "adaptive: ferry (no -x) wall ≤ 1.1 × ferry -x 16", r and f"{r:.2f} × (-x 16)",
            r <= 1.1 if r is not None else None)
    r = ratio("small", "ferry", "curl")
    add("small", "wall ≤ 0.8 × curl --parallel", r and f"{r:.2f} × curl", r <= 0.8 if r is not None else None)
    r = ratio("model", "ferry", "aria2c")
    add("model", "wall ≤ 0.7 × aria2c -j8 -x8", r and f"{r:.2f} × aria2c", r <= 0.7 if r is not None else None)
    sc = report["scenarios"].get("many")
    if sc:
        v = next(iter(sc["variants"].values()))
        n = sc["info"]["transfers"]
        rss = v["median"].get("rss_mib")
        conns = v["median"].get("peak_connections")
        all_ok = v["ok"] == v["runs"] and v["ok"] > 0
        measured = (f"{v['ok']}/{v['runs']} runs complete" + (f", peak RSS {rss:.1f} MiB" if rss else "")
                    + (f", peak {conns:.0f} connections" if conns is not None else ""))
        add("many", f"{n} concurrent complete, peak RSS ≤ 256 MiB", measured,
            all_ok and rss is not None and rss <= 256 and conns is not None and conns >= 0.9 * n)
    else:
        add("many", "10000 concurrent complete, peak RSS ≤ 256 MiB", None, None)
    sc = report["scenarios"].get("limit")
    if sc:
        lim = None
        for v in sc["variants"].values():
            if v["role"] == "ferry":
                lim = v
        if lim and lim["median"]:
            limit_mib = sc["info"]["limit_mib_s"]
            rate = lim["median"].get("rate_mib_s")
            dev = lim["median"].get("worst_window_dev")
            add("limit", f"overall within 2% of {limit_mib:g} MiB/s", rate and f"{rate:.2f} MiB/s ({(rate / limit_mib - 1) * 100:+.1f}%)",
                abs(rate / limit_mib - 1) <= 0.02 if rate is not None else None)
            add("limit", "worst 1-s window within 10%", dev is not None and f"{dev * 100:.1f}% off",
                dev <= 0.10 if dev is not None else None)
        else:
            add("limit", "overall within 2%, worst 1-s window within 10%", None, None)
    for name in BEST_PEER_SCENARIOS:
        sc = report["scenarios"].get(name)
        if not sc:
            continue
        peer, ferry = best_peer(sc), default_ferry(sc)
        f = ferry and ferry[1]["median"].get("wall")
        if not peer or not f:
            add(name, f"default ferry get wall ≤ {BEST_PEER_TARGET} × best peer", None, None)
            continue
        r = f / peer[1]["median"]["wall"]
        add(name, f"`{ferry[0]}` wall ≤ {BEST_PEER_TARGET} × best peer",
            f"{r:.2f} × `{peer[0]}`", r <= BEST_PEER_TARGET)
    return targets


def fmt(v, digits=2, suffix=""):
    if v is None:
        return "–"
    return f"{v:.{digits}f}{suffix}"


def results_table(report: dict) -> list[str]:
    rows = ["| scenario | tool | ok | wall s | wall min–max | CPU s | server CPU s | peak RSS MiB | MiB/s | wall ÷ curl | wall ÷ aria2c | wall ÷ best peer | CPU ÷ curl | CPU ÷ aria2c |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, sc in report["scenarios"].items():
        vs = sc["variants"]
        peer = None if "limit_mib_s" in sc["info"] else best_peer(sc)  # under a rate limit, faster is not better
        ref = {}
        for v in vs.values():
            if v["tool"] in ("curl", "aria2c") and v["tool"] not in ref:
                ref[v["tool"]] = v["median"]
        for label, v in vs.items():
            m = v["median"]
            w = (v.get("spread") or {}).get("wall")
            cells = [name, f"`{label}`", f"{v['ok']}/{v['runs']}", fmt(m.get("wall")),
                     f"{w['min']:.2f}–{w['max']:.2f}" if w else "–", fmt(m.get("cpu")),
                     fmt(m.get("server_cpu")), fmt(m.get("rss_mib"), 1), fmt(m.get("rate_mib_s"), 1)]
            for key in ("wall", "cpu"):
                for tool in ("curl", "aria2c"):
                    r = None
                    if v["tool"] == "ferry" and tool in ref and m.get(key) and ref[tool].get(key):
                        r = m[key] / ref[tool][key]
                    cells.append(fmt(r))
                if key == "wall":
                    r = m["wall"] / peer[1]["median"]["wall"] if v["tool"] == "ferry" and peer and m.get("wall") else None
                    cells.append(fmt(r))
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def limit_table(report: dict) -> list[str]:
    sc = report["scenarios"].get("limit")
    if not sc:
        return []
    rows = ["| tool | overall MiB/s | slowest 1-s window | fastest 1-s window | worst deviation | measured from |",
            "| --- | ---: | ---: | ---: | ---: | --- |"]
    for label, v in sc["variants"].items():
        m = v["median"]
        src = next((r.get("progress_source") for r in v["all"] if r.get("ok")), None)
        rows.append(f"| `{label}` | {fmt(m.get('rate_mib_s'))} | {fmt(m.get('window_min_mib_s'))} | "
                    f"{fmt(m.get('window_max_mib_s'))} | {fmt(m.get('worst_window_dev') and m['worst_window_dev'] * 100, 1, '%')} | "
                    f"{src or 'n/a'} |")
    return rows


def failures(report: dict) -> list[str]:
    out = []
    for name, sc in report["scenarios"].items():
        for label, v in sc["variants"].items():
            for r in v["all"]:
                if not r["ok"]:
                    out.append(f"- {name} / `{label}` run {r['rep']}: {r['error'][:300]}")
    for name, why in report.get("skipped", {}).items():
        out.append(f"- {name}: skipped ({why})")
    return out


def print_summary(report: dict) -> None:
    print()
    print(f"ferry benchmark, {report['date']}, medians of {report['runs']} runs"
          f" ({max(report['runs'], report.get('short_runs', 0))} for scenarios under a second)"
          + (" (--quick sizes)" if report["quick"] else ""))
    for line in results_table(report):
        print(line)
    lt = limit_table(report)
    if lt:
        print("\nlimit:")
        for line in lt:
            print(line)
    print("\ntargets (issues 5 and 15):")
    for t in report["targets"]:
        print(f"  {t['status']:<5} {t['scenario']:<24} {t['target']:<48} {t['measured']}")
    f = failures(report)
    if f:
        print("\nfailed runs:")
        for line in f:
            print(line)


def write_docs(report: dict, path: Path) -> None:
    m = report["machine"]
    hand = ("## What each change bought\n\n"
            "Hand-written: one entry per optimisation, with the scenario it moved and by how much "
            "(from the JSON in bench/results/).\n")
    if path.exists():
        old = path.read_text()
        if DOCS_MARKER in old:
            hand = old.split(DOCS_MARKER, 1)[1].lstrip("\n")
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/run.sh (bench/bench.py) down to the marker line below; edits above it are lost. -->",
        "",
        f"Latest run: **{report['date']}**, `{report['command'].strip()}`, medians of {report['runs']} runs per tool "
        f"({max(report['runs'], report.get('short_runs', 0))} where every first run took under a second; "
        f"runs alternate the tools), {int(report['duration_s'] // 60)} min {int(report['duration_s'] % 60)} s in all."
        + (" **Quick (smoke) sizes**, not the figures of record." if report["quick"] else ""),
        "",
        "Machine:",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores ({m['cores_usable']} usable), RAM {m['ram']}; "
        "the servers run on the same cores as the clients",
        f"- OS: {m['os']}, kernel {m['kernel']}",
        f"- ferry: {m['ferry']}",
        f"- {m['curl']}",
        f"- {m['aria2c']}",
        f"- {m['nginx']} (nginx-light), {m['openssl']}",
        "",
        "## Results",
        "",
        "Wall, CPU (user + sys) and peak RSS come from `/usr/bin/time -v`; MiB/s is the payload over the "
        "wall time. Ratios are ferry's median over curl's or aria2c's median in the same run (below 1 is "
        "better for ferry); wall ÷ best peer is against the fastest curl or aria2c variant of the scenario. "
        "Server CPU includes ferry-relay's in the WAN scenarios. Every run's files were verified by sha256; "
        "failed runs are not timed.",
        "",
        *results_table(report),
        "",
    ]
    lt = limit_table(report)
    if lt:
        lines += [
            "### Rate limit accuracy (limit scenario)",
            "",
            "Progress sampled every 100 ms by the driver: the tool's written bytes (`wchar` in "
            "`/proc/PID/io`, which counts write/pwrite to the file but not socket reads), or the output "
            "file's size when that is not available and the file is not preallocated. Windows are 1 s "
            "long, sliding by one sample, from the end of the first second to completion. aria2c's figures "
            "include its write cache (`--disk-cache`, 16 MiB by default), which lands on the file in bursts.",
            "",
            *lt,
            "",
        ]
    lines += ["## Targets (issues 5 and 15)", "", "| scenario | target | measured (medians) | status |", "| --- | --- | --- | --- |"]
    for t in report["targets"]:
        lines.append(f"| {t['scenario']} | {t['target']} | {t['measured']} | {t['status']} |")
    lines.append("")
    f = failures(report)
    if f:
        lines += ["### Failed or skipped runs", "", *f, ""]
    lines += [
        "## Scenarios",
        "",
        *[f"- **{name}**: {sc['description']}" for name, sc in report["scenarios"].items()],
        "",
        "## Method",
        "",
        "- `bench/run.sh [--runs N] [--short-runs 9] [--quick] [--only big,capped,wan-big-20ms,...]` (or `make bench`); "
        "`--only` also takes the groups `wan`, `wan-big`, `wan-model`, `wan-small`, `wan-20ms` and `wan-100ms`. It makes a throwaway CA "
        "and a `localhost` certificate with `openssl`, generates the test files from `/dev/urandom` "
        "(sha256 computed once), and starts nginx (Debian nginx-light, `worker_processes 1`, HTTP/1.1, TLS "
        "1.2/1.3) on free ports of 127.0.0.1: one server block uncapped, one with `limit_rate 10m`.",
        "- The strict-cap and many-transfers scenarios use `ferry origin --rate-per-connection` (a hard cap "
        "with no burst); their digests come from a curl download off an uncapped `ferry origin` with the "
        "same seed.",
        "- Downloads go to a fresh directory in `/dev/shm` (big-disk: the temp dir on disk) and are deleted "
        "after verification. Each run has a time limit, after which the tool is killed and the run counts "
        "as failed.",
        "- Commands: curl `-sS -f --cacert CA -o FILE URL` (small: one `--parallel --parallel-max 16 -K` "
        "config); aria2c `--ca-certificate=CA --allow-overwrite=true --auto-file-renaming=false "
        "--file-allocation=none -q -d DIR` plus the flags shown; ferry `get --ca-cert CA -d DIR --progress "
        "none` plus the flags shown. The model scenario also shows aria2c with `-s8 -k1M`, because with "
        "`-x8` alone aria2c splits a file into at most 5 pieces of at least 20 MiB (`-s 5 -k 20M` are its "
        "defaults); the target is against the issue's `-j8 -x8`.",
        "- Every scenario with a peer also runs aria2c at its best, `-x16 -s16 -k1M` (with the scenario's `-j`), "
        "and the issue 15 targets compare default `ferry get` with the fastest peer variant of the scenario. "
        "A scenario whose first runs all took under a second is run `--short-runs` times (9); the table shows "
        "min and max beside the median. many has no peer (aria2c at `-j 10000` is not a configuration anyone runs).",
        "- WAN scenarios (`wan-*`): `ferry-relay` (tools/relay, built next to ferry) sits between the tools and "
        "nginx's uncapped server on 127.0.0.1 and adds the round-trip time (each chunk delivered RTT/2 after it "
        "was read, each way; a new connection's first bytes leave one RTT after the accept), a window of "
        "bytes in flight per connection and direction (so a connection moves at most window ÷ RTT) and a rate "
        "per connection and direction. Sizes are smaller than on loopback; curl runs only where it can "
        "parallelise (small), since one connection is bounded by the relay.",
        "- many: peak connections are counted on the server side (established sockets on the origin's "
        "port in `/proc/net/tcp`, sampled every second). A run that hits the time limit is not repeated.",
        "- Raw numbers for every run: `bench/results/latest.json` and its timestamped copies.",
        "",
        DOCS_MARKER,
        "",
        hand.rstrip("\n"),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# --------------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh", description="ferry vs curl vs aria2c, side by side (issue 5)")
    p.add_argument("--runs", type=int, default=3, help="repetitions per tool (default 3)")
    p.add_argument("--quick", action="store_true", help="about 8x smaller sizes, for a smoke run")
    p.add_argument("--only", default="", help="comma list of scenarios or groups: " + ",".join(ALL_SCENARIOS + GROUPS))
    p.add_argument("--short-runs", type=int, default=9,
                   help="runs per tool of a scenario whose first runs all took under a second (default 9)")
    p.add_argument("--relay", default=os.environ.get("FERRY_RELAY"),
                   help="ferry-relay binary for the WAN scenarios (default $FERRY_RELAY, or next to the ferry binary)")
    p.add_argument("--tools", default="curl,aria2c,ferry", help="comma list of tools to run (default all)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(REPO / "build" / "ferry")),
                   help="ferry binary (default $FERRY or build/ferry)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per run before it is killed (default 600)")
    p.add_argument("--tmp", default=None, help="where the temp dir goes (default $TMPDIR or /tmp); needs ~6 GiB")
    p.add_argument("--nginx-workers", type=int, default=1, help="nginx worker_processes (default 1)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (configs, logs) for debugging")
    p.add_argument("--docs", dest="docs", action="store_true", default=None,
                   help="rewrite docs/benchmarks.md (default: only for full runs, not --quick or --only)")
    p.add_argument("--no-docs", dest="docs", action="store_false")
    args = p.parse_args()
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if args.only:
        unknown = set(args.only.split(",")) - set(ALL_SCENARIOS) - set(GROUPS)
        if unknown:
            p.error(f"unknown scenario(s) {','.join(sorted(unknown))}; known: {','.join(ALL_SCENARIOS + GROUPS)}")
    for tool in ("nginx", "curl", "aria2c", "openssl"):
        if not shutil.which(tool):
            p.error(f"{tool} not found: run `sh tools/install-deps.sh`")
    if not os.access(TIME, os.X_OK):
        p.error(f"{TIME} not found: run `sh tools/install-deps.sh` (Debian package time)")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    full = not args.quick and not args.only
    report = Bench(args).run()
    print_summary(report)

    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kind = "" if full else "-smoke"
    text = json.dumps(report, indent=1, default=str)
    (results / f"{stamp}{kind}.json").write_text(text)
    (results / f"latest{kind}.json").write_text(text)
    log(f"\nbench: results in bench/results/latest{kind}.json and bench/results/{stamp}{kind}.json")
    if args.docs if args.docs is not None else full:
        write_docs(report, REPO / "docs" / "benchmarks.md")
        log("bench: rewrote docs/benchmarks.md")
    failed = any(r["ok"] < r["runs"] for sc in report["scenarios"].values() for r in sc["variants"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        log(f"bench: interrupted ({e}); servers stopped and temp dirs removed")
        sys.exit(130)
