import { writeFileSync } from "node:fs";
import { generateSchemaSource, SCHEMA_FILE } from "./schema-source.js";

/** `npm run client:generate`: rewrites client/src/schema.ts from the current OpenAPI document. */
writeFileSync(SCHEMA_FILE, await generateSchemaSource());
process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
