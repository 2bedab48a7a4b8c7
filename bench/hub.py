#!/usr/bin/env python3
"""The Hub benchmark: `ferry hf download` against @huggingface/hub's `snapshotDownload`.

One fake Hugging Face Hub (`ferry origin --hub SPEC`) per scenario serves a model-like repo:
--shards LFS shards of --shard-size (default 4 × 256 MiB; 302 to the signed CDN URL on the other
loopback name, as on the real Hub) and the small files beside them (config, generation config,
tokenizer and its config, the shard index, README). In the `cdn` scenario every response body
is capped at --cap bytes/s per connection (`--fault '*:rate=CAP'`, strict, no burst), as a CDN
caps each connection; in `open` nothing is capped.

Both tools download the repo at `main` into a fresh cache under /dev/shm, alternating within each
round, with their defaults:

    HF_ENDPOINT=URL ferry hf download acme/model --cache-dir CACHE --ca-cert CA
    NODE_EXTRA_CA_CERTS=CA node download.mjs URL acme/model main CACHE     (test/hub_js)

Wall, CPU (user + sys) and peak RSS come from `/usr/bin/time -v`. Every file of the snapshot is
checked against the Hub's tree listing (sha256 for LFS files, the git blob sha1 otherwise); a
wrong or missing file fails the run. The origin's `body_bytes_sent` (read through SIGUSR1 before
and after each run) over the payload is the bytes the server sent ÷ payload.
Target (issue 12): ferry wall ≤ 0.5 × js wall (medians), in each scenario.

The npm packages come from the build tree (build/hub_js, installed by the hub_js_setup CTest
fixture); when they are missing, test/hub_js/setup.sh installs them there first.

Usage: bench/run.sh hub [--runs 5] [--shards 4] [--shard-size 256M] [--cap 40M]
       [--scenarios open,cdn] [--tools ferry,js] [--origin-threads 1] [--timeout 600] [--report JSON]
Writes bench/results/hub-latest.json (and a timestamped copy) and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402  (the side-by-side benchmark's helpers)

REPO_ID = "acme/model"
SCENARIOS = ("open", "cdn")
TOOLS = ("ferry", "js")


def hub_spec(shards: int, shard_size: int) -> dict:
    """A model repo: LFS shards and the small text files a loader reads first."""
    files: dict = {
        "README.md": "---\nlicense: apache-2.0\n---\n# model\n\nA benchmark model of the fake Hub.\n",
        "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
                                   "num_hidden_layers": 32, "vocab_size": 32000}, indent=2) + "\n",
        "generation_config.json": json.dumps({"do_sample": True, "temperature": 0.6}, indent=2) + "\n",
        "tokenizer_config.json": json.dumps({"model_max_length": 4096, "tokenizer_class": "LlamaTokenizer"}) + "\n",
        # A tokenizer is a few MiB of JSON on the Hub, stored with LFS.
        "tokenizer.json": {"size": "2M", "key": "bench/tokenizer.json"},
    }
    weight_map = {}
    for i in range(1, shards + 1):
        name = f"model-{i:05d}-of-{shards:05d}.safetensors"
        files[name] = {"size": shard_size, "key": f"bench/{name}"}
        weight_map[f"layers.{i}.weight"] = name
    files["model.safetensors.index.json"] = json.dumps(
        {"metadata": {"total_size": shards * shard_size}, "weight_map": weight_map}, indent=2) + "\n"
    return {"repos": [{"id": REPO_ID, "revisions": [{"refs": ["main"], "files": files}]}]}


def hub_get(base: str, ca: Path, path: str):
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(base + path, context=context, timeout=60) as r:
        return json.loads(r.read())


def expected_files(base: str, ca: Path) -> tuple[str, dict]:
    """The commit of main and, per file, (size, 'sha256'|'sha1', hex) from the Hub's own tree."""
    sha = hub_get(base, ca, f"/api/models/{REPO_ID}/revision/main")["sha"]
    files = {}
    for e in hub_get(base, ca, f"/api/models/{REPO_ID}/tree/{sha}?recursive=true&expand=false"):
        if e["type"] != "file":
            continue
        if "lfs" in e:
            files[e["path"]] = (e["size"], "sha256", e["lfs"]["oid"])
        else:
            files[e["path"]] = (e["size"], "sha1", e["oid"])
    return sha, files


