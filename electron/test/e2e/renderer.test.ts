/**
 * The renderer end to end: the built app in headless Chromium, `window.pythonServer` bound
 * to the real supervisor, the real host with the demo plugin, the demo connector's fake API.
 * The steps run in order on one page, as a person would use it; each main view is
 * screenshotted into test-results/.
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import type { Browser, Locator, Page, WebSocketRoute } from "playwright-core";

import { developmentRuntime } from "../../src/supervisor/runtime.js";
import { HostSupervisor } from "../../src/supervisor/supervisor.js";
import { REPOSITORY_ROOT, temporaryDir, waitFor } from "../support/env.js";
import {
  bindPythonServer,
  type DemoApi,
  launchChromium,
  SCREENSHOTS,
  serveRenderer,
  startDemoApi,
  type StaticServer,
} from "./harness.js";

const TIMEOUT = 20_000;

let browser: Browser;
let page: Page;
let renderer: StaticServer;
let supervisor: HostSupervisor;
let demoApi: DemoApi;
let unbind: () => void;
let dataDir: string;
/** The page's /events sockets pass through here, so a test can drop one and hold the next. */
const sockets = { current: null as WebSocketRoute | null, urls: [] as string[], hold: null as Promise<void> | null };

async function screenshot(name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

async function open(view: string): Promise<void> {
  await page.getByTestId(`nav-${view}`).click();
}

async function submitJob(type: string, payload: object): Promise<Locator> {
  await open("jobs");
  const before = await page.getByTestId("job").count();
  await page.getByTestId("job-type").selectOption(type);
  await page.getByTestId("job-payload").fill(JSON.stringify(payload));
  await page.getByTestId("job-submit").click();
  await page.getByTestId("job").nth(before).waitFor({ timeout: TIMEOUT }); // newest first: the new one is on top
  return page.getByTestId("job").first();
}

async function waitForAttribute(locator: Locator, name: string, value: string): Promise<void> {
  await locator.and(page.locator(`[${name}="${value}"]`)).waitFor({ timeout: TIMEOUT });
}

before(async () => {
  const dir = temporaryDir("e2e");
  // Secrets go to a test keyring file, never the machine's own keyring.
  process.env.PYTHON_KEYRING_BACKEND = "enttok.testing.keyring_backend.FileKeyring";
  process.env.ENTTOK_TEST_KEYRING = path.join(dir, "keyring.json");
  renderer = await serveRenderer();
  supervisor = new HostSupervisor({
    runtime: () => developmentRuntime(REPOSITORY_ROOT),
    dataDir: (dataDir = path.join(dir, "data")),
    logDir: path.join(dir, "logs"),
    runEnv: "dev",
    allowedOrigins: [renderer.origin],
  });
  demoApi = await startDemoApi();
  browser = await launchChromium();
  const context = await browser.newContext({ timezoneId: "UTC", viewport: { width: 1200, height: 800 } });
  page = await context.newPage();
  page.on("dialog", (dialog) => void dialog.accept());
  unbind = await bindPythonServer(page, supervisor);
  await page.routeWebSocket(/\/events/, async (route) => {
    sockets.urls.push(route.url());
    if (sockets.hold) await sockets.hold;
    route.connectToServer();
    sockets.current = route;
  });
  await page.goto(`${renderer.origin}/index.html`);
});

after(async () => {
  unbind?.();
  await browser?.close();
  await supervisor?.stop();
  demoApi?.stop();
  await renderer?.close();
});

describe("the renderer against the real host", () => {
  test("starts the server from the panel and shows its logs", async () => {
    const status = page.getByTestId("server-status");
    assert.equal(await status.textContent(), "stopped");
    await page.getByTestId("server-start").click();
    await page.getByTestId("server-status").getByText("running").waitFor({ timeout: TIMEOUT });
    await page.getByTestId("server-log").getByText(/ENTTOK_READY/).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.getByTestId("server-pid").textContent(), String(supervisor.getStatus().pid));
    assert.equal(await page.getByTestId("server-port").textContent(), String(supervisor.getStatus().port));
    await screenshot("server");
  });

  test("a job's progress bar reaches 100% as it runs", async () => {
    const job = await submitJob("demo.sleep", { seconds: 1.5, steps: 5 });
    await waitForAttribute(job, "data-status", "succeeded");
    assert.equal(await job.getByTestId("job-progress").getAttribute("data-value"), "1");
    assert.equal(await job.getByTestId("job-progress").evaluate((bar) => (bar as HTMLProgressElement).value), 1);
  });

  test("a running job is canceled from its row", async () => {
    const job = await submitJob("demo.sleep", { seconds: 120, steps: 120 });
    await waitForAttribute(job, "data-status", "running");
    await job.getByTestId("job-cancel").click();
    await waitForAttribute(job, "data-status", "canceled");
  });

  test("a failed job shows its error", async () => {
    const job = await submitJob("demo.fail", { message: "the demo failed on purpose" });
    await waitForAttribute(job, "data-status", "failed");
    assert.equal(await job.getByTestId("job-error").textContent(), "demo_failure: the demo failed on purpose");
    await screenshot("jobs");
  });

  test("a demo account is added from its schema's form, and its sync lands on the timeline", async () => {
    await open("connectors");
    const demo = page.getByTestId("plugin-demo");
    assert.equal(await demo.getByTestId("plugin-state").textContent(), "loaded");
    assert.equal(await demo.getByTestId("account-field-refresh_token").getAttribute("type"), "password");
    await demo.getByTestId("account-id").fill("acme");
    await demo.getByTestId("account-field-base_url").fill(demoApi.url);
    await demo.getByTestId("account-field-refresh_token").fill(demoApi.refreshToken);
    await demo.getByTestId("account-add").click();
    const account = demo.getByTestId("account");
    await account.waitFor({ timeout: TIMEOUT });
    assert.equal(await account.getAttribute("data-account-id"), "acme");
    await account.getByTestId("account-sync").click();
    await account.getByTestId("account-last-sync").getByText(/last sync succeeded .*, 24 items/).waitFor({ timeout: TIMEOUT });
    await screenshot("connectors");

    await open("day");
    await page.getByTestId("day-picker").fill("2026-01-05"); // the fake API's items are dated then
    const timeline = page.getByTestId("timeline-demo");
    await timeline.waitFor({ timeout: TIMEOUT });
    assert.equal(await timeline.getByTestId("timeline-item").count(), 12);
    assert.match((await timeline.getByTestId("timeline-item").first().textContent()) ?? "", /Item number 1/);
    await screenshot("day");
  });

  test("an account whose access was withdrawn shows needs_reauth, and is fixed with a new token", async () => {
    await open("connectors");
    const account = page.getByTestId("plugin-demo").getByTestId("account");
    assert.equal(await demoApi.command("revoke"), "revoked");
    await account.getByTestId("account-test").click();
    await account.getByTestId("account-needs-reauth").waitFor({ timeout: TIMEOUT });
    assert.equal(await account.getByTestId("account-status").textContent(), "needs_reauth");
    await screenshot("connectors-needs-reauth");

    await account.getByTestId("account-fix").click();
    await account.getByTestId("account-secret-refresh_token").fill(await demoApi.command("token"));
    await account.getByTestId("account-secret-save").click();
    await account.getByTestId("account-note").getByText("Credentials saved.").waitFor({ timeout: TIMEOUT });
    await account.getByTestId("account-test").click();
    await account.getByTestId("account-note").getByText("The connection works.").waitFor({ timeout: TIMEOUT });
    assert.equal(await account.getByTestId("account-status").textContent(), "active");
    assert.equal(await account.getByTestId("account-needs-reauth").count(), 0);
  });

  test("events missed while the event stream was down are replayed with since", async () => {
    await open("jobs");
    await page.getByTestId("job-stream").getByText("live").waitFor({ timeout: TIMEOUT });
    let release = (): void => undefined;
    sockets.hold = new Promise((resolve) => (release = resolve));
    const connections = sockets.urls.length;
    await sockets.current!.close();
    await waitFor("the page to reconnect", () => sockets.urls.length > connections);
    const since = Number(new URL(sockets.urls.at(-1)!).searchParams.get("since"));
    assert.ok(since > 0, "the reconnect asks for what came after the last event seen");

    // A job runs to its end while the page hears nothing.
    const { baseUrl, token } = supervisor.connection()!;
    const headers = { "X-Backend-Token": token, "Content-Type": "application/json" };
    const body = JSON.stringify({ type: "demo.sleep", payload: { seconds: 0.2, steps: 2 } });
    const { job_id } = (await (await fetch(`${baseUrl}/jobs`, { method: "POST", headers, body })).json()) as { job_id: string };
    await waitFor("the job to succeed", async () => {
      const job = (await (await fetch(`${baseUrl}/jobs/${job_id}`, { headers })).json()) as { status: string };
      return job.status === "succeeded";
    });
    const row = page.locator(`[data-job-id="${job_id}"]`);
    assert.equal(await row.count(), 0, "the page has not heard of the job yet");

    sockets.hold = null;
    release();
    await waitForAttribute(row, "data-status", "succeeded");
    assert.equal(await row.getByTestId("job-progress").getAttribute("data-value"), "1");
  });

  test("after a server restart the job list recovers live, without a page reload", async () => {
    await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
    await open("jobs");
    const jobsBefore = await page.getByTestId("job").count();
    const oldPid = supervisor.getStatus().pid;
    await open("server");
    await page.getByTestId("server-restart").click();
    await page.getByTestId("server-status").getByText("running").waitFor({ timeout: TIMEOUT });
    assert.notEqual(supervisor.getStatus().pid, oldPid);

    await open("jobs");
    await page.getByTestId("job-stream").getByText("live").waitFor({ timeout: TIMEOUT });
    assert.ok((await page.getByTestId("job").count()) >= jobsBefore, "the jobs seen before are still listed");
    const job = await submitJob("demo.sleep", { seconds: 0.5, steps: 2 });
    await waitForAttribute(job, "data-status", "succeeded");
    assert.equal(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true);
  });

  test("after its data is reset, the host asks for a resync and the job list starts afresh", async () => {
    await open("jobs");
    await page.getByTestId("job-stream").getByText("live").waitFor({ timeout: TIMEOUT });
    assert.ok((await page.getByTestId("job").count()) > 0);
    await supervisor.stop();
    fs.rmSync(dataDir, { recursive: true, force: true }); // a new data dir: its seqs start over
    const connections = sockets.urls.length;
    await supervisor.start();

    const since = (url: string): string | null => new URL(url).searchParams.get("since");
    await waitFor("the page to reconnect without since", () => sockets.urls.slice(connections).some((url) => since(url) === null));
    const asked = sockets.urls.slice(connections).map(since);
    assert.ok(asked.indexOf(null) > 0 && asked[0] !== null, `first the page asked for its old seq: ${asked.join(", ")}`);
    await waitFor("the old jobs to leave the list", async () => (await page.getByTestId("job").count()) === 0);
    const job = await submitJob("demo.noop", {});
    await waitForAttribute(job, "data-status", "succeeded");
    assert.ok(sockets.urls.every((url) => new URL(url).searchParams.get("batch") === "1"), "the page asks for batched events");
  });

  test("the settings view shows the schedules and plugin settings", async () => {
    await open("settings");
    await page.getByText("maintenance.daily-compact").waitFor({ timeout: TIMEOUT });
    await screenshot("settings");
  });
});
