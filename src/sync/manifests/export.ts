import { lstatSync } from "node:fs";
import { dirname } from "node:path";
import type { AppContext } from "../../context.ts";
import { actorsToExport, generationsToExport, imagesToExport, markActorExported } from "../../db/export-rows.ts";
import type { ActorRow, SourceFileRow } from "../../db/schema.ts";
import { recordSourceWritten, sourceFilesOfActor } from "../../db/source-records.ts";
import { storedSourceProblems } from "../../db/source-problems.ts";
import { forgetManifestWrite, isUnrecordedManifestWrite, recordManifestWrite } from "../../db/manifest-writes.ts";
import { writeFileAtomic, type AtomicWriteHooks } from "../files/atomic-write.ts";
import type { SourceFormat } from "../../db/actor-import.ts";
import { renderFormatA, type ExportInput } from "./formats/format-a.ts";
import { renderFormatB } from "./formats/format-b.ts";
import { renderPromptMetadata } from "./formats/prompt-metadata.ts";
import { assertRealFolder, makeRealFolder, readRegularFileSync } from "../files/safe-files.ts";
import { contentHashOf } from "./source-files.ts";
import { removeTemporaryFiles } from "../files/temporary-files.ts";

/** Another tool changed a manifest since this service last read or wrote it (SPEC.md §3). */
export class ManifestConflictError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}; run import to read it again before changing this actor`);
    this.name = "ManifestConflictError";
  }
}

/** A manifest that could not be rendered or written for another reason than a conflict (the file is named). */
export class ManifestWriteError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`${file}: not written: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "ManifestWriteError";
  }
}

export interface ExportProblem {
  file: string;
  reason: string;
  /** Another tool changed the file: importing it again settles this, unlike a failed write. */
  changedOnDisk: boolean;
}

export interface ExportReport {
  filesWritten: string[];
  actorsExported: number;
  actorsSkipped: number;
  problems: ExportProblem[];
  /**
   * Files with problems (unreadable, bad entries, a second claim on an actor), never
   * overwritten until fixed or rebuilt (SPEC.md §3); the rest of the actor is exported.
   */
  leftAlone: { file: string; reason: string }[];
  /** Copies of the files a rebuild replaced, with their old bytes. */
  backups: string[];
}

export interface ExportOptions {
  /** Only these actors; default every actor changed since its manifests were last written. */
  actorIds?: number[];
  /** Render every selected actor even if unchanged (files whose value is unchanged are still not rewritten). */
  force?: boolean;
  /** Write prompt_metadata.json (object keyed by filename) for actors that have none yet: a rating was just given. */
  createPromptMetadata?: boolean;
  /**
   * Replace the selected actors' files that have problems with what SQLite holds, the old
   * bytes kept beside each as `{file}.bak` (by default such files are left alone).
   */
  rebuild?: boolean;
  atomicWriteHooks?: AtomicWriteHooks;
}

/**
 * Writes the manifests of changed actors (and of actors that have no format A manifest
 * yet) from SQLite: format A always, format B and
 * prompt_metadata.json where the actor has them. Each file is the previous document with
 * known fields brought up to date (unknown fields kept), replaced atomically, and only
 * if it is still the content this service last read or wrote.
 */
export async function exportManifests(ctx: AppContext, options: ExportOptions = {}): Promise<ExportReport> {
  const { db } = ctx;
  const selected = actorsToExport(db, options);
  const report: ExportReport = { filesWritten: [], actorsExported: 0, actorsSkipped: 0, problems: [], leftAlone: [], backups: [] };
  // What atomic writes of a killed export left in the folders written to is removed first (once each).
  const swept = new Set<string>();
  const sweep = (folder: string) => {
    if (swept.has(folder)) return;
    swept.add(folder);
    removeTemporaryFiles(ctx.layout.root, folder);
  };
  for (const actor of selected) {
    try {
      report.filesWritten.push(...exportActor(ctx, actor, options, report, sweep));
      report.actorsExported += 1;
    } catch (error) {
      // One actor's file never stops the others (SPEC.md §3).
      if (!(error instanceof ManifestConflictError || error instanceof ManifestWriteError)) throw error;
      report.problems.push({ file: error.file, reason: error.message, changedOnDisk: error instanceof ManifestConflictError });
      report.actorsSkipped += 1;
    }
  }
  return report;
}

/**
 * Exports one actor; throws ManifestConflictError (writing nothing) when any of its files was
 * edited by another tool, and ManifestWriteError naming the file that could not be rendered
 * or written.
 */
