import type { Command } from "commander";
import { configOverrides, printResult, runCommand, withCommonOptions, type CommonFlags } from "./common.ts";

interface ConfigFlags extends CommonFlags {
  host?: string;
  port?: string;
}

/** One setting as `config show` gives it: the value in effect, where it came from, and the variable that sets it. */
interface Setting {
  value: string | number | null;
  source: "flag" | "env" | "file" | "default" | "unset";
  variable: string;
}

/** Never printed: shown as set or not. */
const masked = "********";

export function registerConfigCommand(program: Command): void {
  const config = program
    .command("config")
    .description("the configuration in effect (flags > environment > the data directory's file > defaults)");
  withCommonOptions(config.command("show"))
    .description("print each setting in effect and where it came from (flag, env, file, default); secrets masked")
    .option("--host <host>", "address serve would bind (env HOST)")
    .option("--port <port>", "port serve would listen on (env PORT)")
    .action((flags: ConfigFlags) =>
      runCommand(flags, async () => {
        // Loaded when the command runs, never for `--help`.
        const [{ configSources, loadConfig }, { configFilePath }, { usesEmbeddedS3 }] = await Promise.all([
          import("../../src/config.ts"),
          import("../../src/config-file.ts"),
          import("../../src/sync/s3/s3-setup.ts"),
        ]);
        const overrides = configOverrides(flags);
        const effective = loadConfig(process.env, overrides);
        const sources = configSources(process.env, overrides);
        const secret = (variable: string): Setting => ({
          value: process.env[variable] ? masked : null,
          source: process.env[variable] ? "env" : "unset",
          variable,
        });
        const settings: Record<string, Setting> = {
          dataDir: { value: effective.dataDir, source: sources.DATA_DIR, variable: "DATA_DIR" },
          db: { value: effective.dbPath, source: sources.DB_PATH, variable: "DB_PATH" },
          storageMode: { value: effective.storageMode, source: sources.STORAGE_MODE, variable: "STORAGE_MODE" },
          bucket: { value: effective.s3.bucket, source: sources.S3_BUCKET, variable: "S3_BUCKET" },
          prefix: { value: effective.s3.prefix, source: sources.S3_PREFIX, variable: "S3_PREFIX" },
          endpoint: {
            value: effective.s3.endpoint ?? (usesEmbeddedS3(effective) ? "embedded S3 (no endpoint or AWS credentials configured)" : "AWS"),
            source: sources.S3_ENDPOINT,
            variable: "S3_ENDPOINT",
          },
          region: { value: effective.s3.region, source: sources.AWS_REGION, variable: "AWS_REGION" },
          host: { value: effective.host, source: sources.HOST, variable: "HOST" },
          port: { value: effective.port, source: sources.PORT, variable: "PORT" },
          corsOrigins: { value: effective.corsOrigins.join(", ") || null, source: sources.CORS_ORIGINS, variable: "CORS_ORIGINS" },
          apiToken: secret("API_TOKEN"),
          awsAccessKeyId: secret("AWS_ACCESS_KEY_ID"),
          awsSecretAccessKey: secret("AWS_SECRET_ACCESS_KEY"),
          awsProfile: {
            value: process.env.AWS_PROFILE ?? null,
            source: process.env.AWS_PROFILE ? "env" : "unset",
            variable: "AWS_PROFILE",
          },
        };
        const result = { configFile: configFilePath(effective.dataDir), settings };
        printResult(flags.json, result, () => [
          ...Object.entries(settings).map(([name, setting]) => `${name.padEnd(20)} ${setting.source.padEnd(8)} ${setting.value ?? "-"}`),
          `configuration file: ${result.configFile} (flags > environment > file > defaults)`,
        ]);
        return 0;
      }),
    );
}
