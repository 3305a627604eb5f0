import { toSortableBytes, type Prefix } from "../net/cidr.js";

/**
 * How a prefix is stored beside its text: family and fixed-width big-endian range bounds, so that overlap
 * checks are index range scans (see 001_initial.sql).
 */
export function rangeColumns(prefix: Prefix): { family: number; start: Buffer; end: Buffer } {
  return { family: prefix.family, start: toSortableBytes(prefix.start, prefix.family), end: toSortableBytes(prefix.end, prefix.family) };
}
