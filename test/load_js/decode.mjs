// node decode.mjs LOG: reads an HdrHistogram interval log with hdr-histogram-js's reader and prints
// one JSON object: per tag, the intervals, the total count and, of all intervals added together,
// max and percentiles (the values as recorded, microseconds).
import { readFileSync } from "node:fs";
import * as hdr from "hdr-histogram-js";

const reader = new hdr.HistogramLogReader(readFileSync(process.argv[2], "utf8"));
const tags = {};
for (let h = reader.nextIntervalHistogram(); h !== null; h = reader.nextIntervalHistogram()) {
  const tag = h.tag || "";
  if (!tags[tag]) tags[tag] = { intervals: 0, histogram: hdr.build({ numberOfSignificantValueDigits: 3 }) };
  tags[tag].intervals += 1;
  tags[tag].histogram.add(h);
}
const out = {};
for (const [tag, { intervals, histogram }] of Object.entries(tags)) {
  out[tag] = {
    intervals,
    totalCount: histogram.totalCount,
    max: histogram.maxValue,
    p50: histogram.getValueAtPercentile(50),
    p99: histogram.getValueAtPercentile(99),
  };
}
console.log(JSON.stringify(out));
