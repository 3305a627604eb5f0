import { createHash } from "node:crypto";
import { changeSequence } from "../store/changelog.js";
import type { Db } from "../store/database.js";
import { orderedRowValues } from "../store/replica-rows.js";
import { REPLICATED_TABLES } from "../store/replicated-tables.js";
import { currentRevision } from "../store/revision.js";

/**
 * Tables whose content the digest covers: every replicated configuration table. Not the audit log: each
 * gateway prunes its own audit log on its own schedule, so two gateways that agree on every configuration
 * row may legitimately hold different audit histories.
 */
export const DIGESTED_TABLES = REPLICATED_TABLES.filter((spec) => spec.name !== "audit_log");

/**
 * SHA-256 over every row of the digested tables in primary-key order, each row as the JSON array of its
 * columns in the spec's order (BLOBs as hex, exactly as the changelog carries them). Two gateways at the
 * same revision must produce the same digest; anything else means one store was changed behind
 * replication's back.
 */
export function computeDigest(db: Db): string {
  return db.transaction(() => {
    const hash = createHash("sha256");
    for (const spec of DIGESTED_TABLES) {
      // An empty table of a later release is left out, as its snapshot is: a peer of the release before agrees.
      let named = spec.addedIn === undefined;
      if (named) hash.update(`${spec.name}\n`);
      for (const row of orderedRowValues(db, spec)) {
        if (!named) hash.update(`${spec.name}\n`);
        named = true;
        hash.update(`${JSON.stringify(row)}\n`);
      }
    }
    return hash.digest("hex");
  })();
}

/**
 * Computes the digest at most once per revision. The key also holds the changelog's sequence number: an
 * edit made directly in SQLite does not bump the revision, but the changelog triggers still record it, and
 * that edit must not hide behind a digest cached before it.
 */
export class DigestCache {
  private key: string | undefined;
  private value = "";

  constructor(private readonly compute: (db: Db) => string = computeDigest) {}

  of(db: Db): { revision: number; digest: string } {
    const { key, revision } = keyOf(db);
    if (key !== this.key) {
      this.value = this.compute(db);
      this.key = key;
    }
    return { revision, digest: this.value };
  }

  /** The digest of the store as it is now, if already computed; never computes. */
  peek(db: Db): string | undefined {
    return keyOf(db).key === this.key ? this.value : undefined;
  }
}

function keyOf(db: Db): { key: string; revision: number } {
  const revision = currentRevision(db);
  return { key: `${revision}/${changeSequence(db)}`, revision };
}
