import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { followFifo, type FollowedFifo } from "../system/fifo.js";

export type VrrpRole = "master" | "backup" | "fault" | "unknown";

/**
 * Follows keepalived's notify FIFO (lines like `INSTANCE "egw_inside" MASTER 150`) and reports this
 * gateway's role: the state of the inside instance, which the sync group keeps in step with the egress
 * IPs. It only listens: what a role change means for the store, conntrackd or the API is decided elsewhere.
 */
export class RoleTracker extends EventEmitter<{ role: [role: VrrpRole, previous: VrrpRole] }> {
  role: VrrpRole = "unknown";
  since = new Date().toISOString();
  private fifo: FollowedFifo | undefined;

  constructor(private readonly fifoPath: string, private readonly instanceName: string, private readonly log: Logger) {
    super();
  }

  /** A keepalived restart (the writer closing) never ends the stream: see followFifo. */
  start(): void {
    this.fifo = followFifo(this.fifoPath, (line) => this.handle(line.trim()), (error) => this.log.error({ err: error }, "notify fifo read failed"));
  }

  stop(): void {
    this.fifo?.close();
    this.fifo = undefined;
  }

  /**
   * keepalived is gone (the keepalived watch saw it die): there is no VRRP state to follow, so this gateway
   * is in fault until keepalived writes its state again. A restarted keepalived always announces its initial
   * state, which then counts as a change from fault.
   */
  lost(reason: string): void {
    if (this.role === "fault") return;
    const previous = this.role;
    this.role = "fault";
    this.since = new Date().toISOString();
    this.log.warn({ role: "fault", previous, reason }, "vrrp role changed: keepalived is not running");
    this.emit("role", "fault", previous);
  }

  /**
   * A role known without keepalived saying it, for a daemon that restarts beside a keepalived that keeps running
   * (systemd): keepalived writes its state to the FIFO only when it changes, so the new daemon would otherwise stay
   * "unknown" — and lead nothing — until the next transition. Taken only while nothing better is known.
   */
  assume(role: "master" | "backup", reason: string): void {
    if (this.role !== "unknown") return;
    this.role = role;
    this.since = new Date().toISOString();
    this.log.info({ role, previous: "unknown", reason }, "vrrp role changed");
    this.emit("role", role, "unknown");
  }

  /** Exposed for tests: one notification line as keepalived writes it. */
  handle(line: string): void {
    const match = /^(GROUP|INSTANCE) "([^"]+)" (MASTER|BACKUP|FAULT|STOP|DELETED)\b/.exec(line);
    if (!match) return;
    this.log.debug({ line }, "vrrp notification");
    if (match[1] !== "INSTANCE" || match[2] !== this.instanceName) return;
    const state = match[3] as string;
    const role: VrrpRole = state === "MASTER" ? "master" : state === "BACKUP" ? "backup" : state === "FAULT" ? "fault" : "unknown";
    if (role === this.role) return;
    const previous = this.role;
    this.role = role;
    this.since = new Date().toISOString();
    this.log.info({ role, previous }, "vrrp role changed");
    this.emit("role", role, previous);
  }
}
