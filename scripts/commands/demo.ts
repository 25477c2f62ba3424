import type { Command } from "commander";
import { counted } from "../../src/human-size.ts";
import { printResult, progressBar, runCommand, withOutputOptions, type CommonFlags } from "./common.ts";

interface DemoFlags extends CommonFlags {
  force?: boolean;
  s3?: boolean;
}

export function registerDemoCommand(program: Command): void {
  withOutputOptions(program.command("demo"))
    .description(
      "write the demo data set (36 actors, real JPEG/PNG files, both manifest formats, ratings, broken files) " +
        "and put its S3 side in the embedded loopback S3 server",
    )
    .option("--data-dir <dir>", "data directory (env DATA_DIR, default ./data)")
    .option("--force", "write even when the data directory already holds actors or manifests (files of the same name are replaced)")
    .option("--s3", "also put the S3 side in the configured S3 (S3_ENDPOINT or AWS); the embedded server gets it by default")
    .option("--no-s3", "write the local side only")
    .action((flags: DemoFlags) =>
      runCommand(flags, async () => {
        // Loaded when the command runs, never for `--help`.
        const [{ loadConfig }, { holdsStudioData, writeDemoData }, { seedDemoS3 }, { ensureBucket }, { connectS3, usesEmbeddedS3 }] =
          await Promise.all([
            import("../../src/config.ts"),
            import("../../src/demo/demo.ts"),
            import("../../src/demo/demo-s3.ts"),
            import("../../src/sync/s3/s3-client.ts"),
            import("../../src/sync/s3/s3-setup.ts"),
          ]);
        const config = loadConfig(process.env, { dataDir: flags.dataDir });
        if (holdsStudioData(config.dataDir) && !flags.force) {
          throw new Error(`${config.dataDir} already holds actors or manifests; pass --force to write the demo over them`);
        }
        const dataSet = await writeDemoData(config.dataDir, { s3: config.s3 });
        const images = dataSet.actors.reduce((sum, actor) => sum + actor.images.length, 0);
        const local = dataSet.actors.reduce((sum, actor) => sum + actor.images.filter((image) => image.local).length, 0);
        const embedded = usesEmbeddedS3(config);
        const seed = flags.s3 ?? embedded;
        let seeded: { objects: number; bytes: number; multipart: number; bucket: string; endpoint: string } | null = null;
        if (seed) {
          const connection = await connectS3(config);
          try {
            if (connection.embedded) await ensureBucket(connection.client, connection.s3Config.bucket);
            const bar = progressBar("s3", flags.json);
            const result = await seedDemoS3(connection.client, connection.s3Config, dataSet.s3Plan, { onProgress: bar.update });
            bar.stop();
            seeded = { ...result, bucket: connection.s3Config.bucket, endpoint: connection.s3Config.endpoint ?? "AWS" };
          } finally {
            await connection.stop();
          }
        }
        const summary = {
          dataDir: dataSet.dataDir,
          actors: dataSet.actors.length,
          healthyActors: dataSet.actors.filter((actor) => actor.healthy).length,
          images,
          localFiles: local,
          s3Objects: dataSet.s3Plan.length,
          brokenFiles: dataSet.brokenFiles,
          s3: seeded,
        };
        printResult(flags.json, summary, () => [
          ...dataSet.brokenFiles.map(
            (file) => `broken on purpose: ${file.path}${file.jsonPath ? ` ${file.jsonPath}` : ""}: ${file.reason}`,
          ),
          seeded
            ? `put ${counted(seeded.objects, "object", seeded.bytes)} (${seeded.multipart} multipart) in s3://${seeded.bucket} at ${seeded.endpoint}`
            : `S3 side not written (${counted(dataSet.s3Plan.length, "object")} planned); pass --s3 to put it in the configured S3`,
          `wrote the demo data set to ${dataSet.dataDir}: ${counted(summary.actors, "actor")} (${summary.healthyActors} healthy), ${counted(images, "image")}, ${counted(local, "local file")}`,
        ]);
        return 0;
      }),
    );
}
