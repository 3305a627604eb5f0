// Measures a data-plane outage from inside a pod: opens a new TCP connection to the whoami server every
// interval and records when answers arrive and which source address the server saw. On SIGTERM it prints
// one JSON report; the outage is the longest time between two answered probes, and openGapMs the time from the
// last answered probe to the last probe sent (large when answers never came back).
import { connect } from "node:net";

const [host = "", portText = "8080", intervalText = "20", timeoutText = "300"] = process.argv.slice(2);
const port = Number(portText);
const interval = Number(intervalText);
const timeout = Number(timeoutText);
let attempts = 0;
let answered = 0;
let lastAnswer = Date.now();
let maxGapMs = 0;
let lastSent = Date.now();
const seen: Record<string, number> = {};

function probe(): void {
  attempts++;
  const started = Date.now();
  lastSent = started;
  const socket = connect({ host, port });
  let data = "";
  socket.setTimeout(timeout, () => socket.destroy());
  socket.on("data", (chunk: Buffer) => (data += chunk.toString("utf8")));
  socket.on("error", () => undefined);
  socket.on("close", () => {
    const source = data.trim();
    if (!source) return;
    answered++;
    seen[source] = (seen[source] ?? 0) + 1;
    // The gap ends when the probe that succeeded was sent, not when its answer came back.
    maxGapMs = Math.max(maxGapMs, started - lastAnswer);
    lastAnswer = Math.max(lastAnswer, started);
  });
}

const timer = setInterval(probe, interval);
process.on("SIGTERM", () => {
  clearInterval(timer);
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ attempts, answered, outageMs: maxGapMs, openGapMs: Math.max(0, lastSent - lastAnswer), seen })}\n`);
    process.exit(0);
  }, timeout + 50);
});
process.stdout.write("probing\n");
