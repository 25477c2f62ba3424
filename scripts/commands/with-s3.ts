import type { AppContext } from "../../src/context.ts";
import type { S3Connection } from "../../src/sync/s3/s3-setup.ts";

/**
 * Connects S3 for one command (the embedded s3rver when nothing is configured), settles
 * what an interrupted run left (pending intents) before anything else touches S3 or disk,
 * runs `work`, and lets go of the connection.
 */
export async function withS3<T>(ctx: AppContext, work: (s3: S3Connection) => Promise<T>): Promise<T> {
  const [{ connectS3 }, { settleInterrupted }] = await Promise.all([
    import("../../src/sync/s3/s3-setup.ts"),
    import("../../src/startup.ts"),
  ]);
  const s3 = await connectS3(ctx.config);
  try {
    if (s3.embedded) ctx.logger.info(`no S3 endpoint or AWS credentials configured: using the embedded s3rver at ${s3.s3Config.endpoint}`);
    await settleInterrupted(ctx, s3);
    return await work(s3);
  } finally {
    await s3.stop();
  }
}
