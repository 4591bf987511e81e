import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { LogBuffer, lineSplitter, RotatingLogFile } from "../../src/supervisor/logs.js";
import { parseReadyLine } from "../../src/supervisor/readyLine.js";
import { temporaryDir } from "../support/env.js";

describe("the host's output", () => {
  test("the in-memory buffer keeps only the last lines", () => {
    const buffer = new LogBuffer(3);
    for (const line of ["a", "b", "c", "d", "e"]) buffer.push(line);
    assert.deepEqual(buffer.snapshot(), ["c", "d", "e"]);
  });

  test("the log file is rotated at each start, keeping a bounded number", async () => {
    const file = new RotatingLogFile(path.join(temporaryDir("logs"), "host.log"), 2);
    for (const run of ["one", "two", "three", "four"]) {
      file.rotate();
      file.write(run);
    }
    await file.close();
    const read = (index: number): string => fs.readFileSync(file.rotated(index), "utf8");
    assert.match(read(0), / four\n$/);
    assert.match(read(1), / three\n$/);
    assert.match(read(2), / two\n$/);
    assert.equal(fs.existsSync(file.rotated(3)), false);
  });

  test("chunks are split into whole lines, a partial line waiting for the rest", () => {
    const lines: string[] = [];
    const splitter = lineSplitter((line) => lines.push(line));
    splitter.feed("ENTTOK_READY {\"po");
    splitter.feed("rt\": 5, \"pid\": 7, \"version\": \"1\"}\r\nnext");
    assert.deepEqual(lines, ['ENTTOK_READY {"port": 5, "pid": 7, "version": "1"}']);
    splitter.end();
    assert.deepEqual(lines.at(-1), "next");
  });

  test("the ready line is parsed, anything else is not", () => {
    assert.deepEqual(parseReadyLine('ENTTOK_READY {"port": 5, "pid": 7, "version": "1"}'), { port: 5, pid: 7, version: "1" });
    assert.equal(parseReadyLine('ENTTOK_READY {"port": "x", "pid": 7}'), null);
    assert.equal(parseReadyLine("ENTTOK_READY not json"), null);
    assert.equal(parseReadyLine('enttok: serving on http://127.0.0.1:5'), null);
  });
});