def check_snapshot(snapshot: Path, files: dict) -> str | None:
    """None when every file is there with its size and digest, else what is wrong."""
    for path, (size, kind, digest) in files.items():
        f = snapshot / path
        if not f.is_file():
            return f"{path} missing"
        if f.stat().st_size != size:
            return f"{path}: {f.stat().st_size} bytes, not {size}"
        h = hashlib.sha256() if kind == "sha256" else hashlib.sha1(f"blob {size}\0".encode())
        with open(f, "rb") as fh:
            while chunk := fh.read(4 * B.MiB):
                h.update(chunk)
        if h.hexdigest() != digest:
            return f"{path}: {kind} {h.hexdigest()}, not {digest}"
    return None


class HubOrigin(B.FerryOrigin):
    """`ferry origin --hub` with a stats file that SIGUSR1 refreshes."""

    def __init__(self, ferry: str, work: Path, name: str, spec: dict, faults: list[str]):
        spec_file = work / f"{name}.hub.json"
        spec_file.write_text(json.dumps(spec))
        self.stats_file = work / f"{name}.origin-stats.json"
        super().__init__(ferry, work, name, [], None,
                         extra=["--hub", str(spec_file), "--stats-file", str(self.stats_file), *faults])

    def body_bytes_sent(self) -> int | None:
        """The counter now: SIGUSR1, then the stats file's next version (bounded wait)."""
        before = self.stats_file.stat().st_mtime_ns if self.stats_file.exists() else None
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                st = self.stats_file.stat()
                if before is None or st.st_mtime_ns != before:
                    return json.loads(self.stats_file.read_text())["body_bytes_sent"]
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.02)
        return None


def ensure_js(hub_js: Path) -> None:
    if (hub_js / "node_modules" / "@huggingface" / "hub").is_dir() and (hub_js / "download.mjs").is_file():
        return
    B.log(f"hub: installing the npm packages of test/hub_js into {hub_js}")
    subprocess.run(["sh", str(B.REPO / "test" / "hub_js" / "setup.sh"), str(B.REPO / "test" / "hub_js"),
                    str(hub_js)], check=True)


def command(tool: str, args, base: str, ca: Path, cache: Path) -> list[str]:
    if tool == "ferry":
        return [args.ferry, "hf", "download", REPO_ID, "--cache-dir", str(cache), "--ca-cert", str(ca)]
    return [args.node, str(args.hub_js / "download.mjs"), base, REPO_ID, "main", str(cache)]


def run_once(args, tool: str, scenario: str, round_no: int, origin: HubOrigin, sha: str, files: dict,
             payload: int, work: Path, shm: Path) -> dict:
    name = f"{scenario}-{tool}-{round_no}"
    cache = shm / name
    # What each tool reads of its environment: the endpoint, the CA (node), nothing of this
    # machine's own Hugging Face setup.
    os.environ["HF_ENDPOINT"] = origin.base
    os.environ["NODE_EXTRA_CA_CERTS"] = str(origin.ca)
    os.environ["HF_HOME"] = str(work / "hf-home")
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HF_HUB_OFFLINE"):
        os.environ.pop(variable, None)
    result: dict = {"tool": tool, "scenario": scenario, "round": round_no}
    sent_before = origin.body_bytes_sent()
    log_file, time_file = work / f"{name}.log", work / f"{name}.time"
    result.update(B.timed_run(command(tool, args, origin.base, origin.ca, cache), log_file, time_file, args.timeout))
    sent_after = origin.body_bytes_sent()
    if sent_before is not None and sent_after is not None:
        result["server_bytes"] = sent_after - sent_before
        result["server_ratio"] = result["server_bytes"] / payload
    wrong = check_snapshot(cache / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / sha, files)
    result["ok"] = wrong is None and result.get("exit") == 0 and not result.get("timed_out")
    if not result["ok"]:
        result["error"] = ("timed out (killed)" if result.get("timed_out") else f"exit {result.get('exit')}") + \
            (f", {wrong}" if wrong else "") + f": {B.tail(log_file, 3)}"
    shutil.rmtree(cache, ignore_errors=True)
    return result


