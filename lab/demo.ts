import { cleanupAll } from "./netns.js";
import { startDaemon, type DaemonHandle } from "./daemon.js";
import { buildGatewayTopology, type GatewayTopology, type PodName } from "./topology.js";
import { startWhoamiServer, whoami } from "./whoami-client.js";

/**
 * The single-gateway story, end to end, on one machine: namespaces for a gateway, a node with three pods
 * and an external server; the real daemon; every API call printed; what the server saw, checked.
 */
const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const step = (text: string) => console.log(`\n${bold(`== ${text}`)}`);

interface Check { what: string; expected: string; observed: string; ok: boolean }

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error("the demo builds network namespaces and must run as root");
    return 1;
  }
  const checks: Check[] = [];
  let topo: GatewayTopology | undefined;
  let daemon: DaemonHandle | undefined;
  try {
    step("Building the lab: gateway, node with pods a/b/c, external server (network namespaces, nothing on the host)");
    topo = await buildGatewayTopology();
    await startWhoamiServer(topo.server);
    daemon = await startDaemon(topo.gateway);
    console.log(`namespaces: ${topo.namespaces.map((ns) => ns.name).join(", ")}`);
    console.log(`daemon API: unix:${daemon.socket}`);

    const call = async (method: string, path: string, body?: unknown, token?: string) => {
      const response = await (daemon as DaemonHandle).api(method, path, body, token);
      console.log(`${method} ${path}${body === undefined ? "" : ` ${JSON.stringify(body)}`}\n  → ${response.status} ${JSON.stringify(response.body)}`);
      if (response.status >= 300) throw new Error(`${method} ${path} failed with ${response.status}`);
      return response.body;
    };

    step("Network team: egress IPs and a cluster with its source ranges (admin token)");
    for (const address of ["203.0.113.10", "203.0.113.11", "2001:db8::10", "2001:db8::11"]) await call("POST", "/v1/egress-ips", { address });
    await call("POST", "/v1/clusters", {
      name: "prod-eu1", sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"],
      egressIps: ["203.0.113.10", "203.0.113.11", "2001:db8::10", "2001:db8::11"],
    });
    const issued = (await call("POST", "/v1/clusters/prod-eu1/tokens", { description: "demo automation" })) as { token: string };

    step("Cluster automation: mappings for two applications and routes back to the node (cluster token)");
    await call("PUT", "/v1/clusters/prod-eu1/mappings?wait=true", {
      mappings: [
        { name: "erp", sourceCidr: "10.244.1.0/26", egressIp: "203.0.113.10", labels: { namespace: "erp" } },
        { name: "billing", sourceCidr: "10.244.1.64/26", egressIp: "203.0.113.11", labels: { namespace: "billing" } },
        { name: "erp-v6", sourceCidr: "fd00:10:244:1::/64", egressIp: "2001:db8::10" },
        { name: "billing-v6", sourceCidr: "fd00:10:244:2::/64", egressIp: "2001:db8::11" },
      ],
    }, issued.token);
    await call("PUT", "/v1/clusters/prod-eu1/routes?wait=true", {
      routes: [{ prefix: "10.244.0.0/16", via: "172.31.0.11" }, { prefix: "fd00:10:244::/48", via: "fd00:172:31::11" }],
    }, issued.token);

    step("Each pod connects to the external server, which reports the source address it saw");
    const expectations: [PodName, 4 | 6, string][] = [
      ["a", 4, "203.0.113.10"], ["b", 4, "203.0.113.11"], ["a", 6, "2001:db8::10"], ["b", 6, "2001:db8::11"],
      ["c", 4, "dropped (no mapping)"],
    ];
    for (const [pod, family, expected] of expectations) {
      const t = topo;
      const result = await whoami(t.pods[pod], family === 4 ? t.addr.server.v4 : t.addr.server.v6, 8080, pod === "c" ? 1_500 : 3_000);
      const observed = result.ok ? result.seenAs : "dropped (no mapping)";
      const podAddress = family === 4 ? t.addr.pods[pod].v4 : t.addr.pods[pod].v6;
      checks.push({ what: `pod ${pod} (${podAddress})`, expected, observed, ok: observed === expected });
      console.log(`pod ${pod} ${podAddress.padEnd(18)} → server saw ${observed.padEnd(22)} ${observed === expected ? "ok" : `EXPECTED ${expected}`}`);
    }

    step("The data plane the daemon built (nft list table inet egress_gateway)");
    console.log((await topo.gateway.exec("nft", ["list", "table", "inet", "egress_gateway"])).stdout);
  } catch (error) {
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    if (daemon) console.error(`--- daemon log (tail) ---\n${daemon.log().slice(-3000)}`);
    checks.push({ what: "demo ran to the end", expected: "yes", observed: "no", ok: false });
  } finally {
    step("Tearing the lab down");
    await daemon?.stop().catch(() => undefined);
    daemon?.cleanup();
    await topo?.destroy();
    await cleanupAll();
  }
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  step(ok ? "Every check held" : "Some checks failed");
  return ok ? 0 : 1;
}

process.exitCode = await main();
