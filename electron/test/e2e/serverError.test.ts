/** A start that fails is shown in the server panel with the supervisor's reason. */

import assert from "node:assert/strict";
import net from "node:net";
import path from "node:path";
import { after, before, test } from "node:test";

import type { Browser, Page } from "playwright-core";

import { developmentRuntime } from "../../src/supervisor/runtime.js";
import { HostSupervisor } from "../../src/supervisor/supervisor.js";
import { REPOSITORY_ROOT, temporaryDir } from "../support/env.js";
import { bindPythonServer, launchChromium, SCREENSHOTS, serveRenderer, type StaticServer } from "./harness.js";

let browser: Browser;
let page: Page;
let renderer: StaticServer;
let blocker: net.Server;
let port: number;
let supervisor: HostSupervisor;

before(async () => {
  blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  port = (blocker.address() as net.AddressInfo).port;
  const dir = temporaryDir("e2e-error");
  renderer = await serveRenderer();
  supervisor = new HostSupervisor({
    runtime: () => developmentRuntime(REPOSITORY_ROOT),
    dataDir: path.join(dir, "data"),
    logDir: path.join(dir, "logs"),
    port,
    allowedOrigins: [renderer.origin],
  });
  browser = await launchChromium();
  page = await (await browser.newContext({ viewport: { width: 1200, height: 800 } })).newPage();
  await bindPythonServer(page, supervisor);
  await page.goto(`${renderer.origin}/index.html`);
});

after(async () => {
  await browser?.close();
  await supervisor?.stop();
  await renderer?.close();
  blocker?.close();
});

test("a port already taken is shown in the panel as an error a person can act on", async () => {
  await page.getByTestId("server-start").click();
  await page.getByTestId("server-status").getByText("error").waitFor({ timeout: 20_000 });
  const alert = await page.getByRole("alert").textContent();
  assert.match(alert ?? "", new RegExp(`^Port ${port} on 127\\.0\\.0\\.1 is already in use by another program`));
  await page.getByTestId("nav-jobs").click();
  assert.match((await page.getByTestId("needs-server").textContent()) ?? "", /not running/);
  await page.getByTestId("nav-server").click();
  await page.screenshot({ path: path.join(SCREENSHOTS, "server-error.png") });
});
