import { loadConfig, tokenWeakness } from "../../config/load.js";
import type { Config } from "../../config/schema.js";
import { errorMessage } from "../../errors.js";
import type { EgwClient } from "../../../client/src/index.js";
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connect, DEFAULT_CONFIG } from "../connection.js";
import { parseCommandArgs, positionals, type CliIo } from "../../terminal/io.js";
import { printJson, table } from "../../terminal/output.js";
import { realHost, type DoctorHost } from "./doctor-host.js";

export const DOCTOR_USAGE = `usage: egw doctor [--config FILE] [--json]
  Checks this host for what the gateway needs: forwarding and rp_filter sysctls, nft, keepalived and
  conntrackd, the conntrack table, the clock, the config file, the token files and the daemon's API.
  Exit status 0 if no check fails (warnings do not fail), 1 if one does, 2 if doctor itself could not run.
  Run it as root where the daemon runs.

${CONNECTION_USAGE}`;

export type CheckStatus = "ok" | "warn" | "fail" | "unknown";
export interface Check { check: string; status: CheckStatus; detail: string }

/** Dotted, as sysctl(8) and the checks' names spell it. */
const sysctl = (host: DoctorHost, key: string) => host.sysctl(key.replaceAll(".", "/"))?.trim();

function configCheck(configPath: string): { check: Check; config?: Config } {
  try {
    const config = loadConfig(configPath);
    const mode = config.ha ? `HA (${config.ha.processes}), priority ${config.ha.priority}` : "single gateway";
    return { check: { check: "config", status: "ok", detail: `${configPath} is valid: gateway ${config.gateway.name}, ${mode}` }, config };
  } catch (error) {
    return { check: { check: "config", status: "fail", detail: errorMessage(error) } };
  }
}

function secretFileCheck(host: DoctorHost, name: string, path: string): Check {
  const s = host.stat(path);
  if (!s) return { check: name, status: "fail", detail: `${path} does not exist or cannot be read` };
  const text = host.readText(path)?.trim() ?? "";
  const mode = (s.mode & 0o777).toString(8).padStart(4, "0");
  if (text.length < 32) return { check: name, status: "fail", detail: `${path} holds ${text.length} characters; at least 32 are needed` };
  const weakness = tokenWeakness(text);
  if (weakness) return { check: name, status: "fail", detail: `${path} is too easy to guess: it ${weakness}` };
  if ((s.mode & 0o077) !== 0) return { check: name, status: "warn", detail: `${path} is mode ${mode}: readable by group or others; chmod 600 ${path}` };
  // The daemon runs as egw (templates/systemd/egw.service) and reads its secrets as their owner; root reads anything.
  const egw = egwUid(host);
  if (s.uid !== 0 && s.uid !== egw) return { check: name, status: "warn", detail: `${path} is mode ${mode} but owned by uid ${s.uid}, not egw or root` };
  return { check: name, status: "ok", detail: `${path}: mode ${mode}, owner ${s.uid === 0 ? "root" : "egw"}` };
}

/** The egw system user's uid, from /etc/passwd (undefined where there is none: a lab or a development machine). */
function egwUid(host: DoctorHost): number | undefined {
  const line = (host.readText("/etc/passwd") ?? "").split("\n").find((entry) => entry.startsWith("egw:"));
  const uid = Number(line?.split(":")[2]);
  return line && Number.isInteger(uid) ? uid : undefined;
}

function forwardingCheck(host: DoctorHost, key: string, config: Config | undefined): Check {
  const value = sysctl(host, key);
  if (value === undefined) return { check: key, status: "unknown", detail: "cannot read it" };
  if (value === "1") return { check: key, status: "ok", detail: "1" };
  const managed = config?.dataplane.manageSysctls ?? true;
  return managed
    ? { check: key, status: "warn", detail: `${value}: egw sets it to 1 after its first successful apply; is the daemon running and applying?` }
    : { check: key, status: "fail", detail: `${value}: forwarding is off and dataplane.manageSysctls is false; set ${key}=1 in /etc/sysctl.d` };
}