function exportActor(
  ctx: AppContext,
  actor: ActorRow,
  options: ExportOptions,
  report: Pick<ExportReport, "leftAlone" | "backups">,
  sweep: (folder: string) => void,
): string[] {
  const { db, layout, config } = ctx;
  const rows = imagesToExport(db, actor.id);
  const actorGenerations = generationsToExport(db, actor.id);
  const ownFormatA = layout.formatAPath(actor.characterId ?? actor.name);
  const sources = new Map<SourceFormat, SourceFileRow>();
  const actorSources = sourceFilesOfActor(db, actor.id);
  for (const row of actorSources) {
    const chosen = sources.get(row.format);
    // Of two format A files claiming the actor, its id's own is the one written; the other is left alone.
    if (!chosen || row.path === ownFormatA || (chosen.path !== ownFormatA && chosen.error && !row.error)) sources.set(row.format, row);
  }
  for (const row of actorSources) if (row.error && sources.get(row.format) !== row) report.leftAlone.push(leftAloneEntry(row));

  const touched = actor.revision > actor.exportedRevision;
  const now = new Date().toISOString();
  const input: ExportInput = { actor, images: rows, touched, now, s3Only: config.storageMode === "s3-only" };

  const targets: { path: string; format: SourceFormat; render: (previous: unknown) => unknown }[] = [
    {
      path: sources.get("format_a")?.path ?? ownFormatA,
      format: "format_a",
      render: (previous) => renderFormatA(previous, input),
    },
  ];
  const formatB = sources.get("format_b");
  if (formatB) {
    targets.push({
      path: formatB.path,
      format: "format_b",
      render: (previous) => renderFormatB(previous, { ...input, generations: actorGenerations }),
    });
  }
  const promptMetadata = sources.get("prompt_metadata");
  if (promptMetadata || options.createPromptMetadata) {
    targets.push({
      path: promptMetadata?.path ?? layout.promptMetadataPath(actor.name),
      format: "prompt_metadata",
      render: (previous) => renderPromptMetadata(previous, rows),
    });
  }

  for (const target of targets) sweep(dirname(target.path));
  // A file with problems is left alone (SPEC.md §3), unless rebuilt: its old bytes are kept first.
  const rebuilt = new Map<string, Buffer>();
  const writable = targets.filter((target) => {
    const source = sources.get(target.format);
    if (!source?.error) return true;
    if (!options.rebuild) report.leftAlone.push(leftAloneEntry(source));
    else namingFile(target.path, () => rebuilt.set(target.path, readRegularFileSync(target.path)));
    return options.rebuild;
  });
  // Check every file before writing any, so a conflict leaves all of the actor's files as they were.
  // An untouched actor only gets the files it lacks, unless forced.
  const planned = writable.map((target) =>
    namingFile(target.path, () => {
      const old = rebuilt.get(target.path);
      const previous = old ? { value: jsonOrUndefined(old) } : readUnchanged(ctx, actor.id, target, sources.get(target.format));
      if (previous !== undefined && !touched && !options.force && !old) return { ...target, text: undefined };
      // Rendered to text here, before any file is written: a value that cannot be written stops the actor, not half of it.
      const text = manifestText(target.render(previous?.value));
      return { ...target, text: previous === undefined || manifestText(previous.value) !== text ? text : undefined };
    }),
  );
  const written: string[] = [];
  for (const target of planned) {
    const text = target.text;
    if (text === undefined) continue;
    namingFile(target.path, () => {
      makeRealFolder(layout.root, dirname(target.path));
      const old = rebuilt.get(target.path);
      if (old) report.backups.push(writeBackup(layout.root, target.path, old));
      recordManifestWrite(ctx.db, target.path, contentHashOf(text));
      writeFileAtomic(layout.root, target.path, text, options.atomicWriteHooks);
      recordWritten(ctx, actor.id, target.path, target.format, text);
    });
    written.push(target.path);
  }
  markActorExported(db, actor, touched ? now : actor.manifestUpdatedAt);
  return written;
}

function leftAloneEntry(source: SourceFileRow): { file: string; reason: string } {
  const reasons = storedSourceProblems(source.error).map((problem) => `${problem.jsonPath}: ${problem.reason}`);
  return { file: source.path, reason: `left as it is until fixed or rebuilt (${reasons.join("; ")})` };
}

/** A rebuilt file's JSON value, to keep the fields other tools wrote; undefined when it does not parse. */
function jsonOrUndefined(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** Keeps a file's old bytes beside it as `{file}.bak` (`{file}.2.bak`, … when taken): a rebuild never loses them. */
function writeBackup(root: string, path: string, bytes: Buffer): string {
  let backup = `${path}.bak`;
  for (let n = 2; lstatSync(backup, { throwIfNoEntry: false }); n++) backup = `${path}.${n}.bak`;
  writeFileAtomic(root, backup, bytes);
  return backup;
}

function manifestText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Runs work on one file; a failure other than a conflict becomes a ManifestWriteError naming it. */
function namingFile<T>(file: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof ManifestConflictError) throw error;
    throw new ManifestWriteError(file, error);
  }
}

/**
 * The file's current JSON value, provided it is what this service last read or wrote (a write
 * a crash left unrecorded is recorded now); undefined when there is no file yet.
 */
function readUnchanged(
  ctx: AppContext,
  actorId: number,
  target: { path: string; format: SourceFormat },
  source: SourceFileRow | undefined,
): { value: unknown } | undefined {
  const { path } = target;
  // A link in the file's place (or on the way to it) is in the way too, and never followed.
  if (!assertRealFolder(ctx.layout.root, dirname(path)) || !lstatSync(path, { throwIfNoEntry: false })) return undefined;
  if (source?.error) throw new ManifestConflictError(path, "the file could not be imported");
  const bytes = readRegularFileSync(path);
  const hash = contentHashOf(bytes);
  if (hash !== source?.contentHash) {
    if (!isUnrecordedManifestWrite(ctx.db, path, hash)) {
      throw new ManifestConflictError(
        path,
        source ? "changed on disk since it was last read" : "a file this service never read is in the way",
      );
    }
    recordWritten(ctx, actorId, path, target.format, bytes);
  }
  return { value: JSON.parse(bytes.toString("utf8")) };
}

function recordWritten(ctx: AppContext, actorId: number, path: string, format: SourceFormat, content: string | Buffer): void {
  const stat = lstatSync(path);
  const row = { path, actorId, format, sizeBytes: stat.size, mtimeMs: stat.mtimeMs, contentHash: contentHashOf(content), error: null };
  recordSourceWritten(ctx.db, row);
  forgetManifestWrite(ctx.db, path);
}
