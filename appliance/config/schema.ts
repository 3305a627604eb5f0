import { z } from "zod";

/** RFC 1123 DNS label: what Kubernetes and operators already use to name things. */
export const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS label: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit");

const listenAddress = z
  .string()
  .regex(/^(unix:\/.+|\[[0-9a-fA-F:.]+\]:\d{1,5}|[0-9.]+:\d{1,5}|localhost:\d{1,5})$/,
    "must be HOST:PORT (IPv6 as [ADDR]:PORT) or unix:/absolute/path");

const interfaceName = z.string().regex(/^[a-zA-Z0-9_.-]{1,15}$/, "must be a Linux interface name (1-15 characters)");

const nftIdentifier = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/, "must be an nft identifier (letters, digits, '_')");

/**
 * The daemon's configuration file. Every field has a default except those that name this machine's own
 * resources, so that a minimal file stays short and a mistyped field is an error, not a silent default.
 */
export const configSchema = z.strictObject({
  gateway: z.strictObject({
    name: dnsLabel.describe("This gateway's name, as shown in /v1/status and in cluster status."),
  }),
  api: z.strictObject({
    listen: z.array(listenAddress).min(1).default(["127.0.0.1:8080"])
      .describe("Addresses the REST API listens on: HOST:PORT, [IPv6]:PORT or unix:/path (the CLI uses the socket)."),
    tls: z.strictObject({
      cert: z.string().min(1).describe("PEM certificate chain file."),
      key: z.string().min(1).describe("PEM private key file."),
    }).optional().describe("Serve HTTPS on TCP listeners. Unix sockets stay plain HTTP (protected by file permissions)."),
    adminTokenFile: z.string().min(1).describe("File holding the admin bearer token (one line, at least 32 characters)."),
    bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024)
      .describe("Largest accepted request body; larger ones get 413."),
    waitTimeoutMs: z.number().int().min(100).max(120_000).default(10_000)
      .describe("Longest a ?wait=true write waits for the data plane before answering 504."),
  }),
  database: z.strictObject({
    path: z.string().min(1).describe("SQLite database file (WAL mode; its -wal and -shm files live beside it)."),
  }),
  network: z.strictObject({
    inside: z.strictObject({ interface: interfaceName.describe("Interface facing the cluster nodes.") }),
    outside: z.strictObject({ interface: interfaceName.describe("Interface facing the firewall; egress IPs live here.") }),
    reservedAddresses: z.array(z.string()).default([])
      .describe("Addresses that may never become egress IPs besides the ones found on the interfaces (peers, VIPs)."),
  }),
  dataplane: z.strictObject({
    nftTable: nftIdentifier.default("egress_gateway").describe("The one nftables table (family inet) the daemon owns."),
    unmappedTraffic: z.enum(["drop", "masquerade"]).default("drop")
      .describe("Forwarded inside→outside traffic that no mapping translates: dropped, or masqueraded to the outside address."),
    manageEgressAddresses: z.boolean().default(true)
      .describe("Single-gateway mode: assign the egress IPs to the outside interface (HA mode leaves this to keepalived)."),
    manageSysctls: z.boolean().default(true).describe("Turn on IPv4/IPv6 forwarding at start."),
    routeProtocol: z.number().int().min(5).max(254).default(211)
      .describe("Routing protocol number that marks the pod routes the daemon installs; routes with any other number are never touched."),
    driftCheckIntervalMs: z.number().int().min(1000).max(3_600_000).default(30_000)
      .describe("How often the kernel state is read back and repaired if someone changed it."),
    retryInitialMs: z.number().int().min(50).max(60_000).default(500).describe("First retry delay after a failed apply."),
    retryMaxMs: z.number().int().min(100).max(600_000).default(30_000).describe("Longest retry delay (the delay doubles up to this)."),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
