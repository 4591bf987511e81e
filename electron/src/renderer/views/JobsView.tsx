import { useEffect, useState } from "react";

import { errorMessage } from "../api/hostClient";
import type { Job } from "../api/types";
import { newestFirst, useJobs } from "../store/jobsStore";
import { usePlugins } from "../store/pluginsStore";
import { useServer } from "../store/serverStore";
import { ErrorNote, formatTime, NeedsServer } from "./common";

const ENDED = new Set(["succeeded", "failed", "canceled"]);

function JobRow({ job }: { job: Job }) {
  const cancel = useJobs((state) => state.cancel);
  const [error, setError] = useState<string>();
  const progress = job.status === "succeeded" ? 1 : (job.progress ?? 0);
  return (
    <li className="job" data-testid="job" data-job-id={job.job_id} data-status={job.status}>
      <div className="job-head">
        <span className="job-type">{job.type}</span>
        <span className={`badge badge-${job.status}`} data-testid="job-status">
          {job.status}
        </span>
        <span className="muted">{formatTime(job.created_at)}</span>
        {job.attempt > 1 && <span className="muted">attempt {job.attempt}/{job.max_attempts}</span>}
        {!ENDED.has(job.status) && (
          <button
            className="small"
            data-testid="job-cancel"
            onClick={() => cancel(job.job_id).catch((failure) => setError(errorMessage(failure)))}
          >
            Cancel
          </button>
        )}
      </div>
      <progress max={1} value={progress} data-testid="job-progress" data-value={progress} />
      <div className="muted">{job.message ?? ""}</div>
      {job.error && (
        <div className="error" data-testid="job-error">
          {job.error.code}: {job.error.message}
        </div>
      )}
      <ErrorNote error={error} />
    </li>
  );
}

function SubmitForm() {
  const client = useServer((state) => state.client);
  const { plugins, load } = usePlugins();
  const submit = useJobs((state) => state.submit);
  const types = plugins.filter((plugin) => plugin.state === "loaded").flatMap((plugin) => plugin.job_types);
  const [type, setType] = useState("");
  const [payload, setPayload] = useState("{}");
  const [error, setError] = useState<string>();

  useEffect(() => {
    if (client) void load(client);
  }, [client, load]);

  async function onSubmit(event: React.FormEvent) {
    event.preventDefault();
    setError(undefined);
    try {
      await submit(type || types[0]?.name || "", JSON.parse(payload || "{}"));
    } catch (failure) {
      setError(errorMessage(failure));
    }
  }

  return (
    <form className="card inline-form" onSubmit={onSubmit} data-testid="job-form">
      <select value={type} onChange={(event) => setType(event.target.value)} data-testid="job-type">
        {types.map((jobType) => (
          <option key={jobType.name} value={jobType.name} title={jobType.description}>
            {jobType.name}
          </option>
        ))}
      </select>
      <input
        className="payload"
        value={payload}
        onChange={(event) => setPayload(event.target.value)}
        data-testid="job-payload"
        aria-label="payload (JSON)"
      />
      <button type="submit" data-testid="job-submit">
        Submit
      </button>
      <ErrorNote error={error} />
    </form>
  );
}

export function JobsView() {
  const { jobs, loading, error, stream } = useJobs();
  const list = newestFirst(jobs);
  return (
    <section className="view">
      <h2>
        Jobs <span className={`stream stream-${stream}`} data-testid="job-stream">{stream}</span>
      </h2>
      <NeedsServer>
        <SubmitForm />
      </NeedsServer>
      <ErrorNote error={error} />
      {loading && !list.length && <div className="empty">Loading jobs…</div>}
      {!loading && !list.length && <div className="empty">No jobs yet.</div>}
      <ul className="jobs" data-testid="jobs">
        {list.map((job) => (
          <JobRow key={job.job_id} job={job} />
        ))}
      </ul>
    </section>
  );
}
