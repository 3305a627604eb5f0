import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { showCommand } from "../../../appliance/cli/commands/show.js";
import { readLocalDesired, renderedKeepalived, renderedNft } from "../../../appliance/cli/local-state.js";
import { loadConfig } from "../../../appliance/config/load.js";
import { HaMode } from "../../../appliance/ha/ha-mode.js";
import { renderTemplate } from "../../../appliance/ha/templates.js";
import { MIGRATIONS_DIR } from "../../../appliance/paths.js";
import { createEgressIp } from "../../../appliance/service/egress-ips.js";
import { StaticOwnAddresses } from "../../../appliance/service/own-addresses.js";
import { openDatabase, type Db } from "../../../appliance/store/database.js";
import { migrate, readMigrations } from "../../../appliance/store/migrate.js";
import { Store } from "../../../appliance/store/store.js";
import type { CommandRunner } from "../../../appliance/system/runner.js";
import { FakeFiles } from "../../helpers/fake-files.js";
import { captureIo } from "./fake-api.js";

/**
 * `egw show` renders what the daemon would, from the config and a read-only view of the store. These tests hold
 * it to the daemon's own rendering, so the two cannot drift apart.
 */
describe("egw show: rendered from the config and the store, read-only", () => {
  let dir: string;
  let db: Db;
  let store: Store;
  let configPath: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "egw-show-"));
    writeFileSync(join(dir, "admin-token"), "Yk3vQ9pZ2mT7xW4rB8nL1cF6sH0dJ5gAe2uRt9Ko\n", { mode: 0o600 });
    configPath = join(dir, "egw.yaml");
    writeFileSync(configPath, [
      "gateway: {name: gw-a}",
      `api: {listen: ['unix:${join(dir, "api.sock")}'], adminTokenFile: admin-token}`,
      "database: {path: egw.db}",
      "network: {inside: {interface: eth1}, outside: {interface: eth2}}",
      "ha:",
      "  processes: supervised",
      "  runDirectory: run",
      "  insideVips: [172.31.0.1/24]",
      "  priority: 150",
      "  syncLink: {interface: eth3, address: 192.168.255.1}",
      "  peer: {name: gw-b, address: 192.168.255.2}",
      "  tls: {cert: peer/gw-a.crt, key: peer/gw-a.key, peerCertificates: peer/trusted.pem}",
      "",
    ].join("\n"));
    db = openDatabase(join(dir, "egw.db"));
    migrate(db, readMigrations(MIGRATIONS_DIR));
    store = new Store(db);
    const own = new StaticOwnAddresses([]);
    store.write("admin", (tx) => createEgressIp(tx, { address: "203.0.113.10" }, own));
    store.write("admin", (tx) => createEgressIp(tx, { address: "2001:db8::10" }, own));
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads the store's revision and egress IPs without writing", () => {
    const { desired } = readLocalDesired(configPath);
    assert.equal(desired.revision, store.revision());
    assert.deepEqual([...desired.egressIps].sort(), ["2001:db8::10", "203.0.113.10"]);
  });

  it("renders keepalived's config exactly as the daemon's HA mode does, at the path the daemon writes", async () => {
    const config = loadConfig(configPath);
    const { desired } = readLocalDesired(configPath);
    const rendered = renderedKeepalived(config, desired);
    const runner: CommandRunner = { run: async () => ({ stdout: "", stderr: "", exitCode: 0 }) };
    const ha = new HaMode({ config, ha: config.ha as NonNullable<typeof config.ha>, store, runner, files: new FakeFiles(), log: pino({ level: "silent" }), own: new StaticOwnAddresses([]) });
    assert.equal(rendered?.text, renderTemplate("keepalived.conf.hbs", ha.view(desired.egressIps)));
    assert.equal(rendered?.path, join(dir, "run", "keepalived.conf"));
  });

  it("renders the nft table the daemon would apply, and prints it", async () => {
    const config = loadConfig(configPath);
    const { desired } = readLocalDesired(configPath);
    const { state } = renderedNft(config, desired);
    assert.equal(state.sets.eip_out_v4.get("203.0.113.10"), "out_v4_203_0_113_10");
    const io = captureIo();
    assert.equal(await showCommand(["nft", "--config", configPath], io), 0);
    assert.match(io.out(), /^# rendered from store revision \d+ \(.*egw\.yaml\)\ntable inet egress_gateway \{/);
    const json = captureIo();
    assert.equal(await showCommand(["nft", "--config", configPath, "--json"], json), 0);
    const batch = (JSON.parse(json.out()) as { batch: { nftables: unknown[] } }).batch.nftables;
    assert.deepEqual(batch[0], { metainfo: { json_schema_version: 1 } });
  });

  it("diffs keepalived's file on disk against the rendering (exit status 1 when they differ)", async () => {
    const config = loadConfig(configPath);
    const { desired } = readLocalDesired(configPath);
    const rendered = renderedKeepalived(config, desired);
    assert.ok(rendered);
    const missing = captureIo();
    assert.equal(await showCommand(["keepalived", "--diff", "--config", configPath], missing), 1);
    assert.match(missing.out(), /does not exist\)\n$/);
    mkdirSync(dirname(rendered.path), { recursive: true });
    writeFileSync(rendered.path, rendered.text);
    const same = captureIo();
    assert.equal(await showCommand(["keepalived", "--diff", "--config", configPath], same), 0);
    assert.match(same.out(), /^no differences: .*keepalived\.conf matches store revision \d+\n$/);
    writeFileSync(rendered.path, rendered.text.replace("priority 150", "priority 99"));
    const changed = captureIo();
    assert.equal(await showCommand(["keepalived", "--diff", "--config", configPath], changed), 1);
    assert.match(changed.out(), /^-\s+priority 99$/m);
    assert.match(changed.out(), /^\+\s+priority 150$/m);
  });
});
