import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../appliance/paths.js";

/**
 * The floors of docs/architecture.md, lowest first. A module may import from a lower floor, or from its own
 * room (folder or file); never from its floor's other rooms or from above. Longest matching prefix wins.
 */
const FLOORS: [room: string, floor: number][] = [
  // The typed API client is a package of its own: it imports nothing of this repository (floor 0, its own room).
  ["client", 0],
  ["appliance/errors.ts", 0], ["appliance/model.ts", 0], ["appliance/log.ts", 0], ["appliance/paths.ts", 0],
  ["appliance/cached-reading.ts", 0], ["appliance/heap-relief.ts", 0], ["appliance/ha-metrics.ts", 0], ["appliance/http-metrics.ts", 0], ["appliance/translation-model.ts", 0], ["appliance/schemas", 0],
  ["appliance/validation.ts", 1], ["appliance/version.ts", 1], ["appliance/net", 1], ["appliance/system", 1], ["appliance/terminal", 1],
  ["appliance/store", 2], ["appliance/kernel", 2], ["appliance/tls", 2], ["appliance/policy", 2],
  ["appliance/service", 3], ["appliance/http", 3],
  ["appliance/config", 4],
  ["appliance/nft", 5],
  ["appliance/reconcile", 6], ["appliance/translations", 6], ["appliance/egress-policy", 6],
  ["appliance/replication", 7], ["appliance/metrics.ts", 7],
  ["api", 8], ["appliance/ha", 8],
  ["appliance/status-view.ts", 9],
  ["appliance/daemon.ts", 10],
  ["appliance/cli", 11],
  ["lab", 12],
  ["bench", 13],
  ["bin", 14], ["client/codegen", 14],
];

function roomOf(file: string): [string, number] | undefined {
  return FLOORS.filter(([room]) => file === room || file.startsWith(`${room}/`)).sort((a, b) => b[0].length - a[0].length)[0];
}

function sources(folder: string): string[] {
  return readdirSync(join(PACKAGE_ROOT, folder)).flatMap((name) => {
    const path = join(folder, name);
    if (statSync(join(PACKAGE_ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

describe("layers (docs/architecture.md)", () => {
  it("no module imports from above its floor or from another room of its own floor", () => {
    const wrong: string[] = [];
    for (const file of ["appliance", "api", "lab", "bench", "bin", "client"].flatMap(sources)) {
      const own = roomOf(file);
      assert.ok(own, `${file} has no floor in docs/architecture.md`);
      const text = readFileSync(join(PACKAGE_ROOT, file), "utf8");
      // Static imports and re-exports (either quote), and dynamic import() of a relative path.
      const specifiers = [
        ...text.matchAll(/^(?:import|export)[^;]*? from ["'](\.{1,2}\/[^"']+)["']/gm),
        ...text.matchAll(/\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g),
      ].map((match) => match[1] as string);
      for (const specifier of specifiers) {
        const target = relative(PACKAGE_ROOT, resolve(PACKAGE_ROOT, dirname(file), specifier.replace(/\.js$/, ".ts")));
        const theirs = roomOf(target);
        if (!theirs || theirs[0] === own[0]) continue;
        if (theirs[1] >= own[1]) wrong.push(`${file} (floor ${own[1]}) imports ${target} (floor ${theirs[1]})`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
