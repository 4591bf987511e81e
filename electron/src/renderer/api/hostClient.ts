/**
 * The renderer's way to the host: HTTP with the token header, errors turned into HostError
 * with the host's own message (CONTRACT.md: `{"error": {"code", "message", "details"}}`).
 */

import type { HostConnection } from "../../shared/contract";

export class HostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export type HostClient = ReturnType<typeof hostClient>;

export function hostClient(connection: HostConnection) {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(connection.baseUrl + path, {
        method,
        headers: {
          "X-Backend-Token": connection.token,
          ...(body !== undefined && { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new HostError(0, "unreachable", "The server is not answering; it may be restarting.");
    }
    const text = await response.text();
    const parsed: unknown = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
      throw new HostError(response.status, error?.code ?? "http_error", error?.message ?? `HTTP ${response.status}`, error?.details);
    }
    return parsed as T;
  }
  return {
    connection,
    get: <T>(path: string) => request<T>("GET", path),
    post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
    patch: <T>(path: string, body: unknown) => request<T>("PATCH", path, body),
    delete: <T>(path: string) => request<T>("DELETE", path),
    eventsUrl(since: number | null, { batch = false }: { batch?: boolean } = {}): string {
      const url = new URL("/events", connection.baseUrl.replace(/^http/, "ws"));
      url.searchParams.set("token", connection.token); // browsers cannot set headers on a WebSocket
      if (since !== null) url.searchParams.set("since", String(since));
      if (batch) url.searchParams.set("batch", "1");
      return url.toString();
    },
  };
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
