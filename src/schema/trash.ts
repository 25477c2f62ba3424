import { BadFilterError } from "../db/actor-queries.ts";
import type { TrashItemRow } from "../db/schema.ts";
import { pageTrashItems, trashTotals, type TrashFilter } from "../db/trash-items.ts";
import { NotConfiguredError } from "../sync/operations/operation-common.ts";
import { emptyTrash, restoreTrash, TrashPlaceOccupiedError, UnknownTrashItemError } from "../sync/operations/trash-restore.ts";
import { Actor } from "./actor.ts";
import { builder } from "./builder.ts";
import { connectionComplexity, decodeCursor, encodeCursor, pageSize } from "./cursor.ts";
import { announce, freshActor, requireS3 } from "./context.ts";
import { actorForRead, readWithArguments } from "./errors.ts";

export const TrashSideEnum = builder.enumType("TrashSide", {
  description: "Which side a trashed file or object came from.",
  values: {
    LOCAL: { value: "local", description: "A local file, kept under `$DATA_DIR/.trash/`." },
    S3: {
      value: "s3",
      description: "An S3 object, kept under the trash prefix `{S3_PREFIX}.trash/` (or as a version in a bucket that keeps versions).",
    },
  } as const,
});

const TrashOriginEnum = builder.enumType("TrashOrigin", {
  description: "What put an item in the trash.",
  values: {
    REPAIR: { value: "repair", description: "A repair of an out-of-sync image replaced it with the other side's content (it lost)." },
    DELETE: { value: "delete", description: "A deletion from disk or S3 removed it." },
    RESTORE: { value: "restore", description: "A restore with `overwrite` put a trashed item back in its place." },
  } as const,
});

export const TrashItem = builder.objectRef<TrashItemRow>("TrashItem").implement({
  description:
    "A local file or S3 object kept in the trash instead of being destroyed (losers of repairs, deletions); `restoreTrash` puts it back, `emptyTrash` deletes it for good.",
  fields: (t) => ({
    id: t.exposeInt("id", { description: "Trash item id: pass it to `restoreTrash` or `emptyTrash`." }),
    actorName: t.exposeString("actorName", { description: "The actor it belongs to." }),
    actor: t.field({ type: Actor, nullable: true, description: "The actor now.", resolve: (item) => item.actorId }),
    filename: t.exposeString("filename", { description: "The image's filename." }),
    side: t.field({ type: TrashSideEnum, description: "Local file or S3 object.", resolve: (item) => item.side }),
    origin: t.field({ type: TrashOriginEnum, description: "What put it here.", resolve: (item) => item.origin }),
    md5: t.string({
      nullable: true,
      description: "Content MD5 of what is kept (null for an S3 object whose ETag and metadata do not tell it).",
      resolve: (item) => item.md5,
    }),
    bytes: t.exposeFloat("sizeBytes", { description: "Its size." }),
    trashedAt: t.expose("trashedAt", { type: "DateTime", description: "When it went to the trash." }),
    originalLocation: t.exposeString("originalLocation", {
      description: "Where it came from (and goes back to): the path under the data directory, or the object key.",
    }),
    trashLocation: t.string({
      nullable: true,
      description:
        "Where it is kept: a path under the data directory's `.trash/`, or a key under the trash prefix; null when a version keeps it.",
      resolve: (item) => item.trashLocation,
    }),
    versionId: t.string({
      nullable: true,
      description: "The object version that keeps it, in a bucket that keeps versions.",
      resolve: (item) => item.versionId,
    }),
  }),
});

const TrashFailure = builder.objectRef<{ item: TrashItemRow; error: string }>("TrashFailure").implement({
  description: "An item a restore or an empty could not handle, and why (it stays in the trash).",
  fields: (t) => ({
    item: t.field({ type: TrashItem, description: "The item.", resolve: (f) => f.item }),
    error: t.exposeString("error", { description: "Why." }),
  }),
});

interface TrashConnectionShape {
  totalBytes: () => number;
}

builder.queryFields((t) => ({
  trash: t.connection(
    {
      type: TrashItem,
      nullable: true,
      description: "What the trash keeps, oldest first. Null (with an error) when an argument is refused.",
      args: {
        actorName: t.arg.string({ description: "Only this actor's items." }),
        side: t.arg({ type: TrashSideEnum, description: "Only local files or only S3 objects." }),
        trashedBefore: t.arg({ type: "DateTime", description: "Only items trashed before this time." }),
      },
      complexity: connectionComplexity,
      resolve: (_root, args, ctx) =>
        readWithArguments(() => {
          const first = pageSize(args);
          const after =
            args.after != null ? decodeCursor(args.after, "trash", ([id]) => (typeof id === "number" ? id : undefined)) : undefined;
          const filter: TrashFilter = {
            side: args.side ?? undefined,
            trashedBefore: args.trashedBefore ? new Date(args.trashedBefore).toISOString() : undefined,
          };
          if (args.actorName != null) filter.actorId = actorForRead(ctx.app.db, { name: args.actorName }, "actorName").id;
          const page = pageTrashItems(ctx.app.db, filter, first, after);
          const edges = page.rows.map((row) => ({ cursor: encodeCursor("trash", [row.id]), node: row }));
          return {
            edges,
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: after !== undefined,
              startCursor: edges[0]?.cursor ?? null,
              endCursor: edges.at(-1)?.cursor ?? null,
            },
            totalCount: () => trashTotals(ctx.app.db, filter).count,
            totalBytes: () => trashTotals(ctx.app.db, filter).bytes,
          };
        }, "actorName"),
    },
    {
      name: "TrashConnection",
      description: "A page of trash items.",
      fields: (t) => ({
        totalBytes: t.float({
          description: "Bytes of every item matching the arguments (all pages).",
          resolve: (connection) => (connection as unknown as TrashConnectionShape).totalBytes(),
        }),
      }),
    },
    { name: "TrashEdge", description: "A trash item and its cursor." },
  ),
}));

