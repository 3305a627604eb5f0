import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { COMMANDS } from "../../../appliance/cli/main.js";
import { subcommandsOf } from "../../../appliance/cli/completion.js";
import { openApiDocument } from "../../../appliance/cli/openapi.js";
import { versionText } from "../../../appliance/cli/version-text.js";
import { egw, LAB_COMPLETION } from "../../../bin/dispatch.js";
import { captureIo } from "./fake-api.js";

const run = async (...args: string[]) => {
  const io = captureIo();
  const code = await egw(args, io);
  return { code, out: io.out(), err: io.err() };
};

/** Every command line worth a --help: each command alone, and with each subcommand its usage shows. */
const commandLines = [
  ...Object.entries(COMMANDS).flatMap(([name, command]) => [[name], ...subcommandsOf(name, command.usage).map((sub) => [name, sub])]),
  ["completion"], ["completion", "bash"], ["lab"], ...subcommandsOf("lab", LAB_COMPLETION.usage).map((sub) => ["lab", sub]),
];

describe("egw --help, -h and --version on every command and subcommand", () => {
  it("covers the commands that had no usage before (serve, check-config, openapi, config-reference, version)", () => {
    for (const name of ["serve", "check-config", "openapi", "config-reference", "version", "routes"]) assert.ok(COMMANDS[name], name);
    assert.ok(commandLines.length > 40, `${commandLines.length} command lines`);
  });

  for (const flag of ["--help", "-h"]) {
    it(`${flag}: exit status 0, the usage on stdout, nothing on stderr, nothing done`, async () => {
      for (const line of commandLines) {
        const { code, out, err } = await run(...line, flag);
        assert.equal(code, 0, `egw ${line.join(" ")} ${flag}: ${err}`);
        assert.match(out, /^usage:/, `egw ${line.join(" ")} ${flag}`);
        assert.equal(err, "", `egw ${line.join(" ")} ${flag}`);
      }
    });
  }

  it("--version: the product's version, wherever it is given", async () => {
    for (const line of [[], ...commandLines]) {
      const { code, out } = await run(...line, "--version");
      assert.equal(code, 0, `egw ${line.join(" ")} --version`);
      assert.equal(out, versionText(), `egw ${line.join(" ")} --version`);
    }
  });

  it("egw help COMMAND prints that command's usage", async () => {
    const { code, out } = await run("help", "routes");
    assert.equal(code, 0);
    assert.match(out, /egw routes add CLUSTER PREFIX --via ADDRESS/);
    assert.equal((await run("help", "frobnicate")).code, 2);
  });

  it("an unknown option is a usage error on every command (exit status 2, the usage on stderr)", async () => {
    for (const name of [...Object.keys(COMMANDS), "completion", "lab"]) {
      const { code, out, err } = await run(name, "--no-such-option");
      assert.equal(code, 2, `egw ${name} --no-such-option: ${err}`);
      assert.equal(out, "");
      assert.match(err, /^egw: Unknown option '--no-such-option'.*\n\nusage:/s, name);
    }
  });
});

describe("egw openapi --format", () => {
  it("yaml prints the same document as json, as YAML", async () => {
    const yaml = await run("openapi", "--format", "yaml");
    assert.equal(yaml.code, 0);
    assert.doesNotMatch(yaml.out, /^\{/, "not JSON");
    assert.deepEqual(parseYaml(yaml.out), JSON.parse(JSON.stringify(openApiDocument())));
    const json = await run("openapi", "--format", "json");
    assert.deepEqual(JSON.parse(json.out), parseYaml(yaml.out));
    assert.equal((await run("openapi")).out, json.out, "JSON by default");
  });

  it("an unknown format is refused with exit status 2 and the formats there are", async () => {
    const { code, out, err } = await run("openapi", "--format", "xml");
    assert.equal(code, 2);
    assert.equal(out, "");
    assert.match(err, /^egw: unknown --format "xml": use json, yaml, markdown\n\nusage: egw openapi/);
  });
});

describe("egw exit status: 0 done, 1 differences, 2 trouble (as diff does), 78 an invalid config", () => {
  it("a failed --diff is trouble, not a difference", async () => {
    assert.equal((await run("show", "nft", "--diff", "--config", "/nonexistent/egw.yaml")).code, 78);
    assert.equal((await run("show", "nft", "--diff", "--bogus")).code, 2);
  });

  it("doctor's own mistakes are 2, not the 1 of a failed check", async () => {
    assert.equal((await run("doctor", "extra")).code, 2);
  });

  it("the overview documents the exit statuses", async () => {
    const { out } = await run("--help");
    assert.match(out, /exit status: 0 done \(no differences\); 1 differences found/);
  });
});
