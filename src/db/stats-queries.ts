import { actorColumns, actorWhere, type ActorFilter } from "./actor-queries.ts";
import { imageWhere, type ImageFilter } from "./image-queries.ts";
import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { actors, generations, generationTypeTotals, images, statsTotals, type ActorRow, type figureColumns } from "./schema.ts";
import { readAggregates, whenRead } from "./aggregate-reads.ts";
import { imagesByRating, imagesByStatus } from "./statistics.ts";
import { cachedUntilWrite } from "./cached-until-write.ts";
import { andAll, cachedStatement, columnTexts, sqlText, type SqlFragment } from "./statements.ts";
import type { Db } from "./store.ts";

/** The columns of `actors a`, `images i`, `generations g` and `stats_totals`, as SQL text. */
const a = columnTexts(alias(actors, "a"));
const i = columnTexts(alias(images, "i"));
const g = columnTexts(alias(generations, "g"));
const totals = columnTexts(statsTotals);

/** Which images figures are about: those of the actors `actors` picks, and of them those `images` picks. */
export interface StatsScope {
  actors?: ActorFilter;
  images?: ImageFilter;
}

/** Where an image is and how it is rated: each has a count and bytes in every set of figures. */
const statusParts = imagesByStatus(alias(images, "i"));
const ratingParts = imagesByRating(alias(images, "i"));

export type StatusPart = keyof typeof statusParts;
export type RatingPart = keyof typeof ratingParts;
type PartFigures = { [K in StatusPart | RatingPart as `${K}Count` | `${K}Bytes`]: number };

/** Counts and bytes of a set of images, in total, by status and by rating. */
export interface ImageFigures extends PartFigures {
  imageCount: number;
  totalSizeBytes: number;
}

/** Figures of one group (or of everything in scope, `key` null); `actorCount` counts actors with an image in it, or every picked actor when read from the statistics columns. */
export interface GroupFigures extends ImageFigures {
  key: string | null;
  actorCount: number;
}

export type StatsGrouping = "descriptor" | "gender" | "ageBand" | "actor" | "generationType";

// Ten-year bands ("30-39") read better than single ages across a few hundred actors.
const groupKeys: Record<StatsGrouping, string> = {
  descriptor: a.descriptor,
  gender: a.gender,
  ageBand: `CASE WHEN ${a.age} IS NULL THEN NULL ELSE (${a.age} / 10 * 10) || '-' || (${a.age} / 10 * 10 + 9) END`,
  actor: a.name,
  generationType: g.type,
};

/** Each part's name and, as SQL text over `images i`, which images it counts. */
const parts = Object.entries({ ...statusParts, ...ratingParts }).map(
  ([name, counted]) => [name as StatusPart | RatingPart, sqlText(counted)] as const,
);

/**
 * The figures as statistics columns hold them (those of `actors`, or of `stats_totals`, which
 * sums them), each column passed through `read`, under the names of `ImageFigures`.
 */
function figuresOfColumns(columns: Record<keyof ReturnType<typeof figureColumns>, string>, read: (column: string) => string): string {
  return [
    `${read(columns.totalCount)} AS imageCount`,
    `${read(columns.totalSizeBytes)} AS totalSizeBytes`,
    ...parts.flatMap(([name]) => [
      `${read(columns[`${name}Count` as const])} AS ${name}Count`,
      `${read(columns[`${name}Bytes` as const])} AS ${name}Bytes`,
    ]),
  ].join(", ");
}

/** From the per-actor statistics columns: reads the actors table only. */
const fromActorColumns = `count(*) AS actorCount, ${figuresOfColumns(a, (column) => `total(${column})`)}`;

/** From the image rows: needed when images are picked one by one, or grouped by what only rows know. */
const fromImageRows = [
  `count(DISTINCT ${i.actorId}) AS actorCount`,
  "count(*) AS imageCount",
  `total(${i.sizeBytes}) AS totalSizeBytes`,
  ...parts.flatMap(([name, condition]) => [
    `total(CASE WHEN ${condition} THEN 1 END) AS ${name}Count`,
    `total(CASE WHEN ${condition} THEN ${i.sizeBytes} END) AS ${name}Bytes`,
  ]),
].join(", ");

