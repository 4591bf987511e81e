/** The renderer's generated host types must be what the real host serves now. */

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { fetchOpenApi, generateApiTypes, SCHEMA_FILE } from "../../scripts/apiTypes.js";
import { ELECTRON_ROOT, REPOSITORY_ROOT, temporaryDir } from "../support/env.js";

test("src/renderer/api/schema.d.ts matches the host's /openapi.json", async () => {
  const served = await generateApiTypes(await fetchOpenApi(REPOSITORY_ROOT, temporaryDir("openapi")));
  const committed = fs.readFileSync(path.join(ELECTRON_ROOT, SCHEMA_FILE), "utf8");
  assert.ok(
    committed === served,
    `${SCHEMA_FILE} differs from what the host serves: run \`npm run gen:api\` in electron/ and commit the file`,
  );
});
