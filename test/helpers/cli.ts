import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import type { Envelope } from "../../scripts/commands/common.ts";
import type { World } from "./world.ts";

const run = promisify(execFile);
const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI entry point with only the environment given (plus PATH), never the host's AWS settings. */
export async function cli(args: string[], env: Record<string, string>): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? "", ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Runs the CLI with `--json` and parses the envelope, the whole of stdout (it must be one JSON document). */
export async function cliJson<Result = Record<string, unknown>>(
  args: string[],
  env: Record<string, string>,
): Promise<CliRun & { envelope: Envelope & { result: Result } }> {
  const run = await cli([...args, "--json"], env);
  let envelope: Envelope & { result: Result };
  try {
    envelope = JSON.parse(run.stdout);
  } catch {
    throw new Error(`actor-manifests ${args.join(" ")} --json printed no JSON envelope (exit ${run.code}): ${run.stdout}${run.stderr}`);
  }
  return { ...run, envelope };
}

/** The environment that points the CLI at a test world's data directory and s3rver (and no home AWS settings). */
export function cliEnv(world: World): Record<string, string> {
  return {
    DATA_DIR: world.dataDir,
    S3_ENDPOINT: world.config.s3.endpoint!,
    S3_BUCKET: world.config.s3.bucket,
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    HOME: world.dataDir,
  };
}
