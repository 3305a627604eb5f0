// The loader lives on the ground floor so that the translation log (a lower floor than ha/) renders ulogd's config with it too.
export { renderTemplate } from "../system/templates.js";
