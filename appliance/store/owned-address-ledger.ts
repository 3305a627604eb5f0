import type { Db } from "./database.js";
import * as reads from "./reads.js";
import * as rows from "./rows.js";

export interface OwnedAddressLedger {
  list(): string[];
  record(address: string): void;
  forget(address: string): void;
}

/**
 * The egress IPs a single gateway added to `iface` itself: it removes only those, never an address an operator
 * put there. Kept in the store so the knowledge survives a restart.
 */
export function ownedAddressLedger(db: Db, iface: string): OwnedAddressLedger {
  return {
    list: () => reads.listOwnedAddresses(db).filter((a) => a.interface === iface).map((a) => a.address),
    record: (address) => rows.recordOwnedAddress(db, address, iface),
    forget: (address) => rows.forgetOwnedAddress(db, address, iface),
  };
}
