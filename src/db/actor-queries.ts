import { type Comparison, comparisonWhere, validateComparison } from "./comparisons.ts";
import { alias } from "drizzle-orm/sqlite-core";
import { actors, generations, statsTotals, type ActorRow, type SyncStatus } from "./schema.ts";
import { sql } from "drizzle-orm";
import { andAll, cachedStatement, columnTexts, columnsAs, sqlText, containsPattern, jsonList, type SqlFragment } from "./statements.ts";
import type { Db } from "./store.ts";

/** Selects an actors row under its drizzle (camelCase) property names. */
export const actorColumns = columnsAs(actors, "a");
/** The columns of `actors a`, as SQL text. */
const a = columnTexts(alias(actors, "a"));
const g = columnTexts(alias(generations, "g"));

const statusCountColumn: Record<SyncStatus, string> = {
  synced: a.syncedCount,
  local_only: a.localOnlyCount,
  s3_only: a.s3OnlyCount,
  out_of_sync: a.outOfSyncCount,
  missing: a.missingCount,
};

/** Which actors a query is about; every given criterion must hold. */
export interface ActorFilter {
  name?: string;
  names?: readonly string[];
  characterIds?: readonly string[];
  nameContains?: string;
  descriptor?: string;
  descriptors?: readonly string[];
  gender?: string;
  genders?: readonly string[];
  /** Bounds on the age, the statistics columns and the last check. */
  age?: Comparison;
  totalCount?: Comparison;
  syncedCount?: Comparison;
  localOnlyCount?: Comparison;
  s3OnlyCount?: Comparison;
  outOfSyncCount?: Comparison;
  missingCount?: Comparison;
  uncheckedCount?: Comparison;
  goodCount?: Comparison;
  badCount?: Comparison;
  unratedCount?: Comparison;
  totalSizeBytes?: Comparison;
  lastCheckedAt?: Comparison<string>;
  /** Actors with at least one image in any of these statuses. */
  withStatus?: readonly SyncStatus[];
  /** true: at least one image never checked; false: every image checked. */
  hasUnchecked?: boolean;
  /** true: every image synced (and at least one image); false: anything else. */
  fullySynced?: boolean;
  /** true: at least one unrated image; false: every image rated. */
  hasUnrated?: boolean;
  /** Actors with at least one generation of any of these types. */
  generationTypes?: readonly string[];
  neverChecked?: boolean;
}

/** The column each comparison of an actor filter bounds. */
const comparedColumns = {
  age: a.age,
  totalCount: a.totalCount,
  syncedCount: a.syncedCount,
  localOnlyCount: a.localOnlyCount,
  s3OnlyCount: a.s3OnlyCount,
  outOfSyncCount: a.outOfSyncCount,
  missingCount: a.missingCount,
  uncheckedCount: a.uncheckedCount,
  goodCount: a.goodCount,
  badCount: a.badCount,
  unratedCount: a.unratedCount,
  totalSizeBytes: a.totalSizeBytes,
  lastCheckedAt: a.lastCheckedAt,
} satisfies Partial<Record<keyof ActorFilter, string>>;
const comparedFields = Object.keys(comparedColumns) as (keyof typeof comparedColumns)[];

/** Raised for a filter that can match nothing for a reason the client should hear about. */
export class BadFilterError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`bad filter ${field}: ${reason}`);
    this.name = "BadFilterError";
  }
}

export function validateActorFilter(filter: ActorFilter, path = "filter"): void {
  for (const key of comparedFields) validateComparison(`${path}.${key}`, filter[key]);
  for (const key of ["names", "characterIds", "descriptors", "genders", "withStatus", "generationTypes"] as const) {
    if (filter[key]?.length === 0) throw new BadFilterError(`${path}.${key}`, "an empty list matches nothing; leave it out instead");
  }
}

/** The WHERE fragment over `actors a` for a filter. */
export function actorWhere(filter: ActorFilter | undefined): SqlFragment {
  if (!filter) return { sql: "1", params: [] };
  const parts: SqlFragment[] = [];
  const inList = (column: string, values: readonly unknown[] | undefined) => {
    if (values) parts.push({ sql: `${column} IN (SELECT value FROM json_each(?))`, params: [jsonList(values)] });
  };
  inList(a.name, filter.names);
  inList(a.characterId, filter.characterIds);
  inList(a.descriptor, filter.descriptors);
  inList(a.gender, filter.genders);
  // One value is a list of one: a single WHERE shape (and statement) for both spellings.
  inList(a.name, filter.name === undefined ? undefined : [filter.name]);
  inList(a.descriptor, filter.descriptor === undefined ? undefined : [filter.descriptor]);
  inList(a.gender, filter.gender === undefined ? undefined : [filter.gender]);
  if (filter.nameContains !== undefined)
    parts.push({ sql: `${a.name} LIKE ? ESCAPE '\\'`, params: [containsPattern(filter.nameContains)] });
  for (const key of comparedFields) parts.push(...comparisonWhere(comparedColumns[key], filter[key]));
  if (filter.withStatus) parts.push({ sql: filter.withStatus.map((s) => `${statusCountColumn[s]} > 0`).join(" OR "), params: [] });
  if (filter.hasUnchecked !== undefined) parts.push({ sql: `${a.uncheckedCount} ${filter.hasUnchecked ? ">" : "="} 0`, params: [] });
  if (filter.fullySynced !== undefined)
    parts.push({ sql: `${filter.fullySynced ? "" : "NOT "}(${a.totalCount} > 0 AND ${a.syncedCount} = ${a.totalCount})`, params: [] });
  if (filter.hasUnrated !== undefined) parts.push({ sql: `${a.unratedCount} ${filter.hasUnrated ? ">" : "="} 0`, params: [] });
  if (filter.generationTypes)
    parts.push({
      sql: `EXISTS (SELECT 1 FROM generations g WHERE ${g.actorId} = ${a.id} AND ${g.type} IN (SELECT value FROM json_each(?)))`,
      params: [jsonList(filter.generationTypes)],
    });
  if (filter.neverChecked !== undefined) parts.push({ sql: `${a.lastCheckedAt} IS ${filter.neverChecked ? "" : "NOT "}NULL`, params: [] });
  return andAll(parts);
}

