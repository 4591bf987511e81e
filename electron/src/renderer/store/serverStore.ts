/**
 * The host as main reports it (seed 002's pythonServerStore): status, logs, and the
 * connection the other views call the host with. It listens to window.pythonServer once.
 */

import { create } from "zustand";

import type { HostConnection, ServerStatusEvent } from "../../shared/contract";
import { errorMessage, hostClient, type HostClient } from "../api/hostClient";

const MAX_LOG_LINES = 2000;

interface ServerStore {
  status: ServerStatusEvent;
  /** When the host became ready, by this window's clock (for a ticking uptime). */
  runningSince: number | null;
  lastError: string | undefined;
  logs: string[];
  follow: boolean;
  busy: boolean;
  /** Non-null only while the host is running. */
  client: HostClient | null;
  init(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  clearLogs(): void;
  setFollow(follow: boolean): void;
}

let listening = false;

export const useServer = create<ServerStore>((set, get) => {
  async function refreshConnection(): Promise<void> {
    const connection: HostConnection | null = await window.pythonServer.getConnection();
    const current = get().client?.connection;
    if (connection?.baseUrl === current?.baseUrl && connection?.token === current?.token) return;
    set({ client: connection ? hostClient(connection) : null });
  }

  async function control(action: "start" | "stop" | "restart"): Promise<void> {
    set({ busy: true });
    try {
      const result = await window.pythonServer[action]();
      if (!result.success) set({ lastError: result.message });
      else if (result.status) set({ lastError: result.status.lastError });
    } catch (error) {
      set({ lastError: errorMessage(error) });
    } finally {
      set({ busy: false });
      await refreshConnection();
    }
  }

  function setStatus(status: ServerStatusEvent): void {
    const runningSince = status.uptime === undefined ? null : Date.now() - status.uptime * 1000;
    set({ status, runningSince });
  }

  return {
    status: { status: "stopped" },
    runningSince: null,
    lastError: undefined,
    logs: [],
    follow: true,
    busy: false,
    client: null,
    async init() {
      if (!listening) {
        listening = true;
        window.pythonServer.onStatusChange((status) => {
          setStatus(status);
          if (status.status !== "running") set({ client: null });
          if (status.status === "error" || status.status === "starting") {
            void window.pythonServer.getStatus().then((full) => set({ lastError: full.lastError }));
          }
        });
        window.pythonServer.onLog((line) =>
          set((state) => ({ logs: [...state.logs, line].slice(-MAX_LOG_LINES) })),
        );
        window.pythonServer.onReady(() => {
          set({ lastError: undefined });
          void refreshConnection();
        });
      }
      const status = await window.pythonServer.getStatus();
      const { logs, lastError, ...event } = status;
      setStatus(event);
      set({ logs, lastError });
      await refreshConnection();
    },
    start: () => control("start"),
    stop: () => control("stop"),
    restart: () => control("restart"),
    clearLogs: () => set({ logs: [] }),
    setFollow: (follow) => set({ follow }),
  };
});
