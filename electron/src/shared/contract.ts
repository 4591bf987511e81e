/**
 * The server-control IPC of CONTRACT.md (seed 002): channel names and payloads shared by the
 * supervisor, main, preload and renderer. Types only and string constants, so the sandboxed
 * preload and the browser bundle can both use it without pulling in Node.
 */

export type ServerState = "starting" | "running" | "stopping" | "stopped" | "error";

/** What `python-server-status` carries. */
export interface ServerStatusEvent {
  status: ServerState;
  pid?: number;
  port?: number;
  /** Seconds since the host became ready. */
  uptime?: number;
}

/** What `get-python-server-status` answers. */
export interface ServerStatus extends ServerStatusEvent {
  port: number;
  lastError?: string;
  logs: string[];
}

export interface ServerControlResponse {
  success: boolean;
  message: string;
  status?: ServerStatus;
}

export interface ServerStoppedEvent {
  code: number | null;
  signal?: string;
}

/** How the renderer reaches the host itself: HTTP and the /events WebSocket. */
export interface HostConnection {
  baseUrl: string;
  token: string;
}

export const Channels = {
  status: "python-server-status",
  log: "python-log",
  ready: "python-server-ready",
  stopped: "python-server-stopped",
  start: "start-python-server",
  stop: "stop-python-server",
  restart: "restart-python-server",
  getStatus: "get-python-server-status",
  /** Not in seed 002: the renderer asks for the host's base URL and token with it. */
  getConnection: "get-host-connection",
  /** Not in seed 002: an https URL (an OAuth start page) opened in the system browser. */
  openExternal: "open-external-url",
} as const;

/** `window.pythonServer`, as the preload exposes it. Each `on*` returns its unsubscribe. */
export interface PythonServerApi {
  start(): Promise<ServerControlResponse>;
  stop(): Promise<ServerControlResponse>;
  restart(): Promise<ServerControlResponse>;
  getStatus(): Promise<ServerStatus>;
  getConnection(): Promise<HostConnection | null>;
  /** Opens an https URL in the system browser; main refuses any other scheme. */
  openExternal(url: string): Promise<void>;
  onStatusChange(callback: (status: ServerStatusEvent) => void): () => void;
  onLog(callback: (line: string) => void): () => void;
  onReady(callback: () => void): () => void;
  onStopped(callback: (event: ServerStoppedEvent) => void): () => void;
}
