import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** The package root, found from this compiled file (dist/appliance/paths.js) so it works wherever installed. */
export const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const MIGRATIONS_DIR = join(PACKAGE_ROOT, "migrations");
export const TEMPLATES_DIR = join(PACKAGE_ROOT, "templates");
export const STATUS_PAGE_DIR = join(PACKAGE_ROOT, "ui");
