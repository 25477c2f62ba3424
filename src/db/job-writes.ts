import { and, desc, eq, lt, sql } from "drizzle-orm";
import { leaseOf, liveOwnerIds } from "./process-lease.ts";
import { jobActors, jobs, type JobActorRow, type JobRow } from "./schema.ts";
import { bare, cachedStatement, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

export type JobState = JobRow["state"];
export type JobActorState = JobActorRow["state"];

export interface JobProgressRow {
  actorsDone: number;
  actorsTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

/** A job's per-actor row as the runner writes it; `outcome` is serialized to JSON here. */
export interface JobActorWrite {
  actorId: number | null;
  actorName: string;
  state: JobActorState;
  outcome?: unknown;
  error?: string | null;
}

/** Records a running job owned by this process's lease (so no other process takes it for abandoned while this one runs). */
export function createJob(db: Db, job: { kind: string; params: unknown; dryRun: boolean; startedAt: string }): number {
  const ownerId = leaseOf(db).ownerId;
  const [row] = db
    .insert(jobs)
    .values({
      kind: job.kind,
      state: "running",
      params: JSON.stringify(job.params ?? null),
      dryRun: job.dryRun,
      startedAt: job.startedAt,
      ownerId,
    })
    .returning({ id: jobs.id })
    .all();
  return row!.id;
}

/**
 * Jobs left `running` by a process that is gone (its lease expired, or its pid no longer runs)
 * become `interrupted`; jobs of live processes (a CLI run beside the server) are left alone.
 * Returns how many.
 */
export function interruptRunningJobs(db: Db, finishedAt: string): number {
  const live = JSON.stringify([...liveOwnerIds(db)]);
  return db
    .update(jobs)
    .set({ state: "interrupted", finishedAt, error: "the process running this job stopped before it ended" })
    .where(and(eq(jobs.state, "running"), sql`(${jobs.ownerId} IS NULL OR ${jobs.ownerId} NOT IN (SELECT value FROM json_each(${live})))`))
    .run().changes;
}

/** Progress and the actor rows that finished since the last write, in one short transaction. */
export function writeJobProgress(db: Db, jobId: number, progress: JobProgressRow, actorRows: readonly JobActorWrite[]): void {
  db.transaction((tx) => {
    tx.update(jobs).set(progress).where(eq(jobs.id, jobId)).run();
    for (const row of actorRows) {
      const values = {
        jobId,
        actorId: row.actorId,
        actorName: row.actorName,
        state: row.state,
        outcome: row.outcome === undefined ? null : JSON.stringify(row.outcome),
        error: row.error ?? null,
      };
      tx.insert(jobActors)
        .values(values)
        .onConflictDoUpdate({
          target: [jobActors.jobId, jobActors.actorName],
          set: { actorId: values.actorId, state: values.state, outcome: values.outcome, error: values.error },
        })
        .run();
    }
  });
}

export function finishJob(db: Db, jobId: number, state: Exclude<JobState, "running">, finishedAt: string, error: string | null): void {
  db.update(jobs).set({ state, finishedAt, error }).where(eq(jobs.id, jobId)).run();
}

export function jobById(db: Db, jobId: number): JobRow | null {
  return db.select().from(jobs).where(eq(jobs.id, jobId)).get() ?? null;
}

export function jobsByIds(db: Db, ids: readonly number[]): (JobRow | null)[] {
  if (ids.length === 0) return [];
  const rows = db
    .select()
    .from(jobs)
    .where(sql`${jobs.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`)
    .all();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Newest first; `afterId` is the id of the last job of the previous page. */
export function pageJobs(db: Db, first: number, afterId: number | undefined, kind?: string): { rows: JobRow[]; hasNextPage: boolean } {
  const conditions = [afterId !== undefined ? lt(jobs.id, afterId) : undefined, kind ? eq(jobs.kind, kind) : undefined].filter(
    (c) => c !== undefined,
  );
  const rows = db
    .select()
    .from(jobs)
    .where(conditions.length > 0 ? and(...conditions) : undefined)
    .orderBy(desc(jobs.id))
    .limit(first + 1)
    .all();
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

export function countJobs(db: Db, kind?: string): number {
  return db
    .select({ n: sql<number>`count(*)` })
    .from(jobs)
    .where(kind ? eq(jobs.kind, kind) : undefined)
    .get()!.n;
}

/** The first `first` actor rows of each job (by actor name), optionally of one state, for many jobs in one statement. */
export function jobActorsByJobIds(db: Db, jobIds: readonly number[], options: { first: number; state?: JobActorState }): JobActorRow[][] {
  if (jobIds.length === 0) return [];
  const rows = cachedStatement(db, firstJobActorsText).all(
    JSON.stringify(jobIds),
    options.state ?? null,
    options.state ?? null,
    options.first,
  ) as JobActorRow[];
  const byJob = new Map<number, JobActorRow[]>();
  for (const row of rows) byJob.set(row.jobId, [...(byJob.get(row.jobId) ?? []), row]);
  return jobIds.map((id) => byJob.get(id) ?? []);
}

// The window numbers each job's rows by actor name; the outer query reads the subquery's columns by bare name.
const firstJobActorsText = sqlText(sql`SELECT ${bare(jobActors.jobId)} AS jobId, ${bare(jobActors.actorId)} AS actorId,
    ${bare(jobActors.actorName)} AS actorName, ${bare(jobActors.state)} AS state, ${bare(jobActors.outcome)} AS outcome, ${bare(jobActors.error)} AS error
  FROM (
    SELECT *, row_number() OVER (PARTITION BY ${jobActors.jobId} ORDER BY ${jobActors.actorName}) AS position
    FROM ${jobActors}
    WHERE ${jobActors.jobId} IN (SELECT value FROM json_each(?)) AND (? IS NULL OR ${jobActors.state} = ?)
  ) WHERE position <= ? ORDER BY ${bare(jobActors.jobId)}, ${bare(jobActors.actorName)}`);

/** What a sync plan copies and deletes (SPEC.md §7), summed over its actors; stored per job. */
export interface PlanTotals {
  uploads: number;
  uploadBytes: number;
  downloads: number;
  downloadBytes: number;
  /** Uploads and downloads that replace existing content on the other side. */
  overwrites: number;
  overwriteBytes: number;
  deletes: number;
  deleteBytes: number;
  /** Files and objects those overwrites and deletions move to the trash. */
  trashed: number;
  trashBytes: number;
}

/** Totals of a plan with no step. */
export function emptyPlanTotals(): PlanTotals {
  return {
    uploads: 0,
    uploadBytes: 0,
    downloads: 0,
    downloadBytes: 0,
    overwrites: 0,
    overwriteBytes: 0,
    deletes: 0,
    deleteBytes: 0,
    trashed: 0,
    trashBytes: 0,
  };
}

export interface JobSummaryRow extends PlanTotals {
  jobId: number;
  succeeded: number;
  failed: number;
  skipped: number;
  pending: number;
  synced: number;
  localOnly: number;
  s3Only: number;
  outOfSync: number;
  missing: number;
  unchecked: number;
}

const total = (path: string) => sql`coalesce(sum(json_extract(${jobActors.outcome}, ${sql.raw(`'$.${path}'`)})), 0)`;
const stateCount = (state: JobActorState) => sql`coalesce(sum(${jobActors.state} = ${sql.raw(`'${state}'`)}), 0)`;
const jobSummariesText = sqlText(sql`SELECT ${jobActors.jobId} AS jobId,
    ${stateCount("succeeded")} AS succeeded, ${stateCount("failed")} AS failed, ${stateCount("skipped")} AS skipped, ${stateCount("pending")} AS pending,
    ${total("totals.uploads")} AS uploads, ${total("totals.uploadBytes")} AS uploadBytes,
    ${total("totals.downloads")} AS downloads, ${total("totals.downloadBytes")} AS downloadBytes,
    ${total("totals.overwrites")} AS overwrites, ${total("totals.overwriteBytes")} AS overwriteBytes,
    ${total("totals.deletes")} AS deletes, ${total("totals.deleteBytes")} AS deleteBytes,
    ${total("totals.trashed")} AS trashed, ${total("totals.trashBytes")} AS trashBytes,
    ${total("counts.synced")} AS synced, ${total("counts.local_only")} AS localOnly, ${total("counts.s3_only")} AS s3Only,
    ${total("counts.out_of_sync")} AS outOfSync, ${total("counts.missing")} AS missing, ${total("counts.unchecked")} AS unchecked
  FROM ${jobActors} WHERE ${jobActors.jobId} IN (SELECT value FROM json_each(?)) GROUP BY ${jobActors.jobId}`);

/** Per-job sums over the actor rows: states, plan totals and status counts from each outcome. */
export function jobSummariesByIds(db: Db, jobIds: readonly number[]): JobSummaryRow[] {
  if (jobIds.length === 0) return [];
  const rows = cachedStatement(db, jobSummariesText).all(JSON.stringify(jobIds)) as JobSummaryRow[];
  const byJob = new Map(rows.map((row) => [row.jobId, row]));
  return jobIds.map((jobId) => byJob.get(jobId) ?? emptySummary(jobId));
}

function emptySummary(jobId: number): JobSummaryRow {
  return {
    jobId,
    succeeded: 0,
    failed: 0,
    skipped: 0,
    pending: 0,
    ...emptyPlanTotals(),
    synced: 0,
    localOnly: 0,
    s3Only: 0,
    outOfSync: 0,
    missing: 0,
    unchecked: 0,
  };
}
