import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readSetDocument } from "../../../appliance/cli/document-file.js";

describe("readSetDocument: a whole set from a file", () => {
  const dir = mkdtempSync(join(tmpdir(), "egw-set-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it("takes a bare list or an object with the list under its kind", () => {
    assert.deepEqual(readSetDocument(file("a.yaml", "- prefix: 10.0.0.0/8\n"), "routes", "prefix"), [{ prefix: "10.0.0.0/8" }]);
    assert.deepEqual(readSetDocument(file("b.json", '{"mappings":[{"name":"erp"}]}'), "mappings", "name"), [{ name: "erp" }]);
  });

  it("names the file and the item that is not an object with its key", () => {
    assert.throws(() => readSetDocument(file("c.yaml", "routes: 3\n"), "routes", "prefix"), /c\.yaml must hold a list of routes, or an object with a "routes" list/);
    assert.throws(() => readSetDocument(file("d.yaml", "- name: ok\n- sourceCidr: 10.0.0.0/8\n"), "mappings", "name"), /d\.yaml: mappings\.1 must be an object with a name/);
  });
});
