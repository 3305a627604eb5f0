import { z } from "@hono/zod-openapi";
import { ipAddress } from "./common.js";

export const portsQuery = z.object({
  top: z.coerce.number().int().min(1).max(100).default(10)
    .openapi({ description: "How many of the busiest destinations to list (1-100, default 10)." }),
});

export const destinationUsage = z.object({
  destinationAddress: ipAddress,
  destinationPort: z.number().int().openapi({ description: "0 for ICMP, whose ids are per destination address." }),
  protocol: z.enum(["tcp", "udp", "icmp", "icmpv6", "sctp", "other"]),
  inUse: z.number().int().openapi({ description: "Open translated connections: source ports of the egress IP in use towards this destination." }),
  available: z.number().int().openapi({ description: "Source ports the kernel's NAT can use towards one destination: 64512 (1024-65535); ICMP ids 65536." }),
  utilization: z.number().openapi({ description: "inUse / available." }),
}).openapi("DestinationPortUsage");

export const egressPortUsage = z.object({
  egressAddress: ipAddress,
  available: z.number().int().openapi({ example: 64_512, description: "Source ports per (destination address, port, protocol): 1024-65535." }),
  destinations: z.number().int().openapi({ description: "Destinations with at least one open connection through this egress IP." }),
  maxUtilization: z.number().openapi({ description: "The busiest destination's utilization (0-1): new connections to it start failing as it nears 1." }),
  busiest: z.array(destinationUsage).openapi({ description: "The busiest destinations, highest utilization first." }),
}).openapi("EgressPortUsage");
