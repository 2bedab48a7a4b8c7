// The WebSocket half of bench/run.sh serve: CLIENTS sockets on one JSON-RPC endpoint, each
// calling in a closed loop (one call in flight per socket, the next sent when the answer came):
// aria2.tellStatus of GID and aria2.getGlobalStat, alternately, for SECONDS.
//
//   node ws_load.mjs URL CLIENTS SECONDS GID
//
// Prints one JSON line: sockets opened and failed, calls answered (results, errors, busy
// replies), calls/s over the measuring window and latency percentiles in ms.
import WebSocket from "ws";

const [url, clientsText, secondsText, gid] = process.argv.slice(2);
const clients = Number(clientsText);
const seconds = Number(secondsText);
if (!url || !(clients > 0) || !(seconds > 0) || !gid) {
  console.error("usage: node ws_load.mjs URL CLIENTS SECONDS GID");
  process.exit(2);
}

const calls = [
  JSON.stringify({ jsonrpc: "2.0", id: "s", method: "aria2.tellStatus", params: [gid, ["gid", "status", "completedLength", "downloadSpeed"]] }),
  JSON.stringify({ jsonrpc: "2.0", id: "g", method: "aria2.getGlobalStat", params: [] }),
];

const sockets = [];
let failed = 0;
let closedEarly = 0;
let measuring = false;
let stopping = false;
const latencies = [];
let results = 0, errors = 0, busy = 0;
const errorSamples = new Set();

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 30000 });
    const s = { ws, sent: 0n, n: i, open: false };
    ws.on("open", () => { s.open = true; sockets.push(s); resolve(); });
    ws.on("error", () => { if (!s.open) { failed++; resolve(); } });
    ws.on("close", () => { if (s.open && !stopping) closedEarly++; });
    ws.on("message", (data) => {
      let msg;
      try { msg = JSON.parse(data); } catch { return; }
      if (msg.id === undefined || msg.id === null && !msg.error) return; // a notification
      const took = process.hrtime.bigint() - s.sent;
      if (measuring) {
        latencies.push(Number(took) / 1e6);
        if (msg.error) {
          if (msg.error.code === 1 && /busy/i.test(msg.error.message || "")) busy++;
          else { errors++; if (errorSamples.size < 3) errorSamples.add(JSON.stringify(msg.error).slice(0, 200)); }
        } else results++;
      }
      if (!stopping) send(s);
    });
  });
}

function send(s) {
  s.sent = process.hrtime.bigint();
  s.ws.send(calls[s.n++ % 2]);
}

const t0 = Date.now();
// Handshakes in batches, so that the listener's backlog is not the thing measured.
for (let i = 0; i < clients; i += 250) {
  const batch = [];
  for (let j = i; j < Math.min(clients, i + 250); j++) batch.push(open(j));
  await Promise.all(batch);
}
const openSeconds = (Date.now() - t0) / 1000;
for (const s of sockets) send(s);
// One second of warm-up, then the window.
await new Promise((r) => setTimeout(r, 1000));
measuring = true;
const w0 = process.hrtime.bigint();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const window = Number(process.hrtime.bigint() - w0) / 1e9;
stopping = true;
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null);
const out = {
  clients, opened: sockets.length, failed, closed_early: closedEarly, open_seconds: openSeconds,
  window_seconds: window, answered: latencies.length, results, errors, busy,
  calls_per_second: results / window,
  p50_ms: pct(50), p90_ms: pct(90), p99_ms: pct(99), p999_ms: pct(99.9),
  max_ms: latencies.length ? latencies[latencies.length - 1] : null,
  error_samples: [...errorSamples],
};
console.log(JSON.stringify(out));
for (const s of sockets) s.ws.terminate();
process.exit(0);
