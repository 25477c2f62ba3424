/**
 * Folder src/sync/manifests/: the actors' manifest files and SQLite. formats/ parses each
 * format; import (this file) finds them (discovery) and reads them, on worker threads (source-read-pool,
 * source-read-worker) and merges an actor's sources (merge); source-files records what was
 * read; export writes manifests back; migrate-legacy retires legacy response.json files.
 */
import { basename } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { AppContext } from "../../context.ts";
import { forgetGoneProblemSources, prepareActor, recordProblemSources, writeImportedActors, type ActorImport, type PreparedActor } from "../../db/actor-import.ts";
import { actorIdsByName } from "../../db/actor-queries.ts";
import type { SourceFileRow } from "../../db/schema.ts";
import { sourceFilesByPath } from "../../db/source-records.ts";
import { storedSourceProblems } from "../../db/source-problems.ts";
import type { ManifestProblem } from "./formats/problems.ts";
import { parseActorName } from "../files/layout.ts";
import { discoverSourceFiles, folderContribution, type Discovery } from "./discovery.ts";
import { mergeSources } from "./merge.ts";
import { readSourceFile, withProblem, type FoundFile, type ReadFile } from "./source-files.ts";
import { SourceReadPool } from "./source-read-pool.ts";
import type { UnitResult } from "./source-read-worker.ts";

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
  /**
   * Reader threads for the changed files; default: none below `threadedImportThreshold`
   * changed files (starting threads costs more than it saves), else one per spare core.
   */
  readerThreads?: number;
}

/** Changed files from which reading on other threads pays for starting them. */
export const threadedImportThreshold = 2000;
const filesPerReadBatch = 400;
const actorsPerTransaction = 250;

/**
 * Imports every manifest under the data directory into SQLite (SPEC.md §3). Files whose
 * size and mtime are unchanged are not read; an actor is re-merged from all its files
 * when any of them changed. Problems are reported with file and JSON path, and recorded
 * on the actor they are about (`Actor.problems`), whose files then are never overwritten
 * (see export.ts); the other actors import. A bad entry is left out and the good ones
 * import. An actor one of whose files cannot be read at all never vanishes: known
 * already, its rows are left as they were; new, it imports from its readable files, or
 * from its folder. A second format A file claiming an actor is reported, and its entries
 * are imported with the actor's own.
 *
 * Changed files are read in batches (on reader threads for a large import) ordered so an
 * actor's format A manifest and its folder's files travel together; each actor is merged
 * and written as soon as all its changed files are read, while later batches are parsed.
 */
