import { useEffect, useRef, useState } from "react";

import { useServer } from "../store/serverStore";
import { ErrorNote } from "./common";
import { HostHealth } from "./HostHealth";

function useUptime(runningSince: number | null): number | undefined {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (runningSince === null) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [runningSince]);
  return runningSince === null ? undefined : Math.max(0, Math.floor((now - runningSince) / 1000));
}

export function ServerView() {
  const { status, runningSince, lastError, logs, follow, busy, start, stop, restart, clearLogs, setFollow } = useServer();
  const running = status.status === "running";
  const uptime = useUptime(runningSince);
  const logRef = useRef<HTMLPreElement>(null);

  useEffect(() => {
    if (follow && logRef.current) logRef.current.scrollTop = logRef.current.scrollHeight;
  }, [logs, follow]);

  return (
    <section className="view">
      <h2>Server</h2>
      <div className="card status-card">
        <dl>
          <dt>Status</dt>
          <dd data-testid="server-status" className={`state state-${status.status}`}>
            {status.status}
          </dd>
          <dt>PID</dt>
          <dd data-testid="server-pid">{status.pid ?? "—"}</dd>
          <dt>Port</dt>
          <dd data-testid="server-port">{status.port ?? "—"}</dd>
          <dt>Uptime</dt>
          <dd>{uptime === undefined ? "—" : `${uptime} s`}</dd>
          {running && <dt>Health</dt>}
          {running && <HostHealth />}
        </dl>
        <div className="buttons">
          <button data-testid="server-start" disabled={busy || running || status.status === "starting"} onClick={start}>
            Start
          </button>
          <button data-testid="server-stop" disabled={busy || status.status === "stopped"} onClick={stop}>
            Stop
          </button>
          <button data-testid="server-restart" disabled={busy} onClick={restart}>
            Restart
          </button>
        </div>
        <ErrorNote error={lastError} />
      </div>
      <div className="card">
        <div className="log-toolbar">
          <h3>Log</h3>
          <label>
            <input type="checkbox" checked={follow} onChange={(event) => setFollow(event.target.checked)} /> Follow
          </label>
          <button onClick={clearLogs} data-testid="log-clear">
            Clear
          </button>
        </div>
        <pre className="log" ref={logRef} data-testid="server-log">
          {logs.length ? logs.join("\n") : "No output yet."}
        </pre>
      </div>
    </section>
  );
}
