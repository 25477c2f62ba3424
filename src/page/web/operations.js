// The repairs the page offers, over the API's mutations: scan and audit start jobs at once
// (they only look); sync, delete and prune go through their plan first (plan-dialog.js).
import { html } from "htm/preact";
import { graphql } from "./api.js";
import { runJob, startedJob } from "./jobs.js";
import { PlanDialog } from "./plan-dialog.js";
import { toast } from "./ui.js";

const stepFields = "filename kind bytes overwrite reason error";
const selection = (actorName) => (actorName ? { actors: [actorName] } : { all: true });
const whom = (actorName) => actorName ?? "all actors";

export function startScan(actorName) {
  return runJob({
    label: `Scan ${whom(actorName)}`,
    field: "startScan",
    mutation: `mutation Scan($actors: [String!], $all: Boolean) { startScan(actors: $actors, all: $all) { ${startedJob} } }`,
    variables: selection(actorName),
  });
}

export function startAudit(actorName) {
  return runJob({
    label: `Audit ${whom(actorName)}`,
    field: "startAudit",
    mutation: `mutation Audit($actors: [String!], $all: Boolean) { startAudit(actors: $actors, all: $all, listS3: true) { ${startedJob} } }`,
    variables: selection(actorName),
  });
}

/** Runs a dry-run job and gathers its plan: totals, and each actor's steps (actors with none left out). */
async function jobPlan(job) {
  if (job.state !== "SUCCEEDED") throw new Error(job.error ?? `the dry run ${job.state.toLowerCase()}`);
  const data = await graphql(
    `query JobPlan($id: ID!) { job(id: $id) { planTotals { summary } actors(first: 1000) { actorName error steps { ${stepFields} } } } }`,
    { id: job.id },
  );
  const actors = data.job.actors.filter((actor) => actor.steps.length > 0 || actor.error);
  return {
    totals: data.job.planTotals,
    groups: actors.map((actor) => ({ title: actor.error ? `${actor.actorName}: ${actor.error}` : actor.actorName, steps: actor.steps })),
  };
}

/** A mutation's payload, or its typed error thrown with the service's message. */
export function payloadOrThrow(result) {
  if (result.message !== undefined) throw new Error(result.message);
  return result;
}

const syncOptions = [
  {
    name: "direction",
    label: "Direction",
    choices: [
      { value: "BOTH", label: "Both ways (upload and download)" },
      { value: "PUSH", label: "Upload only (local → S3)" },
      { value: "PULL", label: "Download only (S3 → local)" },
    ],
  },
  {
    name: "outOfSync",
    label: "When both sides differ",
    choices: [
      { value: "SKIP", label: "Leave them (no overwrite)" },
      { value: "NEWER", label: "Newer wins" },
      { value: "LOCAL", label: "Local wins" },
      { value: "S3", label: "S3 wins" },
    ],
  },
];

/** Sync one actor (its plan from `syncActor(dryRun)`) or all of them (a dry-run job's plan). */
export function SyncDialog({ actorName, onClose }) {
  const plan = async ({ direction, outOfSync }) => {
    if (!actorName) {
      const job = await runJob({
        label: "Plan sync of all actors",
        field: "startSync",
        mutation: `mutation PlanSyncAll($input: SyncInput!) { startSync(input: $input) { ${startedJob} } }`,
        variables: { input: { all: true, dryRun: true, direction, outOfSync } },
      });
      return jobPlan(job);
    }
    const data = await graphql(
      `mutation PlanSync($name: String!, $direction: SyncDirection, $outOfSync: OutOfSyncResolution) {
        syncActor(name: $name, direction: $direction, outOfSync: $outOfSync, dryRun: true) {
          __typename ... on ActorSyncPayload { planTotals { summary } steps { ${stepFields} } } ... on Error { message }
        }
      }`,
      { name: actorName, direction, outOfSync },
    );
    const payload = payloadOrThrow(data.syncActor);
    return { totals: payload.planTotals, groups: [{ title: actorName, steps: payload.steps }] };
  };
  const run = async ({ direction, outOfSync }) => {
    void runJob({
      label: `Sync ${whom(actorName)}`,
      field: "startSync",
      mutation: `mutation Sync($input: SyncInput!) { startSync(input: $input) { ${startedJob} } }`,
      variables: { input: { ...selection(actorName), direction, outOfSync } },
    }).catch((error) => toast(error.message, "error"));
  };
  return html`<${PlanDialog}
    title=${`Sync ${whom(actorName)}`}
    intro="Copies what is on one side only; content that differs is left alone unless you pick a winner (the losing copy goes to the trash)."
    options=${syncOptions}
    plan=${plan}
    run=${run}
    runLabel=${(steps) => (steps ? `Sync (${steps} steps)` : "Sync (check both sides)")}
    onClose=${onClose}
  />`;
}

