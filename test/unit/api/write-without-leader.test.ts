import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setReplicationState } from "../../../appliance/replication/log.js";
import { erp, expectProblem, expectStatus, tenants } from "./harness.js";
import { installHa } from "./ha-deps.js";

const OPT_IN = { "Egw-Write-Without-Leader": "true" };

/** A gateway that does not lead, with no leader to reach (the peer is down, or in fault too). */
async function leaderless() {
  const fixture = await tenants();
  // This gateway led last: a plain write would be stamped with that leader's epoch, which it must not be.
  setReplicationState(fixture.h.db, 513, "gw-test");
  let probes = 0;
  installHa(fixture.h, {
    isLeader: () => false,
    leader: () => undefined,
    probeLeader: async () => {
      probes++;
      return { reason: "no leader reachable: gw-test is fault; gw-b is unreachable (connect ECONNREFUSED)" };
    },
  });
  return { ...fixture, probes: () => probes };
}

describe("writing with no leader reachable", () => {
  it("is refused (503) without the explicit opt-in, changing nothing", async () => {
    const { h } = await leaderless();
    const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address: "203.0.113.99" }));
    assert.equal(response.headers.get("Retry-After"), "2", "a 503 says when to retry");
    const problem = await expectProblem(response, 503, "not-ready");
    assert.match(problem.detail, /Egw-Write-Without-Leader: true/);
  });

  it("commits an admin's write with the opt-in here: off the leader's history, audited with the reason, answered with a header saying so", async () => {
    const { h, probes } = await leaderless();
    const response = await h.admin("POST", "/v1/egress-ips", { address: "203.0.113.99" }, OPT_IN);
    await expectStatus(response, 201);
    assert.equal(probes(), 1, "the peers were asked first");
    const revision = Number(response.headers.get("Egw-Revision"));
    assert.match(response.headers.get("Egw-Written-Without-Leader") ?? "", /^gw-test: no leader reachable: .*gw-b is unreachable.*; a leader's history replaces this write unless this gateway becomes leader$/);
    const epoch = (h.db.prepare("SELECT epoch FROM revision_epochs WHERE revision = ?").get(revision) as { epoch: number }).epoch;
    assert.equal(epoch, -revision, "stamped off the leader's history, though this gateway was the last leader");
    const audit = h.audit().at(-1);
    assert.equal(audit?.resource, "egress-ips/203.0.113.99");
    assert.match(audit?.actor ?? "", /^admin \[without leader: no leader reachable: .*\]$/);
  });

  it("refuses the opt-in from a cluster token (403): only an admin repairs without a leader", async () => {
    const { h, alpha, probes } = await leaderless();
    const response = await h.unchanged(() => h.call("POST", "/v1/clusters/alpha/mappings", { token: alpha.token, body: erp(), headers: OPT_IN }));
    await expectProblem(response, 403, "forbidden");
    assert.equal(probes(), 0);
  });

  it("forwards as usual when, asked, a peer turns out to lead", async () => {
    const { h } = await tenants();
    const forwarded: string[] = [];
    const leader = {
      name: "gw-b",
      forward: async (method: string, path: string) => {
        forwarded.push(`${method} ${path}`);
        return new Response(JSON.stringify({ ok: true }), { status: 201, headers: { "content-type": "application/json" } });
      },
    };
    installHa(h, { isLeader: () => false, leader: () => undefined, probeLeader: async () => ({ leader: leader as never }) });
    const response = await h.unchanged(() => h.admin("POST", "/v1/egress-ips", { address: "203.0.113.99" }, OPT_IN));
    await expectStatus(response, 201);
    assert.equal(response.headers.get("Egw-Forwarded-To"), "gw-b");
    assert.deepEqual(forwarded, ["POST /v1/egress-ips"]);
  });
});