/** Whether figures of this scope and grouping must read image rows (a scan of the images table). */
export function figuresScanImages(scope: StatsScope, grouping?: StatsGrouping): boolean {
  return grouping === "generationType" || (scope.images !== undefined && Object.keys(scope.images).length > 0);
}

/**
 * Figures per group, most images first (or, `grouping` left out, one row for everything in
 * scope); `limit` keeps the largest groups (by bytes). All actors, overall or by descriptor,
 * gender or age band, read the kept totals; other figures from the actors table are a pass
 * over it, and figures from image rows a pass on the aggregate reader; both cached until the next write.
 */
export function groupFigures(
  db: Db,
  scope: StatsScope,
  grouping?: StatsGrouping,
  limit?: number,
): GroupFigures[] | Promise<GroupFigures[]> {
  if (isEmpty(scope.actors) && isEmpty(scope.images) && grouping !== "actor" && grouping !== "generationType")
    return keptFigures(db, grouping ?? "all");
  return cachedUntilWrite(db, `figures:${grouping ?? ""}:${limit ?? ""}:${JSON.stringify(scope)}`, () => {
    if (!figuresScanImages(scope, grouping)) return computeFigures(db, scope, grouping, limit);
    return readAggregates(db, [figuresSql(scope, grouping, limit)]).then(([rows]) => rows as GroupFigures[]);
  });
}

const isEmpty = (filter: object | undefined) => filter === undefined || Object.keys(filter).length === 0;

/** `stats_totals` rows of a grouping as figures: the same columns as the statistics columns of `actors`. */
const keptFiguresText = `SELECT CASE WHEN ${totals.keyIsNull} THEN NULL ELSE ${totals.key} END AS key, ${totals.actorCount} AS actorCount,
    ${figuresOfColumns(totals, (column) => column)}
  FROM stats_totals WHERE ${totals.grouping} = ? AND ${totals.actorCount} > 0 ORDER BY imageCount DESC, key`;

/**
 * Figures of all actors, overall or per descriptor / gender / age band, from the totals that
 * triggers on `actors` keep (migration 0009): a few rows, so no cache and nothing to recompute
 * after a write. Equal to `computeFigures` over all actors (test/schema/stats-totals.test.ts).
 */
function keptFigures(db: Db, grouping: "all" | "descriptor" | "gender" | "ageBand"): GroupFigures[] {
  return cachedStatement(db, keptFiguresText).all(grouping) as GroupFigures[];
}

/** Figures by a pass over the actors (or image) rows, on this connection: the reference the kept totals are tested against. */
export function computeFigures(db: Db, scope: StatsScope, grouping: StatsGrouping | undefined, limit: number | undefined): GroupFigures[] {
  const { sql, params } = figuresSql(scope, grouping, limit);
  return cachedStatement(db, sql).all(...params) as GroupFigures[];
}

function figuresSql(scope: StatsScope, grouping: StatsGrouping | undefined, limit: number | undefined): SqlFragment {
  const key = grouping ? groupKeys[grouping] : "NULL";
  const order = limit !== undefined ? "ORDER BY totalSizeBytes DESC, key LIMIT ?" : "ORDER BY imageCount DESC, key";
  const tail = limit !== undefined ? [limit] : [];
  if (!figuresScanImages(scope, grouping)) {
    const where = actorWhere(scope.actors);
    return {
      sql: `SELECT ${key} AS key, ${fromActorColumns} FROM actors a WHERE ${where.sql} GROUP BY 1 ${order}`,
      params: [...where.params, ...tail],
    };
  }
  const where = andAll([actorWhere(scope.actors), imageWhere(scope.images)]);
  return {
    sql: `SELECT ${key} AS key, ${fromImageRows}
      FROM images i JOIN actors a ON ${a.id} = ${i.actorId} LEFT JOIN generations g ON ${g.id} = ${i.generationId}
      WHERE ${where.sql} GROUP BY 1 ${order}`,
    params: [...where.params, ...tail],
  };
}

