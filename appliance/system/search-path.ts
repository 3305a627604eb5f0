const SYSTEM_DIRECTORIES = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/**
 * The PATH every command the daemon runs is looked up in: the inherited entries that are absolute paths, then
 * the system directories (sbin may be missing from a service's PATH). An empty or relative entry would make the
 * working directory (or a path relative to it) searchable, so that a file dropped there could run as `nft`.
 */
export function commandSearchPath(inherited: string | undefined = process.env["PATH"]): string {
  const entries = (inherited ?? "").split(":").filter((entry) => entry.startsWith("/"));
  return [...new Set([...entries, ...SYSTEM_DIRECTORIES])].join(":");
}

/**
 * What every command the daemon starts sees on top of the inherited environment: the search path above, and
 * the C locale, because error text is matched in places (nft's "No such file") and must stay untranslated.
 */
export function commandEnvironment(): { LC_ALL: string; PATH: string } {
  return { LC_ALL: "C", PATH: commandSearchPath() };
}