function rpFilterCheck(host: DoctorHost, role: string, iface: string): Check {
  const name = `rp_filter ${role} (${iface})`;
  const own = sysctl(host, `net.ipv4.conf.${iface}.rp_filter`);
  if (own === undefined) return { check: name, status: "fail", detail: `interface ${iface} does not exist` };
  const all = sysctl(host, "net.ipv4.conf.all.rp_filter") ?? "0";
  // The kernel uses the larger of conf.all and conf.IFACE.
  const effective = Math.max(Number(all), Number(own));
  const detail = `${effective} (all=${all}, ${iface}=${own})`;
  if (role === "outside" && effective !== 0 && sysctl(host, `net.ipv4.conf.${iface}.src_valid_mark`) !== "1") {
    return {
      check: name, status: "warn",
      detail: `${detail} without src_valid_mark: the kernel's reverse-path check of replies to pods hits the fail-closed rule and ` +
        `drops them; egw sets net.ipv4.conf.${iface}.src_valid_mark=1 on each apply when dataplane.manageSysctls is on`,
    };
  }
  if (effective === 1) {
    return {
      check: name, status: "warn",
      detail: `${detail}: strict reverse-path filtering drops packets that arrive on an interface other than the route back to their source ` +
        "(asymmetric paths, pods routed through another node, traffic after a failover); 2 (loose) or 0 is safer on a gateway",
    };
  }
  return { check: name, status: "ok", detail: `${detail}${effective === 2 ? " (loose)" : ""}` };
}

async function toolCheck(host: DoctorHost, tool: string, args: string[], needed: boolean): Promise<Check> {
  const result = await host.run(tool, args);
  if (!result) {
    return needed
      ? { check: tool, status: "fail", detail: "not installed (apt-get install " + (tool === "nft" ? "nftables" : tool) + ")" }
      : { check: tool, status: "ok", detail: "not installed (only needed with an ha section)" };
  }
  const text = `${result.stdout}\n${result.stderr}`;
  const version = /v?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
  return version ? { check: tool, status: "ok", detail: `version ${version}` } : { check: tool, status: "warn", detail: `installed, version unknown: ${text.trim().split("\n")[0] ?? ""}` };
}

function conntrackCheck(host: DoctorHost): Check {
  const max = sysctl(host, "net.netfilter.nf_conntrack_max");
  const count = sysctl(host, "net.netfilter.nf_conntrack_count");
  if (max === undefined || count === undefined) {
    return { check: "conntrack table", status: "unknown", detail: "nf_conntrack is not loaded yet (it loads with the first NAT rule)" };
  }
  const used = Number(count) / Math.max(1, Number(max));
  const detail = `${count} of ${max} entries (${(used * 100).toFixed(1)}%)`;
  if (used >= 0.9) return { check: "conntrack table", status: "fail", detail: `${detail}: nearly full, new connections will be dropped; raise net.netfilter.nf_conntrack_max` };
  if (used >= 0.75) return { check: "conntrack table", status: "warn", detail: `${detail}: filling up; consider raising net.netfilter.nf_conntrack_max` };
  return { check: "conntrack table", status: "ok", detail };
}

async function clockCheck(host: DoctorHost): Promise<Check> {
  const result = await host.run("timedatectl", ["show", "-p", "NTPSynchronized", "--value"]);
  if (!result || result.exitCode !== 0) return { check: "clock", status: "unknown", detail: "timedatectl is not available (no systemd?): cannot tell whether the clock is synchronised" };
  const value = result.stdout.trim();
  if (value === "yes") return { check: "clock", status: "ok", detail: "synchronised (NTP)" };
  return { check: "clock", status: "warn", detail: "not synchronised: log, audit and token timestamps will drift; enable systemd-timesyncd or chrony" };
}

