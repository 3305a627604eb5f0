import type { Mapping } from "../model.js";
import { parseAddress, parsePrefix, prefixContainsAddress, type Prefix } from "../net/cidr.js";
import type { PolicyAttribution } from "./policy-log.js";

/**
 * Which cluster and mapping a refused connection's source belongs to: the mapping whose source CIDR holds it (no
 * two overlap). The parsed prefixes are rebuilt only when the store's revision moved. A linear scan: the log
 * sees at most policy.log.ratePerSecond events a second, so a few thousand mappings cost nothing that matters.
 */
export function mappingAttribution(store: { revision(): number; mappings(): readonly Mapping[] }): PolicyAttribution {
  let cached: { revision: number; prefixes: { prefix: Prefix; cluster: string; mapping: string }[] } | undefined;
  return (source) => {
    const revision = store.revision();
    if (cached?.revision !== revision) {
      cached = {
        revision,
        prefixes: store.mappings().map((m) => ({ prefix: parsePrefix(m.sourceCidr, "sourceCidr"), cluster: m.cluster, mapping: m.name })),
      };
    }
    const address = parseAddress(source, "source");
    const owner = cached.prefixes.find((p) => prefixContainsAddress(p.prefix, address));
    return owner && { cluster: owner.cluster, mapping: owner.mapping };
  };
}
