import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Config, S3Config } from "../../config.ts";
import { createS3Client, s3rverCredentials, type S3ClientOptions } from "./s3-client.ts";
import { startS3rverProcess } from "./s3rver-process.ts";

/** The S3 side of one run: a client, the configuration it talks to, and how to let go of it. */
export interface S3Connection {
  client: S3Client;
  /** The configuration actually used (for the embedded server: its loopback endpoint, path style). */
  s3Config: S3Config;
  /** True when this run started the embedded s3rver under `$DATA_DIR/.s3rver`. */
  embedded: boolean;
  /** Destroys the client and stops the embedded server, if any. */
  stop(): Promise<void>;
}

/** Environment variables by which the standard AWS chain finds credentials without files in ~/.aws. */
const credentialVariables = [
  "AWS_ACCESS_KEY_ID",
  "AWS_PROFILE",
  "AWS_WEB_IDENTITY_TOKEN_FILE",
  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
  "AWS_CONTAINER_CREDENTIALS_FULL_URI",
  "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE",
] as const;

/** Whether the user configured AWS access in any way the standard credential chain reads. */
export function awsCredentialsConfigured(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): boolean {
  if (credentialVariables.some((name) => (env[name] ?? "") !== "")) return true;
  return existsSync(join(home, ".aws", "credentials")) || existsSync(join(home, ".aws", "config"));
}

/**
 * Whether this run uses the embedded s3rver: no S3_ENDPOINT and no AWS credentials
 * configured (a fresh checkout shows something real without an AWS account).
 * S3_EMBEDDED=false forces AWS (e.g. on EC2, where credentials come from the instance
 * and nothing in the environment says so); S3_EMBEDDED=true forces the embedded server.
 */
export function usesEmbeddedS3(config: Config, env: NodeJS.ProcessEnv = process.env): boolean {
  const forced = env.S3_EMBEDDED?.toLowerCase();
  if (forced === "true" || forced === "1") return true;
  if (forced === "false" || forced === "0") return false;
  return config.s3.endpoint === undefined && !awsCredentialsConfigured(env);
}

export function embeddedS3Directory(config: Config): string {
  return join(config.dataDir, ".s3rver");
}

/** Resolves S3 for this run: the configured endpoint or AWS, or the embedded s3rver. */
export async function connectS3(
  config: Config,
  options: { env?: NodeJS.ProcessEnv; client?: S3ClientOptions } = {},
): Promise<S3Connection> {
  if (!usesEmbeddedS3(config, options.env ?? process.env)) {
    const client = createS3Client(config.s3, options.client);
    return {
      client,
      s3Config: config.s3,
      embedded: false,
      stop: async () => client.destroy(),
    };
  }
  const server = await startS3rverProcess({ directory: embeddedS3Directory(config), buckets: [config.s3.bucket] });
  const s3Config: S3Config = { ...config.s3, endpoint: server.endpoint, forcePathStyle: true };
  const client = createS3Client(s3Config, { ...options.client, credentials: s3rverCredentials });
  return {
    client,
    s3Config,
    embedded: true,
    stop: async () => {
      client.destroy();
      await server.stop();
    },
  };
}
