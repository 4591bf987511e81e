/** `npm run gen:api`: regenerate src/renderer/api/schema.d.ts from the host in this repository. */

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { fetchOpenApi, generateApiTypes, SCHEMA_FILE } from "./apiTypes.js";

const electronRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "enttok-gen-api-"));
try {
  const types = await generateApiTypes(await fetchOpenApi(path.dirname(electronRoot), dataDir));
  fs.writeFileSync(path.join(electronRoot, SCHEMA_FILE), types);
  console.log(`wrote ${SCHEMA_FILE}`);
} finally {
  fs.rmSync(dataDir, { recursive: true, force: true });
}
