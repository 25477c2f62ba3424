/**
 * Folder src/sync/jobs/: long operations run as jobs. The runner (this file: progress,
 * interruption, other processes' changes), the work each kind of job does (job-work), the
 * CLI's way to run one (cli-jobs), and the in-process event feed live views subscribe to.
 */
import type { Db } from "../../db/store.ts";
import type { Logger } from "../../logger.ts";
import { actorChangesOfOthers, appendActorChange, lastActorChangeId, pruneActorChanges } from "../../db/actor-changes.ts";
import {
  createJob,
  finishJob,
  interruptRunningJobs,
  jobById,
  writeJobProgress,
  type JobActorWrite,
  type JobProgressRow,
  type JobState,
} from "../../db/job-writes.ts";
import { heartbeatMs, leaseOf } from "../../db/process-lease.ts";
import { EventFeed, EventStream } from "./event-feed.ts";
import { ActorLocks } from "../operations/write-through.ts";

/** Long operations run as jobs: the server's, and the CLI's writing commands (`runAsJob`). */
/**
 * What the runner uses of the composition root's context (AppContext satisfies it): taken
 * as this narrow shape so the context may name JobRunner without a cycle of imports.
 */
export interface JobRunnerContext {
  db: Db;
  logger: Logger;
  /** Aborted when the process is asked to stop: no new job starts, running ones end at a safe point. */
  stopping?: AbortSignal;
}

export type JobKind = "scan" | "audit" | "sync" | "delete" | "prune_local" | "migrate_legacy" | "rate" | "add" | "import" | "export";

export interface JobProgress extends JobProgressRow {
  /** What the job is doing now (e.g. `audit`, then `transfer` for a sync). */
  phase: string | null;
}

/** One event of a job's stream: its progress, and the actors whose rows changed since the previous event. */
export interface JobEvent {
  jobId: number;
  state: JobState;
  progress: JobProgress;
  changedActors: string[];
  error: string | null;
}

/** Published whenever an actor's rows change through a mutation or a job. */
export interface ActorChange {
  actorId: number | null;
  name: string;
  /** The operation that changed it: `scan`, `audit`, `sync`, `rate`, … */
  reason: string;
  jobId: number | null;
}

/** What a job's work reports as it goes; writes to SQLite are batched at a bounded rate. */
export interface JobReporter {
  readonly jobId: number;
  progress(update: Partial<JobProgress>): void;
  /** Rows in state `pending` for the actors the job will work on, so a reader sees what is to come. */
  actorsPending(actors: readonly { id: number; name: string }[]): void;
  /** An actor's outcome (written with the next progress write). */
  actor(row: JobActorWrite): void;
  /** The actor's rows changed: published as an actor change at once, and in the next job event. */
  actorChanged(actor: { id: number | null; name: string }): void;
}

export type JobWork = (reporter: JobReporter) => Promise<void>;

export interface JobRunnerOptions {
  /** Least time between two progress writes (and events) of one job; default 250 ms. */
  progressIntervalMs?: number;
  now?: () => Date;
  /** Where job starts, ends and failures are told; default the context's logger. */
  logger?: Logger;
}

interface RunningJob {
  id: number;
  kind: string;
  progress: JobProgress;
  pendingActors: JobActorWrite[];
  changedActors: Set<string>;
  lastFlush: number;
  timer: NodeJS.Timeout | null;
  events: EventFeed<JobEvent>;
  done: Promise<void>;
}

/**
 * Runs long operations in the background of the server (or one CLI run, see `runAsJob`), one
 * row in `jobs` each, with per-actor rows in `job_actors`, progress written at a bounded rate
 * and streamed as events. One per process: it also holds the per-actor locks every
 * write-through shares. Every actor change it publishes is also appended to the shared log,
 * which a server follows (`followOtherProcesses`) to publish the other processes' changes.
 */
export class JobRunner {
  readonly locks: ActorLocks;
  readonly actorChanges = new EventFeed<ActorChange>();
  private readonly running = new Map<number, RunningJob>();
  private readonly intervalMs: number;
  private readonly now: () => Date;
  private readonly logger: Logger;
  private follower: NodeJS.Timeout | null = null;
  /** How many jobs a crash had left `running` when this runner started. */
  readonly interruptedAtStart: number;
  /** Set by `shutdown`: no job starts, and a job still running at the deadline is recorded as interrupted. */
  private closed = false;

  constructor(
    private readonly ctx: JobRunnerContext,
    options: JobRunnerOptions = {},
  ) {
    this.locks = new ActorLocks(ctx.db);
    this.intervalMs = options.progressIntervalMs ?? 250;
    this.now = options.now ?? (() => new Date());
    this.logger = options.logger ?? ctx.logger;
    pruneActorChanges(ctx.db);
    this.interruptedAtStart = interruptRunningJobs(ctx.db, this.now().toISOString());
    if (this.interruptedAtStart > 0)
      ctx.logger.warn(`${this.interruptedAtStart} job(s) left running by a previous process marked interrupted`);
  }

