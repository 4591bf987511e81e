/**
 * Jobs, live: the newest jobs from GET /jobs, kept current by the /events WebSocket, batched
 * (`?batch=1`: each message is an array of events, so the app keeps up however busy the host
 * is). After a reconnect (the host restarted, or dropped a slow client) the socket asks for
 * `since` the last seq it saw, so nothing in between is missed; when the host says that seq
 * is from another history (close 4000, its data was reset), the list is loaded afresh. A
 * status change fetches the job's record, so the list always shows what the host has, not a
 * guess from events.
 */

import { create } from "zustand";

import { errorMessage, type HostClient } from "../api/hostClient";
import type { HostEvent, Job } from "../api/types";

const LIST_LIMIT = 100;
const RECONNECT_MS = 500;
/** The host's close code for a `since` beyond every seq it issued (docs/api.md, "Events"). */
const RESYNC = 4000;

type Stream = "idle" | "connecting" | "live" | "reconnecting";

interface JobsStore {
  jobs: Record<string, Job>;
  loading: boolean;
  error: string | undefined;
  stream: Stream;
  lastSeq: number | null;
  /** Calls for plugin events (account.status and the like) from the same stream. */
  listeners: Set<(event: HostEvent) => void>;
  attach(client: HostClient | null): void;
  submit(type: string, payload: unknown): Promise<Job>;
  cancel(jobId: string): Promise<void>;
}

let socket: WebSocket | null = null;
let attached: HostClient | null = null;
let reconnectTimer: ReturnType<typeof setTimeout> | null = null;

export const useJobs = create<JobsStore>((set, get) => {
  function put(job: Job): void {
    set((state) => ({ jobs: { ...state.jobs, [job.job_id]: job } }));
  }

  async function fetchJob(client: HostClient, jobId: string): Promise<void> {
    try {
      put(await client.get<Job>(`/jobs/${encodeURIComponent(jobId)}`));
    } catch {
      // the next event or reload brings it
    }
  }

  function onMessage(client: HostClient, data: string): void {
    const parsed = JSON.parse(data) as HostEvent | HostEvent[];
    const events = Array.isArray(parsed) ? parsed : [parsed];
    const seqs = events.map((event) => event.seq).filter((seq): seq is number => typeof seq === "number");
    if (seqs.length) set((state) => ({ lastSeq: Math.max(state.lastSeq ?? 0, ...seqs) }));
    for (const event of events) onEvent(client, event);
  }

  function onEvent(client: HostClient, event: HostEvent): void {
    const known = event.job_id ? get().jobs[event.job_id] : undefined;
    if (event.type === "job.progress" && known) {
      put({ ...known, progress: event.progress ?? known.progress, message: event.message ?? known.message });
    } else if (event.job_id && (event.type === "job.status" || !known)) {
      void fetchJob(client, event.job_id);
    }
    for (const listener of get().listeners) listener(event);
  }

  function open(client: HostClient): void {
    set({ stream: get().lastSeq === null ? "connecting" : "reconnecting" });
    const ws = new WebSocket(client.eventsUrl(get().lastSeq, { batch: true }));
    socket = ws;
    ws.onopen = () => set({ stream: "live" });
    ws.onmessage = (message) => onMessage(client, String(message.data));
    ws.onclose = (closed) => {
      if (socket !== ws) return;
      socket = null;
      set({ stream: "reconnecting" });
      if (closed.code === RESYNC) {
        set({ lastSeq: null, jobs: {} });
        void load(client);
      }
      reconnectTimer = setTimeout(() => attached === client && open(client), RECONNECT_MS);
    };
  }

  async function load(client: HostClient): Promise<void> {
    set({ loading: true });
    try {
      const { jobs } = await client.get<{ jobs: Job[] }>(`/jobs?limit=${LIST_LIMIT}`);
      set((state) => ({
        jobs: { ...state.jobs, ...Object.fromEntries(jobs.map((job) => [job.job_id, job])) },
        error: undefined,
      }));
    } catch (error) {
      set({ error: errorMessage(error) });
    } finally {
      set({ loading: false });
    }
  }

  return {
    jobs: {},
    loading: false,
    error: undefined,
    stream: "idle",
    lastSeq: null,
    listeners: new Set(),
    attach(client) {
      if (client === attached) return;
      attached = client;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const old = socket;
      socket = null;
      old?.close();
      if (!client) {
        set({ stream: "idle" });
        return;
      }
      open(client);
      void load(client);
    },
    async submit(type, payload) {
      if (!attached) throw new Error("The server is not running.");
      const created = await attached.post<{ job_id: string }>("/jobs", { type, payload });
      const job = await attached.get<Job>(`/jobs/${created.job_id}`);
      put(job);
      return job;
    },
    async cancel(jobId) {
      if (!attached) return;
      await attached.post(`/jobs/${encodeURIComponent(jobId)}/cancel`);
      await fetchJob(attached, jobId);
    },
  };
});

export function newestFirst(jobs: Record<string, Job>): Job[] {
  return Object.values(jobs).sort((a, b) => (a.job_id < b.job_id ? 1 : -1)); // ids sort by creation
}
