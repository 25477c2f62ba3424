import type { Config } from "./config.ts";
import type { Db } from "./db/store.ts";
import type { Logger } from "./logger.ts";
import type { JobRunner } from "./sync/jobs/jobs.ts";
import { DataLayout } from "./sync/files/layout.ts";
import type { Md5Pool } from "./sync/hashing/md5-pool.ts";
import type { S3Access } from "./sync/s3/s3-client.ts";

export const consoleLogger: Logger = {
  info: (message) => console.error(message),
  warn: (message) => console.error(`warning: ${message}`),
  error: (message) => console.error(`error: ${message}`),
};

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** Everything a use case needs, built once per run by the composition root (`openApp`, `src/app.ts`): CLI, server, test world. */
export interface AppContext {
  config: Config;
  db: Db;
  layout: DataLayout;
  logger: Logger;
  /** The S3 side, when the composition root connected one (the server); reads never need it. */
  s3?: S3Access;
  /** Runs long operations in the background with progress (the server); the CLI calls the sync functions directly. */
  jobs?: JobRunner;
  /**
   * Hashing threads shared by every audit of a long-lived process (the server): starting
   * them costs more than the audit of an unchanged actor. Without it each audit starts its own.
   */
  hashing?: Md5Pool;
  /** Aborted when the process is asked to stop (SIGTERM): long work ends at its next safe point. */
  stopping?: AbortSignal;
}

/** The long-lived service's context: the parts a CLI command does without are always there. */
export interface ServiceContext extends AppContext {
  jobs: JobRunner;
  hashing: Md5Pool;
  stopping: AbortSignal;
}

export function makeContext(config: Config, db: Db, logger: Logger = consoleLogger): AppContext {
  return { config, db, layout: new DataLayout(config.dataDir), logger };
}