/** Everything in scope as one set of figures (zeros when nothing is). */
export function totalFigures(db: Db, scope: StatsScope): GroupFigures | Promise<GroupFigures> {
  return whenRead(groupFigures(db, scope), firstOrNothing);
}

const firstOrNothing = ([row]: GroupFigures[]): GroupFigures => row ?? { ...emptyFigures(), key: null, actorCount: 0 };

function emptyFigures(): ImageFigures {
  const figures: Record<string, number> = { imageCount: 0, totalSizeBytes: 0 };
  for (const [name] of parts) figures[`${name}Count`] = figures[`${name}Bytes`] = 0;
  return figures as unknown as ImageFigures;
}

const fullySyncedText = sqlText(sql`SELECT ${statsTotals.fullySyncedCount} AS n FROM ${statsTotals} WHERE ${statsTotals.grouping} = 'all'`);

/** Actors with at least one image and every image synced. */
export function fullySyncedActorCount(db: Db, filter: ActorFilter | undefined): number {
  if (isEmpty(filter)) {
    const row = cachedStatement(db, fullySyncedText).get() as { n: number } | undefined;
    return row?.n ?? 0;
  }
  return computeFullySyncedActorCount(db, filter);
}

/** The same by a pass over the actors. */
export function computeFullySyncedActorCount(db: Db, filter: ActorFilter | undefined): number {
  return cachedUntilWrite(db, `fullySynced:${JSON.stringify(filter ?? {})}`, () => {
    const where = actorWhere(filter);
    const sql = `SELECT count(*) AS n FROM actors a WHERE (${where.sql}) AND ${a.totalCount} > 0 AND ${a.syncedCount} = ${a.totalCount}`;
    return (cachedStatement(db, sql).get(...where.params) as { n: number }).n;
  });
}

export interface GenerationTypeRow {
  key: string;
  actorCount: number;
  generationCount: number;
  imageCount: number;
  totalSizeBytes: number;
}

const t = generationTypeTotals;
const keptGenerationTypesText = sqlText(sql`SELECT ${t.type} AS key, ${t.actorCount} AS actorCount, ${t.generationCount} AS generationCount,
    ${t.imageRows} AS imageCount, ${t.imageBytes} AS totalSizeBytes
  FROM ${t} WHERE ${t.generationCount} > 0 ORDER BY imageCount DESC, key`);

/** Generations and their images per type, from the per-generation statistics (no image scan). */
export function generationTypes(db: Db, filter: ActorFilter | undefined): GenerationTypeRow[] {
  if (isEmpty(filter)) {
    return cachedStatement(db, keptGenerationTypesText).all() as GenerationTypeRow[];
  }
  return computeGenerationTypes(db, filter);
}

/** Generation types by a pass over the generations (filtered, or as the reference for the kept totals). */
export function computeGenerationTypes(db: Db, filter: ActorFilter | undefined): GenerationTypeRow[] {
  return cachedUntilWrite(db, `generationTypes:${JSON.stringify(filter ?? {})}`, () => {
    const scope = actorScope(filter, g.actorId);
    return cachedStatement(
      db,
      `SELECT ${g.type} AS key, count(DISTINCT ${g.actorId}) AS actorCount, count(*) AS generationCount,
         total(${g.imageRows}) AS imageCount, total(${g.imageBytes}) AS totalSizeBytes
       FROM generations g WHERE ${scope.sql} GROUP BY ${g.type} ORDER BY imageCount DESC, key`,
    ).all(...scope.params) as GenerationTypeRow[];
  });
}

function actorScope(filter: ActorFilter | undefined, column: string): SqlFragment {
  if (!filter) return { sql: "1", params: [] };
  const where = actorWhere(filter);
  return { sql: `${column} IN (SELECT ${a.id} FROM actors a WHERE ${where.sql})`, params: where.params };
}

