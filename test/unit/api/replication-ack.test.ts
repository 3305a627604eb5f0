import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { WaitOutcome } from "../../../appliance/replication/leader.js";
import { erp, expectProblem, expectStatus, tenants } from "./harness.js";
import { fakeLeader } from "./ha-deps.js";

describe("acknowledging a write in a gateway group", () => {
  const writes: [string, string, string, unknown, "write" | "revocation"][] = [
    ["issuing a token", "POST", "/v1/clusters/alpha/tokens", { description: "x" }, "write"],
    ["revoking a token", "DELETE", "/v1/clusters/alpha/tokens/{alpha}", undefined, "revocation"],
    ["creating a mapping", "POST", "/v1/clusters/alpha/mappings", erp({ name: "crm", sourceCidr: "10.244.2.0/24" }), "write"],
    ["deleting a mapping", "DELETE", "/v1/clusters/alpha/mappings/erp", undefined, "revocation"],
    ["a PUT of mappings that only adds", "PUT", "/v1/clusters/alpha/mappings", { mappings: [erp(), erp({ name: "crm", sourceCidr: "10.244.2.0/24" })] }, "write"],
    ["a PUT of mappings that removes one", "PUT", "/v1/clusters/alpha/mappings", { mappings: [] }, "revocation"],
    ["taking an egress IP away from a cluster", "PUT", "/v1/clusters/alpha", { sourceRanges: ["10.244.0.0/16", "fd00:10:244::/48"], egressIps: ["203.0.113.10", "2001:db8::10"] }, "revocation"],
    ["changing an egress IP's description", "PATCH", "/v1/egress-ips/203.0.113.10", { description: "new" }, "write"],
    ["deleting an egress IP", "DELETE", "/v1/egress-ips/203.0.113.30", undefined, "revocation"],
    ["deleting a cluster", "DELETE", "/v1/clusters/beta?cascade=true", undefined, "revocation"],
  ];
  for (const [what, method, path, body, kind] of writes) {
    it(`${what} is replicated as a ${kind}`, async () => {
      const { h, alpha } = await tenants();
      await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", erp()), 201);
      const { kinds } = fakeLeader(h, () => "confirmed");
      const response = await h.admin(method, path.replace("{alpha}", alpha.id), body);
      assert.ok(response.status < 300, `${response.status}: ${await response.text()}`);
      assert.deepEqual(kinds, [kind]);
      assert.equal(response.headers.get("Egw-Replicated-To"), "gw-b");
      assert.equal(response.headers.get("Egw-Replication-Risk"), null);
    });
  }

  it("a revocation the peer cannot be reached for succeeds, naming the risk", async () => {
    const { h, alpha } = await tenants();
    fakeLeader(h, () => "unreachable");
    const response = await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`);
    await expectStatus(response, 200);
    assert.equal(response.headers.get("Egw-Replication-Behind"), "gw-b=unreachable");
    assert.equal(response.headers.get("Egw-Replication-Risk"), "revocation not yet in force on gw-b (unreachable)");
  });

  it("a revocation a reachable peer does not confirm in time answers 504 replication-timeout naming it; the change is stored", async () => {
    const { h, alpha } = await tenants();
    fakeLeader(h, () => "timeout");
    const response = await h.admin("DELETE", `/v1/clusters/alpha/tokens/${alpha.id}`);
    const problem = await expectProblem(response, 504, "replication-timeout");
    assert.match(problem.detail, /gw-b did not confirm this revocation within 10000 ms/);
    assert.deepEqual(problem.peers, ["gw-b"]);
    assert.equal(problem.revision, h.revision());
    assert.equal(response.headers.get("Egw-Revision"), String(h.revision()));
    await expectProblem(await h.as(alpha.token, "GET", "/v1/clusters/alpha/mappings"), 401, "unauthorized");
  });

  it("an ordinary write is still acknowledged after the write timeout, with the peer named as behind", async () => {
    const { h } = await tenants();
    const outcomes: WaitOutcome[] = ["timeout", "unreachable"];
    fakeLeader(h, () => outcomes.shift() ?? "confirmed");
    const first = await h.admin("POST", "/v1/clusters/alpha/mappings", erp());
    await expectStatus(first, 201);
    assert.equal(first.headers.get("Egw-Replication-Behind"), "gw-b=refused");
    assert.equal(first.headers.get("Egw-Replication-Risk"), null);
    const second = await h.admin("POST", "/v1/clusters/alpha/mappings", erp({ name: "crm", sourceCidr: "10.244.2.0/24" }));
    await expectStatus(second, 201);
    assert.equal(second.headers.get("Egw-Replication-Behind"), "gw-b=unreachable");
    assert.equal(second.headers.get("Egw-Replication-Risk"), null);
  });
});
