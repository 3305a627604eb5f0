import { intersect, subtract, type AddressRange, type NumberRange } from "./intervals.js";

/** What one rule covers, in the order the rules are evaluated (earlier wins). */
export interface Coverage {
  /** The rule's index: the owner written on the pieces it wins. */
  owner: number;
  /** Normalized ranges that hold until the rule changes. */
  permanent: readonly AddressRange[];
  /** DNS-derived single addresses and when their answer expires (ms epoch); none inside `permanent`. */
  dns: ReadonlyMap<bigint, number>;
  /** Normalized protocol numbers (0-255) and ports (0-65535). */
  protocols: readonly NumberRange[];
  ports: readonly NumberRange[];
}

/** One disjoint box of the (destination, protocol, port) space and the rule that wins it. */
export interface Piece {
  address: AddressRange;
  protocol: NumberRange;
  port: NumberRange;
  owner: number;
  /** Present when the winning coverage came from DNS: the earliest expiry merged into this piece. */
  expiresAt?: number;
}

interface Box {
  protocol: NumberRange;
  port: NumberRange;
  /** Index into the active list the box was computed for. */
  winner: number;
}

interface Plane {
  boxes: Box[];
  /** The boxes as text, to tell whether two address segments may become one piece. */
  signature: string;
}

const ALL_PORTS: NumberRange[] = [{ lo: 0, hi: 65535 }];

function covers(ranges: readonly NumberRange[], value: number): boolean {
  return ranges.some((r) => r.lo <= value && value <= r.hi);
}

function isWhole(coverage: Coverage): boolean {
  const [p] = coverage.protocols;
  const [t] = coverage.ports;
  return coverage.protocols.length === 1 && p?.lo === 0 && p.hi === 255 && coverage.ports.length === 1 && t?.lo === 0 && t.hi === 65535;
}

/**
 * The (protocol, port) plane of one address segment, first coverage wins: the protocol axis is cut where any
 * coverage starts or ends, each cut gets its ports handed out first-come, and neighbouring cuts with the same
 * ports become one.
 */
function plane(active: readonly Coverage[]): Box[] {
  const first = active[0];
  if (first && isWhole(first)) return [{ protocol: { lo: 0, hi: 255 }, port: { lo: 0, hi: 65535 }, winner: 0 }];
  const cuts = new Set<number>();
  for (const c of active) for (const r of c.protocols) cuts.add(r.lo).add(r.hi + 1);
  const bounds = [...cuts].sort((a, b) => a - b);
  const out: Box[] = [];
  let previous: { protocol: NumberRange; ports: Box[]; text: string } | undefined;
  const flush = () => {
    if (previous) out.push(...previous.ports.map((b) => ({ ...b, protocol: previous!.protocol })));
    previous = undefined;
  };
  for (let k = 0; k + 1 < bounds.length; k++) {
    const protocol = { lo: bounds[k] as number, hi: (bounds[k + 1] as number) - 1 };
    let remaining: NumberRange[] = ALL_PORTS;
    const ports: Box[] = [];
    for (let i = 0; i < active.length && remaining.length > 0; i++) {
      const c = active[i] as Coverage;
      if (!covers(c.protocols, protocol.lo)) continue;
      for (const port of intersect(remaining, c.ports)) ports.push({ protocol, port, winner: i });
      remaining = subtract(remaining, c.ports);
    }
    if (ports.length === 0) {
      flush();
      continue;
    }
    ports.sort((a, b) => a.port.lo - b.port.lo);
    const text = ports.map((b) => `${b.port.lo}-${b.port.hi}:${b.winner}`).join(",");
    if (previous && previous.text === text && previous.protocol.hi + 1 === protocol.lo) {
      previous.protocol = { lo: previous.protocol.lo, hi: protocol.hi };
    } else {
      flush();
      previous = { protocol, ports, text };
    }
  }
  flush();
  return out;
}

interface Event {
  at: bigint;
  /** Position of the coverage in evaluation order. */
  rank: number;
  start: boolean;
  expiresAt?: number;
}

