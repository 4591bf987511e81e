/**
 * The renderer's only door to main: `window.pythonServer` (CONTRACT.md, Electron IPC). The
 * preload runs sandboxed, so it can require nothing but `electron`: the channel names are
 * spelled out here, and test/supervisor/preload.test.ts checks them against the contract.
 */

import { contextBridge, ipcRenderer, type IpcRendererEvent } from "electron";

import type { PythonServerApi } from "../shared/contract.js";

function subscribe<T>(channel: string, callback: (payload: T) => void): () => void {
  const listener = (_event: IpcRendererEvent, payload: T): void => callback(payload);
  ipcRenderer.on(channel, listener);
  return () => {
    ipcRenderer.removeListener(channel, listener);
  };
}

const pythonServer: PythonServerApi = {
  start: () => ipcRenderer.invoke("start-python-server"),
  stop: () => ipcRenderer.invoke("stop-python-server"),
  restart: () => ipcRenderer.invoke("restart-python-server"),
  getStatus: () => ipcRenderer.invoke("get-python-server-status"),
  getConnection: () => ipcRenderer.invoke("get-host-connection"),
  openExternal: (url) => ipcRenderer.invoke("open-external-url", url),
  onStatusChange: (callback) => subscribe("python-server-status", callback),
  onLog: (callback) => subscribe("python-log", callback),
  onReady: (callback) => subscribe("python-server-ready", () => callback()),
  onStopped: (callback) => subscribe("python-server-stopped", callback),
};

contextBridge.exposeInMainWorld("pythonServer", pythonServer);
