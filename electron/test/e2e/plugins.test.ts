/**
 * The renderer with the Google Calendar and Claude plugins, end to end: the real host with
 * demo, google_calendar and claude, the fake Google and the fake `claude` of the plugins' own
 * suites on 127.0.0.1. The test plays the system browser: it gets the URL the page asks main
 * to open, and follows it as a browser would, through the fake Google's consent back to the
 * host's callback. Screenshots go to test-results/.
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import type { Browser, Page } from "playwright-core";

import { developmentRuntime } from "../../src/supervisor/runtime.js";
import { HostSupervisor } from "../../src/supervisor/supervisor.js";
import { REPOSITORY_ROOT, temporaryDir, waitFor } from "../support/env.js";
import {
  bindPythonServer,
  type DemoApi,
  launchChromium,
  type PluginFakes,
  SCREENSHOTS,
  serveRenderer,
  startDemoApi,
  startPluginFakes,
  type StaticServer,
} from "./harness.js";

const TIMEOUT = 20_000;
const DEMO_DAY = "2026-01-05"; // the demo fake's items are dated then

let browser: Browser;
let page: Page;
let renderer: StaticServer;
let supervisor: HostSupervisor;
let demoApi: DemoApi;
let fakes: PluginFakes;
let unbind: () => void;
let dataDir: string;
/** The URLs the page asked main to open in the system browser. */
const opened: string[] = [];

