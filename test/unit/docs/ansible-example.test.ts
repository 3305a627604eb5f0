import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { clusterCreate, egressIpCreate, mappingSet, routeSet } from "../../../api/schemas/resources.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";

/**
 * The Ansible example runs in test/integration/ansible.test.ts; this checks, without root, that what the docs hand
 * a reader fits it: the example variables are bodies the API accepts, and every quoted command names real files.
 */
const EXAMPLE = join(PACKAGE_ROOT, "docs", "examples", "ansible");
const read = (path: string) => readFileSync(path, "utf8");

describe("the Ansible example (docs/examples/ansible)", () => {
  const vars = parseYaml(read(join(EXAMPLE, "vars.example.yml"))) as Record<string, unknown>;
  const playbook = read(join(EXAMPLE, "egress-gateway.yml"));

  it("vars.example.yml holds bodies the API's own schemas accept", () => {
    for (const ip of vars["egw_egress_ips"] as unknown[]) assert.ok(egressIpCreate.safeParse(ip).success, JSON.stringify(ip));
    const cluster = clusterCreate.safeParse(vars["egw_cluster"]);
    assert.ok(cluster.success, JSON.stringify(cluster.error?.issues));
    const routes = routeSet.safeParse({ routes: vars["egw_routes"] });
    assert.ok(routes.success, JSON.stringify(routes.error?.issues));
    const mappings = mappingSet.safeParse({ mappings: vars["egw_mappings"] });
    assert.ok(mappings.success, JSON.stringify(mappings.error?.issues));
  });

  it("every variable the example sets is one the playbook reads", () => {
    for (const name of Object.keys(vars)) assert.match(playbook, new RegExp(`\\b${name}\\b`), `${name} is used by the playbook`);
  });

  it("the playbook uses only ansible.builtin modules, and hides every request that carries a token", () => {
    const modules = [...playbook.matchAll(/^\s+(?:- )?([a-z_]+\.[a-z_]+\.[a-z_]+):\s*$/gm)].map((m) => m[1] as string);
    assert.ok(modules.length > 5, `modules found: ${modules.join(", ")}`);
    assert.deepEqual(modules.filter((m) => !m.startsWith("ansible.builtin.")), []);
    const requests = playbook.split(/\n(?=\s+- name: )/).filter((task) => task.includes("ansible.builtin.uri:"));
    assert.ok(requests.length >= 8, `found ${requests.length} requests`);
    for (const task of requests) assert.match(task, /no_log: "\{\{ egw_no_log \}\}"/, task.split("\n")[0]);
  });

  it("the commands quoted in docs/platform-teams.md, the example's README and the playbook name files that exist", () => {
    for (const text of [read(join(PACKAGE_ROOT, "docs", "platform-teams.md")), read(join(EXAMPLE, "README.md")), playbook]) {
      const commands = text.split("\n").filter((line) => /^\s*(#\s*)?ansible-playbook /.test(line));
      assert.ok(commands.length > 0, "an ansible-playbook command is quoted");
      for (const command of commands) {
        const files = command.split(/\s+/).filter((word) => word.startsWith("docs/"));
        assert.ok(files.length > 0, command);
        for (const file of files) assert.ok(existsSync(join(PACKAGE_ROOT, file)), `${file} (in: ${command.trim()})`);
      }
    }
  });
});
