import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EgressPortUsage, PortView } from "../../../appliance/translations/port-tally.js";
import { createApp } from "../../../api/app.js";
import { ADMIN_TOKEN, expectProblem, expectStatus, Harness, tenants } from "./harness.js";

/** A port view that answers from a fixed table and records what it was asked. */
class FakePortView implements PortView {
  asked: { address: string; top: number | undefined }[] = [];
  constructor(private readonly usage: Record<string, EgressPortUsage>) {}
  forEgress(address: string, top?: number): EgressPortUsage {
    this.asked.push({ address, top });
    return this.usage[address] ?? { egressAddress: address, destinations: 0, busiest: [], maxUtilization: 0 };
  }
  perEgress(): EgressPortUsage[] {
    return Object.values(this.usage);
  }
}

const BUSY: EgressPortUsage = {
  egressAddress: "203.0.113.10", destinations: 2, maxUtilization: 0.5,
  busiest: [
    { destinationAddress: "198.51.100.7", destinationPort: 443, protocol: "tcp", inUse: 32_256, available: 64_512, utilization: 0.5 },
    { destinationAddress: "198.51.100.8", destinationPort: 53, protocol: "udp", inUse: 10, available: 64_512, utilization: 10 / 64_512 },
  ],
};

/** The fixture's store behind api/app.ts's app, with the given port view as the daemon would hand it (or none). */
async function setup(view: PortView | null = new FakePortView({ "203.0.113.10": BUSY })) {
  const { h: fixture, alpha, beta } = await tenants(new Harness());
  if (view) fixture.deps.ports = view;
  const app = createApp(fixture.deps);
  const call = (method: string, path: string, options: { token?: string } = {}) =>
    app.request(path, { method, headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` } });
  const h = {
    call,
    admin: (method: string, path: string) => call(method, path, { token: ADMIN_TOKEN }),
    as: (token: string, method: string, path: string) => call(method, path, { token }),
  };
  return { h, alpha, beta };
}

describe("GET /v1/egress-ips/{address}/ports and /v1/ports", () => {
  it("answers an admin about any egress IP with the tally's busiest destinations", async () => {
    const view = new FakePortView({ "203.0.113.10": BUSY });
    const { h } = await setup(view);
    const body = await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.10/ports?top=5"), 200);
    assert.deepEqual(body, { egressAddress: "203.0.113.10", available: 64_512, destinations: 2, maxUtilization: 0.5, busiest: BUSY.busiest });
    assert.deepEqual(view.asked.at(-1), { address: "203.0.113.10", top: 5 });
    await expectStatus(await h.admin("GET", "/v1/egress-ips/203.0.113.30/ports"), 200);
    assert.deepEqual(view.asked.at(-1), { address: "203.0.113.30", top: 10 }, "an ungranted egress IP, and ten by default");
  });

  it("looks up a non-canonical IPv6 address in its canonical form", async () => {
    const view = new FakePortView({});
    const { h } = await setup(view);
    const body = await expectStatus(await h.admin("GET", "/v1/egress-ips/2001:0db8::0010/ports"), 200);
    assert.equal(body.egressAddress, "2001:db8::10");
    assert.equal(body.destinations, 0);
  });

  it("answers a cluster token only about egress IPs granted to its cluster", async () => {
    const { h, alpha, beta } = await setup();
    assert.equal((await expectStatus(await h.as(alpha.token, "GET", "/v1/egress-ips/203.0.113.10/ports"), 200)).destinations, 2);
    const refused = await expectProblem(await h.as(beta.token, "GET", "/v1/egress-ips/203.0.113.10/ports"), 403, "forbidden");
    assert.match(refused.detail, /cluster beta.*203\.0\.113\.10/);
    await expectProblem(await h.as(beta.token, "GET", "/v1/egress-ips/203.0.113.99/ports"), 403, "forbidden");
  });

  it("refuses a malformed address or top with 422 naming the field, an unknown egress IP with 404, no token with 401", async () => {
    const { h } = await setup();
    await expectProblem(await h.admin("GET", "/v1/egress-ips/203.0.113.300/ports"), 422, "validation-failed", "address");
    await expectProblem(await h.admin("GET", "/v1/egress-ips/203.0.113.10/ports?top=0"), 422, "validation-failed", "top");
    await expectProblem(await h.admin("GET", "/v1/egress-ips/203.0.113.10/ports?top=many"), 422, "validation-failed", "top");
    await expectProblem(await h.admin("GET", "/v1/egress-ips/203.0.113.99/ports"), 404, "not-found");
    await expectProblem(await h.call("GET", "/v1/egress-ips/203.0.113.10/ports"), 401, "unauthorized");
    await expectProblem(await h.call("GET", "/v1/ports"), 401, "unauthorized");
  });

  it("lists every egress IP for an admin and only its own for a cluster", async () => {
    const { h, alpha, beta } = await setup();
    const all = await expectStatus(await h.admin("GET", "/v1/ports?top=1"), 200);
    assert.deepEqual(all.egressIps.map((e: { egressAddress: string }) => e.egressAddress),
      ["203.0.113.10", "203.0.113.11", "203.0.113.20", "203.0.113.30", "2001:db8::10", "2001:db8::30"]);
    assert.equal(all.egressIps[0].maxUtilization, 0.5);
    const own = await expectStatus(await h.as(alpha.token, "GET", "/v1/ports"), 200);
    assert.deepEqual(own.egressIps.map((e: { egressAddress: string }) => e.egressAddress), ["203.0.113.10", "203.0.113.11", "2001:db8::10"]);
    const theirs = await expectStatus(await h.as(beta.token, "GET", "/v1/ports"), 200);
    assert.deepEqual(theirs.egressIps.map((e: { egressAddress: string }) => e.egressAddress), ["203.0.113.20"]);
  });

  it("documents both routes in the OpenAPI document", async () => {
    const { h } = await setup();
    const doc = await expectStatus(await h.call("GET", "/openapi.json"), 200);
    assert.ok(doc.paths["/v1/egress-ips/{address}/ports"]?.get, "the one-egress-IP route");
    assert.ok(doc.paths["/v1/ports"]?.get, "the all-egress-IPs route");
    assert.ok(doc.components.schemas.EgressPortUsage, "its response schema");
  });

  it("says so when the translation log is off", async () => {
    const { h } = await setup(null);
    const problem = await expectProblem(await h.admin("GET", "/v1/egress-ips/203.0.113.10/ports"), 404, "not-found");
    assert.match(problem.detail, /translationLog\.enabled/);
  });
});
