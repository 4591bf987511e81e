/**
 * The host's life, as the desktop app owns it: spawn, wait for the ready line and /health,
 * stop (gracefully, then the whole process tree), restart, restart by itself after a crash
 * with backoff until it has crashed too often, and say in plain words why when it can't.
 *
 * It does not import `electron`: main wires it to IPC, and the tests drive it under plain
 * Node against the real host. Every operation runs one at a time (`serialize`), so a click on
 * "restart" during a crash-restart never leaves two hosts.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import path from "node:path";

import type {
  HostConnection,
  ServerControlResponse,
  ServerState,
  ServerStatus,
  ServerStatusEvent,
  ServerStoppedEvent,
} from "../shared/contract.js";
import { LogBuffer, lineSplitter, RotatingLogFile } from "./logs.js";
import { PidFile } from "./pidFile.js";
import { killTree, waitForExit } from "./processes.js";
import { healthOk, parseReadyLine, type ReadyInfo } from "./readyLine.js";
import { type Runtime, RuntimeNotFound } from "./runtime.js";
import { describeEarlyExit } from "./startFailures.js";

export interface RestartPolicy {
  /** Wait before the 1st, 2nd, ... automatic restart; the last value repeats. */
  backoffMs: number[];
  /** This many crashes within `windowMs` and the supervisor gives up. */
  maxCrashes: number;
  windowMs: number;
}

export interface SupervisorOptions {
  /** Resolved at each start, so installing uv while the app is open is enough. */
  runtime: () => Runtime;
  dataDir: string;
  logDir: string;
  /** 0 (the default) lets the system pick a free port. */
  port?: number;
  runEnv?: "dev" | "prod";
  allowedOrigins?: string[];
  /** The key for the host's encrypted secret store; main keeps it with safeStorage. */
  secretKey?: () => string | undefined;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  restart?: RestartPolicy;
  logCapacity?: number;
  /** Where this app's own files about the host go (pid file, output log); default logDir. */
  stateDir?: string;
}

export const DEFAULT_RESTART: RestartPolicy = { backoffMs: [500, 2000, 5000], maxCrashes: 3, windowMs: 60_000 };

