import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { erp, expectStatus, tenants } from "./harness.js";

describe("Location on every 201", () => {
  it("names the created resource, which a GET then finds with the same ETag", async () => {
    const { h } = await tenants();
    const creates: [string, unknown, string][] = [
      ["/v1/egress-ips", { address: "2001:DB8::99" }, "/v1/egress-ips/2001:db8::99"],
      ["/v1/clusters", { name: "gamma" }, "/v1/clusters/gamma"],
      ["/v1/clusters/alpha/mappings", erp(), "/v1/clusters/alpha/mappings/erp"],
      ["/v1/clusters/alpha/routes", { prefix: "10.244.3.0/24", via: "172.31.0.13" }, "/v1/clusters/alpha/routes/10.244.3.0-24"],
    ];
    const tags = new Map<string, string | null>();
    for (const [path, body, location] of creates) {
      const response = await h.admin("POST", path, body);
      await expectStatus(response, 201);
      assert.equal(response.headers.get("Location"), location, path);
      tags.set(location, response.headers.get("ETag"));
    }
    for (const [, , location] of creates) {
      const found = await h.admin("GET", location);
      await expectStatus(found, 200);
      assert.equal(found.headers.get("ETag"), tags.get(location), `the 201's ETag is the created item's: ${location}`);
    }
    await expectStatus(await h.admin("DELETE", "/v1/clusters/alpha/routes/10.244.3.0-24"), 204);
    const token = await h.admin("POST", "/v1/clusters/alpha/tokens", { description: "ci" });
    const issued = await expectStatus(token, 201);
    assert.equal(token.headers.get("Location"), `/v1/clusters/alpha/tokens/${issued.id}`);
    const shown = await h.admin("GET", token.headers.get("Location") as string);
    const info = await expectStatus(shown, 200);
    assert.equal(info.id, issued.id);
    assert.equal(info.token, undefined, "a token's secret is shown once, when issued");
    assert.equal(shown.headers.get("ETag"), token.headers.get("ETag"));
    await expectStatus(await h.admin("DELETE", token.headers.get("Location") as string), 200);
    await expectStatus(await h.admin("GET", `/v1/clusters/alpha/tokens/${issued.id}`), 200);
    await expectStatus(await h.admin("GET", "/v1/clusters/alpha/tokens/0123456789ab"), 404);
    await expectStatus(await h.admin("GET", "/v1/clusters/alpha/routes/10.244.3.0-24"), 404);
  });
});
