import { actorWhere, BadFilterError, validateActorFilter, type ActorFilter } from "./actor-queries.ts";
import { alias } from "drizzle-orm/sqlite-core";
import { eq, sql } from "drizzle-orm";
import { actors, generations, images, statsTotals, type GenerationRow, type ImageRow, type SyncStatus } from "./schema.ts";
import { readAggregates } from "./aggregate-reads.ts";
import { cachedUntilWrite } from "./cached-until-write.ts";
import { type Comparison, comparisonWhere, validateComparison } from "./comparisons.ts";
import { scanInWindows } from "./scan-windows.ts";
import {
  allRows,
  andAll,
  cachedStatement,
  columnTexts,
  columnsAs,
  sqlText,
  containsPattern,
  jsonList,
  type SqlFragment,
} from "./statements.ts";
import type { Db } from "./store.ts";

/** The columns of `images i` (and of the other tables' usual aliases), as SQL text. */
const i = columnTexts(alias(images, "i"));
const d = columnTexts(alias(images, "d"));
const a = columnTexts(alias(actors, "a"));
const g = columnTexts(alias(generations, "g"));
const c = columnTexts(alias(actors, "c"));

/**
 * When an image was last checked: its row's own time, or its actor's last check when that is
 * later. A scan or an audit covers every row its actor has, and an audit that finds the actor
 * unchanged confirms them by the actor's time alone (audit-writes.ts): rewriting 2,000 wide rows
 * was most of a warm audit. A row that was never checked (own time null) stays null, and a row an
 * operation wrote since keeps its own later time.
 */
const imageCheckedAt = `max(${i.checkedAt}, coalesce((SELECT ${c.lastCheckedAt} FROM actors c WHERE ${c.id} = ${i.actorId}), ''))`;

/** Every column of `images i` under its property name, the check time as `imageCheckedAt` tells it. */
export const imageColumns = columnsAs(images, "i", { checkedAt: imageCheckedAt });

/** Raw rows carry SQLite integers for booleans; the drizzle row type has booleans. */
function toImageRow(raw: Record<string, unknown>): ImageRow {
  const row = raw as unknown as ImageRow;
  row.good = raw.good === null ? null : raw.good === 1;
  row.orphan = raw.orphan === 1;
  return row;
}

export type Rating = "good" | "bad" | "unrated";

/** Which images a query is about; every given criterion must hold. */
export interface ImageFilter {
  status?: readonly SyncStatus[];
  /** true: status known; false: never checked (status null). */
  checked?: boolean;
  rating?: readonly Rating[];
  filenames?: readonly string[];
  filenameContains?: string;
  generationTypes?: readonly string[];
  promptContains?: string;
  sizeBytes?: Comparison;
  orphan?: boolean;
  checkedAt?: Comparison<string>;
  /** true: another image (of any actor) has the same MD5; false: none has. */
  duplicate?: boolean;
}

export function validateImageFilter(filter: ImageFilter, path = "filter"): void {
  for (const key of ["status", "rating", "filenames", "generationTypes"] as const) {
    if (filter[key]?.length === 0) throw new BadFilterError(`${path}.${key}`, "an empty list matches nothing; leave it out instead");
  }
  validateComparison(`${path}.sizeBytes`, filter.sizeBytes);
  validateComparison(`${path}.checkedAt`, filter.checkedAt);
}

const ratingSql: Record<Rating, string> = { good: `${i.good} = 1`, bad: `${i.good} = 0`, unrated: `${i.good} IS NULL` };

/**
 * `repeatedMd5s`: the MD5s more than one image has, as a JSON list, for a read that scans in
 * windows (each window would otherwise group the whole table again); without it, a subquery.
 */
