import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadConfig } from "../../../appliance/config/load.js";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";

const TEMPLATE = join(PACKAGE_ROOT, "vagrant", "egw-gateway.yaml.in");
const PROVISION = join(PACKAGE_ROOT, "vagrant", "provision-gateway.sh");

/** The Vagrant gateways' config is a template the provisioning fills in with sed: check both against the schema. */
describe("the Vagrant lab's gateway config", () => {
  const template = readFileSync(TEMPLATE, "utf8");
  const placeholders = new Set(template.match(/@[A-Z_]+@/g));
  const substituted = new Set(readFileSync(PROVISION, "utf8").match(/s\/@[A-Z_]+@\//g)?.map((s) => s.slice(2, -1)));

  it("provision-gateway.sh fills in every placeholder of the template, and no other", () => {
    assert.deepEqual([...placeholders].sort(), [...substituted].sort());
  });

  it("is a valid config for both gateways", () => {
    const dir = mkdtempSync(join(tmpdir(), "egw-vagrant-"));
    try {
      for (const [name, self, peer] of [["gw-a", 1, 2], ["gw-b", 2, 1]] as const) {
        const values: Record<string, string> = {
          NAME: name, PRIORITY: self === 1 ? "150" : "100", VIP: "172.31.0.1", INSIDE: `172.31.0.${self + 1}`, SYNC: `192.168.255.${self}`,
          INSIDE_IF: "eth1", OUTSIDE_IF: "eth2", SYNC_IF: "eth3", PEER_NAME: name === "gw-a" ? "gw-b" : "gw-a",
          PEER_INSIDE: `172.31.0.${peer + 1}`, PEER_OUTSIDE: `203.0.113.${peer + 1}`, PEER_SYNC: `192.168.255.${peer}`,
        };
        const text = template.replace(/@([A-Z_]+)@/g, (_m, key: string) => values[key] ?? assert.fail(`no value for @${key}@`));
        const path = join(dir, `${name}.yaml`);
        writeFileSync(path, text);
        const config = loadConfig(path);
        assert.equal(config.gateway.name, name);
        assert.equal(config.ha?.processes, "systemd");
        assert.deepEqual(config.ha?.peer.name, values["PEER_NAME"]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
