// A long-lived TCP stream for failover tests: sends a numbered line every interval to the echo server and
// checks each echo. Prints one JSON report when it receives SIGTERM (or when the connection breaks).
import { connect } from "node:net";

const [host = "", portText = "8081", intervalText = "20"] = process.argv.slice(2);
const interval = Number(intervalText);
const socket = connect({ host, port: Number(portText) });
let sent = 0;
let received = 0;
let lastEcho = 0;
let maxGapMs = 0;
let error: string | null = null;
let buffer = "";
let timer: NodeJS.Timeout | undefined;

function report(): void {
  clearInterval(timer);
  process.stdout.write(`${JSON.stringify({ sent, received, maxGapMs, error, open: !socket.destroyed })}\n`);
  socket.destroy();
  process.exit(0);
}

socket.setNoDelay(true);
socket.on("connect", () => {
  lastEcho = Date.now();
  process.stdout.write("connected\n");
  timer = setInterval(() => socket.write(`${++sent}\n`), interval);
});
socket.on("data", (chunk: Buffer) => {
  buffer += chunk.toString("utf8");
  const lines = buffer.split("\n");
  buffer = lines.pop() ?? "";
  for (const line of lines) {
    if (Number(line) !== received + 1) error ??= `echo out of order: got ${line}, expected ${received + 1}`;
    received = Number(line);
    const now = Date.now();
    maxGapMs = Math.max(maxGapMs, now - lastEcho);
    lastEcho = now;
  }
});
socket.on("error", (e: NodeJS.ErrnoException) => {
  error ??= e.code ?? e.message;
});
socket.on("close", () => {
  error ??= "connection closed";
  report();
});
process.on("SIGTERM", report);
