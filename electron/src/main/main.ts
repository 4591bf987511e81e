/**
 * Electron's main process, kept thin: it builds the supervisor (src/supervisor, tested under
 * Node), binds the server-control IPC (serverControl.ts, the same object the end-to-end tests
 * bind) and opens one locked-down window. Everything here needs Electron's binary, which the
 * test machines do not have.
 */

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { app, BrowserWindow, ipcMain, net, protocol, safeStorage, shell } from "electron";

import { developmentRuntime, packagedRuntime } from "../supervisor/runtime.js";
import { HostSupervisor } from "../supervisor/supervisor.js";
import { loadSecretKey } from "./secretKey.js";
import { Channels } from "../shared/contract.js";
import { APP_ORIGIN, checkedExternalUrl, CONTENT_SECURITY_POLICY, isExternalUrl } from "./security.js";
import { forwardServerEvents, serverControlHandlers } from "./serverControl.js";

const here = path.dirname(fileURLToPath(import.meta.url)); // electron/build/src/main
const electronRoot = path.resolve(here, "../../..");
const rendererDir = path.join(electronRoot, "dist", "renderer");
const preload = path.join(electronRoot, "build", "src", "preload", "preload.cjs");

protocol.registerSchemesAsPrivileged([{ scheme: "app", privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

function createSupervisor(): HostSupervisor {
  const userData = app.getPath("userData");
  return new HostSupervisor({
    runtime: () =>
      app.isPackaged ? packagedRuntime(process.resourcesPath) : developmentRuntime(path.dirname(electronRoot)),
    dataDir: path.join(userData, "host"),
    logDir: path.join(userData, "logs"),
    stateDir: userData,
    runEnv: app.isPackaged ? "prod" : "dev",
    allowedOrigins: [APP_ORIGIN],
    secretKey: () => loadSecretKey(path.join(userData, "secret-key.bin"), safeStorage),
  });
}

/** The renderer's files from dist/renderer, under app://enttok/, with the CSP header. */
function serveRenderer(): void {
  protocol.handle("app", async (request) => {
    const { pathname } = new URL(request.url);
    const file = path.normalize(path.join(rendererDir, decodeURIComponent(pathname)));
    const inside = file.startsWith(rendererDir + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile();
    const response = await net.fetch(`file://${inside ? file : path.join(rendererDir, "index.html")}`);
    const headers = new Headers(response.headers);
    headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    return new Response(response.body, { status: response.status, headers });
  });
}

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1200,
    height: 800,
    title: "enttok",
    webPreferences: { preload, contextIsolation: true, nodeIntegration: false, sandbox: true, webSecurity: true },
  });
  window.webContents.on("will-navigate", (event) => event.preventDefault());
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (isExternalUrl(url)) void shell.openExternal(url); // OAuth start pages: the system browser
    return { action: "deny" };
  });
  void window.loadURL(`${APP_ORIGIN}/index.html`);
  return window;
}

void app.whenReady().then(async () => {
  const supervisor = createSupervisor();
  serveRenderer();
  for (const [channel, handler] of Object.entries(serverControlHandlers(supervisor))) {
    ipcMain.handle(channel, (event) => {
      if (!event.senderFrame?.url.startsWith(`${APP_ORIGIN}/`)) throw new Error("not the app's own page");
      return handler();
    });
  }
  ipcMain.handle(Channels.openExternal, (event, url: unknown) => {
    if (!event.senderFrame?.url.startsWith(`${APP_ORIGIN}/`)) throw new Error("not the app's own page");
    return shell.openExternal(checkedExternalUrl(url));
  });
  const window = createWindow();
  forwardServerEvents(supervisor, (channel, payload) => {
    if (!window.isDestroyed()) window.webContents.send(channel, payload);
  });

  let quitting = false;
  app.on("before-quit", (event) => {
    if (quitting) return;
    event.preventDefault();
    quitting = true;
    void supervisor.stop().finally(() => app.exit(0));
  });
  app.on("window-all-closed", () => app.quit());
  await supervisor.start();
});
