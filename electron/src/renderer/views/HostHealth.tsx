/**
 * The host's own health (GET /health): `ok`, `degraded` (a fault it retries: writes are
 * refused, reads work) or `error` (it takes no more work until restarted), with the fault's
 * message. Read when the connection changes and again on each `host.health` event.
 */

import { useEffect, useState } from "react";

import { errorMessage } from "../api/hostClient";
import type { components } from "../api/schema";
import { useJobs } from "../store/jobsStore";
import { useServer } from "../store/serverStore";

type Health = components["schemas"]["Health"];

function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

export function HostHealth() {
  const client = useServer((state) => state.client);
  const listeners = useJobs((state) => state.listeners);
  const [health, setHealth] = useState<Health>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    setHealth(undefined);
    if (!client) return;
    const read = () =>
      // 503 carries the same body: read it whatever the status.
      fetch(`${client.connection.baseUrl}/health`)
        .then(async (response) => (setHealth((await response.json()) as Health), setError(undefined)))
        .catch((failure) => setError(errorMessage(failure)));
    void read();
    const listener = (event: { type: string }) => {
      if (event.type === "host.health") void read();
    };
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, [client, listeners]);

  if (!client) return null;
  if (!health) return <dd data-testid="server-health">{error ? `unknown (${error})` : "…"}</dd>;
  return (
    <dd data-testid="server-health" data-health={health.status} className={`state state-health-${health.status}`}>
      {health.status}
      {health.fault && (
        <span className="fault" data-testid="server-fault">
          {" "}
          — {sentence(health.fault.message)}
        </span>
      )}
    </dd>
  );
}
