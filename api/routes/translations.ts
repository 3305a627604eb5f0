import { createRoute, OpenAPIHono, type z } from "@hono/zod-openapi";
import { AppError, errorMessage } from "../../appliance/errors.js";
import { requireCluster } from "../../appliance/service/clusters.js";
import type { LogGap, PageCursor, TranslationPage, TranslationRecord } from "../../appliance/translation-model.js";
import { decodeCursor, encodeCursor, mergeGatewayPages, type GatewayAnswer, type GatewayCursors } from "../../appliance/translations/federated-page.js";
import { parseTranslationQuery } from "../../appliance/translations/query-input.js";
import type { ApiEnv } from "../context.js";
import { jsonResponse, problemResponses } from "../schemas/common.js";
import { LIST_HEADERS, readRequestHeaders } from "../schemas/headers.js";
import { translationAnswer, translationQuery, type translationGap, type translationRecord } from "../schemas/translations.js";

type ApiRecord = z.infer<typeof translationRecord>;
type ApiGap = z.infer<typeof translationGap>;

const iso = (ms: number) => new Date(ms).toISOString();

/** How long one question waits for the peer's part of the answer before naming it unanswered. */
const PEER_LOOKUP_TIMEOUT_MS = 5_000;

export function toApiRecord(record: TranslationRecord): ApiRecord {
  return {
    gateway: record.gateway, id: record.id, cluster: record.cluster, mapping: record.mapping, protocol: record.protocol, family: record.family,
    pod: { address: record.podAddress, port: record.podPort },
    destination: { address: record.destinationAddress, port: record.destinationPort },
    egress: { address: record.egressAddress, port: record.egressPort },
    start: iso(record.startMs), end: record.endMs === null ? null : iso(record.endMs), endReason: record.endReason, counters: record.counters,
  };
}

function fromApiRecord(record: ApiRecord): TranslationRecord {
  return {
    gateway: record.gateway, id: record.id, cluster: record.cluster, mapping: record.mapping, protocol: record.protocol as TranslationRecord["protocol"],
    family: record.family, podAddress: record.pod.address, podPort: record.pod.port,
    destinationAddress: record.destination.address, destinationPort: record.destination.port,
    egressAddress: record.egress.address, egressPort: record.egress.port,
    startMs: Date.parse(record.start), endMs: record.end === null ? null : Date.parse(record.end), endReason: record.endReason, counters: record.counters,
  };
}

const toApiGap = (gap: LogGap): ApiGap => ({ gateway: gap.gateway, from: iso(gap.fromMs), to: gap.toMs === null ? null : iso(gap.toMs), reason: gap.reason });
const fromApiGap = (gap: ApiGap): LogGap => ({ gateway: gap.gateway, fromMs: Date.parse(gap.from), toMs: gap.to === null ? null : Date.parse(gap.to), reason: gap.reason });

/** The peer's own cursor inside the cursor it returned for its local page. */
function peerCursor(page: { nextCursor?: string }, gateway: string): PageCursor | undefined {
  if (page.nextCursor === undefined) return undefined;
  const next = decodeCursor(page.nextCursor).get(gateway);
  return next === "start" ? undefined : next;
}

