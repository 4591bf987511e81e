/** The host's ready line (CONTRACT.md, Start-up): `ENTTOK_READY {"port", "pid", "version"}`. */

export const READY_PREFIX = "ENTTOK_READY ";

export interface ReadyInfo {
  port: number;
  pid: number;
  version: string;
}

/** The ready line's fields, or null for any other line (or a malformed ready line). */
export function parseReadyLine(line: string): ReadyInfo | null {
  if (!line.startsWith(READY_PREFIX)) return null;
  try {
    const body: unknown = JSON.parse(line.slice(READY_PREFIX.length));
    if (typeof body !== "object" || body === null) return null;
    const { port, pid, version } = body as Record<string, unknown>;
    if (!Number.isInteger(port) || !Number.isInteger(pid)) return null;
    return { port: port as number, pid: pid as number, version: String(version ?? "") };
  } catch {
    return null;
  }
}

/** GET /health, within `timeoutMs`; true when the host answers `{"status": "ok"}`. */
export async function healthOk(port: number, timeoutMs: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return false;
    const body = (await response.json()) as { status?: unknown };
    return body.status === "ok";
  } catch {
    return false;
  }
}
