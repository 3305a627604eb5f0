import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { PACKAGE_ROOT } from "../../../appliance/paths.js";

/**
 * The install steps have one source: scripts/install-gateway.sh (the Vagrant lab's gateways run it). The
 * operator's guide quotes the script's block between `# install-gateway:begin` and `# install-gateway:end`
 * verbatim, as a ```sh block between `<!-- install-gateway:begin -->` and `<!-- install-gateway:end -->`.
 */
const SCRIPT = join(PACKAGE_ROOT, "scripts", "install-gateway.sh");
const GUIDE = join(PACKAGE_ROOT, "docs", "operator-guide.md");

function between(lines: string[], begin: string, end: string, where: string): string[] | undefined {
  const start = lines.findIndex((l) => l.trim() === begin);
  const stop = lines.findIndex((l) => l.trim() === end);
  if (start < 0 && stop < 0) return undefined;
  assert.ok(start >= 0 && stop > start, `${where}: "${begin}" must come before "${end}", once each`);
  return lines.slice(start + 1, stop);
}

function scriptBlock(): string[] {
  const block = between(readFileSync(SCRIPT, "utf8").split("\n"), "# install-gateway:begin", "# install-gateway:end", SCRIPT);
  assert.ok(block && block.length > 0, `${SCRIPT} has no install-gateway block`);
  return block;
}

const markers = between(readFileSync(GUIDE, "utf8").split("\n"), "<!-- install-gateway:begin -->", "<!-- install-gateway:end -->", GUIDE);

describe("the operator's guide and scripts/install-gateway.sh hold the same install steps", () => {
  it("the script's block is a plain sequence of commands a reader can follow", () => {
    const block = scriptBlock();
    assert.ok(block.some((l) => l.startsWith("apt-get install -y \"$PACKAGE\"")), "installs the package with apt, which brings its dependencies");
    assert.ok(!block.some((l) => /\b(npm|git|gcc|make|build-essential)\b/.test(l.replace(/^#.*/, ""))), "no build tool on the gateway");
    assert.ok(block.some((l) => l === "egw --version"), "shows the installed version");
  });

  it("the guide quotes the script's block verbatim", {
    skip: markers === undefined
      ? "docs/operator-guide.md has no <!-- install-gateway:begin --> / <!-- install-gateway:end --> markers yet: add them around a ```sh block that quotes the block of scripts/install-gateway.sh"
      : false,
  }, () => {
    const quoted = (markers ?? []).filter((l) => l.trim() !== "");
    assert.match(quoted[0] ?? "", /^```(sh|bash)$/, "the block is a ```sh code block");
    assert.equal(quoted[quoted.length - 1], "```", "the code block ends before <!-- install-gateway:end -->");
    const fenceStart = (markers ?? []).findIndex((l) => /^```(sh|bash)$/.test(l));
    const fenceEnd = (markers ?? []).lastIndexOf("```");
    const guide = (markers ?? []).slice(fenceStart + 1, fenceEnd).map((l) => l.trimEnd());
    const script = scriptBlock().map((l) => l.trimEnd());
    const first = guide.findIndex((line, i) => line !== script[i]);
    const differs = first >= 0 ? first : guide.length !== script.length ? Math.min(guide.length, script.length) : -1;
    assert.equal(differs, -1,
      `docs/operator-guide.md's install block differs from scripts/install-gateway.sh at line ${differs + 1} of the block:\n` +
      `  guide:  ${JSON.stringify(guide[differs])}\n  script: ${JSON.stringify(script[differs])}\n` +
      "The script is the source: copy its block (between # install-gateway:begin and # install-gateway:end) into the guide.");
  });
});
