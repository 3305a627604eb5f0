// Opens new UDP flows from a pod, as fast as asked: every datagram leaves from a new socket bound to the next
// source port of a range, so each one is a new conntrack flow that takes the NAT decision of that moment (a random
// ephemeral port could repeat one whose conntrack entry still lives, and reuse an old translation).
// Payload `TAG:SEQ:SENT_MS` (stamped just before the send), so the sink can tell which flows arrived, from where,
// and within which interval the flow crossed the gateway. On SIGTERM it prints one JSON line.
import { createSocket } from "node:dgram";

const [host = "", portText = "9999", rateText = "500", tag = "p", firstText = "10000", lastText = "59999"] = process.argv.slice(2);
const port = Number(portText);
const perTick = Math.max(1, Math.round(Number(rateText) / 100));
const first = Number(firstText);
const span = Number(lastText) - first + 1;
let seq = 0;
let sent = 0;
let errors = 0;

function sendOne(): void {
  const id = seq++;
  const socket = createSocket("udp4");
  // A failed bind (the port still held) or send is counted, never retried: the flow is simply not sent.
  socket.on("error", () => {
    errors++;
    socket.close();
  });
  socket.bind({ port: first + (id % span), address: "0.0.0.0", exclusive: true }, () => {
    socket.send(`${tag}:${id}:${Date.now()}`, port, host, (error) => {
      if (error) errors++;
      else sent++;
      socket.close();
    });
  });
}

// 100 ticks a second; a tick that runs late does not catch up, so the rate is an upper bound.
const timer = setInterval(() => {
  for (let i = 0; i < perTick; i++) sendOne();
}, 10);
process.on("SIGTERM", () => {
  clearInterval(timer);
  setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ attempted: seq, sent, errors })}\n`);
    process.exit(0);
  }, 200);
});
process.stdout.write("sending\n");