const deleteOptions = [
  {
    name: "from",
    label: "Delete from",
    choices: [
      { value: "EVERYWHERE", label: "Everywhere: manifest, S3 and disk" },
      { value: "MANIFEST", label: "The manifest only (files stay)" },
      { value: "S3", label: "S3 only" },
      { value: "DISK", label: "Local disk only" },
    ],
  },
];

const deleteMutation = `mutation DeleteImages($name: String!, $filenames: [String!], $from: DeleteFrom!, $dryRun: Boolean, $maxDelete: Int) {
  deleteImages(name: $name, filenames: $filenames, from: $from, dryRun: $dryRun, maxDelete: $maxDelete) {
    __typename ... on ImageOperationPayload { planTotals { summary } steps { ${stepFields} } removed } ... on Error { message }
  }
}`;

/** Deletes the chosen images of an actor; files removed from disk or S3 go to the trash. */
export function DeleteDialog({ actorName, filenames, onClose, onDone }) {
  const variables = (from, dryRun) => ({ name: actorName, filenames, from, dryRun, maxDelete: filenames.length });
  const plan = async ({ from }) => {
    const payload = payloadOrThrow((await graphql(deleteMutation, variables(from, true))).deleteImages);
    return { totals: payload.planTotals, groups: [{ title: actorName, steps: payload.steps }] };
  };
  const run = async ({ from }) => {
    const payload = payloadOrThrow((await graphql(deleteMutation, variables(from, false))).deleteImages);
    toast(`Deleted ${payload.removed.length} image(s) of ${actorName}`);
    onDone(payload.removed);
  };
  return html`<${PlanDialog}
    title=${`Delete ${filenames.length} image(s) of ${actorName}`}
    intro="Files deleted from disk or S3 are kept in the trash, with their MD5 and origin."
    options=${deleteOptions}
    plan=${plan}
    run=${run}
    runLabel=${() => `Delete ${filenames.length} image(s)`}
    confirm=${() => `Yes, delete these ${filenames.length} image(s)`}
    onClose=${onClose}
  />`;
}

/** Mirrored → s3-only: removes local copies that S3 holds byte for byte, and records the new mode. */
export function PruneDialog({ onClose }) {
  const start = (dryRun, maxDelete) =>
    runJob({
      label: dryRun ? "Plan pruning of local copies" : "Prune local copies",
      field: "startPruneLocal",
      mutation: `mutation Prune($dryRun: Boolean, $maxDelete: Int) { startPruneLocal(all: true, dryRun: $dryRun, maxDelete: $maxDelete, switchToS3Only: true) { ${startedJob} } }`,
      variables: { dryRun, maxDelete },
    });
  let planned = 0;
  const plan = async () => {
    const result = await jobPlan(await start(true, 1_000_000));
    planned = result.groups.reduce((sum, group) => sum + group.steps.length, 0);
    return result;
  };
  const run = async () => {
    void start(false, planned).catch((error) => toast(error.message, "error"));
  };
  return html`<${PlanDialog}
    title="Prune local copies of all actors"
    intro="Deletes each local file only after checking that S3 holds the same content, and switches this data directory to s3-only, so no later sync downloads them again."
    plan=${plan}
    run=${run}
    runLabel=${(steps) => `Prune ${steps} local file(s)`}
    confirm=${(steps) => `Yes, delete ${steps} local file(s) and switch to s3-only`}
    onClose=${onClose}
  />`;
}
