import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { optionWords, subcommandsOf } from "../../../appliance/cli/completion.js";
import { COMMANDS } from "../../../appliance/cli/main.js";
import { egw, LAB_COMPLETION } from "../../../bin/dispatch.js";
import { LAB_USAGE } from "../../../lab/cli.js";
import { captureIo } from "./fake-api.js";

/** What bash completes for the words typed so far (the last one is the word being completed). */
function complete(script: string, words: string[]): string[] {
  const program = `source "$1"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _egw; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = spawnSync("bash", ["-c", program, "bash", script], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split("\n").filter((line) => line !== "");
}

describe("egw completion bash", () => {
  let dir: string;
  let script: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "egw-completion-"));
    script = join(dir, "egw.bash");
    const io = captureIo();
    assert.equal(await egw(["completion", "bash"], io), 0);
    writeFileSync(script, io.out());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is valid bash (bash -n) and registers itself for egw", () => {
    const check = spawnSync("bash", ["-n", script], { encoding: "utf8" });
    assert.equal(check.status, 0, check.stderr);
    const registered = spawnSync("bash", ["-c", `source "$1"; complete -p egw`, "bash", script], { encoding: "utf8" });
    assert.equal(registered.stdout.trim(), "complete -F _egw egw");
  });

  it("knows every command the CLI has, the lab's too", () => {
    const offered = complete(script, ["egw", ""]);
    for (const name of [...Object.keys(COMMANDS), "lab", "completion", "help"]) assert.ok(offered.includes(name), `egw ${name}`);
  });

  it("offers each command's subcommands and every option it parses", () => {
    for (const [name, command] of Object.entries(COMMANDS)) {
      const subs = subcommandsOf(name, command.usage);
      if (subs.length > 0) assert.deepEqual(complete(script, ["egw", name, ""]).sort(), [...subs].sort(), `egw ${name} <TAB>`);
      const options = complete(script, ["egw", name, "-"]);
      for (const option of optionWords(command.options)) assert.ok(options.includes(option), `egw ${name} ${option}`);
    }
    assert.deepEqual(complete(script, ["egw", "routes", "a"]).sort(), ["add", "apply"]);
    assert.deepEqual(complete(script, ["egw", "routes", "add", "prod", "--v"]).sort(), ["--version", "--via"]);
  });

  it("completes --format's values, and files after an option that takes one", () => {
    assert.deepEqual(complete(script, ["egw", "openapi", "--format", ""]), ["json", "yaml", "markdown"]);
    writeFileSync(join(dir, "mappings.yaml"), "[]\n");
    assert.deepEqual(complete(script, ["egw", "mappings", "apply", "prod", "-f", join(dir, "mapp")]), [join(dir, "mappings.yaml")]);
    assert.deepEqual(complete(script, ["egw", "clusters", "create", "x", "--description", ""]), [], "free text: nothing to offer");
  });

  it("its words for the lab are the lab's own (bin/dispatch.ts cannot load the lab to ask it)", () => {
    assert.deepEqual(subcommandsOf("lab", LAB_COMPLETION.usage), subcommandsOf("lab", LAB_USAGE));
    const inUsage = new Set([...LAB_USAGE.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]));
    assert.deepEqual([...inUsage].sort(), optionWords(LAB_COMPLETION.options).filter((o) => o !== "--help" && o !== "--version" && o !== "-h").sort());
  });
});
