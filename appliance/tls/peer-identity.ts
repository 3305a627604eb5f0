import type { PeerCertificate } from "node:tls";

/**
 * Whether a certificate names the expected gateway, as its DNS subjectAltName or, lacking any, its common
 * name. Chain validation against the pinned certificates proves the peer holds a trusted key; the name
 * proves it is the gateway we mean (a CA that issues both gateways' certificates must not let one pose as
 * the other's peer in a larger group).
 */
export function certificateNames(certificate: Pick<PeerCertificate, "subject" | "subjectaltname">): string[] {
  const alt = (certificate.subjectaltname ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.startsWith("DNS:"))
    .map((entry) => entry.slice("DNS:".length));
  if (alt.length > 0) return alt;
  const cn = certificate.subject?.CN;
  return cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
}

export function certifiesName(certificate: Pick<PeerCertificate, "subject" | "subjectaltname">, name: string): boolean {
  return certificateNames(certificate).includes(name);
}
