import { resolve, join } from "node:path";
import { z } from "zod";
import { configFileAsEnvironment, readConfigFile, storageModes, type StorageMode } from "./config-file.ts";

export { storageModes, type StorageMode };

export interface S3Config {
  /** Custom endpoint of an S3-compatible server; undefined means AWS itself. */
  endpoint: string | undefined;
  bucket: string;
  region: string;
  /** Key prefix under which each actor has `{name}/{filename}`. */
  prefix: string;
  forcePathStyle: boolean;
}

export interface Config {
  dataDir: string;
  dbPath: string;
  host: string;
  port: number;
  apiToken: string | undefined;
  /** Browser origins (`scheme://host:port`) granted CORS; every other foreign origin is refused. */
  corsOrigins: string[];
  /** Host names the service answers to besides loopback and its bind address (DNS rebinding guard). */
  allowedHosts: string[];
  /** Largest multipart request (image uploads), streamed to disk while counted. */
  maxUploadBytes: number;
  storageMode: StorageMode;
  s3: S3Config;
  /** Share of an actor's images a listing may remove before it is treated as suspect. */
  maxRemoveShare: number;
}

/** Flags given on the command line; each wins over its environment variable. */
export interface ConfigOverrides {
  dataDir?: string;
  db?: string;
  host?: string;
  port?: number;
  storageMode?: string;
  s3Endpoint?: string;
  s3Bucket?: string;
  s3Prefix?: string;
}

/** `a, b,c` → ["a", "b", "c"]; unset or empty → []. */
const commaList = z
  .string()
  .default("")
  .transform((text) =>
    text
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const configSchema = z.object({
  DATA_DIR: z.string().min(1).default("./data"),
  DB_PATH: z.string().min(1).optional(),
  HOST: z.string().min(1).default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  API_TOKEN: z.string().min(1).optional(),
  CORS_ORIGINS: commaList.pipe(z.array(z.url({ protocol: /^https?$/ }))),
  ALLOWED_HOSTS: commaList,
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  STORAGE_MODE: z.enum(storageModes).default("mirrored"),
  S3_ENDPOINT: z.url().optional(),
  S3_BUCKET: z.string().min(3).default("story-boards-assets"),
  S3_PREFIX: z.string().default("system_actors/training_data/"),
  AWS_REGION: z.string().min(1).default("us-west-1"),
  S3_FORCE_PATH_STYLE: z.enum(["true", "false"]).optional(),
  MAX_REMOVE_SHARE: z.coerce.number().min(0).max(1).default(0.5),
});

/** A setting's origin, strongest first (SPEC.md §9). */
export type ConfigSource = "flag" | "env" | "file" | "default";

export type ConfigVariable = keyof typeof configSchema.shape;

/** Flags, then the environment, then the data directory's configuration file (SPEC.md §9), then defaults. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: ConfigOverrides = {}): Config {
  const { file, flagged } = configLayers(env, flags);
  const merged = { ...file, ...env, ...flagged };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`invalid configuration: ${reasons.join("; ")}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  const prefix = e.S3_PREFIX === "" || e.S3_PREFIX.endsWith("/") ? e.S3_PREFIX : `${e.S3_PREFIX}/`;
  return {
    dataDir,
    dbPath: e.DB_PATH ? resolve(e.DB_PATH) : join(dataDir, "actor-manifests.db"),
    host: e.HOST,
    port: e.PORT,
    apiToken: e.API_TOKEN,
    // An origin is compared as the browser sends it: scheme://host[:port], no path, no trailing slash.
    corsOrigins: e.CORS_ORIGINS.map((origin) => new URL(origin).origin),
    allowedHosts: e.ALLOWED_HOSTS.map((host) => host.toLowerCase()),
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    storageMode: e.STORAGE_MODE,
    s3: {
      endpoint: e.S3_ENDPOINT,
      bucket: e.S3_BUCKET,
      region: e.AWS_REGION,
      prefix,
      forcePathStyle: e.S3_FORCE_PATH_STYLE ? e.S3_FORCE_PATH_STYLE === "true" : e.S3_ENDPOINT !== undefined,
    },
    maxRemoveShare: e.MAX_REMOVE_SHARE,
  };
}

/** Where each variable's effective value came from (`config show`), by the order `loadConfig` applies. */
export function configSources(env: NodeJS.ProcessEnv = process.env, flags: ConfigOverrides = {}): Record<ConfigVariable, ConfigSource> {
  const { file, flagged } = configLayers(env, flags);
  const sourceOf = (name: string): ConfigSource =>
    name in flagged ? "flag" : env[name] !== undefined ? "env" : name in file ? "file" : "default";
  return Object.fromEntries(Object.keys(configSchema.shape).map((name) => [name, sourceOf(name)])) as Record<ConfigVariable, ConfigSource>;
}

/** The data directory's file and the flags, both under the environment variable names. */
function configLayers(env: NodeJS.ProcessEnv, flags: ConfigOverrides) {
  return {
    file: definedEntries(configFileAsEnvironment(readConfigFile(resolve(flags.dataDir ?? env.DATA_DIR ?? "./data")))),
    flagged: definedEntries({
      DATA_DIR: flags.dataDir,
      DB_PATH: flags.db,
      HOST: flags.host,
      PORT: flags.port?.toString(),
      STORAGE_MODE: flags.storageMode,
      S3_ENDPOINT: flags.s3Endpoint,
      S3_BUCKET: flags.s3Bucket,
      S3_PREFIX: flags.s3Prefix,
    }),
  };
}

function definedEntries(record: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter((entry): entry is [string, string] => entry[1] !== undefined));
}
