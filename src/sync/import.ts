import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { basename, join } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { AppContext } from "../context.ts";
import { recordFailedSources, writeImportedActors, type ActorImport, type SourceFileRecord } from "../db/actor-import.ts";
import { sourceFiles, actors, type SourceFileRow } from "../db/schema.ts";
import { parseFormatA } from "./formats/format-a.ts";
import { parseFormatB } from "./formats/format-b.ts";
import type { ImageFields, SourceContribution, SourceFormat } from "./formats/fields.ts";
import { parseLegacyResponse } from "./formats/legacy-response.ts";
import { parsePromptMetadata } from "./formats/prompt-metadata.ts";
import { ManifestError, type ManifestProblem } from "./formats/problems.ts";
import { assertSafeName, imageIndexOf, isTrainingImageFilename, parseActorName } from "./layout.ts";
import { mergeSources } from "./merge.ts";

export interface ImportReport {
  actorsImported: number;
  actorsUnchanged: number;
  imagesImported: number;
  filesRead: number;
  problems: ManifestProblem[];
}

export interface ImportOptions {
  onProgress?: (done: number, total: number) => void;
  /** Re-read every file even when its size and mtime are unchanged. */
  force?: boolean;
}

/** A file found on disk, with the stat that tells whether it changed since the last import. */
interface FoundFile {
  path: string;
  format: SourceFormat;
  /** The actor folder it sits in; format A files name their actor inside. */
  folderName: string | null;
  stat: Stats;
}

/** A file read and parsed (or not) in this run. */
interface ReadFile {
  found: FoundFile;
  record: SourceFileRecord;
  contribution?: SourceContribution;
  problem?: ManifestProblem;
}

const batchSize = 250;

/**
 * Imports every manifest under the data directory into SQLite (SPEC.md §3). Files whose
 * size and mtime are unchanged are not read; an actor is re-merged from all its files
 * when any of them changed. A file that cannot be read is reported with its JSON path and
 * its actor is left as it was; the other actors import.
 */
