import type { CommandRunner } from "../system/runner.js";
import { hostPrefixLength, parseAddress, parsePrefix } from "../net/cidr.js";
import { runIpBatch } from "./ip-batch.js";

export interface KernelRoute {
  prefix: string;
  via: string;
}

export const routeKey = (route: KernelRoute): string => `${route.prefix} via ${route.via}`;

/**
 * Pod routes in the main table, marked with our own routing protocol number: listing and deleting by that
 * number means we can never touch a route an operator or another daemon installed.
 */
export class RouteManager {
  constructor(
    private readonly runner: CommandRunner,
    private readonly protocol: number,
    private readonly insideInterface: string,
  ) {}

  async list(): Promise<KernelRoute[]> {
    const routes: KernelRoute[] = [];
    for (const family of ["-4", "-6"]) {
      const result = await this.runner.run("ip", ["-j", family, "route", "show", "proto", String(this.protocol)]);
      const rows = JSON.parse(result.stdout || "[]") as { dst: string; gateway?: string }[];
      for (const row of rows) {
        if (!row.gateway) continue;
        const dst = row.dst.includes("/") ? row.dst : `${row.dst}/${hostPrefixLength(row.dst)}`;
        routes.push({ prefix: parsePrefix(dst, "dst").cidr, via: parseAddress(row.gateway, "gateway").address });
      }
    }
    return routes;
  }

  /**
   * Brings the kernel from `actual` to `desired`, touching only what differs, in one `ip -batch` (a
   * thousand routes are one process, not a thousand). Returns how many changes.
   */
  async converge(desired: KernelRoute[], actual: KernelRoute[]): Promise<number> {
    const want = new Map(desired.map((r) => [r.prefix, r]));
    const have = new Map(actual.map((r) => [r.prefix, r]));
    const lines: string[][] = [];
    for (const route of desired) {
      if (have.get(route.prefix)?.via === route.via) continue;
      // `replace` is idempotent: it installs or corrects the route in one step.
      lines.push(["route", "replace", route.prefix, "via", route.via, "dev", this.insideInterface, "proto", String(this.protocol)]);
    }
    for (const route of actual) {
      if (want.has(route.prefix)) continue;
      lines.push(["route", "del", route.prefix, "via", route.via, "proto", String(this.protocol)]);
    }
    // A route that is already gone is what a deletion wants.
    await runIpBatch(this.runner, lines, (f) => f.line.startsWith("route del ") && /No such process/.test(f.error));
    return lines.length;
  }
}
