#!/usr/bin/env bash
# Regenerates the typed client's schema, client/src/schema.ts, from the OpenAPI document this checkout's code
# describes (the one the daemon serves at /openapi.json), then checks that everything compiles against it
# (`npm run client:generate`). Commit the result: a unit test fails while the committed file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
# Compile first. Type errors against the stale schema must not stop the regeneration that fixes them: tsc emits
# the JavaScript anyway, and the generator needs only the API's schemas.
node_modules/.bin/tsc -p tsconfig.json >/dev/null || true
node dist/client/codegen/generate.js
node_modules/.bin/tsc -p tsconfig.json
