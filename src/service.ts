/**
 * The long-lived service (`serve`): the composition root's context plus what only a process
 * that stays up holds, and its graceful stop.
 */
import type { Server } from "node:http";
import { openApp } from "./app.ts";
import type { Config } from "./config.ts";
import type { ServiceContext } from "./context.ts";
import type { Logger } from "./logger.ts";
import { assertServableConfig } from "./request-guard.ts";
import { JobRunner } from "./sync/jobs/jobs.ts";
import { Md5Pool } from "./sync/hashing/md5-pool.ts";
import { ensureBucket } from "./sync/s3/s3-client.ts";
import { connectS3, type S3Connection } from "./sync/s3/s3-setup.ts";

/** The service's context, its S3 connection (null: none could be made, reads only) and its stop. */
export interface Service {
  ctx: ServiceContext;
  s3: S3Connection | null;
  /** The graceful stop (SIGTERM), within a few seconds: see `stopServing`. */
  stop(server: Server, signal: NodeJS.Signals): Promise<void>;
  /** Lets go of the hashing threads, S3 (the embedded s3rver too) and the store. */
  close(): Promise<void>;
}

/**
 * `openApp` plus what a long-lived process holds: the S3 side when it can be reached (AWS or
 * S3_ENDPOINT by configuration, else the embedded loopback s3rver under $DATA_DIR/.s3rver), one
 * job runner (which also holds the per-actor locks and follows other processes' changes), the
 * hashing threads every audit shares, and the stop signal. Refuses an off-loopback bind
 * without a token before anything is written.
 */
export async function openService(config: Config, logger: Logger): Promise<Service> {
  assertServableConfig(config);
  const app = openApp(config, logger);
  const s3 = await connectReachableS3(config, logger);
  const stopping = new AbortController();
  const base = { ...app.ctx, stopping: stopping.signal, ...(s3 ? { s3 } : {}) };
  // One job runner per process; it marks jobs a crash left running as interrupted.
  const ctx: ServiceContext = Object.assign(base, { jobs: new JobRunner(base), hashing: new Md5Pool() });
  // CLI runs on the same database append their actor changes; the subscribers see them too.
  ctx.jobs.followOtherProcesses();
  return {
    ctx,
    s3,
    stop: (server, signal) => stopServing(ctx, server, stopping, signal),
    async close() {
      await ctx.hashing.close();
      await s3?.stop();
      app.close();
    },
  };
}

/** Without S3 the API still answers reads; its S3 mutations answer NotConfiguredError. */
async function connectReachableS3(config: Config, logger: Logger): Promise<S3Connection | null> {
  let s3: S3Connection | undefined;
  try {
    s3 = await connectS3(config);
    if (s3.embedded) await ensureBucket(s3.client, s3.s3Config.bucket);
    return s3;
  } catch (error) {
    logger.warn(`S3 not available (${error instanceof Error ? error.message : String(error)}): serving reads only`);
    await s3?.stop();
    return null;
  }
}

/** Seconds a stop may take in all (SPEC.md §7: a few); past them the process exits anyway. */
const stopDeadlineMs = 5_000;
/** Of which running jobs get this long to reach a safe point. */
const jobGraceMs = 3_000;

/**
 * Graceful stop: no new connection or job, work ends at its next safe point (write-through
 * starts no new step), subscriptions end, jobs still running at the deadline are recorded as
 * interrupted; then the caller closes the service. One log line says what happened.
 */
async function stopServing(ctx: ServiceContext, server: Server, stopping: AbortController, signal: NodeJS.Signals): Promise<void> {
  const deadline = setTimeout(() => {
    console.error(`error: ${signal}: could not stop within ${stopDeadlineMs / 1000} s; exiting`);
    process.exit(1);
  }, stopDeadlineMs);
  deadline.unref();
  stopping.abort();
  server.close();
  server.closeIdleConnections();
  const running = await ctx.jobs.shutdown(jobGraceMs);
  server.closeAllConnections();
  ctx.logger.info(`${signal}: stopped serving; ${running} running job(s) stopped at a safe point or recorded as interrupted`);
}
