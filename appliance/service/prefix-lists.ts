import type { FieldProblem } from "../errors.js";
import { findOverlap, parsePrefix, type Prefix } from "../net/cidr.js";

/** One entry of a submitted prefix list, with the field path that names it in errors. */
export interface ListedPrefix {
  prefix: Prefix;
  index: number;
  field: string;
}

/** Parses `list`, naming entry i `field.i`; a malformed entry is a 422 for that field. */
export function parsePrefixList(list: readonly string[] | undefined, field: string): ListedPrefix[] {
  return (list ?? []).map((text, index) => ({ prefix: parsePrefix(text, `${field}.${index}`), index, field: `${field}.${index}` }));
}

/**
 * The first pair of overlapping (or duplicate) entries, as a problem on the later entry that names the
 * earlier one. Destination lists become interval sets in the kernel, which refuse overlapping elements
 * and with them the whole nft batch, every tenant's changes included; so overlaps are refused at the door
 * instead of being silently merged.
 */
export function overlapProblem(items: readonly ListedPrefix[]): FieldProblem | undefined {
  const clash = findOverlap([...items], (item) => item.prefix);
  if (!clash) return undefined;
  const [first, second] = clash[0].index < clash[1].index ? clash : [clash[1], clash[0]];
  return { field: second.field, reason: `overlaps ${first.field} (${first.prefix.cidr})` };
}

/** Canonical order, so that a set re-sent in another order is the same set. */
export function sortedCidrs(items: readonly ListedPrefix[]): string[] {
  return [...items]
    .sort((a, b) => a.prefix.family - b.prefix.family || (a.prefix.start < b.prefix.start ? -1 : a.prefix.start > b.prefix.start ? 1 : 0))
    .map((item) => item.prefix.cidr);
}
