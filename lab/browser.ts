// Headless Chromium inside a lab namespace, for the status page's tests. The browser runs in the namespace (through
// `ip netns exec`), so it reaches a daemon's listener there without anything being exposed on the host; Playwright
// drives it over a pipe, which crosses namespaces.
import { accessSync, chmodSync, constants, mkdirSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { Netns } from "./netns.js";

/** Debian's chromium (the CI root has it at the same place); otherwise the first `chromium` on PATH. */
export function chromiumPath(): string {
  const candidates = ["/usr/bin/chromium", ...(process.env["PATH"] ?? "").split(delimiter).filter(Boolean).map((dir) => join(dir, "chromium"))];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error("chromium is not installed (apt-get install chromium)");
}

export interface NamespacedBrowser {
  browser: Browser;
  /** A new page of 1280x800, the size the status page is laid out for. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Launches headless Chromium inside `ns`. `dir` (the test's own directory, removed by its cleanup) holds the
 * wrapper script and the browser's HOME, so nothing is written elsewhere.
 */
export async function launchInNamespace(ns: Netns, dir: string): Promise<NamespacedBrowser> {
  const home = join(dir, "chromium-home");
  mkdirSync(home, { recursive: true });
  const wrapper = join(dir, "chromium-in-netns.sh");
  // The script names nothing itself: the namespace and the browser come in its environment.
  writeFileSync(wrapper, '#!/bin/sh\nexec ip netns exec "$EGW_BROWSER_NETNS" "$EGW_BROWSER" "$@"\n');
  chmodSync(wrapper, 0o755);
  const browser = await chromium.launch({
    executablePath: wrapper,
    headless: true,
    // As root the sandbox cannot start; the browser only ever loads the lab daemon's own page.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
      // Names `dir` on the browser's command line, so a leftover check for `dir` also finds a browser left running.
      `--disk-cache-dir=${join(home, "cache")}`],
    env: { ...process.env, EGW_BROWSER_NETNS: ns.name, EGW_BROWSER: chromiumPath(), HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_CACHE_HOME: join(home, ".cache") },
    timeout: 60_000,
  });
  return {
    browser,
    newPage: () => browser.newPage({ viewport: { width: 1280, height: 800 } }),
    close: () => browser.close().catch(() => undefined),
  };
}
