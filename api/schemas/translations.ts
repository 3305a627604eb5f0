import { z } from "@hono/zod-openapi";
import { ipAddress } from "./common.js";

const port = (what: string) => z.coerce.number().int().min(1).max(65535).optional().openapi({ description: `${what} (1-65535)` });
const instant = (what: string) => z.string().max(40).optional().openapi({ description: `${what}: RFC 3339 with a time zone, e.g. 2026-12-02T12:03:55Z`, example: "2026-12-02T12:03:55Z" });

export const TRANSLATION_PROTOCOLS = ["tcp", "udp", "icmp", "icmpv6", "sctp"] as const;

/** Every field is text in a query string; the route checks what the schema cannot (addresses, times, combinations). */
export const translationQuery = z.object({
  egressIp: ipAddress.optional().openapi({ description: "The egress IP the firewall saw as source" }),
  egressPort: port("The source port the firewall saw; needs egressIp"),
  podIp: ipAddress.optional().openapi({ description: "The pod's own address" }),
  destinationIp: ipAddress.optional().openapi({ description: "The destination address" }),
  destinationPort: port("The destination port; needs destinationIp"),
  protocol: z.enum(TRANSLATION_PROTOCOLS).optional(),
  at: instant("Connections open at this instant"),
  from: instant("Start of a time range (with to)"),
  to: instant("End of a time range (with from)"),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ description: "Records per page (1-1000)" }),
  cursor: z.string().max(2048).optional().openapi({ description: "nextCursor of the previous page" }),
  scope: z.enum(["pair", "local"]).default("pair")
    .openapi({ description: "pair (default): this gateway and its peer answer together; local: this gateway's log only" }),
});

const endpoint = z.object({ address: z.string(), port: z.number().int() });

export const translationRecord = z.object({
  gateway: z.string().openapi({ description: "The gateway whose log holds this record" }),
  id: z.number().int().openapi({ description: "The record's id in that gateway's log" }),
  cluster: z.string(),
  mapping: z.string(),
  protocol: z.string(),
  family: z.union([z.literal(4), z.literal(6)]),
  pod: endpoint,
  destination: endpoint,
  egress: endpoint,
  start: z.string().openapi({ description: "When the connection began (the kernel's conntrack timestamp), RFC 3339 UTC" }),
  end: z.string().nullable().openapi({ description: "When it ended; null while it is open" }),
  endReason: z.enum(["kernel", "gateway-restarted", "log-interrupted"]).nullable()
    .openapi({ description: "kernel: the kernel reported its end; gateway-restarted: the gateway restarted before it did, end is when the log started again; "
      + "log-interrupted: it ended while the log was not recording, end is when the log noticed. Both of the latter are upper bounds." }),
  counters: z.object({ originalPackets: z.number(), originalBytes: z.number(), replyPackets: z.number(), replyBytes: z.number() }).nullable()
    .openapi({ description: "Packets and bytes each way (original: pod → destination), known once it ended" }),
}).openapi("TranslationRecord");

export const translationGap = z.object({
  gateway: z.string(),
  from: z.string(),
  to: z.string().nullable(),
  reason: z.enum(["not-running", "disk-full", "store-error"]),
}).openapi("TranslationLogGap");

export const translationAnswer = z.object({
  translations: z.array(translationRecord),
  gaps: z.array(translationGap).openapi({ description: "Times a gateway's log was not recording that overlap the question: an empty answer within a gap proves nothing" }),
  unanswered: z.array(z.object({ gateway: z.string(), reason: z.string() }))
    .openapi({ description: "Gateways of the pair that could not be asked; their records are missing from this page" }),
  nextCursor: z.string().optional(),
}).openapi("TranslationAnswer");
