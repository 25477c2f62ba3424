/**
 * Folder src/sync/manifests/: the actors' manifest files and SQLite. formats/ parses each
 * format; import (this file) finds them (discovery) and reads them, on worker threads (source-read-pool,
 * source-read-worker) and merges an actor's sources (merge); source-files records what was
 * read; export writes manifests back; migrate-legacy retires legacy response.json files.
 */
import { basename } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { AppContext } from "../../context.ts";
import {
  forgetGoneProblemSources,
  prepareActor,
  recordProblemSources,
  writeImportedActors,
  type ActorImport,
  type PreparedActor,
} from "../../db/actor-import.ts";
import { actorIdsByName } from "../../db/actor-queries.ts";
import type { SourceFileRow } from "../../db/schema.ts";
import { sourceFilesByPath } from "../../db/source-records.ts";
import { storedSourceProblems } from "../../db/source-problems.ts";
import type { ManifestProblem } from "./formats/problems.ts";
import { actorPrefix, parseActorName } from "../files/layout.ts";
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
  const known = sourceFilesByPath(ctx.db);
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
  const run = new ImportRun(ctx, options, known, found);
  const batchCount = await run.readAndImport(early);
  return run.finish(batchCount);
}

/** One import: what it knows of each file and actor while the batches are read, merged and written. */
class ImportRun {
  private readonly actorIdByName: Map<string, number>;
  private readonly nameByActorId: Map<number, string>;
  private readonly report: ImportReport;
  private readonly read = new Map<string, ReadFile>();
  private readonly changed: FoundFile[] = [];
  /** Format A files are named by character id: which actor each holds is known once read (or from SQLite). */
  private readonly formatAByName = new Map<string, FoundFile[]>();
  /** An unreadable format A file names no actor: it is about the one folder of its character id, if there is one. */
  private readonly foldersByCharacterId = new Map<string, string[]>();
  /** Paths of files with problems recorded with their actor. */
  private readonly attached = new Set<string>();
  private readonly pending: Set<string>;
  /** Which actors need merging again: those with a file that is new or changed since last time. */
  private readonly affected = new Set<string>();
  /** Affected actors not imported yet in this run. */
  private readonly waiting = new Set<string>();
  private readonly imagesOf = new Map<string, number>();
  private readonly batch: ActorImport[] = [];

  constructor(
    private readonly ctx: AppContext,
    private readonly options: ImportOptions,
    private readonly known: Map<string, SourceFileRow>,
    private readonly found: Discovery,
  ) {
    this.actorIdByName = actorIdsByName(ctx.db);
    this.nameByActorId = new Map([...this.actorIdByName].map(([name, id]) => [id, name]));
    this.report = { actorsImported: 0, actorsUnchanged: 0, imagesImported: 0, filesRead: 0, problems: [...found.folderProblems] };
    for (const file of found.all) {
      const row = known.get(file.path);
      if (options.force || !row || !unchanged(row, file)) {
        this.changed.push(file);
        continue;
      }
      this.report.problems.push(...storedSourceProblems(row.error));
      const name = row.actorId === null ? undefined : this.nameByActorId.get(row.actorId);
      if (file.format === "format_a" && name) this.addFormatA(name, file);
    }
    for (const name of found.folders.keys()) {
      const id = parseActorName(name).characterId;
      if (id) this.foldersByCharacterId.set(id, [...(this.foldersByCharacterId.get(id) ?? []), name]);
    }
    this.pending = new Set(this.changed.map((file) => file.path));
  }

  /**
   * Reads the changed files batch by batch (on reader threads for many) and imports each
   * actor once none of its files waits in a later batch. Returns the number of batches.
   */
  async readAndImport(early: SourceReadPool | null): Promise<number> {
    const { ctx, options } = this;
    const batches = readBatches(this.found.all, this.pending);
    const threaded = options.readerThreads !== undefined ? options.readerThreads > 0 : this.changed.length >= threadedImportThreshold;
    if (early && !threaded) await early.close();
    const pool = threaded ? (early ?? new SourceReadPool(options.readerThreads)) : null;
    try {
      // All batches are queued at once: the threads read ahead while this thread writes.
      const inFlight = pool ? batches.map((units) => pool.read(units, ctx.config.s3)) : [];
      for (const [i, units] of batches.entries()) {
        // Read here, only the changed files are read now; an actor's unchanged ones are read when it is merged.
        const unitResults: UnitResult[] = pool
          ? await inFlight[i]!
          : units.map((files) => ({
              results: files.filter((file) => this.pending.has(file.path)).map((file) => readSourceFile(file, ctx.config.s3)),
            }));
        for (const unit of unitResults) {
          this.takeResults(unit.results);
          if (unit.prepared) this.takePrepared(unit as UnitResult & { prepared: PreparedActor });
        }
        if (this.batch.length >= actorsPerTransaction) await this.flush();
        options.onProgress?.(i, batches.length + 1);
        for (const name of [...this.waiting]) {
          // Ready once none of its files waits in a later batch (actors without a manifest wait for all: see finish).
          const files = this.actorFilesOf(name);
          if (files.some((file) => this.pending.has(file.path))) continue;
          if (!files.some((file) => file.format === "format_a" || file.format === "format_b")) continue;
          await this.importActor(name);
        }
      }
    } finally {
      await pool?.close();
    }
    return batches.length;
  }

