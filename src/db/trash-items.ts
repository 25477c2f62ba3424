import { and, asc, count, eq, gt, inArray, lt, sum, type SQL } from "drizzle-orm";
import { trashItems, type TrashItemRow } from "./schema.ts";
import type { Db } from "./store.ts";

export type NewTrashItem = Omit<TrashItemRow, "id" | "state" | "trashedAt" | "trashLocation" | "md5" | "sizeBytes" | "versionId"> &
  Partial<Pick<TrashItemRow, "md5" | "sizeBytes" | "versionId">>;

/**
 * Records, before the file or object is touched, that it is going to the trash: `moving`,
 * with the place it will be kept at, which `locationOf` makes from the new row's id.
 */
export function recordTrashItem(db: Db, item: NewTrashItem, locationOf: ((id: number) => string) | null): TrashItemRow {
  return db.transaction((tx) => {
    const row = tx
      .insert(trashItems)
      .values({ ...item, state: "moving", trashedAt: new Date().toISOString() })
      .returning()
      .get();
    if (!locationOf) return row;
    return tx
      .update(trashItems)
      .set({ trashLocation: locationOf(row.id) })
      .where(eq(trashItems.id, row.id))
      .returning()
      .get()!;
  });
}

/** The item is where its row says, with this content. */
export function keepTrashItem(db: Db, id: number, content: { md5: string | null; sizeBytes: number }): void {
  db.update(trashItems)
    .set({ ...content, state: "kept" })
    .where(eq(trashItems.id, id))
    .run();
}

/** The item is about to leave the trash (a restore): recovery then looks where it is. */
export function markTrashItemMoving(db: Db, id: number): void {
  db.update(trashItems).set({ state: "moving" }).where(eq(trashItems.id, id)).run();
}

/** The item is not in the trash (restored, emptied, or never moved there). */
export function dropTrashItem(db: Db, id: number): void {
  db.delete(trashItems).where(eq(trashItems.id, id)).run();
}

export function trashItemsByIds(db: Db, ids: readonly number[]): TrashItemRow[] {
  if (ids.length === 0) return [];
  return db
    .select()
    .from(trashItems)
    .where(inArray(trashItems.id, [...ids]))
    .orderBy(asc(trashItems.id))
    .all();
}

/** A kept item of this content of an actor's image on one side, if the trash has one. */
export function keptTrashItemWith(
  db: Db,
  item: Pick<TrashItemRow, "actorId" | "filename" | "side"> & { md5: string },
): TrashItemRow | undefined {
  return db
    .select()
    .from(trashItems)
    .where(
      and(
        eq(trashItems.actorId, item.actorId),
        eq(trashItems.filename, item.filename),
        eq(trashItems.side, item.side),
        eq(trashItems.md5, item.md5),
        eq(trashItems.state, "kept"),
      ),
    )
    .get();
}

/** An actor's items an interrupted move left `moving`. */
export function movingTrashItemsOf(db: Db, actorId: number): TrashItemRow[] {
  return db
    .select()
    .from(trashItems)
    .where(and(eq(trashItems.actorId, actorId), eq(trashItems.state, "moving")))
    .all();
}

export interface TrashFilter {
  actorId?: number;
  side?: TrashItemRow["side"];
  /** Only items trashed before this ISO 8601 time. */
  trashedBefore?: string;
}

function whereOf(filter: TrashFilter): SQL | undefined {
  return and(
    filter.actorId !== undefined ? eq(trashItems.actorId, filter.actorId) : undefined,
    filter.side ? eq(trashItems.side, filter.side) : undefined,
    filter.trashedBefore ? lt(trashItems.trashedAt, filter.trashedBefore) : undefined,
  );
}

/** Items in the trash, oldest first, after the item `afterId`; one more row than `first` tells whether a next page exists. */
export function pageTrashItems(
  db: Db,
  filter: TrashFilter,
  first: number,
  afterId?: number,
): { rows: TrashItemRow[]; hasNextPage: boolean } {
  const rows = db
    .select()
    .from(trashItems)
    .where(and(whereOf(filter), afterId !== undefined ? gt(trashItems.id, afterId) : undefined))
    .orderBy(asc(trashItems.id))
    .limit(first + 1)
    .all();
  return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
}

/** Every item a filter picks (emptying by age), oldest first. */
export function trashItemsWhere(db: Db, filter: TrashFilter): TrashItemRow[] {
  return db.select().from(trashItems).where(whereOf(filter)).orderBy(asc(trashItems.id)).all();
}

export function trashTotals(db: Db, filter: TrashFilter): { count: number; bytes: number } {
  const row = db
    .select({ count: count(), bytes: sum(trashItems.sizeBytes) })
    .from(trashItems)
    .where(whereOf(filter))
    .get();
  return { count: row?.count ?? 0, bytes: Number(row?.bytes ?? 0) };
}
