import { useEffect, useState } from "react";

import { useJobs } from "./store/jobsStore";
import { useServer } from "./store/serverStore";
import { ConnectorsView } from "./views/ConnectorsView";
import { DayView } from "./views/DayView";
import { JobsView } from "./views/JobsView";
import { ServerView } from "./views/ServerView";
import { SettingsView } from "./views/SettingsView";

const VIEWS = { server: "Server", jobs: "Jobs", connectors: "Connectors", day: "Day", settings: "Settings" } as const;
type ViewName = keyof typeof VIEWS;

export function App() {
  const [view, setView] = useState<ViewName>("server");
  const status = useServer((state) => state.status.status);
  const client = useServer((state) => state.client);
  const attach = useJobs((state) => state.attach);

  useEffect(() => {
    void useServer.getState().init();
  }, []);
  useEffect(() => attach(client), [client, attach]);

  return (
    <div className="app">
      <nav className="sidebar">
        <h1>enttok</h1>
        {(Object.keys(VIEWS) as ViewName[]).map((name) => (
          <button
            key={name}
            className={name === view ? "nav active" : "nav"}
            data-testid={`nav-${name}`}
            onClick={() => setView(name)}
          >
            {VIEWS[name]}
          </button>
        ))}
        <div className={`server-pill pill-${status}`} data-testid="server-pill">
          server {status}
        </div>
      </nav>
      <main className="content">
        {view === "server" && <ServerView />}
        {view === "jobs" && <JobsView />}
        {view === "connectors" && <ConnectorsView />}
        {view === "day" && <DayView />}
        {view === "settings" && <SettingsView />}
      </main>
    </div>
  );
}
