import type { z } from "@hono/zod-openapi";
import type { systemStatus } from "../api/schemas/resources.js";
import type { HaMode } from "./ha/ha-mode.js";
import type { ApplyReport } from "./reconcile/reconciler.js";
import type { TranslationLog } from "./translations/translation-log.js";
import { egwVersion } from "./version.js";
import type { NameStatus } from "./policy/name-cache.js";

export type SystemStatus = z.infer<typeof systemStatus>;

export interface StatusSources {
  gateway: string;
  revision(): number;
  appliedRevision(): number;
  lastApply(): ApplyReport | undefined;
  /** Whether the data plane was ever applied since start (before that nothing is in sync). */
  applied(): boolean;
  ha: HaMode | undefined;
  /** Warnings gathered at start (configuration, sysctls). */
  warnings(): string[];
  /** Why the store cannot take writes now (a full disk), if it cannot. */
  storageProblem(): string | undefined;
  translationLog?: TranslationLog;
  /** The policy DNS names as this gateway resolves them: a failing one is a warning. */
  policyNames?: () => NameStatus[];
}

/** /v1/status: this gateway's role, revisions, last apply, its peers and everything an operator should know. */
export function statusView(sources: StatusSources): () => SystemStatus {
  return () => {
    const revision = sources.revision();
    const ha = sources.ha;
    return {
      gateway: sources.gateway,
      role: ha ? ha.roles.role : "standalone",
      version: egwVersion(),
      ...(ha ? { replicationProtocol: ha.protocol } : {}),
      revision,
      appliedRevision: sources.appliedRevision(),
      inSync: sources.applied() && sources.appliedRevision() === revision,
      lastApply: sources.lastApply() ?? null,
      peers: ha?.peersForStatus(revision) ?? [],
      ...translationLogView(sources.translationLog),
      warnings: [
        ...sources.warnings(), ...(ha?.warnings() ?? []), ...(sources.translationLog?.warnings() ?? []),
        ...[sources.storageProblem()].filter((p): p is string => p !== undefined).map((p) => `storage: ${p}`),
        ...failingNames(sources.policyNames?.() ?? []),
      ],
    };
  };
}

function translationLogView(log: TranslationLog | undefined): Pick<SystemStatus, "translationLog"> {
  const status = log?.status();
  if (!status) return {};
  const { lastEventMs, exports, ...rest } = status;
  return { translationLog: { ...rest, lastEventAt: lastEventMs === null ? null : new Date(lastEventMs).toISOString(), exports: Object.fromEntries(Object.entries(exports).filter(([, counters]) => counters !== undefined)) } };
}

/** A policy name whose lookups fail keeps its last good addresses until they expire: an operator should know before. */
function failingNames(names: NameStatus[]): string[] {
  return names.filter((n) => n.state === "failing").map((n) => {
    const until = n.addresses.length === 0 ? "it allows nothing" : `its last addresses stay allowed until ${new Date(Math.max(...n.addresses.map((a) => a.expiresAt))).toISOString()}`;
    return `policy DNS name ${n.name}: ${n.consecutiveFailures} failed lookup(s), last: ${n.lastError ?? "unknown"}; ${until}`;
  });
}