/**
 * Cuts what `coverages` cover into disjoint pieces, each owned by the first coverage that covers it. The address
 * axis is swept once; segments whose planes agree (same boxes, same owners, DNS-derived or not alike) are joined,
 * so a rule's whole prefix comes out as one piece per box.
 */
export function decompose(coverages: readonly Coverage[]): Piece[] {
  const events: Event[] = [];
  coverages.forEach((c, rank) => {
    for (const r of c.permanent) events.push({ at: r.lo, rank, start: true }, { at: r.hi + 1n, rank, start: false });
    for (const [at, expiresAt] of c.dns) events.push({ at, rank, start: true, expiresAt }, { at: at + 1n, rank, start: false });
  });
  // Ends before starts at the same boundary: a rule's DNS address may adjoin its own prefix.
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : Number(a.start) - Number(b.start)));
  const planes = new Map<string, Plane>();
  const active = new Map<number, number | undefined>();
  const pieces: Piece[] = [];
  let open: { address: AddressRange; signature: string; boxes: Piece[] } | undefined;
  const close = () => {
    if (open) pieces.push(...open.boxes.map((b) => ({ ...b, address: open!.address })));
    open = undefined;
  };
  let i = 0;
  while (i < events.length) {
    const at = (events[i] as Event).at;
    for (; i < events.length && (events[i] as Event).at === at; i++) {
      const e = events[i] as Event;
      if (e.start) active.set(e.rank, e.expiresAt);
      else active.delete(e.rank);
    }
    if (active.size === 0 || i >= events.length) {
      close();
      continue;
    }
    const address = { lo: at, hi: (events[i] as Event).at - 1n };
    const ranks = [...active.keys()].sort((a, b) => a - b);
    const planeKey = ranks.join(",");
    let found = planes.get(planeKey);
    if (!found) {
      const boxes = plane(ranks.map((r) => coverages[r] as Coverage));
      found = { boxes, signature: boxes.map((b) => `${b.protocol.lo}-${b.protocol.hi}/${b.port.lo}-${b.port.hi}:${(coverages[ranks[b.winner] as number] as Coverage).owner}`).join(",") };
      planes.set(planeKey, found);
    }
    const boxes: Piece[] = found.boxes.map((b) => {
      const rank = ranks[b.winner] as number;
      const expiresAt = active.get(rank);
      const piece: Piece = { address, protocol: b.protocol, port: b.port, owner: (coverages[rank] as Coverage).owner };
      // A DNS address that a later rule also allows by prefix stays allowed when it expires: the piece keeps no
      // kernel timeout then (only its counter is the earlier rule's until the next render), so a daemon that is
      // down past the expiry never refuses what the prefix allows.
      const backed = ranks.some((r) => r > rank && active.get(r) === undefined && coversBox(coverages[r] as Coverage, b));
      if (expiresAt !== undefined && !backed) piece.expiresAt = expiresAt;
      return piece;
    });
    const signature = `${found.signature}|${boxes.map((b) => (b.expiresAt === undefined ? "p" : "d")).join("")}`;
    if (open && open.signature === signature && open.address.hi + 1n === address.lo) {
      open.address = { lo: open.address.lo, hi: address.hi };
      open.boxes.forEach((b, k) => {
        const next = (boxes[k] as Piece).expiresAt;
        if (b.expiresAt !== undefined && next !== undefined && next < b.expiresAt) b.expiresAt = next;
      });
    } else {
      close();
      open = { address, signature, boxes };
    }
  }
  close();
  return pieces;
}

/** Whether a coverage's protocols and ports hold the whole box (both are normalized: one range must hold it). */
function coversBox(coverage: Coverage, box: { protocol: NumberRange; port: NumberRange }): boolean {
  const holds = (ranges: readonly NumberRange[], r: NumberRange) => ranges.some((c) => c.lo <= r.lo && r.hi <= c.hi);
  return holds(coverage.protocols, box.protocol) && holds(coverage.ports, box.port);
}