export function imageWhere(filter: ImageFilter | undefined, repeatedMd5s?: string): SqlFragment {
  if (!filter) return { sql: "1", params: [] };
  const parts: SqlFragment[] = [];
  if (filter.status) parts.push({ sql: `${i.status} IN (SELECT value FROM json_each(?))`, params: [jsonList(filter.status)] });
  if (filter.checked !== undefined) parts.push({ sql: `${i.status} IS ${filter.checked ? "NOT " : ""}NULL`, params: [] });
  if (filter.rating) parts.push({ sql: filter.rating.map((r) => ratingSql[r]).join(" OR "), params: [] });
  if (filter.filenames) parts.push({ sql: `${i.filename} IN (SELECT value FROM json_each(?))`, params: [jsonList(filter.filenames)] });
  if (filter.filenameContains !== undefined)
    parts.push({ sql: `${i.filename} LIKE ? ESCAPE '\\'`, params: [containsPattern(filter.filenameContains)] });
  if (filter.generationTypes)
    parts.push({
      sql: `${i.generationId} IN (SELECT ${g.id} FROM generations g WHERE ${g.type} IN (SELECT value FROM json_each(?)))`,
      params: [jsonList(filter.generationTypes)],
    });
  if (filter.promptContains !== undefined)
    parts.push({ sql: `${i.prompt} LIKE ? ESCAPE '\\'`, params: [containsPattern(filter.promptContains)] });
  parts.push(...comparisonWhere(i.sizeBytes, filter.sizeBytes));
  if (filter.orphan !== undefined) parts.push({ sql: `${i.orphan} = ?`, params: [filter.orphan ? 1 : 0] });
  parts.push(...comparisonWhere(imageCheckedAt, filter.checkedAt));
  if (filter.duplicate !== undefined) {
    const repeated =
      repeatedMd5s !== undefined
        ? { sql: "SELECT value FROM json_each(?)", params: [repeatedMd5s] }
        : // Not correlated: SQLite builds the set of repeated MD5s once for the whole statement.
          { sql: `SELECT ${d.md5} FROM images d WHERE ${d.md5} IS NOT NULL GROUP BY ${d.md5} HAVING count(*) > 1`, params: [] };
    parts.push({ sql: `${filter.duplicate ? "" : "NOT "}coalesce(${i.md5} IN (${repeated.sql}), 0)`, params: repeated.params });
  }
  return andAll(parts);
}

/** Images of one actor sort by their `{index}` (filenames without one last), then filename. */
const actorImageOrder = `coalesce(${i.index}, 2147483647)`;

export interface ActorImagePosition {
  index: number;
  filename: string;
}

export type ImageRowWithPosition = ImageRow & { sortIndex: number };

export interface ImagePage<Row> {
  rows: Row[];
  hasNextPage: boolean;
}

/**
 * Batch function: one page of training images for each actor id, in key order, in one
 * statement (a window function numbers each actor's rows).
 */
export function imagePagesByActorIds(
  db: Db,
  actorIds: readonly number[],
  filter: ImageFilter | undefined,
  first: number,
  after?: ActorImagePosition,
): ImagePage<ImageRowWithPosition>[] {
  const where = imageWhere(filter);
  const keyset = after ? `AND (${actorImageOrder}, ${i.filename}) > (?, ?)` : "";
  const sql = `SELECT * FROM (
      SELECT ${imageColumns}, ${actorImageOrder} AS sortIndex,
        row_number() OVER (PARTITION BY ${i.actorId} ORDER BY ${actorImageOrder}, ${i.filename}) AS rowNumber
      FROM images i
      WHERE ${i.actorId} IN (SELECT value FROM json_each(?)) AND (${where.sql}) ${keyset})
    WHERE rowNumber <= ? ORDER BY actorId, rowNumber`;
  const params = [jsonList(actorIds), ...where.params, ...(after ? [after.index, after.filename] : []), first + 1];
  const byActor = new Map<number, ImageRowWithPosition[]>();
  // Each row keeps its `rowNumber`: deleting a property would leave the object in V8's slow dictionary mode.
  for (const entry of allRows(db, sql, params)) {
    const row = toImageRow(entry) as ImageRowWithPosition;
    let list = byActor.get(row.actorId);
    if (!list) byActor.set(row.actorId, (list = []));
    list.push(row);
  }
  return actorIds.map((id) => {
    const rows = byActor.get(id) ?? [];
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  });
}