async function screenshot(name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** A setup call straight to the host (what the views do is tested through the page). */
async function host<T>(method: string, route: string, body?: unknown): Promise<T> {
  const { baseUrl, token } = supervisor.connection()!;
  const response = await fetch(baseUrl + route, {
    method,
    headers: { "X-Backend-Token": token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${route} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** The demo account synced, so the demo day has timeline entries for Claude to write up. */
async function syncDemoAccount(): Promise<void> {
  await host("POST", "/plugins/demo/accounts", {
    account_id: "acme",
    settings: { base_url: demoApi.url, refresh_token: demoApi.refreshToken },
  });
  const { job_id } = await host<{ job_id: string }>("POST", "/jobs", { type: "demo.sync", payload: { account_id: "acme" } });
  await waitFor("the demo sync to succeed", async () => (await host<{ status: string }>("GET", `/jobs/${job_id}`)).status === "succeeded");
}

before(async () => {
  const dir = temporaryDir("e2e-plugins");
  process.env.PYTHON_KEYRING_BACKEND = "enttok.testing.keyring_backend.FileKeyring";
  process.env.ENTTOK_TEST_KEYRING = path.join(dir, "keyring.json");
  process.env.ENTTOK_PLUGINS_ALLOW = "demo,google_calendar,claude";
  [renderer, demoApi, fakes] = await Promise.all([serveRenderer(), startDemoApi(), startPluginFakes(path.join(dir, "claude"))]);
  process.env.GOOGLE_CLIENT_SECRET = fakes.clientSecret; // the environment the host inherits
  process.env.CLAUDE_BIN = fakes.claudeBin;
  supervisor = new HostSupervisor({
    runtime: () => developmentRuntime(REPOSITORY_ROOT),
    dataDir: (dataDir = path.join(dir, "data")),
    logDir: path.join(dir, "logs"),
    runEnv: "dev",
    allowedOrigins: [renderer.origin],
  });
  const started = await supervisor.start();
  assert.ok(supervisor.connection(), started.message);
  await host("POST", "/settings", { plugins: { google_calendar: fakes.google } });
  await syncDemoAccount();

  browser = await launchChromium();
  const context = await browser.newContext({ timezoneId: "UTC", viewport: { width: 1200, height: 800 } });
  page = await context.newPage();
  unbind = await bindPythonServer(page, supervisor, async (url) => void opened.push(url));
  await page.goto(`${renderer.origin}/index.html`);
  await page.getByTestId("server-status").getByText("running").waitFor({ timeout: TIMEOUT });
});

after(async () => {
  unbind?.();
  await browser?.close();
  await supervisor?.stop();
  demoApi?.stop();
  fakes?.stop();
  await renderer?.close();
});

describe("the renderer with the Google Calendar and Claude plugins", () => {
  test("the server view shows the host's health", async () => {
    const health = page.getByTestId("server-health");
    await health.and(page.locator('[data-health="ok"]')).waitFor({ timeout: TIMEOUT });
    assert.equal(await page.getByTestId("server-fault").count(), 0);
    await screenshot("server-health");
  });

  test("Connect Google Calendar signs in through the system browser and lists the account", async () => {
    await page.getByTestId("nav-connectors").click();
    const google = page.getByTestId("plugin-google_calendar");
    assert.equal(await google.getByTestId("plugin-state").textContent(), "loaded");
    assert.equal(await page.getByTestId("plugin-demo").getByTestId("google-connect").count(), 0, "only Google's card has the button");
    await google.getByTestId("google-connect").click();
    const url = await waitFor("the page to ask for the sign-in URL to be opened", () => opened[0] ?? "");
    assert.equal(new URL(url).origin, new URL(fakes.google.auth_uri!).origin);
    await google.getByTestId("google-note").getByText(/browser/).waitFor({ timeout: TIMEOUT });

    // The system browser: Google's consent, then its redirect to the host's callback.
    const landed = await fetch(url, { redirect: "follow" });
    assert.equal(landed.status, 200);
    assert.match(await landed.text(), /Signed in to Google Calendar/);

    await google.getByTestId("google-note").getByText("Connected ada@example.com.").waitFor({ timeout: TIMEOUT });
    const account = google.locator('[data-account-id="ada@example.com"]');
    await account.waitFor({ timeout: TIMEOUT });
    assert.equal(await account.getByTestId("account-status").textContent(), "active");
    await screenshot("connectors-google");

    await account.getByTestId("account-disconnect").click();
    await account.getByTestId("account-status").getByText("needs_reauth").waitFor({ timeout: TIMEOUT });
    await account.getByTestId("account-note").getByText(/Disconnected/).waitFor({ timeout: TIMEOUT });
  });

  test("the day's Claude journal suggestion is generated on request and shown as text", async () => {
    await page.getByTestId("nav-day").click();
    await page.getByTestId("day-picker").fill(DEMO_DAY);
    await page.getByTestId("timeline-demo").waitFor({ timeout: TIMEOUT });
    const journal = page.getByTestId("journal");
    await journal.getByText("No suggestion for this day yet.").waitFor({ timeout: TIMEOUT });
    await journal.getByTestId("journal-generate").click();
    const text = journal.getByTestId("journal-text");
    await text.waitFor({ timeout: TIMEOUT });
    // The fake CLI answers "# Journal" and one bullet a timeline line it was given.
    assert.equal(await text.locator("h4").textContent(), "Journal");
    assert.equal(await text.locator("li").count(), 12);
    assert.match((await text.locator("li").first().textContent()) ?? "", /Item number 1/);
    await screenshot("day-journal");
  });

  test("a missing Claude CLI is said in a sentence, and the suggestion already written stays", async () => {
    await host("POST", "/settings", { plugins: { claude: { binary: path.join(temporaryDir("no-claude"), "claude") } } });
    const journal = page.getByTestId("journal");
    await journal.getByTestId("journal-generate").click();
    const alert = journal.getByRole("alert");
    await alert.waitFor({ timeout: TIMEOUT });
    assert.match((await alert.textContent()) ?? "", /^The Claude CLI was not found: .* is not an executable\./);
    assert.equal(await journal.getByTestId("journal-text").count(), 1);
    await screenshot("day-journal-missing-cli");
  });

  test("a host that cannot go on shows health error with its fault, in words", async () => {
    // Last: the host takes no more work once its database file is gone.
    const database = path.join(dataDir, "data", "index.db");
    assert.ok(fs.existsSync(database), `no database at ${database}`);
    fs.rmSync(database);
    await page.getByTestId("nav-server").click();
    await page.getByTestId("server-health").and(page.locator('[data-health="error"]')).waitFor({ timeout: TIMEOUT });
    assert.match((await page.getByTestId("server-fault").textContent()) ?? "", /was deleted or replaced while the host ran; it takes no more work: restart it.*\.$/);
    await screenshot("server-health-error");
  });
});
