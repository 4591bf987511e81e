/**
 * A supervising process for the no-orphan test: starts the real host under a supervisor,
 * prints `host pid <pid>` and waits to be killed. Argument: a temporary dir for its data.
 */

import path from "node:path";

import { developmentRuntime } from "../../src/supervisor/runtime.js";
import { HostSupervisor } from "../../src/supervisor/supervisor.js";
import { REPOSITORY_ROOT } from "./env.js";

const dir = process.argv[2]!;
const supervisor = new HostSupervisor({
  runtime: () => developmentRuntime(REPOSITORY_ROOT),
  dataDir: path.join(dir, "data"),
  logDir: path.join(dir, "logs"),
});
const result = await supervisor.start();
if (!result.success) {
  console.error(result.message);
  process.exit(1);
}
console.log(`host pid ${supervisor.getStatus().pid}`);
setInterval(() => {}, 1000);
