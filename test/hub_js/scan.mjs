// node scan.mjs CACHE_DIR
// @huggingface/hub's scanCacheDir of CACHE_DIR, printed as JSON: { size, repos: [...], warnings:
// [{name, message}] } with BigInts as numbers (or strings when too large) and Dates as ISO text.
import { scanCacheDir } from "@huggingface/hub";

const [cacheDir] = process.argv.slice(2);
if (!cacheDir) {
	console.error("usage: node scan.mjs CACHE_DIR");
	process.exit(2);
}

function plain(value) {
	if (typeof value === "bigint")
		return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER)
			? Number(value)
			: value.toString();
	if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
	if (value instanceof Error) return { name: value.name, message: value.message, ...(value.code ? { code: value.code } : {}) };
	if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
	if (Array.isArray(value)) return value.map(plain);
	if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
	return value;
}

try {
	const info = await scanCacheDir(cacheDir);
	process.stdout.write(`${JSON.stringify(plain(info), null, 1)}\n`);
} catch (error) {
	console.error(`scan.mjs: ${error?.stack ?? error}`);
	process.exit(1);
}
