#!/bin/sh
# The side-by-side benchmark of issue 5: ferry against curl and aria2c on a local nginx and ferry's
# own origin. Usage: bench/run.sh [--runs N] [--quick] [--only SCENARIO,...] [--help]
# The fault benchmark (ferry and aria2c against `ferry origin --fault-mix cdn`, per seed):
# bench/run.sh faults [--seeds 20] [--tools ferry,aria2c] [--timeout 300] [--help]
# Tail hedging (one connection throttled to 1% of the others): bench/run.sh hedge [--runs 5] [--help]
# The cost of fdatasync before each journal write, on disk: bench/run.sh durability [--runs 5] [--help]
# `ferry hf download` against @huggingface/hub's snapshotDownload on a fake Hub (node):
# bench/run.sh hub [--runs 5] [--scenarios open,cdn] [--help]
# `ferry serve` against `aria2c --enable-rpc` holding 5,000 HTTP and WebSocket clients (wrk, node),
# the request queue's 503s and the event-loop lag: bench/run.sh serve [--runs 2] [--help]
# `ferry load` against wrk and h2load on nginx (closed model, 10,000 connections, open-model rates,
# coordinated omission against ferry origin's delay fault): bench/run.sh load [--runs 3] [--help]
# `ferry get --profile` balanced/speed/memory/background on loopback, and yielding to curl on a shaped link
# (root, iproute2): bench/run.sh profiles [--runs 3] [--parts throughput,background] [--help]
# The ferry binary is $FERRY (default build/ferry). See docs/benchmarks.md.
set -eu
cd "$(dirname "$0")/.."

missing=""
for tool in nginx curl aria2c openssl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
[ -x /usr/bin/time ] || missing="$missing time"
if [ "${1:-}" = serve ] || [ "${1:-}" = load ]; then
    command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
fi
if [ "${1:-}" = load ]; then
    command -v h2load >/dev/null 2>&1 || missing="$missing h2load"
fi
if [ "${1:-}" = hub ] || [ "${1:-}" = serve ]; then
    for tool in node npm; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
fi
if [ -n "$missing" ]; then
    echo "bench: missing$missing; installing the dependencies" >&2
    sh tools/install-deps.sh
fi

# The many scenario keeps 10,000 transfers open: a socket and a .part each in ferry, a socket each in
# the origin. Where the hard limit is lower (20,000 on some containers), the highest allowed is used.
# load holds 10,000 connections in one ferry process (bench/load.py prints the limit and stops when
# it is too low). serve holds 5,000 clients (wrk or node on one side, the daemon on the other) and
# fails clearly when it gets too few.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "${1:-}" = serve ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 6100 ]; then
    echo "bench serve: needs 6,100 open files per process, ulimit -n gives $(ulimit -n) (hard limit $(ulimit -Hn))" >&2
    exit 1
fi
# nginx's binary lives in /usr/sbin, which is not on every user's PATH.
PATH="$PATH:/usr/sbin:/sbin"
export PATH

case "${1:-}" in
faults|hedge|durability|hub|serve|load|profiles)
    scenario=$1
    shift
    exec python3 "bench/$scenario.py" "$@" ;;
esac
exec python3 bench/bench.py "$@"