/** Batch function: how many images of each actor match the filter, in key order. */
export function imageCountsByActorIds(db: Db, actorIds: readonly number[], filter: ImageFilter | undefined): number[] {
  const where = imageWhere(filter);
  const sql = `SELECT ${i.actorId} AS actorId, count(*) AS n FROM images i
    WHERE ${i.actorId} IN (SELECT value FROM json_each(?)) AND (${where.sql}) GROUP BY ${i.actorId}`;
  const rows = cachedStatement(db, sql).all(jsonList(actorIds), ...where.params) as { actorId: number; n: number }[];
  const counts = new Map(rows.map((row) => [row.actorId, row.n]));
  return actorIds.map((id) => counts.get(id) ?? 0);
}

/**
 * Most actors a filter may name and still be read through the `actor_id` index, all their
 * rows in one statement. A longer list (variables carry any number of names, at no token
 * cost: 10,000 names with a prompt filter held the service 0.8 s per alias) is a scan,
 * costed like the table and read in windows.
 */
export const maxIndexedActors = 100;

/**
 * Whether reading a selection of images across actors must scan the images table: no index
 * serves an image filter, nor an actor filter that does not name its actors (the
 * `actor_id` index serves named ones, up to `maxIndexedActors`). Query cost and the scan
 * windows both follow this.
 */
export function imageSelectionScans(filter: ImageFilter | undefined, actorFilter: ActorFilter | undefined): boolean {
  const named = (actorFilter?.names?.length ?? 0) + (actorFilter?.characterIds?.length ?? 0);
  if (actorFilter?.name !== undefined || (named > 0 && named <= maxIndexedActors)) return false;
  return hasCriteria(filter) || hasCriteria(actorFilter);
}

function hasCriteria(filter: object | undefined): boolean {
  return filter !== undefined && Object.keys(filter).length > 0;
}

function lastImageId(db: Db): number {
  return (cachedStatement(db, `SELECT coalesce(max(${i.id}), 0) AS id FROM images i`).get() as { id: number }).id;
}

/**
 * Images across actors, in id order (the order they were first recorded), starting after
 * image id `afterId`. A selection that scans reads the table in windows of rowids, taking
 * turns with other requests, until it has the page.
 */
