import { z } from "@hono/zod-openapi";

/**
 * The shapes of what a client may send, below the API: the API validates requests with them (and documents
 * them in OpenAPI), and the store-invariant checker re-derives every replicated row through the same ones, so
 * a rule cannot differ between an API write and a replicated one.
 */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const dnsLabel = z.string()
  .regex(DNS_LABEL_PATTERN, "must be a DNS label: 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit");

/** Addresses and prefixes are checked in full by appliance/net/cidr; the schema bounds their shape. */
export const ipAddress = z.string().min(2).max(45).openapi({ example: "203.0.113.10", description: "IPv4 or IPv6 address" });
export const cidr = z.string().min(3).max(49).openapi({ example: "10.244.1.0/26", description: "Prefix in CIDR notation, no host bits set" });
/**
 * Free text that ends up in terminals and logs: no C0 controls, DEL, or C1 controls (U+0080-U+009F, which
 * some terminals obey like ESC sequences), so a stored value can never rewrite what an operator sees.
 */
export const printableText = z.string().regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, "must not contain control characters");
export const description = printableText.max(256);

const labelKey = z.string().min(1).max(63).regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, "must be a label key (letters, digits, '-', '_', '.')");

export const mappingInput = z.strictObject({
  name: dnsLabel.openapi({ example: "erp-prod", description: "Unique within the cluster; the key for POST/DELETE." }),
  sourceCidr: cidr,
  egressIp: ipAddress,
  destinations: z.array(cidr).max(256).optional()
    .openapi({ description: "Translate only traffic toward these prefixes; other traffic from the source is treated as unmapped. Entries must not overlap each other." }),
  excludedDestinations: z.array(cidr).max(256).optional()
    .openapi({ description: "Traffic toward these prefixes is forwarded untranslated, keeping the pod address. Each must lie inside one of the cluster's excludableDestinations (403 otherwise); entries must not overlap each other, but may overlap destinations." }),
  labels: z.record(labelKey, printableText.max(256)).optional()
    .refine((labels) => labels === undefined || Object.keys(labels).length <= 32, "at most 32 labels")
    .openapi({ example: { namespace: "erp", app: "billing" }, description: "At most 32; values up to 256 characters, without control characters." }),
}).openapi("MappingInput");

export const routeInput = z.strictObject({
  prefix: cidr.openapi({ example: "10.244.1.0/24", description: "Pod CIDR; must lie inside the cluster's source ranges." }),
  via: ipAddress.openapi({ example: "172.31.0.11", description: "Next hop on the inside network (usually the node)." }),
}).openapi("RouteInput");
