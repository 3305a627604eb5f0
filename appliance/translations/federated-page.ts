import { invalidField } from "../errors.js";
import type { LogGap, PageCursor, TranslationPage, TranslationRecord } from "../translation-model.js";

/**
 * One reverse lookup answered by every gateway of a pair: connections move with a failover, so the record of a
 * connection may be on either gateway, or on both. Each gateway pages through its own log in the merged page's
 * order (newest start first, then highest id); the merged page takes the newest records of all and remembers, per
 * gateway, the (start, id) of the last one it took. Ids alone would not do: they are not in start order.
 */

/** Where each gateway's next page starts: after its own cursor, or "from the newest" (absent from a cursor = done). */
export type GatewayCursors = Map<string, PageCursor | "start">;

/** 2: per gateway [startMs, id] (1 was an id alone). */
const CURSOR_VERSION = 2;

export function encodeCursor(cursors: GatewayCursors): string {
  const g = Object.fromEntries([...cursors].map(([gateway, cursor]) => [gateway, cursor === "start" ? cursor : [cursor.startMs, cursor.id]]));
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, g }), "utf8").toString("base64url");
}

/** A cursor from a client: it must be one this gateway made (a tampered one is refused, never trusted). */
export function decodeCursor(text: string): GatewayCursors {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw invalidField("cursor", "is not a cursor this API returned");
  }
  const body = parsed as { v?: unknown; g?: unknown };
  if (typeof parsed !== "object" || parsed === null || body.v !== CURSOR_VERSION || typeof body.g !== "object" || body.g === null) {
    throw invalidField("cursor", "is not a cursor this API returned");
  }
  const cursors: GatewayCursors = new Map();
  for (const [gateway, value] of Object.entries(body.g as Record<string, unknown>)) {
    if (value === "start") {
      cursors.set(gateway, value);
      continue;
    }
    const [startMs, id, ...rest] = Array.isArray(value) ? value as unknown[] : [];
    if (!Number.isSafeInteger(startMs) || !Number.isSafeInteger(id) || (id as number) <= 0 || rest.length > 0) {
      throw invalidField("cursor", "is not a cursor this API returned");
    }
    cursors.set(gateway, { startMs: startMs as number, id: id as number });
  }
  return cursors;
}

export interface GatewayAnswer {
  gateway: string;
  page: TranslationPage;
}

export interface FederatedPage {
  records: TranslationRecord[];
  gaps: LogGap[];
  nextCursor?: string;
}

/**
 * Newest start first across gateways; ties broken by gateway, then highest id: within one gateway exactly its own
 * page order, so the records taken from each gateway are always the first of its page.
 */
function newestFirst(a: TranslationRecord, b: TranslationRecord): number {
  return b.startMs - a.startMs || a.gateway.localeCompare(b.gateway) || b.id - a.id;
}

/**
 * Merges each gateway's page (each asked for `limit` records from its cursor) into one page of at most `limit`.
 * A gateway whose records were all taken continues at its own next cursor (or is done); one whose records were
 * only partly taken continues after the last one taken; one whose records were not taken, or that did not answer,
 * starts again where it did.
 */
export function mergeGatewayPages(answers: readonly GatewayAnswer[], asked: GatewayCursors, limit: number, unanswered: readonly string[] = []): FederatedPage {
  const all = answers.flatMap((answer) => answer.page.records.map((record) => ({ ...record, gateway: answer.gateway })));
  const records = all.sort(newestFirst).slice(0, limit);
  const next: GatewayCursors = new Map();
  for (const answer of answers) {
    const taken = records.filter((record) => record.gateway === answer.gateway);
    const returned = answer.page.records.length;
    const last = taken.at(-1);
    if (taken.length === returned) {
      if (answer.page.nextCursor !== undefined) next.set(answer.gateway, answer.page.nextCursor);
    } else if (last) {
      next.set(answer.gateway, { startMs: last.startMs, id: last.id });
    } else {
      next.set(answer.gateway, asked.get(answer.gateway) ?? "start");
    }
  }
  // A gateway that did not answer this time is asked again from the same place on the next page.
  for (const gateway of unanswered) next.set(gateway, asked.get(gateway) ?? "start");
  return {
    records,
    gaps: answers.flatMap((answer) => answer.page.gaps),
    ...(next.size > 0 ? { nextCursor: encodeCursor(next) } : {}),
  };
}