def summarize(report: dict) -> dict:
    out: dict = {}
    for scenario in report["scenarios"]:
        out[scenario] = {}
        for tool in report["tools"]:
            mine = [r for r in report["runs"] if r["scenario"] == scenario and r["tool"] == tool]
            ok = [r for r in mine if r["ok"]]
            out[scenario][tool] = {"runs": len(mine), "ok": len(ok),
                                   **{key: B.spread([r[key] for r in ok if r.get(key) is not None])
                                      for key in ("wall", "cpu", "rss_mib", "server_ratio")}}
    return out


def markdown(report: dict) -> str:
    s = summarize(report)
    f3 = lambda d, fmt="{:.2f}": " / ".join(fmt.format(d[k]) for k in ("min", "median", "max")) if d else "–"  # noqa: E731
    labels = {"ferry": "`ferry hf download`", "js": "js `snapshotDownload`"}
    lines = ["| scenario | tool | runs ok | wall s min / median / max | CPU s min / median / max | "
             "peak RSS MiB min / median / max | MiB/s (median) | server bytes ÷ payload (median) |",
             "| --- | --- | ---: | --- | --- | --- | ---: | ---: |"]
    payload_mib = report["payload"] / B.MiB
    for scenario in report["scenarios"]:
        for tool in report["tools"]:
            d = s[scenario][tool]
            rate = f"{payload_mib / d['wall']['median']:.0f}" if d["wall"] else "–"
            ratio = f"{d['server_ratio']['median']:.3f}" if d["server_ratio"] else "–"
            lines.append(f"| {scenario} | {labels[tool]} | {d['ok']}/{d['runs']} | {f3(d['wall'])} | {f3(d['cpu'])} | "
                         f"{f3(d['rss_mib'], '{:.0f}')} | {rate} | {ratio} |")
    lines += ["", "| scenario | ferry ÷ js: wall | CPU | peak RSS | target: wall ≤ 0.5 × js |",
              "| --- | ---: | ---: | ---: | --- |"]
    for scenario in report["scenarios"]:
        f, j = s[scenario].get("ferry"), s[scenario].get("js")
        if not f or not j:
            continue
        ratios = []
        for key in ("wall", "cpu", "rss_mib"):
            ratios.append(f[key]["median"] / j[key]["median"] if f[key] and j[key] and j[key]["median"] else None)
        status = "–" if ratios[0] is None else ("pass" if ratios[0] <= 0.5 else "FAIL")
        lines.append(f"| {scenario} | " + " | ".join("–" if r is None else f"{r:.2f}" for r in ratios) +
                     f" | {status} |")
    failed = [r for r in report["runs"] if not r["ok"]]
    if failed:
        lines += ["", "Failed runs:"] + [f"- {r['scenario']} {r['tool']} round {r['round']}: "
                                         f"{r.get('error', '?')[:300]}" for r in failed]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(prog="bench/run.sh hub", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="rounds; each runs every tool once per scenario (default 5)")
    p.add_argument("--shards", type=int, default=4, help="LFS shards (default 4)")
    p.add_argument("--shard-size", default="256M", help="size of each shard (default 256M)")
    p.add_argument("--cap", default="40M", help="cdn scenario: per-connection cap, bytes/s (default 40M)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma list of open, cdn (default both)")
    p.add_argument("--tools", default=",".join(TOOLS), help="comma list of ferry, js (default both)")
    p.add_argument("--origin-threads", type=int, default=1, help="threads of the fake Hub (default 1)")
    p.add_argument("--ferry", default=os.environ.get("FERRY", str(B.REPO / "build" / "ferry")),
                   help="ferry binary, client and origin (default $FERRY or build/ferry)")
    p.add_argument("--hub-js", type=Path, default=B.REPO / "build" / "hub_js",
                   help="where test/hub_js's npm packages are installed (default build/hub_js)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per run before it is killed (default 600)")
    p.add_argument("--report", metavar="JSON", help="only print the tables of an earlier run's results file")
    args = p.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    scenarios = [x for x in args.scenarios.split(",") if x]
    tools = [x for x in args.tools.split(",") if x]
    if not scenarios or set(scenarios) - set(SCENARIOS):
        p.error(f"--scenarios takes {', '.join(SCENARIOS)}")
    if not tools or set(tools) - set(TOOLS):
        p.error(f"--tools takes {', '.join(TOOLS)}")
    if args.runs < 1:
        p.error("--runs must be at least 1")
    if not os.access(args.ferry, os.X_OK):
        p.error(f"no ferry binary at {args.ferry}")
    if not os.access(B.TIME, os.X_OK):
        p.error(f"{B.TIME} not found: run `sh tools/install-deps.sh` (Debian package time)")
    args.node = shutil.which("node") or ""
    if "js" in tools:
        if not args.node:
            p.error("node not found: run `sh tools/install-deps.sh` (nodejs, npm)")
        args.hub_js = args.hub_js.resolve()
        ensure_js(args.hub_js)
    shard_size = B.parse_rate(args.shard_size)
    cap = B.parse_rate(args.cap)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)

    started = dt.datetime.now(dt.timezone.utc)
    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="ferry-hub-"))
    shm = Path(tempfile.mkdtemp(prefix="ferry-hub-", dir="/dev/shm"))
    spec = hub_spec(args.shards, shard_size)
    runs: list[dict] = []
    payload = 0
    try:
        for scenario in scenarios:
            faults = ["--fault", f"*:rate={cap}"] if scenario == "cdn" else []
            faults += ["--threads", str(args.origin_threads)]
            B.log(f"hub: {scenario}: starting the fake Hub ({args.shards} × {B.human_size(shard_size)} shards"
                  + (f", {B.human_size(cap)}/s per connection" if scenario == "cdn" else ", uncapped")
                  + "; hashing takes a while)")
            origin = HubOrigin(args.ferry, work, scenario, spec, faults)
            try:
                sha, files = expected_files(origin.base, origin.ca)
                payload = sum(size for size, _, _ in files.values())
                for round_no in range(1, args.runs + 1):
                    # Alternate which tool goes first, so neither always meets a warm page cache.
                    order = tools if round_no % 2 else list(reversed(tools))
                    for tool in order:
                        r = run_once(args, tool, scenario, round_no, origin, sha, files, payload, work, shm)
                        runs.append(r)
                        B.log(f"  {scenario} round {round_no} {tool:<5} {r['wall']:7.2f} s  cpu {r.get('cpu') or 0:6.2f} s  "
                              f"rss {r.get('rss_mib') or 0:6.1f} MiB  server ×{r.get('server_ratio') or 0:.3f}  "
                              f"{'ok' if r['ok'] else 'FAILED: ' + r.get('error', '')[:200]}")
            finally:
                origin.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)
    report = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "bench/run.sh hub " + " ".join(sys.argv[1:]),
        "machine": B.machine_info(args.ferry),
        "node": subprocess.run([args.node, "--version"], capture_output=True, text=True).stdout.strip()
        if args.node else None,
        "hub_js": json.loads((B.REPO / "test" / "hub_js" / "package.json").read_text())["dependencies"],
        "shards": args.shards, "shard_size": shard_size, "cap": cap, "payload": payload,
        "origin_threads": args.origin_threads,
        "scenarios": scenarios, "tools": tools, "runs": runs, "seconds": time.monotonic() - t_start,
    }
    report["summary"] = summarize(report)
    B.save_results("hub", report, markdown(report))
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    B.run_main("hub", main)
