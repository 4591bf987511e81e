/**
 * Why a host exited before it was ready, in words a person can act on. The host prints its
 * reason on stderr (a traceback for a port in use, one line for a locked data dir or a bad
 * setting); this finds the known ones in the last lines of output.
 */

const PORT_IN_USE = [/address already in use/i, /EADDRINUSE/, /\[Errno (48|98|10048)\]/];
const DATA_DIR_LOCKED = /another enttok host \(pid \d+\) is already using .*/;

export function describeEarlyExit(
  code: number | null,
  signal: NodeJS.Signals | null,
  output: string[],
  port: number,
): string {
  const text = output.join("\n");
  if (PORT_IN_USE.some((pattern) => pattern.test(text))) {
    return (
      `Port ${port} on 127.0.0.1 is already in use by another program, so the server could not start. ` +
      "Close that program or choose another port (0 lets the system pick a free one)."
    );
  }
  const locked = DATA_DIR_LOCKED.exec(text);
  if (locked) return `The server could not start: ${locked[0]}.`;
  const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  const reason = lastMeaningfulLine(output);
  return `The server ${how} before it was ready${reason ? `: ${reason}` : "."}`;
}

/** The last line that is not blank or a traceback's frame: usually the error itself. */
function lastMeaningfulLine(output: string[]): string | undefined {
  for (let index = output.length - 1; index >= 0; index--) {
    const line = output[index]!.trim();
    if (line && !line.startsWith("File ") && !line.startsWith("^") && !line.startsWith("[supervisor]")) {
      return line.replace(/^enttok:\s*/, "");
    }
  }
  return undefined;
}
