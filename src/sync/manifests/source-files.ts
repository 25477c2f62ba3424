import { createHash } from "node:crypto";
import type { S3Config } from "../../config.ts";
import type { SourceFileRecord, SourceFormat } from "../../db/actor-import.ts";
import type { SourceContribution } from "./formats/fields.ts";
import { parseFormatA } from "./formats/format-a.ts";
import { parseFormatB } from "./formats/format-b.ts";
import { parseLegacyResponse } from "./formats/legacy-response.ts";
import { parsePromptMetadata } from "./formats/prompt-metadata.ts";
import { assertJsonDepth } from "./formats/json-depth.ts";
import { parseJsonText } from "./formats/json-text.ts";
import { ManifestError, type ManifestProblem } from "./formats/problems.ts";
import { readRegularFileSync, UnsafePathError } from "../files/safe-files.ts";

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
  /** False when nothing could be taken from the file (unreadable, invalid JSON, a bad header). */
  readable: boolean;
  contribution?: SourceContribution;
  /** The actor the file names, kept when a reader thread merged it and dropped the contribution. */
  actorName?: string;
  /** What is wrong with the file or some of its entries (file, JSON path, reason); empty when nothing is. */
  problems: ManifestProblem[];
}

/**
 * Reads and validates one file. Never throws: an unreadable, invalid or hostile file
 * comes back with its problem (file, JSON path, reason) and its record for SQLite; a file
 * with bad entries comes back with its good ones and a problem for each bad one.
 */
export function readSourceFile(file: FoundFile, s3: S3Config): ReadFile {
  const base = { path: file.path, format: file.format, sizeBytes: file.size, mtimeMs: file.mtimeMs };
  let bytes: Buffer;
  try {
    bytes = readRegularFileSync(file.path);
  } catch (error) {
    const reason = error instanceof UnsafePathError ? error.reason : `unreadable: ${messageOf(error)}`;
    return unreadable(file, { ...base, contentHash: "" }, { file: file.path, jsonPath: "$", reason });
  }
  const record = { ...base, sizeBytes: bytes.length, contentHash: contentHashOf(bytes) };
  try {
    const value = parseJsonText(bytes.toString("utf8"), file.path);
    assertJsonDepth(value, file.path);
    const contribution = parseSource(file, value, s3);
    if (file.folderName && contribution.actorName !== file.folderName) {
      const reason = `actor_id ${JSON.stringify(contribution.actorName)} does not match its folder ${JSON.stringify(file.folderName)}`;
      return unreadable(file, record, { file: file.path, jsonPath: "$.actor_id", reason });
    }
    const problems = contribution.problems ?? [];
    return { found: file, record: { ...record, error: storedProblems(problems) }, readable: true, contribution, problems };
  } catch (error) {
    if (error instanceof ManifestError) return unreadable(file, record, error.problem);
    return unreadable(file, record, { file: file.path, jsonPath: "$", reason: messageOf(error) });
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

function unreadable(found: FoundFile, record: Omit<SourceFileRecord, "error">, problem: ManifestProblem): ReadFile {
  return { found, record: { ...record, error: storedProblems([problem]) }, readable: false, problems: [problem] };
}

/** The file with one more problem (once: the same problem twice is one). */
export function withProblem(result: ReadFile, problem: ManifestProblem): ReadFile {
  if (result.problems.some((known) => JSON.stringify(known) === JSON.stringify(problem))) return result;
  const problems = [...result.problems, problem];
  return { ...result, problems, record: { ...result.record, error: storedProblems(problems) } };
}

/** `source_files.error`: the file's problems as a JSON list, or null when it has none. */
function storedProblems(problems: readonly ManifestProblem[]): string | null {
  return problems.length === 0 ? null : JSON.stringify(problems);
}

/** What identifies a manifest's content: a file edited by another tool hashes differently. */
export function contentHashOf(bytes: Buffer | string): string {
  return createHash("sha1").update(bytes).digest("hex");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
