/**
 * The server-control IPC of CONTRACT.md, without Electron: what each invoke channel answers
 * and which supervisor event goes out on which channel. main.ts binds it to ipcMain and a
 * window; the end-to-end tests bind the same object to a Chromium page, so the renderer is
 * tested against exactly what the app wires.
 */

import { Channels, type HostConnection, type ServerControlResponse, type ServerStatus } from "../shared/contract.js";
import type { HostSupervisor } from "../supervisor/supervisor.js";

export interface ServerControlHandlers {
  [Channels.start]: () => Promise<ServerControlResponse>;
  [Channels.stop]: () => Promise<ServerControlResponse>;
  [Channels.restart]: () => Promise<ServerControlResponse>;
  [Channels.getStatus]: () => Promise<ServerStatus>;
  [Channels.getConnection]: () => Promise<HostConnection | null>;
}

export function serverControlHandlers(supervisor: HostSupervisor): ServerControlHandlers {
  return {
    [Channels.start]: () => supervisor.start(),
    [Channels.stop]: () => supervisor.stop(),
    [Channels.restart]: () => supervisor.restart(),
    [Channels.getStatus]: async () => supervisor.getStatus(),
    [Channels.getConnection]: async () => supervisor.connection(),
  };
}

/** Sends the supervisor's events to one renderer; returns what stops it. */
export function forwardServerEvents(
  supervisor: HostSupervisor,
  send: (channel: string, payload?: unknown) => void,
): () => void {
  const listeners = {
    status: (payload: unknown) => send(Channels.status, payload),
    log: (line: unknown) => send(Channels.log, line),
    ready: () => send(Channels.ready),
    stopped: (payload: unknown) => send(Channels.stopped, payload),
  };
  for (const [event, listener] of Object.entries(listeners)) supervisor.on(event as "log", listener);
  return () => {
    for (const [event, listener] of Object.entries(listeners)) supervisor.off(event as "log", listener);
  };
}
