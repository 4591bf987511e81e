/**
 * The Claude journal suggestion for a day (plugins/claude): the one already written, or a new
 * one on request. Generating is a `claude.suggest.generate` job followed on the event stream
 * (the jobs store keeps its record current); the Markdown it stores is shown as React
 * elements built from its lines, so nothing Claude writes is ever parsed as HTML.
 */

import { Fragment, useCallback, useEffect, useState, type ReactNode } from "react";

import { errorMessage, type HostClient } from "../api/hostClient";
import { useJobs } from "../store/jobsStore";
import { ErrorNote } from "./common";

const PREFIX = "/plugins/claude";
export const SUGGEST_JOB = "claude.suggest.generate";

interface Suggestion {
  suggestion_id: string;
  note_date: string;
  markdown: string;
  entries: number;
  entries_shown: number;
  created_at: string;
}

interface Check {
  found: boolean;
  error: string | null;
}

/** Headings, bullet lists and paragraphs, as text: enough for a journal draft. */
export function MarkdownText({ markdown }: { markdown: string }) {
  const blocks: ReactNode[] = [];
  let bullets: string[] = [];
  const flush = () => {
    if (bullets.length) blocks.push(<ul key={blocks.length}>{bullets.map((item, index) => <li key={index}>{item}</li>)}</ul>);
    bullets = [];
  };
  for (const line of markdown.split("\n")) {
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (bullet) {
      bullets.push(bullet[1]!);
      continue;
    }
    flush();
    if (heading) blocks.push(<h4 key={blocks.length}>{heading[1]}</h4>);
    else if (line.trim()) blocks.push(<p key={blocks.length}>{line}</p>);
  }
  flush();
  return <Fragment>{blocks}</Fragment>;
}

export function JournalSuggestion({ client, day }: { client: HostClient; day: string }) {
  const submit = useJobs((state) => state.submit);
  const [suggestion, setSuggestion] = useState<Suggestion | null>();
  const [jobId, setJobId] = useState<string>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const job = useJobs((state) => (jobId ? state.jobs[jobId] : undefined));

  const load = useCallback(() => {
    client
      .get<{ suggestions: Suggestion[] }>(`${PREFIX}/suggestions?date=${encodeURIComponent(day)}&limit=1`)
      .then(({ suggestions }) => setSuggestion(suggestions[0] ?? null))
      .catch((failure) => setError(errorMessage(failure)));
  }, [client, day]);

  useEffect(() => {
    setSuggestion(undefined);
    setError(undefined);
    setNote(undefined);
    setJobId(undefined);
    load();
  }, [load]);

  useEffect(() => {
    if (!job || job.status === "queued" || job.status === "running") return;
    setJobId(undefined);
    if (job.status === "failed") setError(`Claude could not write the suggestion: ${job.error?.message ?? "the job failed"}`);
    else if (job.status === "canceled") setNote("The suggestion was canceled.");
    else if ((job.result as { suggestion_id?: string | null } | null)?.suggestion_id) load();
    else setNote("Nothing happened on this day, so there is nothing to write up.");
  }, [job, load]);

  async function generate(): Promise<void> {
    setError(undefined);
    setNote(undefined);
    try {
      const check = await client.get<Check>(`${PREFIX}/check`);
      if (!check.found) {
        setError(check.error ?? "The Claude CLI cannot run.");
        return;
      }
      setJobId((await submit(SUGGEST_JOB, { note_date: day })).job_id);
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }

  const running = jobId !== undefined;
  return (
    <div className="card" data-testid="journal">
      <div className="job-head">
        <h3>Journal suggestion</h3>
        <button className="small" data-testid="journal-generate" disabled={running} onClick={() => void generate()}>
          {suggestion ? "Write it again" : "Suggest a journal entry"}
        </button>
        {running && <span className="muted" data-testid="journal-running">{job?.message ?? "Claude is writing…"}</span>}
      </div>
      <ErrorNote error={error} />
      {note && <div className="note" data-testid="journal-note">{note}</div>}
      {suggestion === undefined && <div className="empty">Loading…</div>}
      {suggestion === null && !running && <div className="empty">No suggestion for this day yet.</div>}
      {suggestion && (
        <div className="journal-text" data-testid="journal-text">
          <MarkdownText markdown={suggestion.markdown} />
          <div className="muted">
            From {suggestion.entries_shown} of {suggestion.entries} timeline entries, {new Date(suggestion.created_at).toLocaleString()}
          </div>
        </div>
      )}
    </div>
  );
}
