// Counts every arriving UDP flow by its tag and its source address as the server saw it (the flow sender's
// payload is `TAG:SEQ`). Aggregates in-process, so a burst never backs up a pipe; on SIGTERM it prints one JSON
// line: per tag, the count by source, the number of distinct sequence numbers seen, and a few sample sequence
// numbers per source (to find a miss in the run afterwards).
import { createSocket } from "node:dgram";

interface TagCounts { bySource: Record<string, number>; distinct: number; samples: Record<string, number[]> }

const port = Number(process.argv[2] ?? "9999");
const tags = new Map<string, { counts: TagCounts; seen: Set<number> }>();
const socket = createSocket("udp4");
socket.on("message", (message, remote) => {
  const text = message.toString("utf8");
  const colon = text.lastIndexOf(":");
  const tag = colon > 0 ? text.slice(0, colon) : "?";
  const seq = Number(text.slice(colon + 1));
  let entry = tags.get(tag);
  if (!entry) {
    entry = { counts: { bySource: {}, distinct: 0, samples: {} }, seen: new Set() };
    tags.set(tag, entry);
  }
  const { counts, seen } = entry;
  counts.bySource[remote.address] = (counts.bySource[remote.address] ?? 0) + 1;
  if (!seen.has(seq)) {
    seen.add(seq);
    counts.distinct++;
  }
  const samples = (counts.samples[remote.address] ??= []);
  if (samples.length < 5) samples.push(seq);
});
socket.bind(port, "0.0.0.0", () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => {
  socket.close();
  const out: Record<string, TagCounts> = {};
  for (const [tag, { counts }] of tags) out[tag] = counts;
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
});
