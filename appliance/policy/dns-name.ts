import { invalidField } from "../errors.js";

const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * Checks a policy destination's DNS name and returns it canonical: lower case, without the trailing dot. A name is
 * exact (`api.example.com`) or a zone's wildcard (`*.example.com`, resolved literally: what the zone's wildcard
 * record answers, RFC 4592). Labels are host names' (letters, digits, inner hyphens; IDNs in their xn-- form).
 */
export function checkDnsName(text: string, field: string): string {
  const name = (text.endsWith(".") ? text.slice(0, -1) : text).toLowerCase();
  if (name.length === 0) throw invalidField(field, "a DNS name must not be empty");
  if (name.length > MAX_NAME_LENGTH) throw invalidField(field, `"${text}" is longer than ${MAX_NAME_LENGTH} characters`);
  if (name.includes(":") || /^[0-9.]+$/.test(name)) {
    throw invalidField(field, `"${text}" is an IP address, not a DNS name; give it as a cidr destination`);
  }
  const labels = name.split(".");
  const wildcard = labels[0] === "*";
  const zone = wildcard ? labels.slice(1) : labels;
  // A top-level domain alone is no destination: TLDs carry no wildcard records and no hosts.
  if (zone.length < 2) {
    const what = wildcard ? "a wildcard needs a zone of at least two labels (*.example.com)" : "a DNS name needs at least two labels (example.com)";
    throw invalidField(field, `"${text}": ${what}`);
  }
  for (const label of zone) checkLabel(label, text, field);
  // RFC 3696 §2: a top-level domain is never all digits, so such a name can only be a mistyped address.
  if (/^[0-9]+$/.test(zone[zone.length - 1] ?? "")) {
    throw invalidField(field, `"${text}" ends in an all-numeric label, which no top-level domain is`);
  }
  return name;
}

function checkLabel(label: string, text: string, field: string): void {
  if (label.length === 0) throw invalidField(field, `"${text}" has an empty label (two dots in a row, or a leading dot)`);
  if (label.includes("*")) {
    throw invalidField(field, `"${text}": "*" may only be the whole first label (*.example.com)`);
  }
  if (label.length > MAX_LABEL_LENGTH) {
    throw invalidField(field, `"${text}" has a label longer than ${MAX_LABEL_LENGTH} characters`);
  }
  if (!LABEL.test(label)) {
    throw invalidField(field, `"${text}": label "${label}" may hold only letters, digits and inner hyphens (IDNs in their xn-- form)`);
  }
}