/** Actors with fewer than `threshold` good images: fewest first, then by name. */
export function actorsBelowGoodCount(
  db: Db,
  filter: ActorFilter | undefined,
  threshold: number,
  limit: number,
): { count: number; actors: ActorRow[] } {
  return cachedUntilWrite(db, `below:${threshold}:${limit}:${JSON.stringify(filter ?? {})}`, () => {
    const where = actorWhere(filter);
    const count = (
      cachedStatement(db, `SELECT count(*) AS n FROM actors a WHERE (${where.sql}) AND ${a.goodCount} < ?`).get(
        ...where.params,
        threshold,
      ) as {
        n: number;
      }
    ).n;
    const actors = cachedStatement(
      db,
      `SELECT ${actorColumns} FROM actors a WHERE (${where.sql}) AND ${a.goodCount} < ? ORDER BY ${a.goodCount}, ${a.name} LIMIT ?`,
    ).all(...where.params, threshold, limit) as ActorRow[];
    return { count, actors };
  });
}

/** Images sharing one MD5 (exact duplicates): how many, across how many actors, and their bytes. */
export interface DuplicateGroupRow {
  md5: string;
  imageCount: number;
  actorCount: number;
  totalSizeBytes: number;
}

export interface DuplicateSummary {
  groupCount: number;
  imageCount: number;
  /** Bytes beyond the first copy of each group: what removing the duplicates would free. */
  redundantBytes: number;
  withinActorGroupCount: number;
  acrossActorsGroupCount: number;
}

function duplicateGroupsSql(scope: StatsScope): SqlFragment {
  const where = andAll([actorWhere(scope.actors), imageWhere(scope.images)]);
  return {
    sql: `SELECT ${i.md5} AS md5, count(*) AS imageCount, count(DISTINCT ${i.actorId}) AS actorCount, total(${i.sizeBytes}) AS totalSizeBytes,
        total(${i.sizeBytes}) - max(coalesce(${i.sizeBytes}, 0)) AS redundantBytes
      FROM images i JOIN actors a ON ${a.id} = ${i.actorId}
      WHERE ${i.md5} IS NOT NULL AND (${where.sql}) GROUP BY ${i.md5} HAVING count(*) > 1`,
    params: where.params,
  };
}

/** Exact duplicates among the images in scope: a pass over the images table on the aggregate reader, cached until the next write. */
export function duplicateSummary(db: Db, scope: StatsScope): Promise<DuplicateSummary> {
  return cachedUntilWrite(db, `duplicates:${JSON.stringify(scope)}`, async () => {
    const groups = duplicateGroupsSql(scope);
    const [rows] = await readAggregates(db, [
      {
        sql: `SELECT count(*) AS groupCount, total(imageCount) AS imageCount, total(redundantBytes) AS redundantBytes,
           total(actorCount = 1) AS withinActorGroupCount, total(actorCount > 1) AS acrossActorsGroupCount
         FROM (${groups.sql})`,
        params: groups.params,
      },
    ]);
    return rows![0] as DuplicateSummary;
  });
}

/** One page of duplicate groups, most copies first, then by MD5; `afterMd5` continues a listing in that order. */
export function duplicateGroups(
  db: Db,
  scope: StatsScope,
  options: { acrossActors?: boolean; first: number; after?: { imageCount: number; md5: string } },
): Promise<{ rows: DuplicateGroupRow[]; hasNextPage: boolean; count: number }> {
  return cachedUntilWrite(db, `duplicateGroups:${JSON.stringify([scope, options])}`, async () => {
    const groups = duplicateGroupsSql(scope);
    const across = options.acrossActors === undefined ? "1" : options.acrossActors ? "actorCount > 1" : "actorCount = 1";
    const keyset = options.after ? "AND (imageCount < ? OR (imageCount = ? AND md5 > ?))" : "";
    const keysetParams = options.after ? [options.after.imageCount, options.after.imageCount, options.after.md5] : [];
    const [page, counted] = await readAggregates(db, [
      {
        sql: `SELECT md5, imageCount, actorCount, totalSizeBytes FROM (${groups.sql}) WHERE ${across} ${keyset} ORDER BY imageCount DESC, md5 LIMIT ?`,
        params: [...groups.params, ...keysetParams, options.first + 1],
      },
      { sql: `SELECT count(*) AS n FROM (${groups.sql}) WHERE ${across}`, params: groups.params },
    ]);
    const rows = page as DuplicateGroupRow[];
    return { rows: rows.slice(0, options.first), hasNextPage: rows.length > options.first, count: (counted![0] as { n: number }).n };
  });
}
