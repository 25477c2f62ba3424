/**
 * A bulk sync in a process of its own, for the crash test: the test kills it with SIGKILL
 * at chosen points. Run as `node --import tsx test/helpers/sync-child.ts '<json>'` with
 * `{ dataDir, endpoint, bucket, prefix, direction?, actorConcurrency?, transferConcurrency? }`.
 * Prints one JSON line per event on stdout: `{"phase":"audit"}` per audited actor,
 * `{"phase":"transfer","kind":…,"ok":…,"actorsDone":…}` per finished step, `{"phase":"done",…}` at the end.
 */
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { closeStore, openStore } from "../../src/db/store.ts";
import { createS3Client, s3rverCredentials } from "../../src/sync/s3/s3-client.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import type { SyncDirection } from "../../src/sync/operations/plan.ts";

interface ChildOptions {
  dataDir: string;
  endpoint: string;
  bucket: string;
  prefix: string;
  direction?: SyncDirection;
  actorConcurrency?: number;
  transferConcurrency?: number;
}

const options = JSON.parse(process.argv[2] ?? "{}") as ChildOptions;
const config = loadConfig({
  DATA_DIR: options.dataDir,
  S3_ENDPOINT: options.endpoint,
  S3_BUCKET: options.bucket,
  S3_PREFIX: options.prefix,
  AWS_REGION: "us-west-1",
});
const db = openStore(config.dbPath);
const ctx = makeContext(config, db, silentLogger);
const client = createS3Client(config.s3, { credentials: s3rverCredentials, maxAttempts: 2 });
const say = (event: unknown) => process.stdout.write(`${JSON.stringify(event)}\n`);

const report = await syncActors(
  ctx,
  { client, s3Config: config.s3 },
  {
    direction: options.direction ?? "both",
    actorConcurrency: options.actorConcurrency,
    transferConcurrency: options.transferConcurrency,
    onProgress: (progress) => {
      if (progress.phase === "audit") say({ phase: "audit", done: progress.actorsDone });
      else if (progress.step) say({ phase: "transfer", kind: progress.step.kind, ok: progress.step.ok, actorsDone: progress.actorsDone });
    },
  },
);
say({ phase: "done", failedSteps: report.failedSteps, failedActors: report.failedActors.length });
client.destroy();
closeStore(db);
