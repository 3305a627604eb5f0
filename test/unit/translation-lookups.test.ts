import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppError } from "../../appliance/errors.js";
import { openTranslationLogStore } from "../../appliance/store/translation-log.js";
import { TranslationLookups, type TranslationLookupsOptions } from "../../appliance/store/translation-log/lookups.js";
import type { AttributedEvent } from "../../appliance/translation-model.js";

let root: string;
let counter = 0;
before(() => {
  root = mkdtempSync(join(tmpdir(), "egw-translation-lookups-test-"));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
});

function connection(i: number, cluster = "prod"): AttributedEvent {
  return {
    kind: "destroy", conntrackId: i, protocol: "tcp", protocolNumber: 6, family: 4,
    podAddress: "10.244.1.5", podPort: 40000 + i, destinationAddress: "93.184.216.34", destinationPort: 443,
    egressAddress: "203.0.113.10", egressPort: 50000 + (i % 7), startMs: 1_000 + ((i * 7919) % 100) * 1_000, endMs: 200_000, cluster, mapping: `web-${cluster}`,
  };
}

/** A store with `records` closed records, and lookups on its file; both closed by the test's cleanup. */
async function withLookups(records: number, options: Partial<TranslationLookupsOptions>, body: (lookups: TranslationLookups, store: ReturnType<typeof openTranslationLogStore>) => Promise<void>) {
  const path = join(root, `log-${counter++}.db`);
  const store = openTranslationLogStore(path, { gateway: "gw-1", bootId: "boot-a" });
  const lookups = new TranslationLookups(path, { gateway: "gw-1", ...options });
  try {
    store.commit(Array.from({ length: records }, (_, i) => connection(i + 1)), { file: "spool", offset: 1 });
    await body(lookups, store);
  } finally {
    await lookups.close();
    store.close();
  }
}

const isProblem = (code: string) => (error: unknown) => error instanceof AppError && error.code === code;
const wide = { egressAddress: "203.0.113.10", fromMs: 0, toMs: 1_000_000, limit: 10 };

describe("translation log lookups (worker thread)", () => {
  it("answer exactly what the store answers, page after page", async () => {
    await withLookups(60, {}, async (lookups, store) => {
      let cursor: { startMs: number; id: number } | undefined;
      let pages = 0;
      do {
        const query = { ...wide, ...(cursor ? { cursor } : {}) };
        const page = await lookups.query(query);
        assert.deepEqual(page, store.query(query));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== undefined);
      assert.equal(pages, 6);
    });
  });

  it("see clusters and mappings interned by the writer after the worker opened the file", async () => {
    await withLookups(5, {}, async (lookups, store) => {
      assert.equal((await lookups.query({ ...wide, clusters: ["late"] })).records.length, 0);
      store.commit([connection(100, "late")], { file: "spool", offset: 2 });
      const page = await lookups.query({ ...wide, clusters: ["late"] });
      assert.deepEqual(page.records.map((r) => [r.cluster, r.mapping]), [["late", "web-late"]]);
    });
  });

  it("carry the store's validation errors across the thread", async () => {
    await withLookups(1, {}, async (lookups) => {
      await assert.rejects(lookups.query({ ...wide, fromMs: 5, toMs: 4 }),
        (error: unknown) => error instanceof AppError && error.code === "validation-failed" && error.fields[0]?.field === "fromMs");
    });
  });

  it("stop a lookup past its budget with lookup-too-costly (503), and answer the next from a fresh worker", async () => {
    // The first worker spins for a minute before each lookup, as a lookup sorting millions of rows would.
    await withLookups(20, { budgetMs: 300, delayForTestsMs: (generation) => (generation === 0 ? 60_000 : 0) }, async (lookups) => {
      const started = performance.now();
      await assert.rejects(lookups.query(wide), (error: unknown) => isProblem("lookup-too-costly")(error) && (error as AppError).status === 503
        && /narrow the question/.test((error as AppError).message));
      assert.ok(performance.now() - started < 30_000, "answered at the budget, not when the lookup would have ended");
      assert.equal((await lookups.query(wide)).records.length, 10);
    });
  });

  it("refuse lookups beyond the one running and the queue with rate-limited (429, Retry-After), and answer the others", async () => {
    await withLookups(20, { queueLimit: 2, delayForTestsMs: () => 200 }, async (lookups) => {
      const accepted = [lookups.query(wide), lookups.query(wide), lookups.query(wide)];
      await assert.rejects(lookups.query(wide), (error: unknown) => isProblem("rate-limited")(error) && (error as AppError).status === 429
        && (error as AppError).headers["Retry-After"] === "3");
      const pages = await Promise.all(accepted);
      assert.deepEqual(pages.map((page) => page.records.length), [10, 10, 10]);
      assert.equal((await lookups.query(wide)).records.length, 10, "the queue drained");
    });
  });

  it("answer lookups waiting or running at close with not-ready", async () => {
    await withLookups(1, { delayForTestsMs: () => 60_000 }, async (lookups) => {
      const running = assert.rejects(lookups.query(wide), isProblem("not-ready"));
      const waiting = assert.rejects(lookups.query(wide), isProblem("not-ready"));
      await lookups.close();
      await Promise.all([running, waiting]);
      await assert.rejects(lookups.query(wide), isProblem("not-ready"));
    });
  });
});
