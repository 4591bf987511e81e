import { useCallback, useEffect, useState } from "react";

import { errorMessage } from "../api/hostClient";
import type { ActivityEvent } from "../api/types";
import { useJobs } from "../store/jobsStore";
import { usePlugins } from "../store/pluginsStore";
import { useServer } from "../store/serverStore";
import { ErrorNote, NeedsServer } from "./common";
import { JournalSuggestion } from "./JournalSuggestion";

function localDay(date = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The day as a person means it: local midnight to local midnight, sent as UTC. */
function dayRange(day: string): { from: string; to: string } {
  const start = new Date(`${day}T00:00:00`);
  const end = new Date(start);
  end.setDate(end.getDate() + 1);
  return { from: start.toISOString(), to: end.toISOString() };
}

export function groupBySource(events: ActivityEvent[]): [string, ActivityEvent[]][] {
  const groups = new Map<string, ActivityEvent[]>();
  for (const event of [...events].sort((a, b) => a.event_time.localeCompare(b.event_time))) {
    groups.set(event.source, [...(groups.get(event.source) ?? []), event]);
  }
  return [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export function DayView() {
  const client = useServer((state) => state.client);
  const { plugins, load: loadPlugins } = usePlugins();
  const listeners = useJobs((state) => state.listeners);
  const [day, setDay] = useState(localDay);
  const [events, setEvents] = useState<ActivityEvent[] | null>(null);
  const [error, setError] = useState<string>();
  const claude = plugins.some((plugin) => plugin.name === "claude" && plugin.state === "loaded");

  const load = useCallback(() => {
    if (!client) return;
    const { from, to } = dayRange(day);
    client
      .get<{ events: ActivityEvent[] }>(`/activity/events?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&limit=1000`)
      .then(({ events }) => (setEvents(events), setError(undefined)))
      .catch((failure) => setError(errorMessage(failure)));
  }, [client, day]);

  useEffect(() => {
    if (client) void loadPlugins(client); // whether Claude is there to write the journal
  }, [client, loadPlugins]);

  useEffect(() => {
    load();
    const listener = (event: { type: string; status?: string }) => {
      if (event.type === "job.status" && event.status === "succeeded") load();
    };
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, [load, listeners]);

  return (
    <section className="view">
      <h2>The day</h2>
      <NeedsServer>
        <div className="card inline-form">
          <input type="date" value={day} onChange={(event) => setDay(event.target.value)} data-testid="day-picker" />
          <button onClick={load}>Refresh</button>
        </div>
        <ErrorNote error={error} />
        {client && claude && <JournalSuggestion client={client} day={day} />}
        {events === null && <div className="empty">Loading the timeline…</div>}
        {events?.length === 0 && <div className="empty">Nothing happened on this day, as far as the connectors know.</div>}
        {events &&
          groupBySource(events).map(([source, items]) => (
            <div className="card" key={source} data-testid={`timeline-${source}`}>
              <h3>
                {source} <span className="muted">{items.length}</span>
              </h3>
              <ul className="timeline">
                {items.map((item) => (
                  <li key={item.event_id} data-testid="timeline-item">
                    <span className="time">{new Date(item.event_time).toLocaleTimeString()}</span>
                    <span>{item.title ?? item.event_type}</span>
                    {item.actor && <span className="muted">{item.actor}</span>}
                  </li>
                ))}
              </ul>
            </div>
          ))}
      </NeedsServer>
    </section>
  );
}
