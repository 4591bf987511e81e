/**
 * The supervisor against the real host: `uv run enttok serve --parent-watch` from this
 * repository, on a port the system picks, over real HTTP.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, describe, test } from "node:test";

import type { ServerStatusEvent, ServerStoppedEvent } from "../../src/shared/contract.js";
import { PidFile } from "../../src/supervisor/pidFile.js";
import { commandLineOf, isAlive, killTree } from "../../src/supervisor/processes.js";
import { developmentRuntime } from "../../src/supervisor/runtime.js";
import { HostSupervisor, type SupervisorOptions } from "../../src/supervisor/supervisor.js";
import { ELECTRON_ROOT, nextEvent, REPOSITORY_ROOT, temporaryDir, waitFor } from "../support/env.js";

const supervisors: HostSupervisor[] = [];

function realSupervisor(overrides: Partial<SupervisorOptions> = {}): HostSupervisor {
  const dir = temporaryDir("supervisor");
  const supervisor = new HostSupervisor({
    runtime: () => developmentRuntime(REPOSITORY_ROOT),
    dataDir: path.join(dir, "data"),
    logDir: path.join(dir, "logs"),
    runEnv: "dev",
    restart: { backoffMs: [100], maxCrashes: 3, windowMs: 60_000 },
    ...overrides,
  });
  supervisors.push(supervisor);
  return supervisor;
}

after(async () => {
  for (const supervisor of supervisors) await supervisor.stop();
});

async function hostStatus(supervisor: HostSupervisor): Promise<Response> {
  const connection = supervisor.connection();
  assert.ok(connection, "a running supervisor hands out a connection");
  return fetch(`${connection.baseUrl}/status`, { headers: { "X-Backend-Token": connection.token } });
}

describe("the supervisor with the real host", () => {
  test("starts the host and reads the real port from its ready line", async () => {
    const supervisor = realSupervisor();
    const ready = nextEvent(supervisor, "ready");
    const result = await supervisor.start();
    assert.equal(result.success, true, result.message);
    await ready;

    const status = supervisor.getStatus();
    assert.equal(status.status, "running");
    assert.ok(status.port > 0);
    assert.ok(status.pid && isAlive(status.pid));
    assert.ok(status.logs.some((line) => line.startsWith("ENTTOK_READY")), "the ready line is in the log buffer");

    const health = await fetch(`http://127.0.0.1:${status.port}/health`);
    assert.equal(((await health.json()) as { status: string }).status, "ok");
    assert.equal((await hostStatus(supervisor)).status, 200, "the token it handed out is the host's");
  });

  test("keeps the token off command lines and out of the logs", async () => {
    const supervisor = realSupervisor();
    await supervisor.start();
    const { token } = supervisor.connection()!;
    const record = supervisor.pidFile.read();
    assert.ok(record && record.processes.length >= 1);
    for (const { pid } of record.processes) {
      const commandLine = commandLineOf(pid) ?? "";
      assert.match(commandLine, /enttok/);
      assert.doesNotMatch(commandLine, new RegExp(token));
    }
    await supervisor.stop();
    const logFile = fs.readFileSync(supervisor.logFile.filePath, "utf8");
    assert.match(logFile, /ENTTOK_READY/);
    assert.ok(!logFile.includes(token) && !supervisor.getStatus().logs.join("\n").includes(token));
  });

  test("stops gracefully: the host exits 0 and is gone", async () => {
    const supervisor = realSupervisor();
    await supervisor.start();
    const hostPid = supervisor.getStatus().pid!;
    const stopped = nextEvent<ServerStoppedEvent>(supervisor, "stopped");
    const result = await supervisor.stop();
    assert.equal(result.message, "The server stopped.");
    assert.deepEqual(await stopped, { code: 0 });
    assert.equal(isAlive(hostPid), false);
    assert.equal(supervisor.getStatus().status, "stopped");
    assert.equal(supervisor.connection(), null);
    assert.equal(supervisor.pidFile.read(), null, "the pid file goes with the host");
  });

  test("restarts: a new host process on a new token", async () => {
    const supervisor = realSupervisor();
    await supervisor.start();
    const before = { pid: supervisor.getStatus().pid!, token: supervisor.connection()!.token };
    const result = await supervisor.restart();
    assert.equal(result.success, true, result.message);
    const now = supervisor.getStatus();
    assert.equal(now.status, "running");
    assert.notEqual(now.pid, before.pid);
    assert.equal(isAlive(before.pid), false);
    assert.notEqual(supervisor.connection()!.token, before.token);
    assert.equal((await hostStatus(supervisor)).status, 200);
  });

  test("restarts the host by itself after it is killed with SIGKILL", async () => {
    const supervisor = realSupervisor();
    await supervisor.start();
    const killed = supervisor.getStatus().pid!;
    const states: string[] = [];
    supervisor.on("status", (event: ServerStatusEvent) => states.push(event.status));
    const readyAgain = nextEvent(supervisor, "ready");
    process.kill(killed, "SIGKILL");
    await readyAgain;
    assert.deepEqual(states.slice(0, 2), ["starting", "starting"], "waiting out the backoff, then starting");
    assert.equal(states.at(-1), "running");
    const status = supervisor.getStatus();
    assert.notEqual(status.pid, killed);
    assert.match(status.logs.join("\n"), /stopped unexpectedly/);
    assert.equal((await hostStatus(supervisor)).status, 200);
  });

  test("a port already taken ends in error, saying so", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const supervisor = realSupervisor({ port });
      const result = await supervisor.start();
      assert.equal(result.success, false);
      assert.match(result.message, new RegExp(`Port ${port} on 127.0.0.1 is already in use`));
      assert.equal(supervisor.getStatus().status, "error");
      assert.equal(supervisor.getStatus().lastError, result.message);
    } finally {
      blocker.close();
    }
  });

  test("ends a stale host left by an earlier session, but only one whose command line is ours", async () => {
    const dir = temporaryDir("stale");
    const stale = spawn(developmentRuntime(REPOSITORY_ROOT).command, ["run", "enttok", "serve"], {
      cwd: REPOSITORY_ROOT,
      env: { ...process.env, APP_DATA_DIR: path.join(dir, "data"), BACKEND_TOKEN: "t".repeat(32), BACKEND_PORT: "0" },
      stdio: ["ignore", "pipe", "ignore"],
      detached: true,
    });
    const stranger = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
    try {
      let output = "";
      stale.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      await waitFor("the stale host's ready line", () => output.includes("ENTTOK_READY"));
      const supervisor = realSupervisor({ stateDir: dir });
      supervisor.pidFile.write([stale.pid!]);
      // The stranger's pid, recorded with a command line it does not have: a reused pid.
      const record = supervisor.pidFile.read()!;
      record.processes.push({ pid: stranger.pid!, commandLine: "uv run enttok serve --parent-watch" });
      fs.writeFileSync(supervisor.pidFile.filePath, JSON.stringify(record));

      const result = await supervisor.start();
      assert.equal(result.success, true, result.message);
      await waitFor("the stale host to exit", () => !isAlive(stale.pid!));
      assert.equal(isAlive(stranger.pid!), true, "a process that is not ours is left alone");
      assert.match(supervisor.getStatus().logs.join("\n"), new RegExp(`ended a host left running .*pid ${stale.pid}`));
    } finally {
      killTree(stale.pid!, "SIGKILL");
      stranger.kill("SIGKILL");
    }
  });

  test("leaves no orphan: when the supervising process is SIGKILLed, the host exits by itself", async () => {
    const dir = temporaryDir("orphan");
    const driver = spawn(process.execPath, [path.join(ELECTRON_ROOT, "build", "test", "support", "driveSupervisor.js"), dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const hostPid = await new Promise<number>((resolve, reject) => {
      let output = "";
      driver.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /^host pid (\d+)$/m.exec(output);
        if (match) resolve(Number(match[1]));
      });
      driver.once("exit", (code) => reject(new Error(`the driver exited (${code}) before the host was ready`)));
    });
    assert.equal(isAlive(hostPid), true);
    driver.kill("SIGKILL");
    await waitFor("the orphaned host to exit", () => !isAlive(hostPid), 10_000);
  });
});