export async function importManifests(ctx: AppContext, options: ImportOptions = {}): Promise<ImportReport> {
  const { db } = ctx;
  const known = sourceFilesByPath(db);
  // Many entries SQLite has never seen: start the reader threads now, so they load while the files are statted.
  let early = null as SourceReadPool | null;
  let found: Discovery;
  try {
    found = discoverSourceFiles(ctx, (entries) => {
      if (options.readerThreads !== 0 && entries - known.size >= threadedImportThreshold) early = new SourceReadPool(options.readerThreads);
    });
  } catch (error) {
    await early?.close();
    throw error;
  }
  const actorIdByName = actorIdsByName(db);
  const nameByActorId = new Map([...actorIdByName].map(([name, id]) => [id, name]));
  const report: ImportReport = { actorsImported: 0, actorsUnchanged: 0, imagesImported: 0, filesRead: 0, problems: [...found.folderProblems] };

  const read = new Map<string, ReadFile>();
  const changed: FoundFile[] = [];
  // Format A files are named by character id: which actor each holds is known once read (or from SQLite).
  const formatAByName = new Map<string, FoundFile[]>();
  const addFormatA = (name: string, file: FoundFile) => {
    const files = formatAByName.get(name) ?? [];
    if (!files.some((other) => other.path === file.path)) formatAByName.set(name, [...files, file].sort((a, b) => a.path.localeCompare(b.path)));
  };
  for (const file of found.all) {
    const row = known.get(file.path);
    if (options.force || !row || !unchanged(row, file)) {
      changed.push(file);
      continue;
    }
    report.problems.push(...storedSourceProblems(row.error));
    const name = row.actorId === null ? undefined : nameByActorId.get(row.actorId);
    if (file.format === "format_a" && name) addFormatA(name, file);
  }
  // An unreadable format A file names no actor: it is about the one folder of its character id, if there is one.
  const foldersByCharacterId = new Map<string, string[]>();
  for (const name of found.folders.keys()) {
    const id = parseActorName(name).characterId;
    if (id) foldersByCharacterId.set(id, [...(foldersByCharacterId.get(id) ?? []), name]);
  }
  const folderOfFormatA = (file: FoundFile) => {
    const folders = foldersByCharacterId.get(basename(file.path).replace(/_manifest\.json$/, ""));
    return folders?.length === 1 ? folders[0] : undefined;
  };
  /** Paths of files with problems recorded with their actor. */
  const attached = new Set<string>();
  const pending = new Set(changed.map((file) => file.path));

  const readInline = (file: FoundFile): ReadFile => {
    let result = read.get(file.path);
    // A file a reader thread merged comes back without its contribution: read again to merge it anew.
    if (!result || (result.readable && !result.contribution)) {
      result = readSourceFile(file, ctx.config.s3);
      read.set(file.path, result);
      report.filesRead += 1;
    }
    return result;
  };

  // Which actors need merging again: those with a file that is new or changed since last time.
  const affected = new Set<string>();
  /** Affected actors not imported yet in this run. */
  const waiting = new Set<string>();
  const imagesOf = new Map<string, number>();
  const batch: ActorImport[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    writeImportedActors(db, batch);
    batch.length = 0;
    await yieldToEventLoop();
  };
  const actorFilesOf = (name: string) => [...(formatAByName.get(name) ?? []), ...(found.folders.get(name) ?? [])];
  const importActor = async (name: string) => {
    waiting.delete(name);
    const results = withClaimConflicts(ctx, name, actorFilesOf(name).map(readInline));
    for (const result of results) read.set(result.found.path, result);
    const known = actorIdByName.get(name);
    if (known !== undefined && results.some((result) => !result.readable)) {
      // What SQLite knows is more than the readable files say: kept until the file is fixed or rebuilt.
      const troubled = results.filter((result) => result.problems.length > 0);
      recordProblemSources(db, known, troubled.map((result) => result.record));
      for (const result of troubled) attached.add(result.found.path);
      return;
    }
    const contributions = results.filter((result) => result.readable).map((result) => result.contribution!);
    if (!contributions.some((source) => source.format === "format_a" || source.format === "format_b")) {
      if (!found.folders.has(name)) return;
      contributions.push(folderContribution(ctx, name));
    }
    const prepared = prepareActor(mergeSources(name, contributions));
    batch.push({ prepared, files: results.map((result) => result.record), isNew: known === undefined });
    for (const result of results) attached.add(result.found.path);
    imagesOf.set(name, prepared.imageCount);
    if (batch.length >= actorsPerTransaction) await flush();
  };
  const takeResults = (results: ReadFile[]) => {
    for (const result of results) {
      const file = result.found;
      read.set(file.path, result);
      pending.delete(file.path);
      report.filesRead += 1;
      const row = known.get(file.path);
      const named = result.contribution?.actorName ?? result.actorName;
      const name =
        named ?? file.folderName ?? (row?.actorId ? nameByActorId.get(row.actorId) : undefined) ?? (file.format === "format_a" ? folderOfFormatA(file) : undefined);
      if (file.format === "format_a" && name) addFormatA(name, file);
      if (!name) continue;
      // An actor imported already in this run gets a file it lacked: it is merged again.
      affected.add(name);
      waiting.add(name);
    }
  };

  /** An actor a reader thread merged: written as it is, if the unit held every file the actor has. */
  const takePrepared = (unit: UnitResult & { prepared: PreparedActor }) => {
    const name = unit.prepared.actor.name;
    const inUnit = new Set(unit.results.map((result) => result.found.path));
    if (!actorFilesOf(name).every((file) => inUnit.has(file.path))) {
      // Merged from too few files: forget these reads (they carry no contributions) so the actor is read again here.
      for (const path of inUnit) read.delete(path);
      return;
    }
    batch.push({ prepared: unit.prepared, files: unit.results.map((result) => result.record), isNew: !actorIdByName.has(name) });
    for (const result of unit.results) attached.add(result.found.path);
    imagesOf.set(name, unit.prepared.imageCount);
    waiting.delete(name);
  };

  const batches = readBatches(found.all, pending);
  const threaded = options.readerThreads !== undefined ? options.readerThreads > 0 : changed.length >= threadedImportThreshold;
  if (early && !threaded) await early.close();
  const pool = threaded ? (early ?? new SourceReadPool(options.readerThreads)) : null;
  try {
    // All batches are queued at once: the threads read ahead while this thread writes.
    const inFlight = pool ? batches.map((units) => pool.read(units, ctx.config.s3)) : [];
    for (const [i, units] of batches.entries()) {
      // Read here, only the changed files are read now; an actor's unchanged ones are read when it is merged.
      const unitResults: UnitResult[] = pool
        ? await inFlight[i]!
        : units.map((files) => ({ results: files.filter((file) => pending.has(file.path)).map((file) => readSourceFile(file, ctx.config.s3)) }));
      for (const unit of unitResults) {
        takeResults(unit.results);
        if (unit.prepared) takePrepared(unit as UnitResult & { prepared: PreparedActor });
      }
      if (batch.length >= actorsPerTransaction) await flush();
      options.onProgress?.(i, batches.length + 1);
      for (const name of [...waiting]) {
        // Ready once none of its files waits in a later batch (actors without a manifest wait for all: see below).
        const files = actorFilesOf(name);
        if (files.some((file) => pending.has(file.path))) continue;
        if (!files.some((file) => file.format === "format_a" || file.format === "format_b")) continue;
        await importActor(name);
      }
    }
  } finally {
    await pool?.close();
  }
  // Actors still waiting, and folders new to SQLite (with or without a manifest of their own),
  // once every format A file is read and unreadable ones are known.
  for (const name of found.folders.keys()) {
    if (actorIdByName.has(name) || affected.has(name)) continue;
    affected.add(name);
    waiting.add(name);
  }
  for (const name of [...waiting].sort()) await importActor(name);
  await flush();
  report.actorsImported = imagesOf.size;
  report.imagesImported = [...imagesOf.values()].reduce((sum, count) => sum + count, 0);
  options.onProgress?.(batches.length + 1, batches.length + 1);

  const troubled = [...read.values()].filter((result) => result.problems.length > 0);
  recordProblemSources(db, null, troubled.filter((result) => !attached.has(result.found.path)).map((result) => result.record));
  forgetGoneProblemSources(db, found.all.map((file) => file.path));
  report.problems.push(...troubled.flatMap((result) => result.problems));
  report.actorsUnchanged = [...actorIdByName.keys()].filter((name) => !affected.has(name)).length;
  return report;
}