const RestoreTrashPayload = builder
  .objectRef<{ restored: TrashItemRow[]; failed: { item: TrashItemRow; error: string }[]; actorIds: number[] }>("RestoreTrashPayload")
  .implement({
    description: "What a restore put back, and what it could not.",
    fields: (t) => ({
      restored: t.field({
        type: [TrashItem],
        description: "Items put back where they came from (no longer in the trash).",
        resolve: (p) => p.restored,
      }),
      failed: t.field({ type: [TrashFailure], description: "Items that stay in the trash, and why.", resolve: (p) => p.failed }),
      actors: t.field({
        type: [Actor],
        description: "The actors whose rows, statuses and manifests followed (fresh).",
        resolve: (p) => p.actorIds,
      }),
    }),
  });

const EmptyTrashPayload = builder
  .objectRef<{ dryRun: boolean; emptied: TrashItemRow[]; bytes: number; failed: { item: TrashItemRow; error: string }[] }>(
    "EmptyTrashPayload",
  )
  .implement({
    description: "What emptying the trash deleted for good (or, on a dry run, would).",
    fields: (t) => ({
      dryRun: t.exposeBoolean("dryRun", { description: "True when nothing was deleted (plan only)." }),
      emptied: t.field({
        type: [TrashItem],
        description: "Items deleted for good (on a dry run: that would be).",
        resolve: (p) => p.emptied,
      }),
      bytes: t.exposeFloat("bytes", { description: "Their bytes." }),
      failed: t.field({
        type: [TrashFailure],
        description: "Items that could not be deleted (a link put in the trash is never followed), and why.",
        resolve: (p) => p.failed,
      }),
    }),
  });

builder.mutationFields((t) => ({
  restoreTrash: t.field({
    type: RestoreTrashPayload,
    description:
      "Puts trashed items back where they came from, through the write-through path: the actor's rows, statuses and manifests follow. Refused as a whole when something now occupies an item's place, unless `overwrite` (the occupant then goes to the trash).",
    args: {
      ids: t.arg.intList({ required: true, description: "Trash item ids." }),
      overwrite: t.arg.boolean({
        defaultValue: false,
        description: "Move whatever occupies an item's place to the trash and put the item back.",
      }),
    },
    errors: {
      types: [UnknownTrashItemError, TrashPlaceOccupiedError, NotConfiguredError],
      directResult: true,
      union: { name: "RestoreTrashResult", description: "What was restored, or why nothing was." },
    },
    resolve: async (_root, args, ctx) => {
      const s3 = requireS3(ctx);
      const report = await restoreTrash(ctx.app, s3, { ids: args.ids, overwrite: args.overwrite ?? false, locks: ctx.app.jobs?.locks });
      const actorIds = [...new Set(report.restored.concat(report.failed.map((f) => f.item)).map((item) => item.actorId))];
      for (const actorId of actorIds) announce(ctx, freshActor(ctx, actorId), "operation");
      return { ...report, actorIds };
    },
  }),
  emptyTrash: t.field({
    type: EmptyTrashPayload,
    description:
      "Deletes trashed items for good (local files under `.trash/`, objects under the trash prefix): by ids, those trashed before `olderThan`, or `all` (exactly one).",
    args: {
      ids: t.arg.intList({ description: "Trash item ids." }),
      olderThan: t.arg({ type: "DateTime", description: "Every item trashed before this time." }),
      all: t.arg.boolean({ description: "Every item." }),
      dryRun: t.arg.boolean({ defaultValue: false, description: "Only list what would be deleted." }),
    },
    errors: {
      types: [UnknownTrashItemError, BadFilterError],
      directResult: true,
      union: { name: "EmptyTrashResult", description: "What was emptied, or why nothing was." },
    },
    resolve: (_root, args, ctx) =>
      emptyTrash(ctx.app, ctx.app.s3 ?? null, {
        ids: args.ids ?? undefined,
        olderThan: args.olderThan ? new Date(args.olderThan) : undefined,
        all: args.all ?? undefined,
        dryRun: args.dryRun ?? false,
      }),
  }),
}));
