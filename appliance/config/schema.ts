import { isIPv4 } from "node:net";
import { z } from "zod";
import { DEFAULT_CLUSTER_QUOTAS, QUOTA_MAX } from "../service/quotas.js";

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

function quota(fallback: number) {
  return z.number().int().min(1).max(QUOTA_MAX).default(fallback);
}

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
    adminTokenFile: z.string().min(1).optional()
      .describe("File holding an admin bearer token (one line, at least 32 characters, about 128 random bits); its holder is audited as \"admin\". This, adminTokens, or both."),
    adminTokens: z.array(z.strictObject({
      name: dnsLabel.refine((name) => name !== "admin", "\"admin\" is the name of the token in api.adminTokenFile; choose another")
        .describe("Who holds the token; writes are audited as admin:NAME."),
      file: z.string().min(1).describe("File holding the token (one line, at least 32 characters, about 128 random bits)."),
    })).max(64).default([])
      .refine((tokens) => new Set(tokens.map((t) => t.name)).size === tokens.length, "names must be unique")
      .describe("Named admin tokens, one per person or tool, so the audit log says which admin made a change."),
    authFailures: z.strictObject({
      max: z.number().int().min(1).max(10_000).default(20)
        .describe("Failed authentications one client address (an IPv6 /64, or the unix socket as a whole) may make per window; after that it gets 429 without its token being checked."),
      windowMs: z.number().int().min(1_000).max(86_400_000).default(60_000).describe("Length of the window that failures are counted in."),
    }).prefault({}).describe("Slows down token guessing and floods of bad tokens."),
    rateLimit: z.strictObject({
      requestsPerSecond: z.number().positive().max(100_000).default(50).describe("Sustained requests per second each cluster token may make."),
      burst: z.number().int().min(1).max(1_000_000).default(200).describe("Requests a cluster token may make at once after being idle."),
    }).prefault({}).describe("Token bucket per cluster token, so one tenant cannot starve the others; admin tokens are not limited. Over the limit: 429 with Retry-After."),
    bodyLimitBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024)
      .describe("Largest accepted request body; larger ones get 413."),
    waitTimeoutMs: z.number().int().min(100).max(120_000).default(10_000)
      .describe("Longest a ?wait=true write waits for the data plane before answering 504."),
  }).refine((api) => api.adminTokenFile !== undefined || api.adminTokens.length > 0,
    { message: "give adminTokenFile or at least one entry in adminTokens", path: ["adminTokenFile"] })
    .superRefine((api, ctx) => {
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
    minFreeBytes: z.number().int().min(0).max(1024 ** 4).default(64 * 1024 * 1024)
      .describe("With less free space than this beside the database, /readyz answers 503 and /v1/status warns: writes are about to fail."),
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
    elementChanges: z.enum(["netlink", "nft"]).default("netlink")
      .describe("How a change of elements and counters (a mapping written, a policy changed) reaches the kernel: netlink sends the nf_tables transaction itself (milliseconds, whatever the number of elements present), nft runs `nft -f` (which first fetches every element of every set: ≈ 0.7 s with 100k mappings). A change netlink cannot encode yet goes through nft whole; full applies and drift checks always use nft."),
    driftCheckIntervalMs: z.number().int().min(1000).max(3_600_000).default(30_000)
      .describe("How often the kernel state is read back and repaired if someone changed it."),
    retryInitialMs: z.number().int().min(50).max(60_000).default(500).describe("First retry delay after a failed apply."),
    retryMaxMs: z.number().int().min(100).max(600_000).default(30_000).describe("Longest retry delay (the delay doubles up to this)."),
    sourceBinding: z.enum(["next-hop", "off"]).default("next-hop")
      .describe("next-hop: a new connection from any cluster's source ranges is forwarded only if it arrives from the MAC of the next hop of the registered route covering its source; anything else is dropped, counted (guard_spoofed) and recorded (set spoofed_v4/v6). Every node shares the inside link, so without it a compromised node could send from another cluster's pod range and leave with that cluster's egress IP. Consequence: a cluster's traffic needs its routes registered, and its next hops resolved (the daemon keeps a kernel-managed neighbour entry for each). off: only for networks that guarantee source integrity themselves (e.g. per-port source filtering in the switches)."),
    failClosed: z.strictObject({
      mark: z.number().int().min(1).max(0x80000000).refine((bit) => (bit & (bit - 1)) === 0, "must be a single bit (a power of two)").default(0x10000000)
        .describe("The packet-mark bit our table sets on everything from the inside (default 0x10000000 = 268435456). Must not collide with marks other software on the gateway uses (kube-proxy, Calico, Cilium, VPN or QoS tools)."),
      rulePriority: z.number().int().min(1).max(32765).default(900)
        .describe("Preference of the ip rules `iif INSIDE fwmark 0/MARK blackhole` (IPv4 and IPv6). After the `local` rule (0), so traffic to the gateway itself is unaffected, and before `main` (32766)."),
    }).prefault({}).describe("Fail closed when our nft table disappears (a flush, a crashed reload): forwarded packets from the inside without our mark are black-holed by a policy rule the daemon installs before it ever switches forwarding on, so pods are cut off instead of leaving with their own addresses until the repair."),
  }).prefault({}).refine((d) => d.retryMaxMs >= d.retryInitialMs, { message: "retryMaxMs must not be smaller than retryInitialMs", path: ["retryMaxMs"] }),
  ha: z.strictObject({
    processes: z.enum(["supervised", "systemd"]).default("systemd")
      .describe("Who runs keepalived and conntrackd: systemd (their own units, as root, with the shipped drop-ins; the daemon writes their configuration into runDirectory and the shipped path units reload them) or the daemon itself as child processes (lab, containers; they then need CAP_NET_RAW too)."),
    runDirectory: z.string().min(1).default("/run/egw")
      .describe("Where keepalived's and conntrackd's configuration, pid files (supervised), conntrackd's socket and the VRRP notification FIFO live (the unit's RuntimeDirectory)."),
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
      .describe("keepalived's pid files (its own and its VRRP child's) to watch (default: RUN_DIRECTORY/keepalived.pid and RUN_DIRECTORY/vrrp.pid when supervised, /run/keepalived/keepalived.pid and /run/keepalived/vrrp.pid with systemd, where the shipped keepalived.service drop-in puts them)."),
    keepalivedConfigPath: z.string().min(1).optional()
      .describe("Where keepalived's config is written (default: RUN_DIRECTORY/keepalived.conf, where the shipped keepalived.service drop-in reads it)."),
    conntrackdConfigPath: z.string().min(1).optional()
      .describe("Where conntrackd's config is written (default: RUN_DIRECTORY/conntrackd.conf, where the shipped conntrackd.service drop-in reads it)."),
    // For tests only, left out of docs/config.md (testOnly): makes this gateway claim other replication protocol
    // versions than its release speaks, so that a test can pair gateways of "other releases". Its messages keep
    // this release's shape whatever it claims.
    replicationProtocolForTests: z.strictObject({
      oldest: z.number().int().min(1).max(999_999),
      newest: z.number().int().min(1).max(999_999),
    }).refine((range) => range.oldest <= range.newest, { message: "oldest must not be newer than newest", path: ["oldest"] }).optional()
      .meta({ testOnly: true, description: "Test only: the replication protocol versions this gateway claims to speak instead of its release's." }),
  }).optional().describe("High availability: present on every gateway of a VRRP group. Absent: a single gateway that assigns the egress IPs itself."),
  metrics: z.strictObject({
    listen: z.array(listenAddress).default([])
      .describe("Extra listeners that serve only /metrics, /healthz and /readyz (e.g. 127.0.0.1:9469 or the management network's address), for Prometheus. On the API listeners /metrics needs the admin token."),
    tokenFile: z.string().min(1).optional()
      .describe("File with a bearer token that scrapes of the metrics listeners must send (at least 32 characters). Absent: the metrics listeners need no token."),
    kernelReadingMaxAgeMs: z.number().int().min(100).max(600_000).default(5_000)
      .describe("The egress IPs' traffic counters are read from the kernel at most this often, however many scrapes arrive."),
  }).prefault({}).describe("Prometheus metrics: one cached kernel reading per interval, on listeners the operator chooses."),
  limits: z.strictObject({
    clusterDefaults: z.strictObject({
      mappings: quota(DEFAULT_CLUSTER_QUOTAS.mappings).describe("Mappings one cluster may have."),
      routes: quota(DEFAULT_CLUSTER_QUOTAS.routes).describe("Routes one cluster may have."),
      destinations: quota(DEFAULT_CLUSTER_QUOTAS.destinations)
        .describe("Destination plus excluded-destination prefixes over all of one cluster's mappings (each is one kernel set element)."),
    }).prefault({}).describe("Quotas of a cluster that does not set its own (an admin sets them per cluster under quotas). Keep them equal on every gateway of a group."),
  }).prefault({}).describe("Per-tenant limits: every mapping, route and destination prefix becomes kernel state that all clusters share."),
  audit: z.strictObject({
    retentionDays: z.number().int().min(1).max(36_500).default(400).describe("Audit records older than this are deleted."),
    maxRecords: z.number().int().min(1_000).max(100_000_000).default(1_000_000).describe("Beyond this many audit records, the oldest are deleted."),
  }).prefault({}).describe("Audit log retention; each gateway prunes its own copy, in small batches."),
  translationLog: z.strictObject({
    enabled: z.boolean().default(false)
      .describe("Record every connection this gateway translates (pod address and port, destination, egress IP and port, cluster, mapping, start, end, traffic) so that a firewall's log line can be traced back to its pod. The shipped /etc/egw/egw.yaml turns it on. Needs ulogd2 and ulogd2-json (the package depends on them)."),
    directory: z.string().min(1).optional()
      .describe("Where the log's store (translations.db) and ulogd's spool live (default: a translations folder beside database.path). Give it its own file system if its size matters more than the daemon's database."),
    retentionDays: z.number().int().min(1).max(3_650).default(90)
      .describe("Records of connections that ended longer ago than this are deleted."),
    maxBytes: z.number().int().min(16 * 1024 * 1024).max(1024 ** 5).default(10 * 1024 ** 3)
      .describe("Beyond this size on disk the oldest records are deleted, whatever their age."),
    minFreeBytes: z.number().int().min(0).max(1024 ** 4).default(256 * 1024 * 1024)
      .describe("With less free space than this in the directory, the log stops (the data plane does not), says so in /v1/status, the log and egw_translation_log_up, records the gap, and resumes by itself when space returns."),
    ulogd: z.strictObject({
      command: z.string().min(1).default("ulogd").describe("The ulogd binary (ulogd2), run by the daemon as its child."),
      pluginDirectory: z.string().min(1).default("/usr/lib/x86_64-linux-gnu/ulogd").describe("Where ulogd's plugins (NFCT, IP2STR, JSON) are installed."),
      netlinkBufferBytes: z.number().int().min(64 * 1024).max(1024 ** 3).default(16 * 1024 * 1024)
        .describe("Initial netlink receive buffer for conntrack events; ulogd grows it up to netlinkBufferMaxBytes."),
      netlinkBufferMaxBytes: z.number().int().min(64 * 1024).max(1024 ** 3).default(128 * 1024 * 1024)
        .describe("Largest netlink receive buffer ulogd may grow to."),
    }).prefault({}).describe("The event source: ulogd's NFCT input with reliable delivery (NETLINK_BROADCAST_ERROR), so the kernel re-sends an end-of-connection event that could not be delivered instead of dropping it."),
    export: z.strictObject({
      jsonLines: z.strictObject({
        path: z.string().min(1).describe("File the records are appended to, one JSON object per line."),
        maxBytes: z.number().int().min(1024 * 1024).max(1024 ** 4).default(100 * 1024 * 1024).describe("The file is rotated (FILE.1, FILE.2, …) when it reaches this size."),
        keep: z.number().int().min(1).max(1_000).default(10).describe("Rotated files kept; older ones are deleted."),
      }).optional().describe("JSON lines for a SIEM's file shipper."),
      syslog: z.strictObject({
        host: z.string().min(1).describe("The collector's address or host name."),
        port: z.number().int().min(1).max(65535).default(514),
        transport: z.enum(["udp", "tcp"]).default("udp").describe("udp (RFC 5426) or tcp with octet counting (RFC 6587)."),
        facility: z.number().int().min(0).max(23).default(16).describe("Syslog facility number (16 = local0)."),
        appName: z.string().regex(/^[!-~]{1,48}$/, "must be 1-48 printable ASCII characters without spaces").default("egw"),
      }).optional().describe("RFC 5424 messages to a collector, each with the record as structured data."),
    }).prefault({}).describe("Streams of translation records (each carries cluster and mapping); a record is exported when its connection opens and again when it ends."),
  }).prefault({}).refine((log) => log.ulogd.netlinkBufferMaxBytes >= log.ulogd.netlinkBufferBytes,
    { message: "netlinkBufferMaxBytes must not be smaller than netlinkBufferBytes", path: ["ulogd", "netlinkBufferMaxBytes"] })
    .describe("The translation log: every source-NAT translation, answerable by (egress IP, port, time) with GET /v1/translations and `egw trace`."),
  policy: z.strictObject({
    dns: z.strictObject({
      servers: z.array(z.string().min(1).max(64)).max(8).default([])
        .describe("Resolvers for the DNS names of policy rules: `192.0.2.53`, `192.0.2.53:5353` or `[2001:db8::53]:53`. Empty: the system's (/etc/resolv.conf). Use the resolvers the clusters' own DNS forwards to, so that both see the same answers."),
      minTtlSeconds: z.number().int().min(1).max(86_400).default(30)
        .describe("An address stays allowed at least this long after the answer that gave it, whatever its record's TTL (a floor against TTLs of a few seconds, which would have the gateway re-resolve constantly)."),
      maxTtlSeconds: z.number().int().min(1).max(604_800).default(3_600)
        .describe("…and at most this long without an answer that repeats it."),
      timeoutMs: z.number().int().min(100).max(30_000).default(2_000).describe("One query's time limit."),
    }).prefault({}).refine((dns) => dns.maxTtlSeconds >= dns.minTtlSeconds, { message: "maxTtlSeconds must not be smaller than minTtlSeconds", path: ["maxTtlSeconds"] })
      .describe("How the daemon resolves the DNS names of policy rules (A and AAAA). Names are refreshed at half their TTL; a failure keeps the last good addresses until they expire."),
    log: z.strictObject({
      enabled: z.boolean().default(true)
        .describe("Log each connection a policy or floor refuses (or, in audit mode, would refuse) with its cluster and mapping: in the daemon's log, egw_policy_log_events_total and GET /v1/clusters/{name}/policy-events. Off: refusals are still counted."),
      group: z.number().int().min(1).max(65_535).default(7).describe("The NFLOG group the data plane logs to and ulogd reads (no other program on the gateway may use it)."),
      ratePerSecond: z.number().int().min(1).max(10_000).default(20)
        .describe("Log lines per second for each kind of refusal (floor, policy, audit: each its own limit, shared by every cluster), enforced in the kernel: a flood of refused connections cannot flood the log (the counters still count every one)."),
      burst: z.number().int().min(1).max(100_000).default(50).describe("Lines allowed at once above ratePerSecond."),
      ulogd: z.strictObject({
        command: z.string().min(1).default("ulogd").describe("The ulogd binary (ulogd2), run by the daemon as its child (a second instance beside the translation log's)."),
        pluginDirectory: z.string().min(1).default("/usr/lib/x86_64-linux-gnu/ulogd").describe("Where ulogd's plugins (NFLOG, BASE, IFINDEX, IP2STR, JSON) are installed."),
      }).prefault({}),
      recent: z.strictObject({
        perCluster: z.number().int().min(1).max(10_000).default(200).describe("Refusals kept per cluster for GET /v1/clusters/{name}/policy-events (a noisy cluster evicts only its own)."),
        total: z.number().int().min(1).max(100_000).default(1_000).describe("Refusals kept in all."),
      }).prefault({}).refine((recent) => recent.total >= recent.perCluster, { message: "total must not be smaller than perCluster", path: ["total"] }),
    }).prefault({}),
  }).prefault({}).describe("Egress policy: destination allow-lists per cluster and mapping, and the admin's floors."),
  log: z.strictObject({
    level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info")
      .describe("Lowest level written to the JSON log on stdout."),
  }).prefault({}),
}).superRefine((config, ctx) => {
  // The metrics listeners use the API's TLS: on the network, they serve HTTPS or need the same explicit opt-out.
  if (!config.api.tls && !config.api.allowPlainHttp) {
    config.metrics.listen.forEach((listen, i) => {
      if (listen.startsWith("unix:") || isLoopbackListen(listen)) return;
      ctx.addIssue({ code: "custom", path: ["metrics", "listen", i], message: "a metrics listener on a non-loopback address needs api.tls (its token and every egress IP's traffic would cross the network in clear); set api.allowPlainHttp: true only for a lab" });
    });
  }
  const ha = config.ha;
  if (!ha) return;
  if (ha.peer.name === config.gateway.name) ctx.addIssue({ code: "custom", path: ["ha", "peer", "name"], message: "must be the other gateway's name, not this one's" });
  if (ha.peer.address === ha.syncLink.address) ctx.addIssue({ code: "custom", path: ["ha", "peer", "address"], message: "must be the other gateway's sync-link address, not this one's" });
});

export type Config = z.infer<typeof configSchema>;
