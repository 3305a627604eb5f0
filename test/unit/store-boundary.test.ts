import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/** Every TypeScript source file below `dir`, relative to the package root. */
function sources(dir: string): string[] {
  return readdirSync(join(PACKAGE_ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => relative(PACKAGE_ROOT, join(PACKAGE_ROOT, dir, file)));
}

const read = (file: string) => readFileSync(join(PACKAGE_ROOT, file), "utf8");
const ABOVE_STORE = [...sources("api"), ...sources("appliance")].filter((file) => !file.startsWith("appliance/store/"));

describe("the store is the only home of SQL", () => {
  it("no file above appliance/store/ prepares a statement or writes SQL", () => {
    const offenders = ABOVE_STORE.filter((file) => /\bsql\(|\.prepare\(|\b(SELECT|INSERT INTO|DELETE FROM)\b|\bUPDATE \w+ SET\b/.test(read(file)));
    assert.deepEqual(offenders, []);
  });

  it("the API reads through store/reads.ts, and takes only types from the rest of the store", () => {
    const offenders = sources("api").flatMap((file) => [...read(file).matchAll(/^import (type )?.*from "[./]*appliance\/store\/([\w-]+)\.js";$/gm)]
      .filter(([, typeOnly, module]) => module !== "reads" && typeOnly === undefined)
      .map(([line]) => `${file}: ${line}`));
    assert.deepEqual(offenders, []);
  });

  it("the revision is read by one function (store/revision.ts); only the changelog triggers read it in SQL", () => {
    const readers = [...sources("api"), ...sources("appliance")].filter((file) => read(file).includes("FROM revision WHERE"));
    assert.deepEqual(readers.sort(), ["appliance/store/changelog-triggers.ts", "appliance/store/revision.ts"]);
  });

  it("the changelog's table is queried only by its owner, store/changelog.ts", () => {
    const users = [...sources("api"), ...sources("appliance")].filter((file) => /\b(FROM|INTO) changelog\b/.test(read(file)));
    assert.deepEqual(users.sort(), ["appliance/store/changelog-triggers.ts", "appliance/store/changelog.ts"]);
  });
});