export const translationRoutes = new OpenAPIHono<ApiEnv>()
  .openapi(createRoute({
    method: "get", path: "/", tags: ["Translations"], security: [{ bearer: [] }], operationId: "lookupTranslations",
    summary: "Reverse lookup: which pod held an egress IP and port at a moment (or connections by pod, destination, time range)",
    description: "Answers from the translation log of this gateway and, in an HA pair, of its peer (connections move with a failover). " +
      "An admin token may ask about any translation; a cluster token only about its own cluster's, and about egress IPs its cluster may use (403 otherwise). " +
      "Give at (an instant) or from and to (a range of at most 24 hours), and at least one of egressIp, podIp, destinationIp. Newest first; page with nextCursor (also in the `Link: <…>; rel=\"next\"` header).",
    request: { query: translationQuery, headers: readRequestHeaders },
    responses: { 200: jsonResponse(translationAnswer, "Matching translations, the log gaps that overlap the question, and gateways that could not be asked", LIST_HEADERS), ...problemResponses(401, 403, 404, 422, 429, 503) },
  }), async (c) => {
    const deps = c.get("deps");
    const principal = c.get("principal");
    const raw = c.req.valid("query");
    const query = parseTranslationQuery(raw);
    let clusters: string[] | undefined;
    if (principal.kind === "cluster") {
      const cluster = requireCluster(deps.store.db, principal.cluster);
      if (query.egressAddress !== undefined && !cluster.egressIps.includes(query.egressAddress)) {
        throw new AppError("forbidden", `egress IP ${query.egressAddress} is not one cluster ${principal.cluster} may use`);
      }
      clusters = [principal.cluster];
    }
    const log = deps.translations;
    if (!log) throw new AppError("translation-log-off", "this gateway keeps no translation log (translationLog.enabled is false in its configuration)");

    const asked: GatewayCursors | undefined = raw.cursor === undefined ? undefined : decodeCursor(raw.cursor);
    const peers = raw.scope === "pair" ? (deps.ha?.peers() ?? []) : [];
    // On a later page only the gateways the cursor names still have records; a first page asks everyone.
    const wanted = (gateway: string) => asked === undefined || asked.has(gateway);
    const cursorOf = (gateway: string) => {
      const cursor = asked?.get(gateway);
      return cursor === "start" ? undefined : cursor;
    };

    const answers: GatewayAnswer[] = [];
    const unanswered: { gateway: string; reason: string }[] = [];
    if (wanted(log.gateway)) {
      const cursor = cursorOf(log.gateway);
      answers.push({ gateway: log.gateway, page: await log.query({ ...query, ...(clusters ? { clusters } : {}), ...(cursor === undefined ? {} : { cursor }) }) });
    }
    await Promise.all(peers.filter((peer) => wanted(peer.name)).map(async (peer) => {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(raw)) if (value !== undefined && key !== "cursor" && key !== "scope") params.set(key, String(value));
      params.set("scope", "local");
      const cursor = cursorOf(peer.name);
      if (cursor !== undefined) params.set("cursor", encodeCursor(new Map([[peer.name, cursor]])));
      try {
        // As the same principal: the peer checks the token's rights itself, exactly as for a forwarded write.
        // Bounded: a peer that is down must not hold the answer of the one that is up (its lookup budget is 3 s).
        const response = await peer.forward("GET", `/v1/translations?${params}`, new Headers({ accept: "application/json" }), undefined, principal, PEER_LOOKUP_TIMEOUT_MS);
        const body = await response.json() as z.infer<typeof translationAnswer> & { detail?: string };
        if (response.status !== 200) throw new Error(`answered ${response.status}: ${body.detail ?? "no detail"}`);
        const next = peerCursor(body, peer.name);
        const page: TranslationPage = { records: body.translations.map(fromApiRecord), gaps: body.gaps.map(fromApiGap), ...(next === undefined ? {} : { nextCursor: next }) };
        answers.push({ gateway: peer.name, page });
      } catch (error) {
        unanswered.push({ gateway: peer.name, reason: errorMessage(error) });
      }
    }));

    const merged = mergeGatewayPages(answers, asked ?? new Map(), query.limit, unanswered.map((u) => u.gateway));
    if (merged.nextCursor !== undefined) {
      const url = new URL(c.req.url);
      url.searchParams.set("cursor", merged.nextCursor);
      c.header("Link", `<${url.pathname}${url.search}>; rel="next"`);
    }
    return c.json({
      translations: merged.records.map(toApiRecord),
      gaps: merged.gaps.map(toApiGap),
      unanswered,
      ...(merged.nextCursor === undefined ? {} : { nextCursor: merged.nextCursor }),
    }, 200);
  });
