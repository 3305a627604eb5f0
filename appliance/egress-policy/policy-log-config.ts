import { renderTemplate } from "../system/templates.js";
import type { RecentDenialsLimits } from "../policy/recent-denials.js";

/** The policy log's settings: `policy.log` in the config file (the ulogd part mirrors translationLog.ulogd). */
export interface PolicyLogSettings {
  enabled: boolean;
  /** The NFLOG group the data plane's log statements send to; the same number the ruleset is rendered with. */
  group: number;
  ulogd: {
    /** The ulogd binary (ulogd2), run as the daemon's child. */
    command: string;
    /** Where ulogd's plugins (NFLOG, BASE, IFINDEX, IP2STR, JSON) are installed. */
    pluginDirectory: string;
  };
  /** How many recent events the API can show. */
  recent: RecentDenialsLimits;
}

export interface PolicyUlogdView {
  generatedFor: string;
  pluginDirectory: string;
  group: number;
  queueThreshold: number;
  fifoPath: string;
  sync: 0 | 1;
}

/**
 * The values of the policy log's ulogd config. The events go into a FIFO the daemon reads, never into a file:
 * the log is best effort (the kernel's rate limit already drops some) and its buffer lives in memory, so a spool
 * would only add a file to rotate. (Not ulogd's standard output: the daemon's end of a child's stdio is a
 * socket, which ulogd cannot open by path.) sync=1 flushes each line into the FIFO at once.
 * netlink_qthreshold=1: the kernel would otherwise hold packets for up to a second to batch them; the nft limit
 * bounds the rate anyway. ulogd's own log goes to its standard output, which the supervisor forwards.
 */
export function policyUlogdView(settings: PolicyLogSettings, paths: { fifoPath: string; generatedFor: string }): PolicyUlogdView {
  return {
    generatedFor: paths.generatedFor,
    pluginDirectory: settings.ulogd.pluginDirectory.replace(/\/+$/, ""),
    group: settings.group,
    queueThreshold: 1,
    fifoPath: paths.fifoPath,
    sync: 1,
  };
}

export function renderPolicyUlogdConfig(settings: PolicyLogSettings, paths: { fifoPath: string; generatedFor: string }): string {
  return renderTemplate("ulogd-policy.conf.hbs", policyUlogdView(settings, paths));
}
