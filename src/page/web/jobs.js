// Long operations (scan, audit, sync, prune) run as jobs on the service; the page starts
// them and follows each over the `jobProgress` subscription, in a tray every view shares.
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { graphql, subscribe } from "./api.js";
import { formatBytes } from "./ui.js";

const progressSubscription = `subscription JobProgress($id: ID!) {
  jobProgress(id: $id) {
    finished state error changedActors
    progress { percent phase actorsDone actorsTotal bytesDone bytesTotal }
    job { id kind dryRun statusCounts { synced localOnly s3Only outOfSync missing unchecked } }
  }
}`;

const jobs = new Map();
const listeners = new Set();

function publish(job) {
  jobs.set(job.id, job);
  for (const listener of listeners) listener(job);
}

/**
 * Starts a job through a `start…` mutation (`field` names it in the answer) and follows it;
 * resolves to the job's last event when it ends, rejects with a typed error's message.
 */
export async function runJob({ label, mutation, field, variables }) {
  const data = await graphql(mutation, variables);
  const result = data[field];
  if (result.__typename !== "SyncJob") throw new Error(result.message ?? result.__typename);
  let job = { id: result.id, label, kind: result.kind, state: "RUNNING", finished: false, progress: null };
  publish(job);
  try {
    for await (const event of subscribe(progressSubscription, { id: result.id })) {
      job = { ...job, ...event.jobProgress, label };
      publish(job);
      if (job.finished) break;
    }
  } catch (error) {
    job = { ...job, finished: true, state: "FAILED", error: error.message };
    publish(job);
  }
  if (!job.finished) publish((job = { ...job, finished: true }));
  setTimeout(() => {
    jobs.delete(job.id);
    for (const listener of listeners) listener(null);
  }, 8000);
  return job;
}

/** The `start…` mutations' answer: the job, or a typed error to show. */
export const startedJob = "__typename ... on SyncJob { id kind } ... on Error { message }";

function describeCounts(counts) {
  if (!counts) return "";
  const parts = [
    [counts.synced, "synced"],
    [counts.localOnly, "local only"],
    [counts.s3Only, "S3 only"],
    [counts.outOfSync, "out of sync"],
    [counts.missing, "missing"],
  ].filter(([count]) => count > 0);
  return parts.map(([count, label]) => `${count} ${label}`).join(" · ");
}

function JobCard({ job }) {
  const progress = job.progress;
  const percent = job.finished && job.state === "SUCCEEDED" ? 100 : Math.round(progress?.percent ?? 0);
  return html`<div class="job job-${job.state.toLowerCase()}" data-job-id=${job.id} data-state=${job.state}>
    <div class="job-head">
      <strong>${job.label}</strong>
      <span class="job-state">${job.finished ? job.state.toLowerCase() : `${percent}%`}</span>
    </div>
    <div class="progress" role="progressbar" aria-valuenow=${percent} aria-valuemin="0" aria-valuemax="100"><span style=${{ width: `${percent}%` }}></span></div>
    <div class="job-detail">
      ${progress ? html`<span>${progress.actorsDone}/${progress.actorsTotal} actors</span>` : null}
      ${progress?.bytesTotal > 0 ? html`<span>${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}</span>` : null}
      ${!job.finished && progress?.phase ? html`<span class="muted">${progress.phase}</span>` : null}
      ${job.finished ? html`<span class="muted">${describeCounts(job.job?.statusCounts)}</span>` : null}
      ${job.error ? html`<span class="error">${job.error}</span>` : null}
    </div>
  </div>`;
}

/** Running and just-finished jobs, bottom right. */
export function JobsTray() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const listener = () => setVersion((version) => version + 1);
    listeners.add(listener);
    return () => listeners.delete(listener);
  }, []);
  if (jobs.size === 0) return null;
  return html`<aside class="jobs" aria-label="Jobs">${[...jobs.values()].map((job) => html`<${JobCard} key=${job.id} job=${job} />`)}</aside>`;
}
