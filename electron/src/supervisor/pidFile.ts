/**
 * The pid file: which processes this app's last host was, and their command lines at the
 * time. On the next launch a host still alive from a crashed app is ended, but only if its
 * command line is still the one recorded: a pid the system has since given to another
 * program is left alone.
 */

import fs from "node:fs";
import path from "node:path";

import { commandLineOf, isAlive, killTree, waitForExit } from "./processes.js";

export interface RecordedProcess {
  pid: number;
  commandLine: string;
}

export interface PidRecord {
  processes: RecordedProcess[];
  startedAt: string;
}

export class PidFile {
  constructor(readonly filePath: string) {}

  /** Record `pids` with their command lines as they are now (unreadable ones are skipped). */
  write(pids: number[]): void {
    const processes = pids.flatMap((pid) => {
      const commandLine = commandLineOf(pid);
      return commandLine ? [{ pid, commandLine }] : [];
    });
    const record: PidRecord = { processes, startedAt: new Date().toISOString() };
    fs.mkdirSync(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.filePath, JSON.stringify(record), { mode: 0o600 });
  }

  read(): PidRecord | null {
    try {
      const record = JSON.parse(fs.readFileSync(this.filePath, "utf8")) as PidRecord;
      return Array.isArray(record.processes) ? record : null;
    } catch {
      return null;
    }
  }

  remove(): void {
    fs.rmSync(this.filePath, { force: true });
  }

  /**
   * End the recorded processes that are alive with the recorded command line: SIGTERM, then
   * SIGKILL after `graceMs`. Returns the pids it ended; removes the file.
   */
  async endStale(graceMs = 3000): Promise<number[]> {
    const record = this.read();
    this.remove();
    if (!record) return [];
    const ours = record.processes.filter(
      ({ pid, commandLine }) => isAlive(pid) && commandLineOf(pid) === commandLine,
    );
    for (const { pid } of ours) killTree(pid, "SIGTERM");
    for (const { pid } of ours) {
      if (!(await waitForExit(pid, graceMs))) killTree(pid, "SIGKILL");
    }
    return ours.map(({ pid }) => pid);
  }
}