export async function pageImages(
  db: Db,
  filter: ImageFilter | undefined,
  actorFilter: ActorFilter | undefined,
  first: number,
  afterId?: number,
): Promise<ImagePage<ImageRow>> {
  let raw: Record<string, unknown>[];
  if (imageSelectionScans(filter, actorFilter)) {
    const where = scopedImageWhere(filter, actorFilter, await repeatedMd5sFor(db, filter));
    // NOT INDEXED keeps the plan on the rowid range: the actor_id index would read every picked actor's rows per window.
    const statement = cachedStatement(
      db,
      `SELECT ${imageColumns} FROM images i NOT INDEXED WHERE ${i.id} > ? AND ${i.id} <= ? AND (${where.sql}) ORDER BY ${i.id} LIMIT ?`,
    );
    raw = [];
    await scanInWindows(db, afterId ?? 0, lastImageId(db), (from, to) => {
      raw.push(...(statement.all(from, to, ...where.params, first + 1 - raw.length) as Record<string, unknown>[]));
      return raw.length <= first;
    });
  } else {
    const where = scopedImageWhere(filter, actorFilter);
    const keyset = afterId !== undefined ? `AND ${i.id} > ?` : "";
    const sql = `SELECT ${imageColumns} FROM images i WHERE (${where.sql}) ${keyset} ORDER BY ${i.id} LIMIT ?`;
    raw = allRows(db, sql, [...where.params, ...(afterId !== undefined ? [afterId] : []), first + 1]);
  }
  const rows = raw.map(toImageRow);
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

const imageCountText = sqlText(sql`SELECT ${statsTotals.totalCount} AS n FROM ${statsTotals} WHERE ${statsTotals.grouping} = 'all'`);

/** How many images the actors a filter picks hold, from their statistics columns (no image row is read). */
export function imageCountFromStatistics(db: Db, actorFilter: ActorFilter | undefined): number {
  if (actorFilter === undefined || Object.keys(actorFilter).length === 0) {
    const kept = cachedStatement(db, imageCountText).get() as { n: number } | undefined;
    return kept?.n ?? 0;
  }
  const actors = actorWhere(actorFilter);
  return (
    cachedStatement(db, `SELECT total(${a.totalCount}) AS n FROM actors a WHERE ${actors.sql}`).get(...actors.params) as { n: number }
  ).n;
}

/** How many images a selection holds; a selection that scans counts window by window. */
export async function countImages(db: Db, filter: ImageFilter | undefined, actorFilter: ActorFilter | undefined): Promise<number> {
  if (!hasCriteria(filter)) return imageCountFromStatistics(db, actorFilter);
  if (!imageSelectionScans(filter, actorFilter)) {
    const where = scopedImageWhere(filter, actorFilter);
    return (cachedStatement(db, `SELECT count(*) AS n FROM images i WHERE ${where.sql}`).get(...where.params) as { n: number }).n;
  }
  const where = scopedImageWhere(filter, actorFilter, await repeatedMd5sFor(db, filter));
  const statement = cachedStatement(
    db,
    `SELECT count(*) AS n FROM images i NOT INDEXED WHERE ${i.id} > ? AND ${i.id} <= ? AND (${where.sql})`,
  );
  let count = 0;
  await scanInWindows(db, 0, lastImageId(db), (from, to) => {
    count += (statement.get(from, to, ...where.params) as { n: number }).n;
    return true;
  });
  return count;
}

/** The repeated MD5s when the filter asks about duplicates (see `imageWhere`). */
async function repeatedMd5sFor(db: Db, filter: ImageFilter | undefined): Promise<string | undefined> {
  return filter?.duplicate === undefined ? undefined : cachedUntilWrite(db, "repeatedMd5s", () => collectRepeatedMd5s(db));
}

/**
 * The MD5s more than one image has, as a JSON list, gathered window by window (one GROUP BY of
 * half a million rows would hold the event loop for over a second).
 */
async function collectRepeatedMd5s(db: Db): Promise<string> {
  const statement = cachedStatement(
    db,
    `SELECT ${i.md5} FROM images i NOT INDEXED WHERE ${i.id} > ? AND ${i.id} <= ? AND ${i.md5} IS NOT NULL`,
  ).pluck();
  const seen = new Set<string>();
  const repeated = new Set<string>();
  await scanInWindows(db, 0, lastImageId(db), (from, to) => {
    for (const md5 of statement.all(from, to) as string[]) {
      if (seen.has(md5)) repeated.add(md5);
      else seen.add(md5);
    }
    return true;
  });
  return jsonList([...repeated]);
}

/** The image filter, restricted to the actors an actor filter picks. */
export function scopedImageWhere(
  filter: ImageFilter | undefined,
  actorFilter: ActorFilter | undefined,
  repeatedMd5s?: string,
): SqlFragment {
  const parts = [imageWhere(filter, repeatedMd5s)];
  if (actorFilter) {
    validateActorFilter(actorFilter, "actorFilter");
    const actors = actorWhere(actorFilter);
    parts.push({ sql: `${i.actorId} IN (SELECT ${a.id} FROM actors a WHERE ${actors.sql})`, params: actors.params });
  }
  return andAll(parts);
}

/**
 * Images with any of these MD5s among those a scope picks, by actor then filename: the images
 * table has no MD5 index, so this scans it, on the aggregate reader.
 */
export async function imagesByMd5s(
  db: Db,
  md5s: readonly string[],
  filter: ImageFilter | undefined,
  actorFilter: ActorFilter | undefined,
): Promise<ImageRow[]> {
  const where = scopedImageWhere(filter, actorFilter);
  const sql = `SELECT ${imageColumns} FROM images i WHERE ${i.md5} IN (SELECT value FROM json_each(?)) AND (${where.sql}) ORDER BY ${i.actorId}, ${i.filename}`;
  const [rows] = await readAggregates(db, [{ sql, params: [jsonList(md5s), ...where.params] }]);
  return (rows as Record<string, unknown>[]).map(toImageRow);
}

/** One image of an actor by filename (compared case-sensitively). */
export function imageByFilename(db: Db, actorId: number, filename: string): ImageRow | null {
  const raw = cachedStatement(db, `SELECT ${imageColumns} FROM images i WHERE ${i.actorId} = ? AND ${i.filename} = ?`).get(
    actorId,
    filename,
  ) as Record<string, unknown> | undefined;
  return raw ? toImageRow(raw) : null;
}

/** Batch function: each actor's images by filename, in key order. */
export function imagesByActorIds(db: Db, actorIds: readonly number[]): ImageRow[][] {
  const sql = `SELECT ${imageColumns} FROM images i WHERE ${i.actorId} IN (SELECT value FROM json_each(?)) ORDER BY ${i.actorId}, ${i.filename}`;
  const byActor = new Map<number, ImageRow[]>();
  for (const row of allRows(db, sql, [jsonList(actorIds)]).map(toImageRow)) {
    let list = byActor.get(row.actorId);
    if (!list) byActor.set(row.actorId, (list = []));
    list.push(row);
  }
  return actorIds.map((id) => byActor.get(id) ?? []);
}

/** An actor's images by filename: all of them, or those of `filenames` that it has. */
export function actorImages(db: Db, actorId: number, filenames?: readonly string[]): ImageRow[] {
  if (!filenames)
    return allRows(db, `SELECT ${imageColumns} FROM images i WHERE ${i.actorId} = ? ORDER BY ${i.filename}`, [actorId]).map(toImageRow);
  const sql = `SELECT ${imageColumns} FROM images i WHERE ${i.actorId} = ? AND ${i.filename} IN (SELECT value FROM json_each(?)) ORDER BY ${i.filename}`;
  return allRows(db, sql, [actorId, jsonList(filenames)]).map(toImageRow);
}

/** What an actor's rows say of each image's content (a plan checks for uploads another process made meanwhile). */
export function imageContentsOf(db: Db, actorId: number): Pick<ImageRow, "filename" | "status" | "md5" | "s3Md5">[] {
  return db
    .select({ filename: images.filename, status: images.status, md5: images.md5, s3Md5: images.s3Md5 })
    .from(images)
    .where(eq(images.actorId, actorId))
    .all();
}

const generationColumns = columnsAs(generations, "g");

/** Batch function: generations by id, in key order. */
export function generationsByIds(db: Db, ids: readonly number[]): (GenerationRow | null)[] {
  const rows = cachedStatement(db, `SELECT ${generationColumns} FROM generations g WHERE ${g.id} IN (SELECT value FROM json_each(?))`).all(
    jsonList(ids),
  ) as GenerationRow[];
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Batch function: each actor's generations (oldest key first), in key order. */
export function generationsByActorIds(db: Db, actorIds: readonly number[]): GenerationRow[][] {
  const rows = cachedStatement(
    db,
    `SELECT ${generationColumns} FROM generations g WHERE ${g.actorId} IN (SELECT value FROM json_each(?)) ORDER BY ${g.actorId}, ${g.generationKey}`,
  ).all(jsonList(actorIds)) as GenerationRow[];
  const byActor = new Map<number, GenerationRow[]>();
  for (const row of rows) {
    let list = byActor.get(row.actorId);
    if (!list) byActor.set(row.actorId, (list = []));
    list.push(row);
  }
  return actorIds.map((id) => byActor.get(id) ?? []);
}
