import { createHash } from "node:crypto";
import type { S3Config } from "../config.ts";
import type { SourceFileRecord } from "../db/actor-import.ts";
import type { SourceContribution, SourceFormat } from "./formats/fields.ts";
import { parseFormatA } from "./formats/format-a.ts";
import { parseFormatB } from "./formats/format-b.ts";
import { parseLegacyResponse } from "./formats/legacy-response.ts";
import { parsePromptMetadata } from "./formats/prompt-metadata.ts";
import { assertJsonDepth } from "./formats/json-depth.ts";
import { parseJsonText } from "./formats/json-text.ts";
import { ManifestError, type ManifestProblem } from "./formats/problems.ts";
import { readRegularFileSync, UnsafePathError } from "./safe-files.ts";

/**
 * A manifest-like file found on disk, with the stat that tells whether it changed since
 * the last import. Plain data: it crosses to the reader threads as it is.
 */
export interface FoundFile {
  path: string;
  format: SourceFormat;
  /** The actor folder it sits in; format A files name their actor inside. */
  folderName: string | null;
  size: number;
  mtimeMs: number;
}

/** A file read and parsed (or not). */
export interface ReadFile {
  found: FoundFile;
  record: SourceFileRecord;
  contribution?: SourceContribution;
  /** The actor the file names, kept when a reader thread merged it and dropped the contribution. */
  actorName?: string;
  problem?: ManifestProblem;
}

/**
 * Reads and validates one file. Never throws: an unreadable, invalid or hostile file
 * comes back with the problem (file, JSON path, reason), and its record for SQLite.
 */
export function readSourceFile(file: FoundFile, s3: S3Config): ReadFile {
  const base = { path: file.path, format: file.format, sizeBytes: file.size, mtimeMs: file.mtimeMs };
  let bytes: Buffer;
  try {
    bytes = readRegularFileSync(file.path);
  } catch (error) {
    const reason = error instanceof UnsafePathError ? error.reason : `unreadable: ${messageOf(error)}`;
    return failed(file, { ...base, contentHash: "" }, { file: file.path, jsonPath: "$", reason });
  }
  const record = { ...base, sizeBytes: bytes.length, contentHash: contentHashOf(bytes), error: null };
  try {
    const value = parseJsonText(bytes.toString("utf8"), file.path);
    assertJsonDepth(value, file.path);
    const contribution = parseSource(file, value, s3);
    if (file.folderName && contribution.actorName !== file.folderName) {
      const reason = `actor_id ${JSON.stringify(contribution.actorName)} does not match its folder ${JSON.stringify(file.folderName)}`;
      return failed(file, record, { file: file.path, jsonPath: "$.actor_id", reason });
    }
    return { found: file, record, contribution };
  } catch (error) {
    if (error instanceof ManifestError) return failed(file, record, error.problem);
    return failed(file, record, { file: file.path, jsonPath: "$", reason: messageOf(error) });
  }
}

function parseSource(file: FoundFile, value: unknown, s3: S3Config): SourceContribution {
  switch (file.format) {
    case "format_a":
      return parseFormatA(value, file.path);
    case "format_b":
      return parseFormatB(value, file.path);
    case "prompt_metadata":
      return parsePromptMetadata(value, file.path, file.folderName!, new Date(file.mtimeMs).toISOString());
    case "response":
      return parseLegacyResponse(value, file.path, file.folderName!, s3);
  }
}

function failed(found: FoundFile, record: Omit<SourceFileRecord, "error">, problem: ManifestProblem): ReadFile {
  return { found, record: { ...record, error: JSON.stringify(problem) }, problem };
}

/** What identifies a manifest's content: a file edited by another tool hashes differently. */
export function contentHashOf(bytes: Buffer | string): string {
  return createHash("sha1").update(bytes).digest("hex");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
