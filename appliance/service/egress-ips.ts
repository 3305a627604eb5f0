import { AppError, invalidField } from "../errors.js";
import type { EgressIp } from "../model.js";
import { parseAddress, requireUnicast, type Address } from "../net/cidr.js";
import * as reads from "../store/reads.js";
import * as rows from "../store/rows.js";
import type { WriteContext } from "../store/store.js";
import type { Db } from "../store/database.js";
import type { OwnAddresses } from "./own-addresses.js";

export function requireEgressIp(db: Db, address: string): EgressIp {
  const canonical = parseAddress(address, "address").address;
  const ip = reads.getEgressIp(db, canonical);
  if (!ip) throw new AppError("not-found", `egress IP ${canonical} does not exist`);
  return ip;
}

/** What makes an address usable as an egress IP; shared by the API and the store-invariant checker. */
export function checkEgressIpAddress(text: string, own: OwnAddresses, field = "address"): Address {
  const parsed = parseAddress(text, field);
  requireUnicast(parsed, field, { allowLinkLocal: false });
  if (own.isOwn(parsed.address)) {
    throw invalidField(field, `${parsed.address} is an address of this gateway, not a free address it can give out`);
  }
  return parsed;
}

export function createEgressIp(tx: WriteContext, input: { address: string; description?: string | undefined }, own: OwnAddresses): EgressIp {
  const parsed = checkEgressIpAddress(input.address, own);
  if (reads.getEgressIp(tx.db, parsed.address)) {
    throw new AppError("conflict", `egress IP ${parsed.address} already exists`, { fields: [{ field: "address", reason: "already exists" }] });
  }
  rows.insertEgressIp(tx.db, { address: parsed.address, family: parsed.family, description: input.description ?? "" }, tx.now);
  const created = reads.getEgressIp(tx.db, parsed.address) as EgressIp;
  tx.audit({ action: "create", resource: `egress-ips/${parsed.address}`, after: created });
  return created;
}

export function updateEgressIp(tx: WriteContext, address: string, input: { description: string }): EgressIp {
  const before = requireEgressIp(tx.db, address);
  if (before.description === input.description) return before;
  rows.updateEgressIpDescription(tx.db, before.address, input.description, tx.now);
  const after = reads.getEgressIp(tx.db, before.address) as EgressIp;
  tx.audit({ action: "update", resource: `egress-ips/${before.address}`, before, after });
  return after;
}

export function deleteEgressIp(tx: WriteContext, address: string): void {
  const before = requireEgressIp(tx.db, address);
  const users = reads.countMappingsUsingEgressIp(tx.db, before.address);
  if (users > 0) {
    throw new AppError("in-use", `egress IP ${before.address} is used by ${users} mapping(s); change or delete them first`);
  }
  if (before.cluster) {
    throw new AppError("in-use", `egress IP ${before.address} is granted to cluster ${before.cluster}; remove it from the cluster first`,
      { extra: { cluster: before.cluster } });
  }
  rows.deleteEgressIp(tx.db, before.address);
  tx.audit({ action: "delete", resource: `egress-ips/${before.address}`, before });
}
