/**
 * What a run does before its work: settle what an interrupted run left, and for the service
 * also the demo data set, the import, and the first look at a fresh demo (SPEC.md §9: a fresh
 * checkout shows something real).
 */
import type { AppContext } from "./context.ts";
import { seedDemoS3 } from "./demo/demo-s3.ts";
import { holdsStudioData, writeDemoData } from "./demo/demo.ts";
import { counted } from "./human-size.ts";
import { auditActors } from "./sync/checks/audit.ts";
import { scanActors } from "./sync/checks/scan.ts";
import { importManifests } from "./sync/manifests/import.ts";
import { recoverIntents } from "./sync/operations/write-through.ts";
import type { Service } from "./service.ts";
import type { S3Access } from "./sync/s3/s3-client.ts";

export interface ServiceStartup {
  /** Write the demo data set into an empty data directory (and its objects into the embedded S3). */
  demo: boolean;
  /** Import the manifests on disk. */
  import: boolean;
}

/**
 * Readies the service's data: the demo data set in an empty data directory, the import, the
 * settling of interrupted changes, and on a fresh demo a scan and an audit (every status of
 * SPEC.md §2 at once).
 */
export async function prepareService(service: Service, startup: ServiceStartup): Promise<void> {
  const { ctx, s3 } = service;
  const { config, logger } = ctx;
  const writeDemo = startup.demo && !holdsStudioData(config.dataDir);
  if (writeDemo) {
    logger.info(`${config.dataDir} is empty: writing the demo data set`);
    const dataSet = await writeDemoData(config.dataDir, { s3: config.s3 });
    if (s3?.embedded) {
      const seeded = await seedDemoS3(s3.client, s3.s3Config, dataSet.s3Plan);
      logger.info(`put ${seeded.objects} demo objects in the embedded S3 at ${s3.s3Config.endpoint}`);
    }
  }
  if (startup.import) {
    const report = await importManifests(ctx);
    logger.info(
      `imported ${counted(report.actorsImported, "actor")} (${counted(report.imagesImported, "image")}), ${report.actorsUnchanged} unchanged, ${counted(report.problems.length, "problem")}`,
    );
    for (const problem of report.problems) logger.warn(`${problem.file}: ${problem.jsonPath}: ${problem.reason}`);
  }
  if (!s3) return;
  try {
    await settleInterrupted(ctx, s3);
  } catch (error) {
    logger.warn(
      `interrupted changes not settled yet (${error instanceof Error ? error.message : String(error)}): the next start tries again`,
    );
  }
  if (writeDemo) {
    await scanActors(ctx, s3, { all: true });
    const audit = await auditActors(ctx, s3, { all: true });
    logger.info(
      `audited the demo: ${Object.entries(audit.counts)
        .map(([status, count]) => `${count} ${status}`)
        .join(", ")}`,
    );
  }
}

/**
 * Settles what interrupted runs left (pending intents) before anything else touches S3 or
 * disk; without S3 (a rating) only interrupted ratings.
 */
export async function settleInterrupted(ctx: AppContext, s3: S3Access | null): Promise<void> {
  const recovered = await recoverIntents(ctx, s3);
  if (recovered.intents > 0) {
    ctx.logger.info(`settled ${recovered.intents} interrupted change(s) of ${recovered.actors.join(", ")} left by an earlier run`);
  }
}
