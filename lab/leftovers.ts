// What a test or the lab may have left behind once it has torn down: its namespaces (and with them their links and
// processes) and its directories. Tests assert it is nothing, so a teardown that leaks fails loudly.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import type { Netns } from "./netns.js";

export function leftovers(namespaces: readonly Netns[], directories: readonly string[]): string[] {
  const present = new Set(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n").map((line) => line.split(" ")[0]));
  return [
    ...namespaces.filter((ns) => present.has(ns.name)).map((ns) => `network namespace ${ns.name}`),
    ...directories.filter((dir) => existsSync(dir)).map((dir) => `directory ${dir}`),
  ];
}
