import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { commandSearchPath } from "../../appliance/system/search-path.js";

describe("the PATH commands are looked up in", () => {
  it("drops empty and relative entries, which would make the working directory searchable", () => {
    for (const inherited of ["", ":", "/usr/local/bin:", ":/usr/local/bin", "/usr/local/bin::/usr/bin", ".:/usr/bin", "bin:/usr/bin"]) {
      const path = commandSearchPath(inherited);
      assert.ok(path.split(":").every((entry) => entry.startsWith("/")), `${JSON.stringify(inherited)} gave ${path}`);
    }
  });

  it("keeps the inherited absolute entries first and always has the system directories, once each", () => {
    assert.equal(commandSearchPath("/opt/tools/bin:/usr/bin"), "/opt/tools/bin:/usr/bin:/usr/sbin:/sbin:/bin");
    assert.equal(commandSearchPath(""), "/usr/sbin:/usr/bin:/sbin:/bin");
  });
});
