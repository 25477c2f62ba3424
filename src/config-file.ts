import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "./sync/files/atomic-write.ts";
import { readRegularFileSync } from "./sync/files/safe-files.ts";

/**
 * The data directory's own settings (SPEC.md §9): what belongs to the data rather than to
 * one run — its storage mode above all, so that a sync after `prune-local` never downloads
 * what was pruned on purpose — and where its S3 side is. Flags and environment win over it.
 */
export const configFileName = "actor-manifests.config.json";

export const storageModes = ["mirrored", "s3-only"] as const;
export type StorageMode = (typeof storageModes)[number];

const configFileSchema = z
  .object({
    storageMode: z.enum(storageModes).optional(),
    s3: z
      .object({
        endpoint: z.url().optional(),
        bucket: z.string().min(3).optional(),
        prefix: z.string().optional(),
        region: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof configFileSchema>;

export function configFilePath(dataDir: string): string {
  return join(dataDir, configFileName);
}

/** The file's settings, {} when there is none; a broken file is an error naming the file and field. */
export function readConfigFile(dataDir: string): ConfigFile {
  const path = configFilePath(dataDir);
  let text: string;
  try {
    text = readRegularFileSync(path).toString("utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${path}: not valid JSON`);
  }
  const parsed = configFileSchema.safeParse(value);
  if (!parsed.success) {
    const reasons = parsed.error.issues.map((issue) => `${issue.path.join(".") || "(top)"}: ${issue.message}`);
    throw new Error(`${path}: ${reasons.join("; ")}`);
  }
  return parsed.data;
}

/** Records the data directory's storage mode, keeping the file's other settings. */
export function writeStorageMode(dataDir: string, storageMode: StorageMode): void {
  const settings = { ...readConfigFile(dataDir), storageMode };
  writeFileAtomic(dataDir, configFilePath(dataDir), `${JSON.stringify(settings, null, 2)}\n`);
}

/** The file's settings under the environment variable names `loadConfig` reads. */
export function configFileAsEnvironment(file: ConfigFile): Record<string, string | undefined> {
  return {
    STORAGE_MODE: file.storageMode,
    S3_ENDPOINT: file.s3?.endpoint,
    S3_BUCKET: file.s3?.bucket,
    S3_PREFIX: file.s3?.prefix,
    AWS_REGION: file.s3?.region,
  };
}
