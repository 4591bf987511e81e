/** Paths, temporary dirs and waiting with a deadline, for the supervisor and e2e tests. */

import type { EventEmitter } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { Runtime } from "../../src/supervisor/runtime.js";

/** electron/ (this file is compiled to electron/build/test/support/). */
export const ELECTRON_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const REPOSITORY_ROOT = path.dirname(ELECTRON_ROOT);
export const FIXTURES = path.join(ELECTRON_ROOT, "test", "fixtures");

const made: string[] = [];
process.on("exit", () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh dir under the system's temporary dir, removed when the test process exits. */
export function temporaryDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `enttok-desktop-${prefix}-`));
  made.push(dir);
  return dir;
}

/** A fake host: one of test/fixtures/*.mjs under this Node. */
export function fakeRuntime(fixture: string): Runtime {
  return { command: process.execPath, args: [path.join(FIXTURES, fixture)], cwd: FIXTURES, description: fixture };
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The next `event` whose payload passes `accept`, or a failure after `timeoutMs`. */
export function nextEvent<T>(
  emitter: EventEmitter,
  event: string,
  accept: (payload: T) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${event} event`));
    }, timeoutMs);
    const listener = (payload: T): void => {
      if (!accept(payload)) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(payload);
    };
    emitter.on(event, listener);
  });
}
