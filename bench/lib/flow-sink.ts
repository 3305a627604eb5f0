// Records every arriving UDP flow: the flow sender's payload `TAG:SEQ:SENT_MS`, the source address as the server
// saw it, and when it arrived (ms since the epoch, the same clock as the sender's and the benchmark's). On SIGTERM it
// prints one JSON line: per tag, [seq, sentMs, arrivedMs, source] for each flow, in arrival order.
import { createSocket } from "node:dgram";

type Flow = [seq: number, sentMs: number, arrivedMs: number, source: string];

const port = Number(process.argv[2] ?? "9999");
const flows: Record<string, Flow[]> = {};
const socket = createSocket("udp4");
socket.on("message", (message, remote) => {
  const arrived = Date.now();
  const [tag = "?", seq = "-1", sent = "0"] = message.toString("utf8").split(":");
  (flows[tag] ??= []).push([Number(seq), Number(sent), arrived, remote.address]);
});
socket.bind(port, "0.0.0.0", () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => {
  socket.close();
  process.stdout.write(`${JSON.stringify(flows)}\n`, () => process.exit(0));
});
