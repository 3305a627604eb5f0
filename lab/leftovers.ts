// What a test or the lab may have left behind once it has torn down: its namespaces (and with them their links),
// its directories, and any process still running from them (a daemon, keepalived or conntrackd whose command line
// names its directory). Tests assert it is nothing, so a teardown that leaks fails loudly.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Netns } from "./netns.js";

export function leftovers(namespaces: readonly Netns[], directories: readonly string[]): string[] {
  const present = new Set(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((line) => line.split(" ")[0]));
  const processes = directories.flatMap((dir) => {
    const found = spawnSync("pgrep", ["-a", "-f", dir], { encoding: "utf8" });
    return found.stdout.split("\n").filter(Boolean).filter((line) => !line.includes("pgrep")).map((line) => `process ${line}`);
  });
  return [
    ...namespaces.filter((ns) => present.has(ns.name)).map((ns) => `network namespace ${ns.name}`),
    ...directories.filter((dir) => existsSync(dir)).map((dir) => `directory ${dir}`),
    ...processes,
  ];
}