  /**
   * Imports the actors still waiting, and folders new to SQLite (with or without a manifest
   * of their own), once every format A file is read and unreadable ones are known; then
   * records the problems of the files no actor took.
   */
  async finish(batchCount: number): Promise<ImportReport> {
    const { db } = this.ctx;
    const { report } = this;
    for (const name of this.found.folders.keys()) {
      if (this.actorIdByName.has(name) || this.affected.has(name)) continue;
      this.affected.add(name);
      this.waiting.add(name);
    }
    for (const name of [...this.waiting].sort()) await this.importActor(name);
    await this.flush();
    report.actorsImported = this.imagesOf.size;
    report.imagesImported = [...this.imagesOf.values()].reduce((sum, count) => sum + count, 0);
    this.options.onProgress?.(batchCount + 1, batchCount + 1);

    const troubled = [...this.read.values()].filter((result) => result.problems.length > 0);
    recordProblemSources(
      db,
      null,
      troubled.filter((result) => !this.attached.has(result.found.path)).map((result) => result.record),
    );
    forgetGoneProblemSources(
      db,
      this.found.all.map((file) => file.path),
    );
    report.problems.push(...troubled.flatMap((result) => result.problems));
    report.actorsUnchanged = [...this.actorIdByName.keys()].filter((name) => !this.affected.has(name)).length;
    return report;
  }

  private addFormatA(name: string, file: FoundFile): void {
    const files = this.formatAByName.get(name) ?? [];
    if (!files.some((other) => other.path === file.path))
      this.formatAByName.set(
        name,
        [...files, file].sort((a, b) => a.path.localeCompare(b.path)),
      );
  }

  private folderOfFormatA(file: FoundFile): string | undefined {
    const folders = this.foldersByCharacterId.get(basename(file.path).replace(/_manifest\.json$/, ""));
    return folders?.length === 1 ? folders[0] : undefined;
  }

  private actorFilesOf(name: string): FoundFile[] {
    return [...(this.formatAByName.get(name) ?? []), ...(this.found.folders.get(name) ?? [])];
  }

  private readInline(file: FoundFile): ReadFile {
    let result = this.read.get(file.path);
    // A file a reader thread merged comes back without its contribution: read again to merge it anew.
    if (!result || (result.readable && !result.contribution)) {
      result = readSourceFile(file, this.ctx.config.s3);
      this.read.set(file.path, result);
      this.report.filesRead += 1;
    }
    return result;
  }

  private async flush(): Promise<void> {
    if (this.batch.length === 0) return;
    writeImportedActors(this.ctx.db, this.batch, (name) => actorPrefix(this.ctx.config.s3, name));
    this.batch.length = 0;
    await yieldToEventLoop();
  }

  private async importActor(name: string): Promise<void> {
    const { ctx } = this;
    this.waiting.delete(name);
    const results = withClaimConflicts(
      ctx,
      name,
      this.actorFilesOf(name).map((file) => this.readInline(file)),
    );
    for (const result of results) this.read.set(result.found.path, result);
    const known = this.actorIdByName.get(name);
    if (known !== undefined && results.some((result) => !result.readable)) {
      // What SQLite knows is more than the readable files say: kept until the file is fixed or rebuilt.
      const troubled = results.filter((result) => result.problems.length > 0);
      recordProblemSources(
        ctx.db,
        known,
        troubled.map((result) => result.record),
      );
      for (const result of troubled) this.attached.add(result.found.path);
      return;
    }
    const contributions = results.filter((result) => result.readable).map((result) => result.contribution!);
    if (!contributions.some((source) => source.format === "format_a" || source.format === "format_b")) {
      if (!this.found.folders.has(name)) return;
      contributions.push(folderContribution(ctx, name));
    }
    const prepared = prepareActor(mergeSources(name, contributions));
    this.batch.push({ prepared, files: results.map((result) => result.record), isNew: known === undefined });
    for (const result of results) this.attached.add(result.found.path);
    this.imagesOf.set(name, prepared.imageCount);
    if (this.batch.length >= actorsPerTransaction) await this.flush();
  }

  private takeResults(results: ReadFile[]): void {
    for (const result of results) {
      const file = result.found;
      this.read.set(file.path, result);
      this.pending.delete(file.path);
      this.report.filesRead += 1;
      const row = this.known.get(file.path);
      const named = result.contribution?.actorName ?? result.actorName;
      const name =
        named ??
        file.folderName ??
        (row?.actorId ? this.nameByActorId.get(row.actorId) : undefined) ??
        (file.format === "format_a" ? this.folderOfFormatA(file) : undefined);
      if (file.format === "format_a" && name) this.addFormatA(name, file);
      if (!name) continue;
      // An actor imported already in this run gets a file it lacked: it is merged again.
      this.affected.add(name);
      this.waiting.add(name);
    }
  }

  /** An actor a reader thread merged: written as it is, if the unit held every file the actor has. */
  private takePrepared(unit: UnitResult & { prepared: PreparedActor }): void {
    const name = unit.prepared.actor.name;
    const inUnit = new Set(unit.results.map((result) => result.found.path));
    if (!this.actorFilesOf(name).every((file) => inUnit.has(file.path))) {
      // Merged from too few files: forget these reads (they carry no contributions) so the actor is read again here.
      for (const path of inUnit) this.read.delete(path);
      return;
    }
    this.batch.push({ prepared: unit.prepared, files: unit.results.map((result) => result.record), isNew: !this.actorIdByName.has(name) });
    for (const result of unit.results) this.attached.add(result.found.path);
    this.imagesOf.set(name, unit.prepared.imageCount);
    this.waiting.delete(name);
  }
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
    file.folderName === null
      ? basename(file.path).replace(/_manifest\.json$/, "")
      : (parseActorName(file.folderName).characterId ?? file.folderName);
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
