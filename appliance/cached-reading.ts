/**
 * A reading of something slow to read (an nft listing is a process and a netlink dump) that many callers want:
 * every caller within `maxAgeMs` of the last reading shares it, and concurrent callers share the one in flight,
 * so a flood of scrapes costs one reading per interval instead of one per request.
 */
export class CachedReading<T> {
  private value: { at: number; result: T } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(private readonly read: () => Promise<T>, private readonly maxAgeMs: number, private readonly now: () => number = () => performance.now()) {}

  get(): Promise<T> {
    if (this.value && this.now() - this.value.at < this.maxAgeMs) return Promise.resolve(this.value.result);
    this.inFlight ??= this.read()
      .then((result) => {
        this.value = { at: this.now(), result };
        return result;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
