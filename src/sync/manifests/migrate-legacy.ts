import { lstatSync } from "node:fs";
import { rename } from "node:fs/promises";
import { dirname } from "node:path";
import type { AppContext } from "../../context.ts";
import { failIntent, recordIntent, settleIntents } from "../../db/intents.ts";
import { allActors } from "../../db/actor-queries.ts";
import { actorImages } from "../../db/image-queries.ts";
import type { ActorRow } from "../../db/schema.ts";
import { forgetResponseSource, formatAPathRecorded } from "../../db/source-records.ts";
import { exportManifests } from "./export.ts";
import { isObject } from "./formats/format-a.ts";
import { parseJsonText } from "./formats/json-text.ts";
import { parseLegacyResponse } from "./formats/legacy-response.ts";
import { importManifests } from "./import.ts";
import { assertPlaceable, assertRealFolder, readRegularFileSync } from "../files/safe-files.ts";
import { ActorLocks } from "../operations/write-through.ts";

export interface MigrateLegacyOptions {
  /** Actor row ids; omitted means every actor with a response.json. */
  actorIds?: number[];
  dryRun?: boolean;
  locks?: ActorLocks;
}

export interface ActorMigration {
  name: string;
  responsePath: string;
  /** Images response.json lists that the format A manifest did not (before migrating). */
  added: string[];
  /** Every image response.json lists. */
  listed: string[];
  /** Where response.json went; null on a dry run or a failure. */
  backupPath: string | null;
  manifestsWritten: string[];
  error?: string;
}

export interface MigrateLegacyReport {
  dryRun: boolean;
  actors: ActorMigration[];
  failed: number;
}

/**
 * Migrates legacy response.json files (SPEC.md §7): the importer already merges their
 * images, so this makes sure they are in SQLite (import), writes the manifests (format A
 * then lists them), checks format A does, and only then moves response.json aside to
 * `response.json.bak-<time>` (which the importer never reads). A dry run lists what the
 * manifests would gain and changes nothing.
 */
export async function migrateLegacy(ctx: AppContext, options: MigrateLegacyOptions = {}): Promise<MigrateLegacyReport> {
  const selected = allActors(ctx.db)
    .filter((a) => !options.actorIds || options.actorIds.includes(a.id))
    .filter((actor) => lstatSync(ctx.layout.responsePath(actor.name), { throwIfNoEntry: false }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const report: MigrateLegacyReport = { dryRun: options.dryRun ?? false, actors: [], failed: 0 };
  if (selected.length === 0) return report;

  const imported = options.dryRun ? null : await importManifests(ctx);
  const locks = options.locks ?? new ActorLocks(ctx.db);
  for (const actor of selected) {
    const responsePath = ctx.layout.responsePath(actor.name);
    const migration: ActorMigration = { name: actor.name, responsePath, added: [], listed: [], backupPath: null, manifestsWritten: [] };
    report.actors.push(migration);
    try {
      migration.listed = listedInResponse(ctx, actor, responsePath);
      const inFormatA = listedInFormatA(ctx, actor);
      migration.added = migration.listed.filter((filename) => !inFormatA.has(filename));
      if (options.dryRun) continue;
      const problem = imported?.problems.find((p) => p.file === responsePath || p.file === formatAPathOf(ctx, actor));
      if (problem) throw new Error(`${problem.file} ${problem.jsonPath}: ${problem.reason}`);
      await locks.run(actor.id, () => migrateOne(ctx, actor, migration));
    } catch (error) {
      migration.error = error instanceof Error ? error.message : String(error);
      report.failed += 1;
    }
  }
  return report;
}

async function migrateOne(ctx: AppContext, actor: ActorRow, migration: ActorMigration): Promise<void> {
  const rows = new Set(actorImages(ctx.db, actor.id).map((r) => r.filename));
  const notImported = migration.listed.filter((filename) => !rows.has(filename));
  if (notImported.length > 0) throw new Error(`not imported into SQLite: ${notImported.join(", ")}; response.json kept`);

  const intentId = recordIntent(ctx.db, actor.id, "response.json", "migrate", {
    responsePath: migration.responsePath,
    listed: migration.listed,
  });
  try {
    const exported = await exportManifests(ctx, { actorIds: [actor.id], force: true });
    if (exported.problems.length > 0) throw new Error(exported.problems.map((p) => p.reason).join("; "));
    migration.manifestsWritten = exported.filesWritten;
    const inFormatA = listedInFormatA(ctx, actor);
    const missing = migration.listed.filter((filename) => !inFormatA.has(filename));
    if (missing.length > 0) throw new Error(`format A does not list ${missing.join(", ")}; response.json kept`);

    const backupPath = `${migration.responsePath}.bak-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    assertPlaceable(ctx.layout.root, backupPath);
    await rename(migration.responsePath, backupPath);
    // The importer no longer finds response.json: forget it, so no stale record points at it.
    forgetResponseSource(ctx.db, migration.responsePath);
    migration.backupPath = backupPath;
    settleIntents(ctx.db, [intentId]);
  } catch (error) {
    failIntent(ctx.db, intentId, error instanceof Error ? error.message : String(error));
    throw error;
  }
}

function listedInResponse(ctx: AppContext, actor: ActorRow, path: string): string[] {
  const value = readJsonFile(ctx, path);
  const contribution = parseLegacyResponse(value, path, actor.name, ctx.config.s3);
  return contribution.images.map((image) => image.filename).sort();
}

function formatAPathOf(ctx: AppContext, actor: ActorRow): string {
  return formatAPathRecorded(ctx.db, actor.id) ?? ctx.layout.formatAPath(actor.characterId ?? actor.name);
}

/** Filenames the actor's format A manifest on disk lists (none when it has no manifest yet). */
function listedInFormatA(ctx: AppContext, actor: ActorRow): Set<string> {
  const path = formatAPathOf(ctx, actor);
  if (!lstatSync(path, { throwIfNoEntry: false })) return new Set();
  const doc = readJsonFile(ctx, path);
  const entries = isObject(doc) && Array.isArray(doc.training_data) ? doc.training_data : [];
  return new Set(entries.flatMap((entry) => (isObject(entry) && typeof entry.filename === "string" ? [entry.filename] : [])));
}

/** A JSON file of the data directory, never read through a link; an error names the file, never quotes it. */
function readJsonFile(ctx: AppContext, path: string): unknown {
  assertRealFolder(ctx.layout.root, dirname(path));
  return parseJsonText(readRegularFileSync(path).toString("utf8"), path);
}