export async function importManifests(ctx: AppContext, options: ImportOptions = {}): Promise<ImportReport> {
  const { db } = ctx;
  const found = discoverSourceFiles(ctx);
  const known = new Map(db.select().from(sourceFiles).all().map((row) => [row.path, row]));
  const actorIdByName = new Map(db.select({ id: actors.id, name: actors.name }).from(actors).all().map((a) => [a.name, a.id]));
  const nameByActorId = new Map([...actorIdByName].map(([name, id]) => [id, name]));
  const report: ImportReport = { actorsImported: 0, actorsUnchanged: 0, imagesImported: 0, filesRead: 0, problems: [] };

  const read = new Map<string, ReadFile>();
  const readOnce = (file: FoundFile): ReadFile => {
    let result = read.get(file.path);
    if (!result) {
      result = readSourceFile(ctx, file);
      read.set(file.path, result);
      report.filesRead += 1;
    }
    return result;
  };

  // Which actors need merging again: those with a file that is new or changed since last time.
  const affected = new Set<string>();
  const blocked = new Set<string>();
  // Character ids whose format A file cannot be read: their folders must not pass for actors without a manifest.
  const unreadableFormatA = new Set<string>();
  const noteUnreadable = (file: FoundFile) => {
    if (file.format === "format_a") unreadableFormatA.add(basename(file.path).replace(/_manifest\.json$/, ""));
  };
  for (const file of found.all) {
    const row = known.get(file.path);
    if (!options.force && row && unchanged(row, file.stat)) {
      if (row.error) {
        report.problems.push(JSON.parse(row.error) as ManifestProblem);
        noteUnreadable(file);
      }
      continue;
    }
    const result = readOnce(file);
    const name = result.contribution?.actorName ?? file.folderName ?? (row?.actorId ? nameByActorId.get(row.actorId) : undefined);
    if (name) affected.add(name);
    if (result.problem) noteUnreadable(file);
    if (result.problem && name) blocked.add(name);
  }
  // A folder new to SQLite is an actor to import, with or without a manifest of its own.
  for (const name of found.folders.keys()) if (!actorIdByName.has(name)) affected.add(name);

  // Format A files are named by character id: which actor each holds is known once read.
  const formatAByName = new Map<string, FoundFile>();
  for (const file of found.formatA) {
    const result = read.get(file.path);
    const knownActor = known.get(file.path)?.actorId;
    const name = result ? result.contribution?.actorName : knownActor !== undefined && knownActor !== null ? nameByActorId.get(knownActor) : undefined;
    if (name) formatAByName.set(name, file);
  }

  const names = [...affected].sort();
  const batch: ActorImport[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    writeImportedActors(db, batch);
    batch.length = 0;
    await yieldToEventLoop();
  };
  for (const [done, name] of names.entries()) {
    options.onProgress?.(done, names.length);
    const actorFiles = [formatAByName.get(name), ...(found.folders.get(name) ?? [])].filter((file): file is FoundFile => !!file);
    const results = actorFiles.map(readOnce);
    const problems = results.flatMap((result) => (result.problem ? [result.problem] : []));
    if (problems.length > 0 || blocked.has(name)) continue;
    const contributions = results.map((result) => result.contribution!);
    const hasManifest = results.some((r) => r.found.format === "format_a" || r.found.format === "format_b");
    if (!hasManifest) {
      if (!found.folders.has(name) || unreadableFormatA.has(parseActorName(name).characterId ?? "")) continue;
      contributions.push(folderContribution(ctx, name));
    }
    const merged = mergeSources(name, contributions);
    batch.push({ merged, files: results.map((result) => result.record) });
    report.actorsImported += 1;
    report.imagesImported += merged.images.length;
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  options.onProgress?.(names.length, names.length);

  const failed = [...read.values()].filter((result) => result.problem);
  recordFailedSources(db, failed.map((result) => result.record));
  report.problems.push(...failed.map((result) => result.problem!));
  report.actorsUnchanged = actorIdByName.size - names.filter((name) => actorIdByName.has(name)).length;
  return report;
}

interface Discovery {
  all: FoundFile[];
  formatA: FoundFile[];
  /** Actor folder name → the manifest-like files in its training_data folder. */
  folders: Map<string, FoundFile[]>;
}

function discoverSourceFiles(ctx: AppContext): Discovery {
  const { layout } = ctx;
  const formatA: FoundFile[] = [];
  for (const entry of listDir(layout.manifestsDir)) {
    if (!entry.endsWith("_manifest.json")) continue;
    const path = join(layout.manifestsDir, entry);
    const stat = statOrNull(path);
    if (stat?.isFile()) formatA.push({ path, format: "format_a", folderName: null, stat });
  }
  const folders = new Map<string, FoundFile[]>();
  for (const name of listDir(layout.actorsDir)) {
    let folder: string;
    try {
      folder = layout.trainingDir(name);
    } catch {
      continue; // a folder name that is not a safe actor name is never an actor
    }
    if (!statOrNull(folder)?.isDirectory()) continue;
    const files: FoundFile[] = [];
    const candidates: [string, SourceFormat][] = [
      [layout.formatBPath(name), "format_b"],
      [layout.promptMetadataPath(name), "prompt_metadata"],
      [layout.responsePath(name), "response"],
    ];
    for (const [path, format] of candidates) {
      const stat = statOrNull(path);
      if (stat?.isFile()) files.push({ path, format, folderName: name, stat });
    }
    folders.set(name, files);
  }
  return { all: [...formatA, ...[...folders.values()].flat()], formatA, folders };
}

function readSourceFile(ctx: AppContext, file: FoundFile): ReadFile {
  const base = { path: file.path, format: file.format, sizeBytes: file.stat.size, mtimeMs: file.stat.mtimeMs };
  let bytes: Buffer;
  try {
    bytes = readFileSync(file.path);
  } catch (error) {
    return failed(file, { ...base, contentHash: "" }, { file: file.path, jsonPath: "$", reason: `unreadable: ${messageOf(error)}` });
  }
  const record = { ...base, sizeBytes: bytes.length, contentHash: contentHashOf(bytes), error: null };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    return failed(file, record, { file: file.path, jsonPath: "$", reason: `invalid JSON: ${messageOf(error)}` });
  }
  try {
    const contribution = parseSource(ctx, file, value);
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

function parseSource(ctx: AppContext, file: FoundFile, value: unknown): SourceContribution {
  switch (file.format) {
    case "format_a":
      return parseFormatA(value, file.path);
    case "format_b":
      return parseFormatB(value, file.path);
    case "prompt_metadata":
      return parsePromptMetadata(value, file.path, file.folderName!, file.stat.mtime.toISOString());
    case "response":
      return parseLegacyResponse(value, file.path, file.folderName!, ctx.config.s3);
  }
}

function failed(found: FoundFile, record: Omit<SourceFileRecord, "error">, problem: ManifestProblem): ReadFile {
  return { found, record: { ...record, error: JSON.stringify(problem) }, problem };
}

/** An actor with a training-data folder and no manifest: its images are the files in the folder. */
function folderContribution(ctx: AppContext, name: string): SourceContribution {
  const folder = ctx.layout.trainingDir(name);
  const images: ImageFields[] = [];
  for (const filename of listDir(folder).sort()) {
    if (!isTrainingImageFilename(filename)) continue;
    try {
      assertSafeName(filename);
    } catch {
      continue;
    }
    const stat = statOrNull(join(folder, filename));
    if (!stat?.isFile()) continue;
    images.push({
      filename,
      index: imageIndexOf(name, filename),
      localPath: ctx.layout.relativeImagePath(name, filename),
      sizeBytes: stat.size,
      modifiedTimestamp: stat.mtimeMs / 1000,
      modifiedAt: stat.mtime.toISOString(),
    });
  }
  return { file: folder, format: "format_a", updatedAt: null, actorName: name, images, listsImages: true };
}

function unchanged(row: SourceFileRow, stat: Stats): boolean {
  return row.sizeBytes === stat.size && row.mtimeMs === stat.mtimeMs;
}

export function contentHashOf(bytes: Buffer | string): string {
  return createHash("sha1").update(bytes).digest("hex");
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
