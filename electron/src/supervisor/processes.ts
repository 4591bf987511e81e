/**
 * Other processes, by pid: is it alive, what is its command line, end it and everything it
 * started. The host is spawned as the leader of its own process group (POSIX), so one
 * signal to the group reaches `uv`, the Python host under it and anything the host started;
 * on Windows `taskkill /T` walks the tree instead.
 */

import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A process's command line as one string, or null when it is gone or cannot be read. A
 * stale host is ended only when this equals what was recorded for it, never by name.
 */
export function commandLineOf(pid: number): string | null {
  try {
    if (process.platform === "linux") {
      const raw = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return raw.split("\0").filter(Boolean).join(" ") || null;
    }
    if (process.platform === "win32") {
      const out = execFileSync(
        "powershell.exe",
        ["-NoProfile", "-Command", `(Get-CimInstance Win32_Process -Filter "ProcessId=${pid}").CommandLine`],
        { encoding: "utf8", windowsHide: true },
      );
      return out.trim() || null;
    }
    const out = execFileSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8" });
    return out.trim() || null;
  } catch {
    return null;
  }
}

/** Signal a process group led by `pid` (POSIX) or, on Windows, force the tree down. */
export function killTree(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  if (process.platform === "win32") {
    execFile("taskkill", ["/PID", String(pid), "/T", "/F"], { windowsHide: true }, () => undefined);
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal); // not a group leader (a stale host found by pid)
    } catch {
      // already gone
    }
  }
}

/** Resolves true once `pid` is gone, false if it is still alive after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number, pollMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return !isAlive(pid);
}
