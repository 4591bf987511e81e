import type { ReactNode } from "react";

import { useServer } from "../store/serverStore";

/** What every host-backed view shows while there is no host to ask. */
export function NeedsServer({ children }: { children: ReactNode }) {
  const status = useServer((state) => state.status.status);
  const client = useServer((state) => state.client);
  if (client) return <>{children}</>;
  return (
    <div className="empty" data-testid="needs-server">
      {status === "starting" || status === "stopping"
        ? `The server is ${status}…`
        : "The server is not running. Start it from the Server view."}
    </div>
  );
}

export function ErrorNote({ error }: { error: string | undefined }) {
  return error ? (
    <div className="error" role="alert">
      {error}
    </div>
  ) : null;
}

export function formatTime(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}
