import { setImmediate as nextTurn } from "node:timers/promises";

interface PendingTimer {
  id: number;
  at: number;
  fn: () => void;
}

/**
 * A clock whose time moves only when the test says so. Timers fire in time order, each with the clock set to its
 * own instant, and promises settle between them (an injected async lookup resolves before the next timer runs).
 */
export class FakeTimers {
  private time: number;
  private nextId = 1;
  private pending: PendingTimer[] = [];

  constructor(start = Date.UTC(2030, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): number {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    this.pending.push(timer);
    return timer.id;
  }

  clearTimer(handle: unknown): void {
    this.pending = this.pending.filter((timer) => timer.id !== handle);
  }

  /** How many timers are set and not yet fired or cleared. */
  get timerCount(): number {
    return this.pending.length;
  }

  /** Runs every timer due up to `ms` from now, in order, then leaves the clock there. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.time + ms);
  }

  async advanceTo(target: number): Promise<void> {
    await settle();
    for (;;) {
      const due = this.pending.filter((timer) => timer.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.pending = this.pending.filter((timer) => timer !== due);
      this.time = due.at;
      due.fn();
      await settle();
    }
    this.time = target;
  }
}

/** Lets every promise that can settle now settle. */
export async function settle(): Promise<void> {
  await nextTurn();
}
