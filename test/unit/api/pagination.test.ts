import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { expectProblem, expectStatus, Harness, tenants, type Body } from "./harness.js";

/** Follows `next` from the first page to the last, checking the Link header of each page. */
async function allPages(h: Harness, path: string, member: string, limit: number): Promise<{ items: Body[]; pages: number }> {
  const items: Body[] = [];
  let url: string | null = `${path}?limit=${limit}`;
  let pages = 0;
  while (url !== null) {
    const response = await h.admin("GET", url);
    const body = await expectStatus(response, 200);
    pages++;
    assert.ok(body[member].length <= limit);
    items.push(...body[member]);
    const link = response.headers.get("Link");
    if (body.next === null) {
      assert.equal(link, null);
      url = null;
    } else {
      const match = /^<([^>]+)>; rel="next"$/.exec(link ?? "");
      assert.ok(match, `Link: ${link}`);
      assert.ok(match[1]?.includes(`cursor=${body.next}`));
      url = match[1] as string;
    }
  }
  return { items, pages };
}

describe("pagination of lists", () => {
  it("pages mappings by name with limit and cursor, Link rel=next and next; the pages together are the whole list", async () => {
    const { h } = await tenants();
    const mappings = Array.from({ length: 7 }, (_, i) => ({ name: `m${i}`, sourceCidr: `10.244.${i}.0/24`, egressIp: "203.0.113.10" }));
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings }), 200);
    const whole = await expectStatus(await h.admin("GET", "/v1/clusters/alpha/mappings"), 200);
    assert.equal(whole.next, null);
    assert.equal(whole.mappings.length, 7);
    const { items, pages } = await allPages(h, "/v1/clusters/alpha/mappings", "mappings", 3);
    assert.equal(pages, 3);
    assert.deepEqual(items, whole.mappings);
    assert.deepEqual(items.map((m: { name: string }) => m.name), ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
  });

  it("keeps its place when items are added or removed between pages", async () => {
    const { h } = await tenants();
    const mappings = ["a", "c", "e", "g"].map((name, i) => ({ name, sourceCidr: `10.244.${i}.0/24`, egressIp: "203.0.113.10" }));
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/mappings", { mappings }), 200);
    const first = await expectStatus(await h.admin("GET", "/v1/clusters/alpha/mappings?limit=2"), 200);
    assert.deepEqual(first.mappings.map((m: { name: string }) => m.name), ["a", "c"]);
    await expectStatus(await h.admin("DELETE", "/v1/clusters/alpha/mappings/c"), 204);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/mappings", { name: "b", sourceCidr: "10.244.9.0/24", egressIp: "203.0.113.10" }), 201);
    const second = await expectStatus(await h.admin("GET", `/v1/clusters/alpha/mappings?limit=2&cursor=${first.next}`), 200);
    assert.deepEqual(second.mappings.map((m: { name: string }) => m.name), ["e", "g"]);
    assert.equal(second.next, null);
  });

  it("pages every list: egress IPs (IPv4 first), clusters, routes, tokens", async () => {
    const { h } = await tenants();
    await expectStatus(await h.admin("PUT", "/v1/clusters/alpha/routes", {
      routes: [{ prefix: "10.244.2.0/24", via: "172.31.0.11" }, { prefix: "10.244.10.0/24", via: "172.31.0.11" }, { prefix: "fd00:10:244:1::/64", via: "fd00:172:31::11" }],
    }), 200);
    await expectStatus(await h.admin("POST", "/v1/clusters/alpha/tokens", { description: "second" }), 201);
    for (const [path, member] of [["/v1/egress-ips", "egressIps"], ["/v1/clusters", "clusters"], ["/v1/clusters/alpha/routes", "routes"], ["/v1/clusters/alpha/tokens", "tokens"]] as const) {
      const whole = await expectStatus(await h.admin("GET", path), 200);
      assert.ok(whole[member].length >= 2, path);
      const { items } = await allPages(h, path, member, 1);
      assert.deepEqual(items, whole[member], path);
    }
    const ips = await expectStatus(await h.admin("GET", "/v1/egress-ips"), 200);
    assert.deepEqual(ips.egressIps.map((ip: { address: string }) => ip.address), ["203.0.113.10", "203.0.113.11", "203.0.113.20", "203.0.113.30", "2001:db8::10", "2001:db8::30"]);
    const routes = await expectStatus(await h.admin("GET", "/v1/clusters/alpha/routes"), 200);
    assert.deepEqual(routes.routes.map((r: { prefix: string }) => r.prefix), ["10.244.2.0/24", "10.244.10.0/24", "fd00:10:244:1::/64"]);
  });

  it("refuses a bad limit or cursor with 422 naming the field", async () => {
    const { h } = await tenants();
    for (const limit of ["0", "1001", "-1", "two", "1.5"]) {
      await expectProblem(await h.admin("GET", `/v1/clusters/alpha/mappings?limit=${limit}`), 422, "validation-failed", "limit");
    }
    for (const cursor of ["%%%", "bm90LWpzb24", Buffer.from("{}").toString("base64url"), Buffer.from("[]").toString("base64url")]) {
      await expectProblem(await h.admin("GET", `/v1/clusters/alpha/mappings?limit=2&cursor=${cursor}`), 422, "validation-failed", "cursor");
    }
    await expectProblem(await h.admin("GET", `/v1/clusters/alpha/mappings?cursor=${Buffer.from('["a"]').toString("base64url")}`), 422, "validation-failed", "limit");
  });
});
