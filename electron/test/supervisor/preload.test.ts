/**
 * The preload and main's IPC wiring against CONTRACT.md's channel names. Electron's binary
 * is not on the test machines, so the preload is loaded with a stand-in `electron` module
 * that records what it exposes and which channels it uses.
 */

import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, test } from "node:test";

import { Channels, type PythonServerApi } from "../../src/shared/contract.js";
import { loadSecretKey } from "../../src/main/secretKey.js";
import { checkedExternalUrl, CONTENT_SECURITY_POLICY, isExternalUrl } from "../../src/main/security.js";
import { ELECTRON_ROOT, temporaryDir } from "../support/env.js";

function loadPreload(): { exposed: Record<string, PythonServerApi>; invoked: string[]; listened: string[] } {
  const exposed: Record<string, PythonServerApi> = {};
  const invoked: string[] = [];
  const listened: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (name: string, api: PythonServerApi) => (exposed[name] = api) },
    ipcRenderer: {
      invoke: async (channel: string, ...args: unknown[]) => invoked.push([channel, ...args].join(" ")),
      on: (channel: string) => listened.push(channel),
      removeListener: () => undefined,
    },
  };
  const require = createRequire(import.meta.url);
  const Module = require("node:module") as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = Module._load;
  Module._load = (request, ...rest) => (request === "electron" ? electron : original(request, ...rest));
  try {
    const file = path.join(ELECTRON_ROOT, "build", "src", "preload", "preload.cjs");
    delete require.cache[file];
    require(file);
  } finally {
    Module._load = original;
  }
  return { exposed, invoked, listened };
}

describe("the preload", () => {
  test("exposes window.pythonServer on exactly the contract's channels", async () => {
    const { exposed, invoked, listened } = loadPreload();
    const api = exposed.pythonServer!;
    assert.deepEqual(Object.keys(exposed), ["pythonServer"]);
    await Promise.all([api.start(), api.stop(), api.restart(), api.getStatus(), api.getConnection()]);
    await api.openExternal("https://accounts.example/start");
    assert.deepEqual(invoked, [
      Channels.start,
      Channels.stop,
      Channels.restart,
      Channels.getStatus,
      Channels.getConnection,
      `${Channels.openExternal} https://accounts.example/start`,
    ]);
    api.onStatusChange(() => undefined);
    api.onLog(() => undefined);
    api.onReady(() => undefined);
    api.onStopped(() => undefined);
    assert.deepEqual(listened, [Channels.status, Channels.log, Channels.ready, Channels.stopped]);
    assert.deepEqual(
      [Channels.start, Channels.stop, Channels.restart, Channels.getStatus, Channels.status, Channels.log, Channels.ready, Channels.stopped],
      [
        "start-python-server",
        "stop-python-server",
        "restart-python-server",
        "get-python-server-status",
        "python-server-status",
        "python-log",
        "python-server-ready",
        "python-server-stopped",
      ],
    );
  });
});

describe("main's security pieces", () => {
  test("the CSP allows scripts from the app only and the network to loopback only", () => {
    assert.match(CONTENT_SECURITY_POLICY, /script-src 'self';/);
    assert.match(CONTENT_SECURITY_POLICY, /connect-src http:\/\/127\.0\.0\.1:\* ws:\/\/127\.0\.0\.1:\*;/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
  });

  test("only https URLs go to the system browser", () => {
    assert.equal(isExternalUrl("https://example.com/oauth/start"), true);
    assert.equal(checkedExternalUrl("https://example.com/oauth/start"), "https://example.com/oauth/start");
    for (const url of ["http://example.com/", "file:///etc/passwd", "javascript:alert(1)", "not a url", 42, undefined]) {
      assert.equal(isExternalUrl(url), false, String(url));
      assert.throws(() => checkedExternalUrl(url), /only https URLs/);
    }
  });

  test("the secret key is made once, stored only encrypted, and read back", () => {
    const file = path.join(temporaryDir("key"), "secret-key.bin");
    const encryption = {
      isEncryptionAvailable: () => true,
      encryptString: (plain: string) => Buffer.from([...Buffer.from(plain)].map((byte) => byte ^ 0x5a)),
      decryptString: (cipher: Buffer) => Buffer.from([...cipher].map((byte) => byte ^ 0x5a)).toString(),
    };
    const key = loadSecretKey(file, encryption)!;
    assert.ok(key.length >= 40);
    assert.equal(loadSecretKey(file, encryption), key);
    assert.ok(!fs.readFileSync(file).toString().includes(key));
    assert.equal(loadSecretKey(file, { ...encryption, isEncryptionAvailable: () => false }), undefined);
  });
});
