/**
 * Prepares release-resources/host/venv for electron-builder's extraResources: the host, the
 * first-party plugins and their dependencies, installed (not linked) into a venv with
 * `uv sync --frozen --no-dev --no-editable`, from a lock made from the root constraints.
 *
 * The venv must carry its own interpreter to run on a machine without Python: uv makes it
 * from a uv-managed (standalone) Python, `--python-preference only-managed`, which a release
 * machine downloads once with `uv python install`. Not run on the test machines.
 */

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { developmentRuntime } from "../src/supervisor/runtime.js";

const electronRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const repositoryRoot = path.dirname(electronRoot);
const venv = path.join(electronRoot, "release-resources", "host", "venv");
const uv = developmentRuntime(repositoryRoot).command;

fs.rmSync(venv, { recursive: true, force: true });
const run = (args: string[]): void => {
  execFileSync(uv, args, {
    cwd: repositoryRoot,
    stdio: "inherit",
    env: { ...process.env, UV_PROJECT_ENVIRONMENT: venv, UV_PYTHON_PREFERENCE: "only-managed" },
  });
};
run(["lock"]);
run(["sync", "--frozen", "--no-dev", "--no-editable"]);
console.log(`host venv ready in ${venv}`);