  /** Records the job and runs `work` in the background; returns the job's id at once. */
  start(kind: JobKind, params: unknown, options: { dryRun?: boolean }, work: JobWork): number {
    if (this.closed || this.ctx.stopping?.aborted) throw new Error("the service is stopping: no new job starts");
    const id = createJob(this.ctx.db, { kind, params, dryRun: options.dryRun ?? false, startedAt: this.now().toISOString() });
    const job: RunningJob = {
      id,
      kind,
      progress: { actorsDone: 0, actorsTotal: 0, bytesDone: 0, bytesTotal: 0, phase: null },
      pendingActors: [],
      changedActors: new Set(),
      lastFlush: 0,
      timer: null,
      events: new EventFeed(),
      done: Promise.resolve(),
    };
    this.running.set(id, job);
    this.logger.info(`job ${id} (${kind}) started`, { jobId: id, kind, dryRun: options.dryRun ?? false });
    job.done = this.run(job, work);
    return id;
  }

  /** Resolves when the job has ended (at once for a job that is not running). */
  async wait(jobId: number): Promise<void> {
    await this.running.get(jobId)?.done;
  }

  /** Jobs running now (the metrics' gauge). */
  get runningCount(): number {
    return this.running.size;
  }

  /** Resolves when every job started so far has ended (shutdown, tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((job) => job.done));
  }

  /**
   * The job's events: first its state now, then each progress event, ending with the one
   * that says it ended. A job that already ended gives its final state and ends. Null when
   * there is no such job.
   */
  events(jobId: number): EventStream<JobEvent> | null {
    const job = this.running.get(jobId);
    if (job) {
      const stream = job.events.subscribe();
      stream.push(this.eventOf(job, "running", [], null));
      return stream;
    }
    const row = jobById(this.ctx.db, jobId);
    if (!row) return null;
    const stream = new EventStream<JobEvent>();
    stream.push({
      jobId,
      state: row.state,
      progress: {
        actorsDone: row.actorsDone,
        actorsTotal: row.actorsTotal,
        bytesDone: row.bytesDone,
        bytesTotal: row.bytesTotal,
        phase: null,
      },
      changedActors: [],
      error: row.error,
    });
    stream.end();
    return stream;
  }

