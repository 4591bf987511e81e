/**
 * What the end-to-end tests run the renderer in: the built renderer (dist/renderer) served
 * on 127.0.0.1 with the app's CSP, headless Chromium driven by playwright-core, and
 * `window.pythonServer` bound through `exposeFunction` to the real supervisor with exactly
 * the handlers and event forwarding main.ts wires (src/main/serverControl.ts).
 */

import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import path from "node:path";

import { chromium, type Browser, type Page } from "playwright-core";

import { CONTENT_SECURITY_POLICY } from "../../src/main/security.js";
import { Channels } from "../../src/shared/contract.js";
import { lineSplitter } from "../../src/supervisor/logs.js";
import { forwardServerEvents, serverControlHandlers } from "../../src/main/serverControl.js";
import type { HostSupervisor } from "../../src/supervisor/supervisor.js";
import { ELECTRON_ROOT, REPOSITORY_ROOT } from "../support/env.js";

export const RENDERER_DIR = path.join(ELECTRON_ROOT, "dist", "renderer");
export const SCREENSHOTS = path.join(ELECTRON_ROOT, "test-results");
const CHROMIUM = process.env.ENTTOK_CHROMIUM ?? "/usr/bin/chromium";
// Flags for a closed network: no background requests, each refused, at every start.
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".map": "application/json",
  ".svg": "image/svg+xml",
};

export interface StaticServer {
  origin: string;
  close(): Promise<void>;
}

/** dist/renderer over HTTP on 127.0.0.1, with the CSP main sends. */
export async function serveRenderer(): Promise<StaticServer> {
  if (!fs.existsSync(path.join(RENDERER_DIR, "index.html"))) {
    throw new Error(`${RENDERER_DIR} has no index.html: run \`npm run build\` in electron/ first`);
  }
  const server = http.createServer((request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? "/", "http://127.0.0.1").pathname);
    const file = path.normalize(path.join(RENDERER_DIR, pathname === "/" ? "index.html" : pathname));
    if (!file.startsWith(RENDERER_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    });
    fs.createReadStream(file).pipe(response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium is missing at ${CHROMIUM}: apt-get install chromium (Debian's package)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * The preload's `window.pythonServer`, over Playwright instead of Electron's IPC. The system
 * browser is the test's: `openExternal` gets each URL the page asks main to open.
 */
export async function bindPythonServer(
  page: Page,
  supervisor: HostSupervisor,
  openExternal: (url: string) => Promise<void> = async () => undefined,
): Promise<() => void> {
  const handlers = {
    ...serverControlHandlers(supervisor),
    [Channels.openExternal]: openExternal,
  } as unknown as Record<string, (argument?: unknown) => Promise<unknown>>;
  await page.exposeFunction("__pythonServerInvoke", (channel: string, argument?: unknown) => handlers[channel]!(argument));
  await page.addInitScript(() => {
    type Callback = (payload: unknown) => void;
    const listeners = new Map<string, Set<Callback>>();
    const invoke = (channel: string, argument?: unknown) =>
      (window as unknown as { __pythonServerInvoke(channel: string, argument?: unknown): Promise<unknown> }).__pythonServerInvoke(
        channel,
        argument,
      );
    const subscribe = (channel: string) => (callback: Callback) => {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(callback);
      return () => void listeners.get(channel)!.delete(callback);
    };
    Object.assign(window, {
      __pythonServerEmit(channel: string, payload: unknown) {
        for (const callback of listeners.get(channel) ?? []) callback(payload);
      },
      pythonServer: {
        start: () => invoke("start-python-server"),
        stop: () => invoke("stop-python-server"),
        restart: () => invoke("restart-python-server"),
        getStatus: () => invoke("get-python-server-status"),
        getConnection: () => invoke("get-host-connection"),
        openExternal: (url: string) => invoke("open-external-url", url),
        onStatusChange: subscribe("python-server-status"),
        onLog: subscribe("python-log"),
        onReady: subscribe("python-server-ready"),
        onStopped: subscribe("python-server-stopped"),
      },
    });
  });
  return forwardServerEvents(supervisor, (channel, payload) => {
    page
      .evaluate(
        ([name, value]) => (window as unknown as { __pythonServerEmit(c: unknown, p: unknown): void }).__pythonServerEmit(name, value),
        [channel, payload] as const,
      )
      .catch(() => undefined); // the page is closing
  });
}

export interface DemoApi {
  url: string;
  refreshToken: string;
  /** One command to the fake (see demo_api.py), and its one-line answer. */
  command(line: "revoke" | "token"): Promise<string>;
  stop(): void;
}

interface Fixture {
  /** The fixture's first line: what it serves, as JSON. */
  first: string;
  nextLine(): Promise<string>;
  write(line: string): void;
  stop(): void;
}

/** A Python fixture under test/fixtures on 127.0.0.1, ready once it printed its first line. */
async function startFixture(script: string, args: string[] = []): Promise<Fixture> {
  const child: ChildProcess = spawn(
    process.env.UV ?? "uv",
    ["run", "python", path.join(ELECTRON_ROOT, "test", "fixtures", script), ...args],
    { cwd: REPOSITORY_ROOT, stdio: ["pipe", "pipe", "inherit"] },
  );
  const waiting: ((line: string) => void)[] = [];
  const lines = lineSplitter((line) => waiting.shift()?.(line));
  child.stdout!.on("data", (chunk: Buffer) => lines.feed(chunk));
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const first = await Promise.race([
    nextLine(),
    new Promise<never>((_, reject) => {
      child.once("exit", (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
      child.once("error", (error) => reject(new Error(`${script} could not start (is uv on PATH?): ${error.message}`)));
    }),
  ]);
  return { first, nextLine, write: (line) => child.stdin!.write(`${line}\n`), stop: () => child.stdin!.end() };
}

/** The demo connector's fake API (test/fixtures/demo_api.py) on 127.0.0.1. */
export async function startDemoApi(): Promise<DemoApi> {
  const fixture = await startFixture("demo_api.py");
  const { url, refresh_token } = JSON.parse(fixture.first) as { url: string; refresh_token: string };
  return {
    url,
    refreshToken: refresh_token,
    command(line) {
      const answer = fixture.nextLine();
      fixture.write(line);
      return answer;
    },
    stop: fixture.stop,
  };
}

export interface PluginFakes {
  /** The google_calendar plugin's settings that point it at the fake Google. */
  google: Record<string, string>;
  clientSecret: string;
  /** The fake `claude` executable, for CLAUDE_BIN. */
  claudeBin: string;
  stop(): void;
}

/** The fake Google and the fake `claude` of the plugins' own suites (test/fixtures/plugin_fakes.py). */
export async function startPluginFakes(claudeHome: string): Promise<PluginFakes> {
  const fixture = await startFixture("plugin_fakes.py", [claudeHome]);
  const { google, client_secret, claude_bin } = JSON.parse(fixture.first) as {
    google: Record<string, string>;
    client_secret: string;
    claude_bin: string;
  };
  return { google, clientSecret: client_secret, claudeBin: claude_bin, stop: fixture.stop };
}
