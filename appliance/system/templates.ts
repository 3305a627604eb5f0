import Handlebars from "handlebars";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TEMPLATES_DIR } from "../paths.js";

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/**
 * Renders a template from templates/. Templates hold layout only; every decision about what goes into them
 * is made in typed, tested code (the *-view.ts builders). HTML escaping is off: these are config files.
 */
export function renderTemplate(name: string, view: object): string {
  let template = compiled.get(name);
  if (!template) {
    template = Handlebars.compile(readFileSync(join(TEMPLATES_DIR, name), "utf8"), { noEscape: true, strict: true });
    compiled.set(name, template);
  }
  return template(view);
}
