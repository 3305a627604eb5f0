import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyChanges, changesSince, exportSnapshot, importSnapshot } from "../../../appliance/replication/log.js";
import { checkChangesMessage, checkSnapshotMessage } from "../../../appliance/replication/message-rules.js";
import type { ChangesMessage, SnapshotMessage } from "../../../appliance/replication/messages.js";
import { createEgressIp } from "../../../appliance/service/egress-ips.js";
import { REPLICATED_TABLES } from "../../../appliance/store/replicated-tables.js";
import { openStore, OWN } from "./replication-helpers.js";

/** What a follower of the previous release (0.4.0) takes for audit_log: exactly these columns, nothing more. */
const RELEASE_0_4_AUDIT_COLUMNS = ["id", "revision", "at", "actor", "action", "resource", "before", "after"];

const requestIds = (store: ReturnType<typeof openStore>) => (store.db.prepare("SELECT request_id FROM audit_log ORDER BY id").all() as { request_id: string | null }[]).map((r) => r.request_id);

describe("the audit record's request id stays on the gateway that answered the request", () => {
  it("is stored with the audit record of the write", async () => {
    const leader = openStore("gw-a");
    await leader.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN), undefined, { requestId: "ci-run-42/step-3" });
    await leader.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.11" }, OWN));
    assert.deepEqual(requestIds(leader), ["ci-run-42/step-3", null]);
  });

  it("is in no changelog row or snapshot, so a follower of the previous release still accepts both", async () => {
    assert.deepEqual(REPLICATED_TABLES.find((t) => t.name === "audit_log")?.columns, RELEASE_0_4_AUDIT_COLUMNS);
    const leader = openStore("gw-a");
    const { revision } = await leader.writeBatched("admin", (tx) => createEgressIp(tx, { address: "203.0.113.10" }, OWN), undefined, { requestId: "req-1" });
    const changes = changesSince(leader.db, 0, revision);
    assert.ok(changes);
    const auditRows = changes.flatMap((r) => r.entries).filter((e) => e.tbl === "audit_log");
    assert.equal(auditRows.length, 1);
    assert.deepEqual(Object.keys(auditRows[0]?.row ?? {}).sort(), [...RELEASE_0_4_AUDIT_COLUMNS].sort());
    // As the follower receives them: JSON over the wire, checked by the rules of the message.
    checkChangesMessage(JSON.parse(JSON.stringify({ epoch: 0, leader: "gw-a", base: { revision: 0, revisionEpoch: 0 }, revisions: changes })) as ChangesMessage, "gw-a");
    const snapshot = exportSnapshot(leader.db);
    for (const row of snapshot.tables["audit_log"] ?? []) assert.deepEqual(Object.keys(row).sort(), [...RELEASE_0_4_AUDIT_COLUMNS].sort());
    checkSnapshotMessage(JSON.parse(JSON.stringify({ epoch: 0, leader: "gw-a", snapshot })) as SnapshotMessage, "gw-a");

    // A follower of this release takes the record without it.
    const follower = openStore("gw-b");
    follower.applyExternal(revision, () => applyChanges(follower.db, changes));
    assert.deepEqual(requestIds(follower), [null]);
    const seeded = openStore("gw-c");
    seeded.applyExternal(snapshot.revision, () => importSnapshot(seeded.db, snapshot));
    assert.deepEqual(requestIds(seeded), [null]);
  });
});
