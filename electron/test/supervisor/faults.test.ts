/**
 * Faults the real host cannot be made to show on demand, provoked with small fake runtimes
 * (test/fixtures): a host that never becomes ready, one that crashes after it was ready, one
 * that ignores SIGTERM; and a runtime that is not there at all.
 */

import assert from "node:assert/strict";
import path from "node:path";
import { after, describe, test } from "node:test";

import type { ServerStatusEvent } from "../../src/shared/contract.js";
import { isAlive } from "../../src/supervisor/processes.js";
import { developmentRuntime, type Runtime } from "../../src/supervisor/runtime.js";
import { HostSupervisor, type SupervisorOptions } from "../../src/supervisor/supervisor.js";
import { fakeRuntime, nextEvent, REPOSITORY_ROOT, temporaryDir, waitFor } from "../support/env.js";

const supervisors: HostSupervisor[] = [];

function supervise(runtime: () => Runtime, overrides: Partial<SupervisorOptions> = {}): HostSupervisor {
  const dir = temporaryDir("faults");
  const supervisor = new HostSupervisor({
    runtime,
    dataDir: path.join(dir, "data"),
    logDir: path.join(dir, "logs"),
    ...overrides,
  });
  supervisors.push(supervisor);
  return supervisor;
}

after(async () => {
  for (const supervisor of supervisors) await supervisor.stop();
});

describe("the supervisor's faults", () => {
  test("a host that never prints its ready line is stopped at the start timeout, in error", async () => {
    const supervisor = supervise(() => fakeRuntime("never-ready.mjs"), { startTimeoutMs: 1500 });
    let spawnedPid: number | undefined;
    supervisor.on("status", (event: ServerStatusEvent) => (spawnedPid ??= event.pid));
    const result = await supervisor.start();
    assert.equal(result.success, false);
    assert.equal(result.message, "The server did not become ready within 2 s and was stopped. Its log shows what it was doing.");
    assert.equal(supervisor.getStatus().status, "error");
    assert.ok(supervisor.getStatus().logs.includes("fake host: loading forever"));
    assert.ok(spawnedPid);
    await waitFor("the never-ready host to be gone", () => !isAlive(spawnedPid!));
  });

  test("no uv on PATH is an error that says what to install", async () => {
    const supervisor = supervise(() => developmentRuntime(REPOSITORY_ROOT, "", ""));
    const result = await supervisor.start();
    assert.equal(result.success, false);
    assert.match(result.message, /^The Python runtime was not found: `uv` is not on PATH\. Install uv/);
    assert.equal(supervisor.getStatus().status, "error");
  });

  test("a runtime that cannot be executed is an error naming it", async () => {
    const missing: Runtime = { command: "/nonexistent/python3", args: [], cwd: REPOSITORY_ROOT, description: "the bundled host" };
    const supervisor = supervise(() => missing);
    const result = await supervisor.start();
    assert.equal(result.success, false);
    assert.match(result.message, /^The Python runtime could not be started \(the bundled host: .*ENOENT/);
  });

  test("restarts a crashing host with backoff, then gives up with the reason shown", async () => {
    const supervisor = supervise(() => fakeRuntime("serves-then-crashes.mjs"), {
      restart: { backoffMs: [50, 100], maxCrashes: 3, windowMs: 60_000 },
    });
    let readies = 0;
    supervisor.on("ready", () => readies++);
    const gaveUp = nextEvent<ServerStatusEvent>(supervisor, "status", (event) => event.status === "error");
    assert.equal((await supervisor.start()).success, true);
    await gaveUp;
    assert.equal(readies, 3, "started, then restarted twice");
    const status = supervisor.getStatus();
    assert.match(status.lastError ?? "", /^The server stopped unexpectedly 3 times within 60 s \(last: exit code 3\) and is not restarted again/);
    assert.match(status.logs.join("\n"), /restarting in 0\.1 s/);
    assert.equal(supervisor.connection(), null);
  });

  test("a host that ignores SIGTERM is ended by force, with its own children", async () => {
    const supervisor = supervise(() => fakeRuntime("stubborn.mjs"), { stopTimeoutMs: 500 });
    assert.equal((await supervisor.start()).success, true);
    const hostPid = supervisor.getStatus().pid!;
    const grandchild = Number(/grandchild (\d+)/.exec(supervisor.getStatus().logs.join("\n"))![1]);
    assert.ok(isAlive(grandchild));
    const result = await supervisor.stop();
    assert.equal(result.message, "The server did not stop within 1 s and was ended by force.");
    assert.ok(supervisor.getStatus().logs.includes("fake host: SIGTERM ignored"));
    assert.equal(isAlive(hostPid), false);
    await waitFor("the host's own child to be gone", () => !isAlive(grandchild));
    assert.equal(supervisor.getStatus().status, "stopped");
  });

  test("stop during the backoff wait cancels the restart", async () => {
    const supervisor = supervise(() => fakeRuntime("serves-then-crashes.mjs"), {
      restart: { backoffMs: [60_000], maxCrashes: 3, windowMs: 60_000 },
    });
    await supervisor.start();
    await nextEvent<ServerStatusEvent>(supervisor, "status", (event) => event.status === "starting");
    const result = await supervisor.stop();
    assert.equal(result.success, true);
    assert.equal(supervisor.getStatus().status, "stopped");
  });
});
