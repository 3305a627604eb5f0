import { isIPv4 } from "node:net";
import { z } from "zod";

/** RFC 1123 DNS label: what Kubernetes and operators already use to name things. */
export const dnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "must be a DNS label: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit");

const LISTEN_PATTERN = /^(?:unix:(\/.+)|\[([0-9a-fA-F:]+)\]:(\d{1,5})|(\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d{1,5}))$/;

const listenAddress = z
  .string()
  .refine((text) => {
    const match = LISTEN_PATTERN.exec(text);
    if (!match) return false;
    if (match[1]) return true;
    const port = Number(match[3] ?? match[5]);
    const octetsOk = (match[4] ?? "").split(".").every((o) => o === "localhost" || Number(o) <= 255);
    return port >= 1 && port <= 65535 && octetsOk;
  }, "must be IPV4:PORT, [IPV6]:PORT or localhost:PORT with a port 1-65535, or unix:/absolute/path");

const ipv4Address = z.string().refine((text) => isIPv4(text), "must be an IPv4 address");

function isLoopbackListen(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

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
      clientCa: z.string().min(1).optional()
        .describe("PEM file of the CA(s) whose client certificates are asked for (mutual TLS). Bearer tokens are still required."),
      requireClientCert: z.boolean().default(false)
        .describe("With clientCa: refuse TLS connections without a valid client certificate (otherwise a certificate is asked for but optional)."),
    }).optional().refine((tls) => !tls?.requireClientCert || tls.clientCa !== undefined, { message: "requireClientCert needs clientCa", path: ["requireClientCert"] })
      .describe("Serve HTTPS on TCP listeners. Unix sockets stay plain HTTP (protected by file permissions). Files are re-read on SIGHUP and when they change."),
    allowPlainHttp: z.boolean().default(false)
      .describe("Allow plain-HTTP TCP listeners on non-loopback addresses when tls is not set. Bearer tokens would cross the network in clear: only for a lab or a network path you trust."),
    adminTokenFile: z.string().min(1).describe("File holding the admin bearer token (one line, at least 32 characters)."),
    bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024)
      .describe("Largest accepted request body; larger ones get 413."),
    waitTimeoutMs: z.number().int().min(100).max(120_000).default(10_000)
      .describe("Longest a ?wait=true write waits for the data plane before answering 504."),
  }).superRefine((api, ctx) => {
    if (api.tls || api.allowPlainHttp) return;
    api.listen.forEach((listen, i) => {
      if (listen.startsWith("unix:") || isLoopbackListen(listen)) return;
      ctx.addIssue({
        code: "custom", path: ["listen", i],
        message: "a TCP listener on a non-loopback address needs api.tls (bearer tokens would cross the network in clear); set api.allowPlainHttp: true only for a lab",
      });
    });
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
  }).prefault({}).refine((d) => d.retryMaxMs >= d.retryInitialMs, { message: "retryMaxMs must not be smaller than retryInitialMs", path: ["retryMaxMs"] }),
  ha: z.strictObject({
    processes: z.enum(["supervised", "systemd"]).default("systemd")
      .describe("Who runs keepalived and conntrackd: systemd (the daemon writes their config and reloads the units) or the daemon itself as child processes (lab, containers)."),
    runDirectory: z.string().min(1).default("/run/egw")
      .describe("Where supervised keepalived/conntrackd keep their config, pid files, sockets and the VRRP notification FIFO."),
    insideVips: z.array(z.string()).min(1)
      .refine((vips) => vips.some((vip) => !vip.includes(":")), "must include an IPv4 address: VRRPv3 adverts carry IPv4 VIPs, IPv6 VIPs ride along with them")
      .describe("Floating addresses (CIDR, e.g. 172.31.0.1/24) on the inside interface that the cluster nodes route to; at least one IPv4."),
    priority: z.number().int().min(1).max(254).default(100)
      .describe("VRRP priority of this gateway; the highest wins the first election. Preemption is off, so a returning gateway never takes the VIPs back."),
    advertIntervalMs: z.number().int().min(50).max(10_000).default(200)
      .describe("VRRPv3 advertisement interval. A backup takes over after about 3 intervals plus skew without adverts (≈0.7 s at 200 ms)."),
    virtualRouterIds: z.strictObject({
      inside: z.number().int().min(1).max(255).default(51).describe("virtual_router_id of the one VRRP instance (inside VIPs, with the egress IPs riding along)."),
    }).prefault({}).describe("VRRP router id; unique per broadcast domain, equal on all gateways of the group."),
    syncLink: z.strictObject({
      interface: interfaceName.describe("The dedicated link between the two gateways (a cable, or a VLAN no other host is on)."),
      address: ipv4Address.describe("This gateway's IPv4 address on the sync link: the source of its VRRP adverts and state sync, and where its replication listener binds."),
    }).describe("Everything the gateways say to each other (VRRP adverts, conntrackd state, configuration replication) crosses only this link; our nft table drops VRRP, state sync and replication packets from anywhere else."),
    peer: z.strictObject({
      name: dnsLabel.describe("The peer gateway's gateway.name; its certificate must name it (CN or DNS subjectAltName)."),
      address: ipv4Address.describe("The peer's IPv4 address on the sync link."),
    }).describe("The other gateway of the pair (conntrackd replicates connection state to exactly one peer)."),
    ports: z.strictObject({
      replication: z.number().int().min(1).max(65535).default(7443).describe("TCP port of the replication listener (mutual TLS), on syncLink.address."),
      conntrackd: z.number().int().min(1).max(65535).default(3780).describe("UDP port of conntrackd's state sync (FTFW)."),
    }).prefault({}).describe("Ports on the sync link."),
    tls: z.strictObject({
      cert: z.string().min(1).describe("This gateway's certificate (PEM), presented to the peer in both directions; `egw peer-cert` creates one."),
      key: z.string().min(1).describe("Its private key (PEM, mode 0600)."),
      peerCertificates: z.string().min(1)
        .describe("PEM file of the certificates trusted for the peer: its self-signed certificate (pinned), or the CA that issues the pair's certificates. During a rotation it holds the old and the new one."),
    }).describe("Mutual TLS on the replication channel. Files are re-read on SIGHUP and when they change, without a restart."),
    replicationBodyLimitBytes: z.number().int().min(1024 * 1024).max(1024 * 1024 * 1024).default(256 * 1024 * 1024)
      .describe("Largest replication message accepted from the peer (a snapshot of the whole store)."),
    replicationTimeoutMs: z.number().int().min(50).max(60_000).default(2_000)
      .describe("How long a write waits for each peer before it is acknowledged with that peer reported behind."),
    revocationTimeoutMs: z.number().int().min(100).max(120_000).default(10_000)
      .describe("How long a revocation (token revoked, grants narrowed, anything deleted) waits for each reachable peer; if one does not confirm in time the answer is 504 replication-timeout (the change is stored). An unreachable peer is not waited for: the answer names the risk (Egw-Replication-Risk)."),
    keepalivedCheckIntervalMs: z.number().int().min(100).max(10_000).default(500)
      .describe("How often keepalived's pid files are checked. When keepalived is gone this gateway stops leading, reports role fault and removes its VIPs and egress IPs."),
    keepalivedPidFiles: z.array(z.string().min(1)).min(1).optional()
      .describe("keepalived's pid files (its own and its VRRP child's) to watch (default: RUN_DIRECTORY/keepalived.pid and RUN_DIRECTORY/vrrp.pid when supervised, /run/keepalived.pid and /run/vrrp.pid with systemd)."),
    keepalivedConfigPath: z.string().min(1).optional()
      .describe("Where keepalived's config is written (default: RUN_DIRECTORY/keepalived.conf when supervised, /etc/keepalived/keepalived.conf with systemd)."),
    conntrackdConfigPath: z.string().min(1).optional()
      .describe("Where conntrackd's config is written (default: RUN_DIRECTORY/conntrackd.conf when supervised, /etc/conntrackd/conntrackd.conf with systemd)."),
  }).optional().describe("High availability: present on every gateway of a VRRP group. Absent: a single gateway that assigns the egress IPs itself."),
  log: z.strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info")
      .describe("Lowest level written to the JSON log on stdout."),
  }).prefault({}),
}).superRefine((config, ctx) => {
  const ha = config.ha;
  if (!ha) return;
  if (ha.peer.name === config.gateway.name) ctx.addIssue({ code: "custom", path: ["ha", "peer", "name"], message: "must be the other gateway's name, not this one's" });
  if (ha.peer.address === ha.syncLink.address) ctx.addIssue({ code: "custom", path: ["ha", "peer", "address"], message: "must be the other gateway's sync-link address, not this one's" });
});

export type Config = z.infer<typeof configSchema>;