  /**
   * Graceful stop (SIGTERM): ends every subscription, gives running jobs `graceMs` to reach
   * their safe point (`ctx.stopping` makes write-through start no new step), then records
   * those still running as interrupted, so the database can close under no job.
   * Returns how many jobs were running when it was called.
   */
  async shutdown(graceMs: number): Promise<number> {
    const running = [...this.running.values()];
    this.stopFollowing();
    this.actorChanges.close();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise((resolveGrace) => (timer = setTimeout(resolveGrace, graceMs)))]);
    clearTimeout(timer);
    this.closed = true;
    const at = this.now().toISOString();
    for (const job of this.running.values()) {
      if (job.timer) clearTimeout(job.timer);
      finishJob(this.ctx.db, job.id, "interrupted", at, "interrupted: the service stopped before the job reached a safe point");
      job.events.publish(this.eventOf(job, "interrupted", [], "interrupted"));
      job.events.close();
    }
    this.running.clear();
    return running.length;
  }

  /** Publishes an actor change made outside a job (an inline mutation). */
  actorChanged(change: ActorChange): void {
    this.publishChange(change);
  }

  /**
   * Publishes, every `intervalMs`, the actor changes other processes (CLI runs) appended to the
   * shared log since the last look; this process's own were published when made. On the
   * lease's heartbeat it also marks interrupted the jobs of processes gone meanwhile (a CLI
   * run killed while the server runs), so none stays `running` in `jobs`.
   */
  followOtherProcesses(intervalMs = 250): void {
    if (this.follower) return;
    const ownerId = leaseOf(this.ctx.db).ownerId;
    let lastId = lastActorChangeId(this.ctx.db);
    // A long-lived server keeps the log short; each process also prunes it as it starts.
    const prune = every(pruneEveryMs, () => pruneActorChanges(this.ctx.db));
    const interruptAbandoned = every(heartbeatMs, () => {
      const interrupted = interruptRunningJobs(this.ctx.db, this.now().toISOString());
      if (interrupted > 0) this.logger.warn(`${interrupted} job(s) of a process that is gone marked interrupted`);
    });
    this.follower = setInterval(() => {
      if (!this.ctx.db.$client.open) return this.stopFollowing();
      try {
        prune();
        interruptAbandoned();
        for (const row of actorChangesOfOthers(this.ctx.db, lastId, ownerId)) {
          lastId = row.id;
          this.actorChanges.publish({ actorId: row.actorId, name: row.name, reason: row.reason, jobId: row.jobId });
        }
      } catch {
        // A database busy past its timeout: the next look reads from the same place.
      }
    }, intervalMs);
    this.follower.unref();
  }

  private stopFollowing(): void {
    if (this.follower) clearInterval(this.follower);
    this.follower = null;
  }

  /** Appends the change to the shared log (for the other processes), then publishes it here. */
  private publishChange(change: ActorChange): void {
    try {
      appendActorChange(this.ctx.db, { ...change, ownerId: leaseOf(this.ctx.db).ownerId });
    } catch (error) {
      this.logger.warn(
        `${change.name}: change not written to the shared log (${error instanceof Error ? error.message : String(error)}): other processes' subscribers miss it`,
      );
    }
    this.actorChanges.publish(change);
  }

  private async run(job: RunningJob, work: JobWork): Promise<void> {
    const reporter: JobReporter = {
      jobId: job.id,
      progress: (update) => {
        Object.assign(job.progress, definedOnly(update));
        this.schedule(job);
      },
      actorsPending: (actors) => {
        writeJobProgress(
          this.ctx.db,
          job.id,
          withoutPhase(job.progress),
          actors.map((actor) => ({ actorId: actor.id, actorName: actor.name, state: "pending" as const })),
        );
      },
      actor: (row) => {
        job.pendingActors.push(row);
        this.schedule(job);
      },
      actorChanged: (actor) => {
        job.changedActors.add(actor.name);
        this.publishChange({ actorId: actor.id, name: actor.name, reason: job.kind, jobId: job.id });
        this.schedule(job);
      },
    };
    let state: Exclude<JobState, "running"> = "succeeded";
    let error: string | null = null;
    // Let `start` return the id before any work (and any event) happens.
    await Promise.resolve();
    try {
      await work(reporter);
    } catch (failure) {
      state = "failed";
      error = failure instanceof Error ? failure.message : String(failure);
      this.logger.error(`job ${job.id} (${job.kind}) failed: ${failure instanceof Error ? (failure.stack ?? failure.message) : error}`);
    }
    // Past the shutdown deadline the job was recorded as interrupted, and the database may be closed.
    if (this.closed) return;
    if (this.ctx.stopping?.aborted) {
      state = "interrupted";
      error ??= "interrupted: the service stopped; steps not begun are left for the next run";
    }
    if (job.timer) clearTimeout(job.timer);
    try {
      this.flush(job, null);
      finishJob(this.ctx.db, job.id, state, this.now().toISOString(), error);
    } catch (failure) {
      this.logger.error(`job ${job.id}: could not record its end: ${failure instanceof Error ? failure.message : String(failure)}`);
    }
    this.running.delete(job.id);
    this.logger.info(`job ${job.id} (${job.kind}) ${state}`, { jobId: job.id, kind: job.kind, state, progress: job.progress, error });
    job.events.publish(this.eventOf(job, state, [], error));
    // Every subscriber of this job gets the final event above, then its stream ends.
    job.events.close();
  }

  /** Writes now if the interval has passed, else once it has (a trailing write, so the last update is never lost). */
  private schedule(job: RunningJob): void {
    if (job.timer) return;
    const wait = job.lastFlush + this.intervalMs - Date.now();
    if (wait <= 0) {
      this.flush(job, "running");
      return;
    }
    job.timer = setTimeout(() => {
      job.timer = null;
      if (this.running.has(job.id)) this.flush(job, "running");
    }, wait);
    job.timer.unref();
  }

  private flush(job: RunningJob, publishAs: JobState | null): void {
    job.lastFlush = Date.now();
    const rows = job.pendingActors.splice(0);
    writeJobProgress(this.ctx.db, job.id, withoutPhase(job.progress), rows);
    if (publishAs === null) return;
    const changed = [...job.changedActors];
    job.changedActors.clear();
    job.events.publish(this.eventOf(job, publishAs, changed, null));
  }

  private eventOf(job: RunningJob, state: JobState, changedActors: string[], error: string | null): JobEvent {
    const changed = state === "running" ? changedActors : [...new Set([...changedActors, ...job.changedActors])];
    if (state !== "running") job.changedActors.clear();
    return { jobId: job.id, state, progress: { ...job.progress }, changedActors: changed.sort(), error };
  }
}

/** How often a following server drops old rows of the shared log. */
const pruneEveryMs = 60_000;

/** `work`, run at most once per `ms` however often the result is called. */
function every(ms: number, work: () => void): () => void {
  let last = Date.now();
  return () => {
    if (Date.now() - last < ms) return;
    last = Date.now();
    work();
  };
}

function withoutPhase(progress: JobProgress): JobProgressRow {
  return {
    actorsDone: progress.actorsDone,
    actorsTotal: progress.actorsTotal,
    bytesDone: progress.bytesDone,
    bytesTotal: progress.bytesTotal,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