interface SupervisorEvents {
  status: [ServerStatusEvent];
  log: [string];
  ready: [ReadyInfo];
  stopped: [ServerStoppedEvent];
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class HostSupervisor extends EventEmitter<SupervisorEvents> {
  readonly logs: LogBuffer;
  readonly logFile: RotatingLogFile;
  readonly pidFile: PidFile;

  private state: ServerState = "stopped";
  private child: ChildProcess | null = null;
  private childExit: Promise<Exit> | null = null;
  private ready: ReadyInfo | null = null;
  private readyAt = 0;
  private token = "";
  private lastError: string | undefined;
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  /** The last start failed in a way a retry cannot fix (no runtime): no automatic restart. */
  private startFailurePermanent = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly options: Required<Omit<SupervisorOptions, "secretKey" | "allowedOrigins">> &
    Pick<SupervisorOptions, "secretKey" | "allowedOrigins">;

  constructor(options: SupervisorOptions) {
    super();
    const stateDir = options.stateDir ?? options.logDir;
    this.options = {
      port: 0,
      runEnv: "prod",
      startTimeoutMs: 20_000,
      stopTimeoutMs: 5_000,
      restart: DEFAULT_RESTART,
      logCapacity: 1000,
      stateDir,
      ...options,
    };
    this.logs = new LogBuffer(this.options.logCapacity);
    this.logFile = new RotatingLogFile(path.join(stateDir, "host-output.log"));
    this.pidFile = new PidFile(path.join(stateDir, "host.pid"));
  }

  start(): Promise<ServerControlResponse> {
    return this.serialize(async () => {
      if (this.state === "running") return this.answer(true, "The server is already running.");
      this.cancelRestart();
      this.crashes = [];
      return this.launch();
    });
  }

  stop(): Promise<ServerControlResponse> {
    return this.serialize(async () => {
      this.cancelRestart();
      return this.halt();
    });
  }

  restart(): Promise<ServerControlResponse> {
    return this.serialize(async () => {
      this.cancelRestart();
      const stopped = await this.halt();
      if (!stopped.success) return stopped;
      this.crashes = [];
      return this.launch();
    });
  }

  getStatus(): ServerStatus {
    return {
      ...this.statusEvent(),
      port: this.ready?.port ?? this.options.port,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
      logs: this.logs.snapshot(),
    };
  }

  /** The base URL and token the renderer calls the host with; null unless running. */
  connection(): HostConnection | null {
    if (this.state !== "running" || !this.ready) return null;
    return { baseUrl: `http://127.0.0.1:${this.ready.port}`, token: this.token };
  }

  /** The pid of the Python host (from its ready line), else of the process spawned. */
  get hostPid(): number | undefined {
    return this.ready?.pid ?? this.child?.pid;
  }

  // -- the steps ------------------------------------------------------------------------

  private async launch(): Promise<ServerControlResponse> {
    this.setState("starting");
    const stale = await this.pidFile.endStale();
    if (stale.length) this.record(`[supervisor] ended a host left running by an earlier session (pid ${stale.join(", ")})`);

    let runtime: Runtime;
    this.startFailurePermanent = false;
    try {
      runtime = this.options.runtime();
    } catch (error) {
      if (!(error instanceof RuntimeNotFound)) throw error;
      this.startFailurePermanent = true;
      return this.fail(error.message);
    }
    this.token = randomBytes(32).toString("hex");
    this.ready = null;
    this.logFile.rotate();
    const outputStart = Date.now();
    const child = spawn(runtime.command, runtime.args, {
      cwd: runtime.cwd,
      env: this.environment(),
      stdio: ["pipe", "pipe", "pipe"], // stdin stays open: --parent-watch exits when it closes
      detached: process.platform !== "win32", // its own process group, killed as one
      windowsHide: true,
    });
    this.child = child;
    if (child.pid !== undefined) this.setState("starting"); // again, now with its pid
    const spawnFailed = new Promise<Error>((resolve) => child.once("error", resolve));
    this.childExit = new Promise<Exit>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    const readyLine = new Promise<ReadyInfo>((resolve) => this.pipeOutput(child, resolve));
    this.childExit.then((exit) => this.onExit(child, exit));

    const outcome = await Promise.race([
      readyLine.then((info) => ({ kind: "ready" as const, info })),
      this.childExit.then((exit) => ({ kind: "exit" as const, exit })),
      spawnFailed.then((error) => ({ kind: "spawn-error" as const, error })),
      delay(this.options.startTimeoutMs).then(() => ({ kind: "timeout" as const })),
    ]);
    if (outcome.kind === "spawn-error") {
      this.child = null;
      this.startFailurePermanent = true;
      return this.fail(
        `The Python runtime could not be started (${runtime.description}: ${outcome.error.message}). Check that it is installed.`,
      );
    }
    if (outcome.kind === "exit") {
      this.child = null;
      const output = this.logs.snapshot().slice(-40);
      return this.fail(describeEarlyExit(outcome.exit.code, outcome.exit.signal, output, this.options.port));
    }
    if (outcome.kind === "timeout" || !(await this.confirmHealth(outcome.info.port, outputStart))) {
      await this.forceDown(child);
      this.child = null;
      const seconds = Math.round(this.options.startTimeoutMs / 1000);
      return this.fail(
        `The server did not become ready within ${seconds} s and was stopped. Its log shows what it was doing.`,
      );
    }
    this.ready = outcome.info;
    this.readyAt = Date.now();
    this.lastError = undefined;
    this.pidFile.write([child.pid!, outcome.info.pid].filter((pid, i, all) => all.indexOf(pid) === i));
    this.setState("running");
    this.emit("ready", outcome.info);
    return this.answer(true, `The server is running on port ${outcome.info.port}.`);
  }

  /** The ready line named a port; /health on it must answer before the start timeout. */
  private async confirmHealth(port: number, since: number): Promise<boolean> {
    while (Date.now() - since < this.options.startTimeoutMs) {
      if (await healthOk(port, 1000)) return true;
      if (!this.child || this.child.exitCode !== null) return false;
      await delay(50);
    }
    return false;
  }

  private async halt(): Promise<ServerControlResponse> {
    const child = this.child;
    if (!child || !this.childExit) {
      this.setState("stopped");
      return this.answer(true, "The server is not running.");
    }
    this.setState("stopping");
    if (process.platform === "win32") child.stdin?.end(); // --parent-watch: stdin closing is the ask
    else child.kill("SIGTERM");
    const graceful = await Promise.race([this.childExit.then(() => true), delay(this.options.stopTimeoutMs).then(() => false)]);
    if (!graceful) await this.forceDown(child);
    const exit = await this.childExit;
    // uv is gone; the Python host under it must be too, or the next start finds its lock held.
    const hostPid = this.ready?.pid;
    if (hostPid && hostPid !== child.pid && !(await waitForExit(hostPid, this.options.stopTimeoutMs))) {
      killTree(hostPid, "SIGKILL");
    }
    this.child = null;
    this.ready = null;
    this.pidFile.remove();
    void this.logFile.close();
    this.setState("stopped");
    this.emit("stopped", stoppedEvent(exit));
    return this.answer(
      true,
      graceful
        ? "The server stopped."
        : `The server did not stop within ${Math.round(this.options.stopTimeoutMs / 1000)} s and was ended by force.`,
    );
  }

  private async forceDown(child: ChildProcess): Promise<void> {
    if (child.pid === undefined) return;
    killTree(child.pid, "SIGKILL");
    await Promise.race([this.childExit, delay(this.options.stopTimeoutMs)]);
  }

  /** Any exit of the current child that nobody asked for, once it had been running, is a crash. */
  private onExit(child: ChildProcess, exit: Exit): void {
    if (child !== this.child || this.state !== "running") return;
    this.child = null;
    this.ready = null;
    this.pidFile.remove();
    void this.logFile.close();
    this.emit("stopped", stoppedEvent(exit));
    this.crashed(describeExit(exit));
  }

  private crashed(how: string): void {
    const now = Date.now();
    const { backoffMs, maxCrashes, windowMs } = this.options.restart;
    this.crashes = [...this.crashes.filter((at) => now - at < windowMs), now];
    if (this.crashes.length >= maxCrashes) {
      this.fail(
        `The server stopped unexpectedly ${this.crashes.length} times within ${Math.round(windowMs / 1000)} s ` +
          `(last: ${how}) and is not restarted again. Start it from the panel once the cause is fixed.`,
      );
      return;
    }
    const wait = backoffMs[Math.min(this.crashes.length - 1, backoffMs.length - 1)] ?? 1000;
    this.lastError = `The server stopped unexpectedly (${how}); restarting in ${(wait / 1000).toFixed(1)} s.`;
    this.record(`[supervisor] ${this.lastError}`);
    this.setState("starting");
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.serialize(async () => {
        const result = await this.launch();
        if (!result.success && !this.startFailurePermanent) this.crashed(result.message);
        return result;
      });
    }, wait);
  }

  private cancelRestart(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }

  // -- plumbing -------------------------------------------------------------------------

  private environment(): NodeJS.ProcessEnv {
    const secretKey = this.options.secretKey?.();
    return {
      ...process.env,
      BACKEND_PORT: String(this.options.port),
      BACKEND_TOKEN: this.token,
      APP_DATA_DIR: this.options.dataDir,
      LOG_DIR: this.options.logDir,
      RUN_ENV: this.options.runEnv,
      BACKEND_ALLOWED_ORIGINS: (this.options.allowedOrigins ?? []).join(","),
      ...(secretKey && { BACKEND_SECRET_KEY: secretKey }),
    };
  }

  private pipeOutput(child: ChildProcess, onReady: (info: ReadyInfo) => void): void {
    let announced = false;
    for (const [stream, tag] of [
      [child.stdout, "out"],
      [child.stderr, "err"],
    ] as const) {
      const lines = lineSplitter((line) => {
        this.record(line, tag);
        const info = tag === "out" && !announced ? parseReadyLine(line) : null;
        if (info) {
          announced = true;
          onReady(info);
        }
      });
      stream?.on("data", (chunk: Buffer) => lines.feed(chunk));
      stream?.on("end", () => lines.end());
    }
  }

  /** One line of output: into the buffer, the file and the window; never the token. */
  private record(line: string, tag: "out" | "err" | "sup" = "sup"): void {
    const safe = this.token ? line.replaceAll(this.token, "[token]") : line;
    this.logs.push(safe);
    this.logFile.write(`[${tag}] ${safe}`);
    this.emit("log", safe);
  }

  private fail(message: string): ServerControlResponse {
    this.lastError = message;
    this.record(`[supervisor] ${message}`);
    this.setState("error");
    return this.answer(false, message);
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.emit("status", this.statusEvent());
  }

  private statusEvent(): ServerStatusEvent {
    const running = this.state === "running";
    const pid = this.hostPid;
    return {
      status: this.state,
      ...(pid !== undefined && this.state !== "stopped" && this.state !== "error" && { pid }),
      ...(this.ready && running && { port: this.ready.port }),
      ...(running && { uptime: Math.floor((Date.now() - this.readyAt) / 1000) }),
    };
  }

  private answer(success: boolean, message: string): ServerControlResponse {
    return { success, message, status: this.getStatus() };
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.queue.then(operation, operation);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** A wait that does not keep the process alive by itself (it mostly loses a race). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function stoppedEvent(exit: Exit): ServerStoppedEvent {
  return { code: exit.code, ...(exit.signal && { signal: exit.signal }) };
}

function describeExit(exit: Exit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}
