/**
 * The host's output, kept two ways: the last lines in memory for the window's log viewer
 * (bounded, so a chatty host cannot grow the app without limit), and every line in a file
 * that is rotated at each start, so the output of the run before a crash is still there to
 * read after the restart.
 */

import fs from "node:fs";
import path from "node:path";

export class LogBuffer {
  private readonly lines: string[] = [];

  constructor(readonly capacity: number = 1000) {
    if (capacity < 1) throw new RangeError("a log buffer holds at least one line");
  }

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
  }

  snapshot(): string[] {
    return [...this.lines];
  }

  clear(): void {
    this.lines.length = 0;
  }
}

/**
 * `host.log` is the current run; at each start it becomes `host.1.log`, which becomes
 * `host.2.log`, and so on up to `keep` old files.
 */
export class RotatingLogFile {
  private stream: fs.WriteStream | null = null;

  constructor(
    readonly filePath: string,
    readonly keep: number = 5,
  ) {}

  /** Shift the old files along and open a fresh one for this run. */
  rotate(): void {
    void this.close(); // a rename does not disturb a stream still flushing: it keeps its file
    fs.mkdirSync(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
    for (let index = this.keep; index >= 1; index--) {
      const older = this.rotated(index - 1);
      if (fs.existsSync(older)) fs.renameSync(older, this.rotated(index));
    }
    // Opened here, not when the stream gets round to it, so the next rotation finds the file.
    const fd = fs.openSync(this.filePath, "w", 0o600);
    this.stream = fs.createWriteStream(this.filePath, { fd });
  }

  write(line: string): void {
    this.stream?.write(`${new Date().toISOString()} ${line}\n`);
  }

  /** Resolves once what was written is on disk. */
  close(): Promise<void> {
    const stream = this.stream;
    this.stream = null;
    return new Promise((resolve) => (stream ? stream.end(resolve) : resolve()));
  }

  /** Index 0 is the current file. */
  rotated(index: number): string {
    if (index === 0) return this.filePath;
    const { dir, name, ext } = path.parse(this.filePath);
    return path.join(dir, `${name}.${index}${ext}`);
  }
}

/** Splits a stream's chunks into whole lines; a partial last line waits for its end. */
export function lineSplitter(onLine: (line: string) => void): { feed(chunk: Buffer | string): void; end(): void } {
  let pending = "";
  return {
    feed(chunk) {
      pending += chunk.toString();
      const parts = pending.split(/\r?\n/);
      pending = parts.pop() ?? "";
      for (const part of parts) onLine(part);
    },
    end() {
      if (pending) onLine(pending);
      pending = "";
    },
  };
}
