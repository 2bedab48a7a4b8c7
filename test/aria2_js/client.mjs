// node client.mjs HOST PORT SECRET URL DIR
//
// The aria2 npm package (its WebSocket transport) driving an aria2 JSON-RPC daemon, `ferry serve`
// or `aria2c --enable-rpc`, as an application would: open(), addUri of URL into DIR, the
// onDownloadStart/onDownloadComplete notifications for that gid, tellStatus until `complete`
// (at most 30 s), a multicall of getVersion + getGlobalStat, close(). Prints one JSON line:
//   {"gid", "notifications": [{"event", "gid"}, ...] (that gid's, in order of arrival),
//    "other_notifications": N, "status": {...tellStatus...}, "polls": N, "multicall": [...]}
// Exit 0 when the download completed and both notifications came; 1 when it did not (the line is
// still printed); 2 on an error (on stderr); 3 when the whole run took over 60 s.
// Used by test/integration/aria2_js_test.cpp; installed into the build tree by aria2_js_setup.
import Aria2 from "aria2";

const [host, port, secret, url, dir] = process.argv.slice(2);
if (!dir) {
    console.error("usage: node client.mjs HOST PORT SECRET URL DIR");
    process.exit(2);
}

const watchdog = setTimeout(() => {
    console.error("client.mjs: no result after 60 s");
    process.exit(3);
}, 60_000);
watchdog.unref();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const events = ["onDownloadStart", "onDownloadPause", "onDownloadStop", "onDownloadComplete", "onDownloadError",
                "onBtDownloadComplete"];

async function main() {
    const aria2 = new Aria2({ host, port: Number(port), secure: false, secret, path: "/jsonrpc" });
    const errors = [];
    aria2.on("error", (err) => errors.push(String(err && err.message ? err.message : err)));

    // Every notification from the moment the socket opens: a small file can be complete before
    // addUri's answer has been read.
    const received = [];
    let wake = () => {};
    for (const event of events) {
        aria2.on(event, (params) => {
            for (const p of Array.isArray(params) ? params : [])
                received.push({ event, gid: p && p.gid });
            wake();
        });
    }

    await aria2.open();
    const gid = await aria2.call("addUri", [url], { dir });
    if (typeof gid !== "string")
        throw new Error(`addUri answered ${JSON.stringify(gid)}`);

    const deadline = Date.now() + 30_000;
    const mine = () => received.filter((n) => n.gid === gid);
    const notified = (event) => mine().some((n) => n.event === event);

    let status = null;
    let polls = 0;
    while (Date.now() < deadline) {
        status = await aria2.call("tellStatus", gid);
        ++polls;
        if (["complete", "error", "removed"].includes(status.status))
            break;
        await sleep(100);
    }
    // The complete notification may follow the status by a moment.
    while (status && status.status === "complete" && !notified("onDownloadComplete") && Date.now() < deadline)
        await Promise.race([sleep(100), new Promise((resolve) => (wake = resolve))]);

    const multicall = await aria2.multicall([["getVersion"], ["getGlobalStat"]]);
    await aria2.close();

    const result = {
        gid,
        notifications: mine(),
        other_notifications: received.length - mine().length,
        status,
        polls,
        multicall,
        errors,
    };
    console.log(JSON.stringify(result));
    const ok = status && status.status === "complete" && notified("onDownloadStart") && notified("onDownloadComplete");
    return ok ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (err) => {
        console.error(`client.mjs: ${err && err.stack ? err.stack : JSON.stringify(err)}`);
        process.exit(2);
    });
