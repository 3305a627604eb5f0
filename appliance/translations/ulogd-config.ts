import type { Config } from "../config/schema.js";
import { renderTemplate } from "../system/templates.js";

export interface UlogdView {
  generatedFor: string;
  pluginDirectory: string;
  spoolPath: string;
  /** NFCT's event_mask: 1 NEW | 4 DESTROY (no UPDATE: a translation does not change after NEW). */
  eventMask: number;
  netlinkBufferBytes: number;
  netlinkBufferMaxBytes: number;
  sync: 0 | 1;
}

/**
 * The values of ulogd's config. hash_enable=0: ulogd would otherwise keep its own table of every connection to pair
 * NEW with DESTROY, which the store does already. reliable=1 sets NETLINK_BROADCAST_ERROR and NETLINK_NO_ENOBUFS:
 * the kernel re-sends a DESTROY it could not deliver, and a lost NEW comes back with the next packet or at the
 * DESTROY. sync=1 (fflush per line): a line is in the spool before ulogd reads the next event, so a crash of ulogd
 * loses at most the event it was writing; the file is read back at once anyway, from the page cache.
 */
export function ulogdView(log: Config["translationLog"], paths: { spoolPath: string; generatedFor: string }): UlogdView {
  return {
    generatedFor: paths.generatedFor,
    pluginDirectory: log.ulogd.pluginDirectory.replace(/\/+$/, ""),
    spoolPath: paths.spoolPath,
    eventMask: 1 | 4,
    netlinkBufferBytes: log.ulogd.netlinkBufferBytes,
    netlinkBufferMaxBytes: log.ulogd.netlinkBufferMaxBytes,
    sync: 1,
  };
}

/** ulogd's config text; its own log goes to stdout, which the supervisor forwards to the daemon's log. */
export function renderUlogdConfig(log: Config["translationLog"], paths: { spoolPath: string; generatedFor: string }): string {
  return renderTemplate("ulogd.conf.hbs", ulogdView(log, paths));
}
