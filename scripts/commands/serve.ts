import type { Server } from "node:http";
import type { Command } from "commander";
import type { AppContext } from "../../src/context.ts";
import type { S3Connection } from "../../src/sync/s3/s3-setup.ts";
import { configOverrides, counted, withCommonOptions, type CommonFlags } from "./common.ts";

interface ServeFlags extends CommonFlags {
  host?: string;
  port?: string;
  demo?: boolean;
  import?: boolean;
}

export function registerServeCommand(program: Command): void {
  withCommonOptions(
    program
      .command("serve")
      .description(
        "serve the Training Data page (default http://127.0.0.1:4000/), the GraphQL API and GraphiQL (/graphql); an empty data directory gets the demo data set first",
      )
      .option("--host <host>", "address to bind (env HOST, default 127.0.0.1; off loopback, mutations need API_TOKEN)")
      .option("--port <port>", "port (env PORT, default 4000; 0 picks a free one)")
      .option("--no-demo", "do not write the demo data set into an empty data directory")
      .option("--no-import", "do not import the manifests on disk before serving"),
  ).action(async (flags: ServeFlags) => {
    // The whole service, loaded when it is asked for, never for `--help` (SPEC.md §9).
    const [
      { loadConfig },
      { makeContext },
      { serviceLogger },
      { closeStore, openStore },
      { Md5Pool },
      { assertServableConfig },
      { graphqlEndpoint, startServer },
      { holdsStudioData, writeDemoData },
      { seedDemoS3 },
      { importManifests },
      { ensureBucket },
      { JobRunner },
      { connectS3 },
      { recoverIntents },
      { auditActors },
      { scanActors },
    ] = await Promise.all([
      import("../../src/config.ts"),
      import("../../src/context.ts"),
      import("../../src/logger.ts"),
      import("../../src/db/store.ts"),
      import("../../src/sync/hashing/md5-pool.ts"),
      import("../../src/request-guard.ts"),
      import("../../src/server.ts"),
      import("../../src/demo/demo.ts"),
      import("../../src/demo/demo-s3.ts"),
      import("../../src/sync/manifests/import.ts"),
      import("../../src/sync/s3/s3-client.ts"),
      import("../../src/sync/jobs/jobs.ts"),
      import("../../src/sync/s3/s3-setup.ts"),
      import("../../src/sync/operations/write-through.ts"),
      import("../../src/sync/checks/audit.ts"),
      import("../../src/sync/checks/scan.ts"),
    ]);
    let ctx: AppContext | undefined;
    let s3: S3Connection | undefined;
    // Aborted on SIGTERM/SIGINT: long work stops at its next safe point.
    const stopping = new AbortController();
    try {
      const config = loadConfig(process.env, configOverrides(flags));
      // Before the demo data, the database or S3: nothing is written for a refused start.
      assertServableConfig(config);
      ctx = makeContext(config, openStore(config.dbPath), serviceLogger());
      // The S3 side: AWS or S3_ENDPOINT by configuration, else the embedded loopback s3rver under $DATA_DIR/.s3rver.
      // Without it the API still answers reads; S3 mutations answer NotConfiguredError.
      try {
        s3 = await connectS3(config);
        if (s3.embedded) await ensureBucket(s3.client, s3.s3Config.bucket);
      } catch (error) {
        ctx.logger.warn(`S3 not available (${error instanceof Error ? error.message : String(error)}): serving reads only`);
        await s3?.stop();
        s3 = undefined;
      }
      const writeDemo = flags.demo !== false && !holdsStudioData(config.dataDir);
      if (writeDemo) {
        ctx.logger.info(`${config.dataDir} is empty: writing the demo data set`);
        const dataSet = await writeDemoData(config.dataDir, { s3: config.s3 });
        if (s3?.embedded) {
          const seeded = await seedDemoS3(s3.client, s3.s3Config, dataSet.s3Plan);
          ctx.logger.info(`put ${seeded.objects} demo objects in the embedded S3 at ${s3.s3Config.endpoint}`);
        }
      }
      if (flags.import !== false) {
        const report = await importManifests(ctx);
        ctx.logger.info(
          `imported ${counted(report.actorsImported, "actor")} (${counted(report.imagesImported, "image")}), ${report.actorsUnchanged} unchanged, ${counted(report.problems.length, "problem")}`,
        );
        for (const problem of report.problems) ctx.logger.warn(`${problem.file}: ${problem.jsonPath}: ${problem.reason}`);
      }
      if (s3) {
        // Settle what an interrupted run left before anything else touches S3 or disk.
        try {
          const recovered = await recoverIntents(ctx, s3);
          if (recovered.intents > 0) ctx.logger.info(`settled ${recovered.intents} interrupted change(s) of ${recovered.actors.join(", ")}`);
        } catch (error) {
          ctx.logger.warn(`interrupted changes not settled yet (${error instanceof Error ? error.message : String(error)}): the next start tries again`);
        }
        ctx.s3 = s3;
        // A fresh demo shows every status of SPEC.md §2 at once: scan (adds the orphans) and audit it.
        if (writeDemo) {
          await scanActors(ctx, s3, { all: true });
          const audit = await auditActors(ctx, s3, { all: true });
          ctx.logger.info(`audited the demo: ${Object.entries(audit.counts).map(([status, count]) => `${count} ${status}`).join(", ")}`);
        }
      }
      // One job runner per process; it marks jobs a crash left running as interrupted.
      ctx.stopping = stopping.signal;
      ctx.jobs = new JobRunner(ctx);
      // CLI runs on the same database append their actor changes; the subscribers see them too.
      ctx.jobs.followOtherProcesses();
      ctx.hashing = new Md5Pool();
      const server = await startServer(ctx);
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : config.port;
      const host = config.host.includes(":") ? `[${config.host}]` : config.host;
      ctx.logger.info(`Training Data page on http://${host}:${port}/ · GraphiQL on http://${host}:${port}${graphqlEndpoint} (S3: ${!s3 ? "none, reads only" : s3.embedded ? `embedded at ${s3.s3Config.endpoint}` : (s3.s3Config.endpoint ?? "AWS")})`);
      const signal = await new Promise<NodeJS.Signals>((resolveStop) => {
        process.once("SIGINT", () => resolveStop("SIGINT"));
        process.once("SIGTERM", () => resolveStop("SIGTERM"));
      });
      await stopServing(ctx, server, stopping, signal);
      process.exitCode = 0;
    } catch (error) {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    } finally {
      await ctx?.hashing?.close();
      await s3?.stop();
      if (ctx) closeStore(ctx.db);
    }
    // Keep-alive timers of ended event streams would hold the process; everything is closed.
    process.exit();
  });
}

/** Seconds a stop may take in all (SPEC.md §7: a few); past them the process exits anyway. */
const stopDeadlineMs = 5_000;
/** Of which running jobs get this long to reach a safe point. */
const jobGraceMs = 3_000;

/**
 * Graceful stop: no new connection or job, work ends at its next safe point (write-through
 * starts no new step), subscriptions end, jobs still running at the deadline are recorded as
 * interrupted; then the caller closes the database. One log line says what happened.
 */
async function stopServing(ctx: AppContext, server: Server, stopping: AbortController, signal: NodeJS.Signals): Promise<void> {
  const deadline = setTimeout(() => {
    console.error(`error: ${signal}: could not stop within ${stopDeadlineMs / 1000} s; exiting`);
    process.exit(1);
  }, stopDeadlineMs);
  deadline.unref();
  stopping.abort();
  server.close();
  server.closeIdleConnections();
  const running = (await ctx.jobs?.shutdown(jobGraceMs)) ?? 0;
  server.closeAllConnections();
  ctx.logger.info(`${signal}: stopped serving; ${running} running job(s) stopped at a safe point or recorded as interrupted`);
}
