import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import { loadConfig, type Config, type S3Config } from "../../src/config.ts";
import { openApp } from "../../src/app.ts";
import { silentLogger, type AppContext } from "../../src/context.ts";
import type { Logger } from "../../src/logger.ts";
import type { Db } from "../../src/db/store.ts";
import { eq } from "drizzle-orm";
import { images, intents, type ImageRow, type IntentRow } from "../../src/db/schema.ts";
import type { S3ClientOptions } from "../../src/sync/s3/s3-client.ts";
import { startTestS3Server, type TestS3Server } from "./s3-server.ts";

/** Everything a test needs, in a temp folder of its own. */
export interface World {
  dataDir: string;
  config: Config;
  db: Db;
  ctx: AppContext;
  /** The S3 side as the application sees it: a client and the configuration it talks to. */
  s3: { client: S3Client; s3Config: S3Config };
  server: TestS3Server;
  /** Messages the context's logger received. */
  messages: { level: "info" | "warn" | "error"; message: string }[];
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Share one s3rver across the worlds of a test file (each world gets its own bucket); default: a new one. */
  server?: TestS3Server;
  /** Talk to S3 through this endpoint instead of the server's (a fault proxy in front of it). */
  endpoint?: string;
  /** More environment for loadConfig (STORAGE_MODE, MAX_REMOVE_SHARE, …); the host's environment is not read. */
  env?: Record<string, string>;
  clientOptions?: S3ClientOptions;
  /** Forward log messages (default: collected in `messages` only). */
  logger?: Logger;
}

export async function createWorld(options: WorldOptions = {}): Promise<World> {
  const dataDir = mkdtempSync(join(tmpdir(), "am-world-"));
  const ownServer = options.server === undefined;
  const server = options.server ?? (await startTestS3Server());
  const s3Config = await server.newBucket({ endpoint: options.endpoint });
  const config = loadConfig({
    DATA_DIR: dataDir,
    S3_ENDPOINT: s3Config.endpoint,
    S3_BUCKET: s3Config.bucket,
    AWS_REGION: s3Config.region,
    S3_PREFIX: s3Config.prefix,
    ...options.env,
  });
  const messages: World["messages"] = [];
  const forward = options.logger ?? silentLogger;
  const logger: Logger = {
    info: (message) => {
      messages.push({ level: "info", message });
      forward.info(message);
    },
    warn: (message) => {
      messages.push({ level: "warn", message });
      forward.warn(message);
    },
    error: (message) => {
      messages.push({ level: "error", message });
      forward.error(message);
    },
  };
  const app = openApp(config, logger);
  const { ctx } = app;
  const { db } = ctx;
  const client = server.client(config.s3, options.clientOptions);
  return {
    dataDir,
    config,
    db,
    ctx,
    s3: { client, s3Config: config.s3 },
    server,
    messages,
    async close() {
      client.destroy();
      app.close();
      if (ownServer) await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Intents still pending: each is work a crash left for recovery. */
export function pendingIntents(world: { db: Db }): IntentRow[] {
  return world.db
    .select()
    .from(intents)
    .all()
    .filter((intent) => intent.state === "pending");
}

/** The image rows by filename: of one actor, or of every actor. */
export function imageRowsByFilename(world: { db: Db }, actorId?: number): Map<string, ImageRow> {
  const query = world.db.select().from(images);
  const rows = actorId === undefined ? query.all() : query.where(eq(images.actorId, actorId)).all();
  return new Map(rows.map((row) => [row.filename, row]));
}