export const actorOrderFields = ["name", "characterId", "totalCount", "goodCount", "totalSizeBytes", "lastCheckedAt"] as const;
export type ActorOrderField = (typeof actorOrderFields)[number];
export interface ActorOrder {
  field: ActorOrderField;
  descending: boolean;
}

// Nullable columns sort through coalesce so that keyset comparisons never meet NULL.
const orderExpression: Record<ActorOrderField, string> = {
  name: a.name,
  characterId: `coalesce(${a.characterId}, '')`,
  totalCount: a.totalCount,
  goodCount: a.goodCount,
  totalSizeBytes: a.totalSizeBytes,
  lastCheckedAt: `coalesce(${a.lastCheckedAt}, '')`,
};

/** Where a page starts: the sort value and id of the last row of the previous page. */
export interface ActorPosition {
  value: string | number;
  id: number;
}

export interface ActorPage {
  rows: (ActorRow & { sortValue: string | number })[];
  hasNextPage: boolean;
}

/** One page of actors in a stable order (sort value, then id), starting after `after`. */
export function pageActors(db: Db, filter: ActorFilter | undefined, order: ActorOrder, first: number, after?: ActorPosition): ActorPage {
  const where = actorWhere(filter);
  const expression = orderExpression[order.field];
  const direction = order.descending ? "DESC" : "ASC";
  const comparison = order.descending ? "<" : ">";
  const keyset = after ? `AND (${expression}, ${a.id}) ${comparison} (?, ?)` : "";
  const sql = `SELECT ${actorColumns}, ${expression} AS sortValue FROM actors a
    WHERE (${where.sql}) ${keyset} ORDER BY ${expression} ${direction}, ${a.id} ${direction} LIMIT ?`;
  const params = [...where.params, ...(after ? [after.value, after.id] : []), first + 1];
  const rows = cachedStatement(db, sql).all(...params) as ActorPage["rows"];
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

const actorCountText = sqlText(sql`SELECT ${statsTotals.actorCount} AS n FROM ${statsTotals} WHERE ${statsTotals.grouping} = 'all'`);

export function countActors(db: Db, filter: ActorFilter | undefined): number {
  // All actors: the count the statistics totals keep (migration 0009), not a pass over the table.
  if (filter === undefined || Object.keys(filter).length === 0) {
    const kept = cachedStatement(db, actorCountText).get() as { n: number } | undefined;
    return kept?.n ?? 0;
  }
  const where = actorWhere(filter);
  const row = cachedStatement(db, `SELECT count(*) AS n FROM actors a WHERE ${where.sql}`).get(...where.params) as { n: number };
  return row.n;
}

/** Batch function: actors by id, in key order (null where absent). */
export function actorsByIds(db: Db, ids: readonly number[]): (ActorRow | null)[] {
  const rows = cachedStatement(db, `SELECT ${actorColumns} FROM actors a WHERE ${a.id} IN (SELECT value FROM json_each(?))`).all(
    jsonList(ids),
  ) as ActorRow[];
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id) ?? null);
}

export function actorByName(db: Db, name: string): ActorRow | null {
  return (cachedStatement(db, `SELECT ${actorColumns} FROM actors a WHERE ${a.name} = ?`).get(name) as ActorRow | undefined) ?? null;
}

/** Several actors may share a character id in messy data; the lowest id wins, consistently. */
export function actorByCharacterId(db: Db, characterId: string): ActorRow | null {
  return (
    (cachedStatement(db, `SELECT ${actorColumns} FROM actors a WHERE ${a.characterId} = ? ORDER BY ${a.id} LIMIT 1`).get(characterId) as
      | ActorRow
      | undefined) ?? null
  );
}

/** Every actor, by name. */
export function allActors(db: Db): ActorRow[] {
  return cachedStatement(db, `SELECT ${actorColumns} FROM actors a ORDER BY ${a.name}`).all() as ActorRow[];
}

/** Every actor's id under its name (an import matches merged actors to rows by name). */
export function actorIdsByName(db: Db): Map<string, number> {
  return new Map(
    db
      .select({ id: actors.id, name: actors.name })
      .from(actors)
      .all()
      .map((a) => [a.name, a.id]),
  );
}

const mostImagesText = sqlText(sql`SELECT ${actors.name} FROM ${actors} ORDER BY ${actors.totalCount} DESC, ${actors.name} LIMIT 1`);

/** The name of the actor with the most images (the first by name among equals), or null when there is none. */
export function actorWithMostImages(db: Db): string | null {
  return (cachedStatement(db, mostImagesText).pluck().get() as string | undefined) ?? null;
}
