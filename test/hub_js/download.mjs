// node download.mjs HUB_URL REPO REVISION CACHE_DIR
// @huggingface/hub's snapshotDownload of REPO ("org/name", "datasets/org/name") at REVISION from the
// Hub at HUB_URL into the Hugging Face cache CACHE_DIR. Prints the snapshot directory as the last
// line of stdout; exit 1 with the error on stderr on failure. A token comes from HF_TOKEN if set.
// TLS: trust the fake Hub's CA with NODE_EXTRA_CA_CERTS=ca.pem.
import { snapshotDownload } from "@huggingface/hub";

const [hubUrl, repo, revision, cacheDir] = process.argv.slice(2);
if (!hubUrl || !repo || !revision || !cacheDir) {
	console.error("usage: node download.mjs HUB_URL REPO REVISION CACHE_DIR");
	process.exit(2);
}

// The library announces every file with console.debug, which goes to stdout.
console.debug = () => {};

try {
	const snapshot = await snapshotDownload({
		repo,
		revision,
		cacheDir,
		hubUrl: hubUrl.replace(/\/+$/, ""),
		...(process.env.HF_TOKEN ? { accessToken: process.env.HF_TOKEN } : {}),
	});
	process.stdout.write(`${snapshot}\n`);
} catch (error) {
	console.error(`download.mjs: ${error?.stack ?? error}`);
	process.exit(1);
}
