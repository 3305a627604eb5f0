import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { STATUS_PAGE_DIR } from "../paths.js";

/** One file of the status page, as it is served. */
export interface PageFile {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  /** A strong validator of the content, so a browser revalidates cheaply and an upgrade is seen at once. */
  etag: string;
}

/**
 * The page's files by name: a fixed list, so no request path ever reaches the file system. They are shipped as
 * written (no build step) and read once, on first use.
 */
const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "favicon.svg": "image/svg+xml",
};

export class StatusPageFiles {
  readonly #cache = new Map<string, PageFile>();

  constructor(private readonly directory: string = STATUS_PAGE_DIR) {}

  /** The file, or undefined when `name` is not one of the page's. */
  get(name: string): PageFile | undefined {
    const contentType = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (contentType === undefined) return undefined;
    let file = this.#cache.get(name);
    if (!file) {
      const body = new Uint8Array(readFileSync(join(this.directory, name)));
      file = { body, contentType, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
      this.#cache.set(name, file);
    }
    return file;
  }
}