/** /readyz, asked without the path's types: the operational endpoints are not in every release's document. */
type ReadinessProbe = { GET(path: "/readyz"): Promise<{ response: Response }> };

async function apiCheck(api: EgwClient | undefined): Promise<Check> {
  if (!api) return { check: "api", status: "unknown", detail: "no connection settings" };
  try {
    const { response } = await (api as unknown as ReadinessProbe).GET("/readyz");
    if (response.status === 200) return { check: "api", status: "ok", detail: "the daemon answers and is ready" };
    return { check: "api", status: "warn", detail: `the daemon answers but is not ready (${response.status}): see egw status` };
  } catch (error) {
    return { check: "api", status: "fail", detail: errorMessage(error) };
  }
}

export async function runDoctor(host: DoctorHost, configPath: string, api: EgwClient | undefined): Promise<Check[]> {
  const { check, config } = configCheck(configPath);
  const checks: Check[] = [check];
  if (config) {
    if (config.api.adminTokenFile !== undefined) checks.push(secretFileCheck(host, "admin token file", config.api.adminTokenFile));
    for (const entry of config.api.adminTokens) checks.push(secretFileCheck(host, `admin token file (${entry.name})`, entry.file));
    if (config.ha) checks.push(secretFileCheck(host, "peer TLS private key", config.ha.tls.key));
  }
  checks.push(forwardingCheck(host, "net.ipv4.ip_forward", config));
  checks.push(forwardingCheck(host, "net.ipv6.conf.all.forwarding", config));
  if (config) {
    checks.push(rpFilterCheck(host, "inside", config.network.inside.interface));
    checks.push(rpFilterCheck(host, "outside", config.network.outside.interface));
  } else {
    checks.push({ check: "rp_filter", status: "unknown", detail: "the interfaces come from the config, which is not valid" });
  }
  const ha = config?.ha !== undefined;
  checks.push(await toolCheck(host, "nft", ["--version"], true));
  checks.push(await toolCheck(host, "keepalived", ["--version"], ha));
  checks.push(await toolCheck(host, "conntrackd", ["-v"], ha));
  checks.push(conntrackCheck(host));
  if (ha) {
    const liberal = sysctl(host, "net.netfilter.nf_conntrack_tcp_be_liberal");
    checks.push(liberal === "1"
      ? { check: "nf_conntrack_tcp_be_liberal", status: "ok", detail: "1 (taken-over connections are not marked invalid)" }
      : { check: "nf_conntrack_tcp_be_liberal", status: "warn", detail: `${liberal ?? "unknown"}: egw sets it to 1 in HA mode once it applies; without it connections may break on failover` });
  }
  checks.push(await clockCheck(host));
  checks.push(await apiCheck(api));
  return checks;
}

export function formatChecks(checks: Check[]): string {
  const mark: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", fail: "FAIL", unknown: "?" };
  const failed = checks.filter((c) => c.status === "fail").length;
  const warned = checks.filter((c) => c.status === "warn").length;
  return `${table(["CHECK", "STATUS", "DETAIL"], checks.map((c) => [c.check, mark[c.status], c.detail]))}\n` +
    `${failed} failed, ${warned} warning(s), ${checks.length - failed - warned} ok or unknown\n`;
}

export async function doctorCommand(args: string[], io: CliIo, host: DoctorHost = realHost): Promise<number> {
  const { values, positionals: rest } = parseCommandArgs(args, CONNECTION_OPTIONS, DOCTOR_USAGE);
  positionals(rest, [], DOCTOR_USAGE);
  const configPath = values.config ?? DEFAULT_CONFIG;
  let api: EgwClient | undefined;
  try {
    api = connect(values, io.env);
  } catch {
    api = undefined;
  }
  const checks = await runDoctor(host, configPath, api);
  const ok = checks.every((c) => c.status !== "fail");
  if (values.json) printJson(io, { ok, checks });
  else io.stdout(formatChecks(checks));
  return ok ? 0 : 1;
}