/**
 * An actor's files with its own format A file first (the one named by its character id,
 * else the first by path); any other format A file claiming the actor gets a problem
 * (SPEC.md §3: reported, nothing dropped): its entries still import, and the file is then
 * never overwritten.
 */
function withClaimConflicts(ctx: AppContext, name: string, results: ReadFile[]): ReadFile[] {
  const claims = results.filter((result) => result.found.format === "format_a");
  if (claims.length < 2) return results;
  const id = parseActorName(name).characterId;
  const ownPath = id ? ctx.layout.formatAPath(id) : undefined;
  const own = claims.find((result) => result.found.path === ownPath) ?? claims[0]!;
  const others = claims
    .filter((result) => result !== own)
    .map((result) =>
      withProblem(result, {
        file: result.found.path,
        jsonPath: "$.character_name",
        reason: `claims actor ${JSON.stringify(name)}, whose manifest is ${own.found.path}: its entries are imported with that actor's, and the file is left as it is`,
      }),
    );
  return [own, ...others, ...results.filter((result) => result.found.format !== "format_a")];
}

/**
 * Units of files that share a character id (format A files are named by it, actor folders
 * start with it), format A first, kept where any file changed, in batches of about
 * `filesPerReadBatch` files: a unit is normally one actor, read and merged together.
 */
function readBatches(all: readonly FoundFile[], changed: ReadonlySet<string>): FoundFile[][][] {
  const key = (file: FoundFile) =>
    file.folderName === null ? basename(file.path).replace(/_manifest\.json$/, "") : (parseActorName(file.folderName).characterId ?? file.folderName);
  const units = new Map<string, FoundFile[]>();
  for (const file of all) {
    const unit = units.get(key(file));
    if (unit) unit.push(file);
    else units.set(key(file), [file]);
  }
  const batches: FoundFile[][][] = [];
  let current: FoundFile[][] = [];
  let files = 0;
  for (const unitKey of [...units.keys()].sort()) {
    const unit = units.get(unitKey)!;
    if (!unit.some((file) => changed.has(file.path))) continue;
    unit.sort((a, b) => (a.folderName === null ? 0 : 1) - (b.folderName === null ? 0 : 1));
    current.push(unit);
    files += unit.length;
    if (files >= filesPerReadBatch) {
      batches.push(current);
      current = [];
      files = 0;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

function unchanged(row: SourceFileRow, file: FoundFile): boolean {
  return row.sizeBytes === file.size && row.mtimeMs === file.mtimeMs;
}
