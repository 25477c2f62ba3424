import { GraphQLError } from "graphql";
import { BadFilterError } from "../db/actor-queries.ts";
import type { ActorRow } from "../db/schema.ts";
import type { Db } from "../db/store.ts";
import { ManifestConflictError } from "../sync/manifests/export.ts";
import { InvalidFilenameError } from "../sync/files/layout.ts";
import {
  findActor,
  ImageExistsError,
  MaxDeleteExceededError,
  NotAnImageError,
  NotConfiguredError,
  PartiallyAppliedError,
  S3RefusedError,
  UnknownActorError,
  UnknownImageError,
  type ActorLookup,
  type AppliedChange,
} from "../sync/operations/operation-common.ts";
import { StorageModeError } from "../sync/operations/prune-local.ts";
import { SuspectListingError } from "../sync/checks/suspect-listing.ts";
import { TrashPlaceOccupiedError, UnknownTrashItemError } from "../sync/operations/trash-restore.ts";
import { Actor } from "./actor.ts";
import { PendingFileType } from "./actor-outcome.ts";
import { builder } from "./builder.ts";

/*
 * The registry of errors: every error class a mutation can answer is defined below the
 * schema (src/sync, src/db), under the name GraphQL gives it, and registered here once.
 */

/** A pagination cursor that this list did not hand out (or that belongs to another order). */
export class BadCursorError extends Error {
  constructor(
    readonly cursor: string,
    readonly reason: string,
  ) {
    super(`bad cursor ${JSON.stringify(cursor)}: ${reason}`);
    this.name = "BadCursorError";
  }
}

export const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  description: "An expected failure the client can branch on (`... on Error { message }` catches all of them).",
  fields: (t) => ({
    message: t.exposeString("message", { description: "What went wrong, for a person." }),
  }),
});

builder.objectType(UnknownActorError, {
  name: "UnknownActorError",
  description: "No actor matches the given name or character id.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnknownActorError,
  fields: (t) => ({
    requestedName: t.string({
      nullable: true,
      description: "The name that was looked up, if any.",
      resolve: (e) => ("name" in e.lookup ? e.lookup.name : null),
    }),
    requestedCharacterId: t.string({
      nullable: true,
      description: "The character id that was looked up, if any.",
      resolve: (e) => ("characterId" in e.lookup ? e.lookup.characterId : null),
    }),
  }),
});

builder.objectType(InvalidFilenameError, {
  name: "InvalidFilenameError",
  description:
    "A filename or actor name refused by a rule `reason` names: a separator, `..`, NUL, a leading `.`, over 255 bytes, or an S3 key over 1024 bytes.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof InvalidFilenameError,
  fields: (t) => ({
    value: t.exposeString("value", { description: "The rejected name, as given." }),
    reason: t.exposeString("reason", { description: "Why it was rejected." }),
  }),
});

builder.objectType(BadFilterError, {
  name: "BadFilterError",
  description: "A filter or paging argument that cannot be answered (negative count, min above max, empty list, page too large).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof BadFilterError,
  fields: (t) => ({
    field: t.exposeString("field", { description: "Path of the offending argument, e.g. `filter.ageMin`." }),
    reason: t.exposeString("reason", { description: "Why it was rejected." }),
  }),
});

builder.objectType(NotConfiguredError, {
  name: "NotConfiguredError",
  description: "The server was started without what this operation needs (an S3 connection); reads still work.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotConfiguredError,
  fields: (t) => ({ missing: t.exposeString("missing", { description: "What is missing, e.g. `S3 connection`." }) }),
});

builder.objectType(S3RefusedError, {
  name: "S3RefusedError",
  description: "S3 (or the local disk) refused the request or kept failing after retries; nothing was changed for this actor.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof S3RefusedError,
  fields: (t) => ({
    actorName: t.exposeString("actorName", { description: "The actor being worked on." }),
    reason: t.exposeString("reason", { description: "What S3 or the disk answered." }),
  }),
});

builder.objectType(SuspectListingError, {
  name: "SuspectListingError",
  description:
    "A listing came back empty or would mark more than the allowed share of the actor's images gone (wrong prefix, credentials, unmounted disk): nothing was changed. Pass `allowSuspect: true` to apply it anyway.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof SuspectListingError,
  fields: (t) => ({
    actorName: t.exposeString("actor", { description: "The actor whose listing looked wrong." }),
    reason: t.string({ description: "Why it looked wrong.", resolve: (e) => e.message }),
  }),
});

const AppliedChangeType = builder.objectRef<AppliedChange>("AppliedChange").implement({
  description: "A change done in SQLite, S3 and on disk.",
  fields: (t) => ({
    actorName: t.exposeString("actor", { description: "The actor." }),
    filename: t.exposeString("filename", { description: "The image." }),
    kind: t.exposeString("kind", { description: "rate, delete, add, upload, download or prune." }),
  }),
});

builder.objectType(PartiallyAppliedError, {
  name: "PartiallyAppliedError",
  description:
    "The change is done in SQLite, S3 and on disk (`done`), but the manifest files in `pending` could not be written yet. Nothing is lost: the next change to the actor, `exportManifests` or the next start of the service writes them.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof PartiallyAppliedError,
  fields: (t) => ({
    done: t.field({ type: [AppliedChangeType], description: "What was changed.", resolve: (e) => e.done }),
    pending: t.field({
      type: [PendingFileType],
      description: "The manifest files still to write, each with the reason.",
      resolve: (e) => e.pending,
    }),
    actors: t.field({ type: [Actor], description: "The actors changed, with fresh statistics.", resolve: (e) => e.actorIds }),
  }),
});

builder.objectType(UnknownImageError, {
  name: "UnknownImageError",
  description: "The actor has no image with (some of) these filenames; nothing was changed.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnknownImageError,
  fields: (t) => ({
    actorName: t.exposeString("actor", { description: "The actor." }),
    filenames: t.exposeStringList("filenames", { description: "The filenames it does not have." }),
  }),
});

builder.objectType(NotAnImageError, {
  name: "NotAnImageError",
  description: "A safe filename that is not a training image (`.jpg`, `.jpeg` or `.png`).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotAnImageError,
  fields: (t) => ({ filename: t.exposeString("filename", { description: "The filename as given." }) }),
});

builder.objectType(StorageModeError, {
  name: "StorageModeError",
  description:
    "Pruning asked of a data directory whose recorded storage mode is mirrored (its syncs would download the pruned files again); pass `switchToS3Only: true` to record it as s3-only.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof StorageModeError,
  fields: (t) => ({ file: t.exposeString("file", { description: "The data directory's configuration file that records the mode." }) }),
});

builder.objectType(MaxDeleteExceededError, {
  name: "MaxDeleteExceededError",
  description: "The operation would delete more images than `maxDelete` allows; nothing was changed.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof MaxDeleteExceededError,
  fields: (t) => ({
    limit: t.exposeInt("limit", { description: "The limit in force." }),
    count: t.exposeInt("count", { description: "How many it would delete." }),
  }),
});

builder.objectType(ImageExistsError, {
  name: "ImageExistsError",
  description: "The actor already has images with these filenames (row, local file or S3 object); pass `overwrite: true` to replace them.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ImageExistsError,
  fields: (t) => ({
    actorName: t.exposeString("actor", { description: "The actor." }),
    filenames: t.exposeStringList("filenames", { description: "The filenames that exist." }),
  }),
});

builder.objectType(ManifestConflictError, {
  name: "ManifestConflictError",
  description: "Another tool changed a manifest since this service last read or wrote it: import first.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ManifestConflictError,
  fields: (t) => ({ file: t.exposeString("file", { description: "The manifest that changed on disk." }) }),
});

builder.objectType(UnknownTrashItemError, {
  name: "UnknownTrashItemError",
  description: "No trash item has (some of) these ids; nothing was changed.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnknownTrashItemError,
  fields: (t) => ({ ids: t.exposeIntList("ids", { description: "The ids that name nothing in the trash." }) }),
});

builder.objectType(TrashPlaceOccupiedError, {
  name: "TrashPlaceOccupiedError",
  description:
    "Something now occupies the place an item would go back to; nothing was restored. Pass `overwrite: true` to move the occupant to the trash in its turn.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof TrashPlaceOccupiedError,
  fields: (t) => ({
    locations: t.exposeStringList("locations", { description: "The occupied places (paths under the data directory, object keys)." }),
  }),
});

/** A refused argument of a read: in `errors`, coded BAD_USER_INPUT, its message naming the argument. */
export function badUserInput(argument: string, reason: string): GraphQLError {
  return new GraphQLError(`Bad argument \`${argument}\`: ${reason}`, { extensions: { code: "BAD_USER_INPUT", argument } });
}

/** Nothing has the id or name a read asked for: the field is null and `errors` says why. */
export function notFound(message: string, argument: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "NOT_FOUND", argument } });
}

/** The actor a read names, or NOT_FOUND naming the argument it came from. */
export function actorForRead(db: Db, lookup: ActorLookup, argument: string): ActorRow {
  try {
    return findActor(db, lookup);
  } catch (error) {
    throw error instanceof UnknownActorError ? notFound(error.message, argument) : error;
  }
}

/**
 * Reads return their types, not unions (SPEC.md §8): an argument the layers below refuse
 * (filter, cursor, unsafe name) becomes a BAD_USER_INPUT error and only this field is null.
 * `nameArgument` is the argument an unsafe name came from.
 */
export function readWithArguments<T>(read: () => T, nameArgument = "name"): T {
  try {
    const value = read();
    if (value instanceof Promise)
      return value.catch((error: unknown) => {
        throw asBadUserInput(error, nameArgument);
      }) as T;
    return value;
  } catch (error) {
    throw asBadUserInput(error, nameArgument);
  }
}

function asBadUserInput(error: unknown, nameArgument: string): unknown {
  if (error instanceof BadFilterError) return badUserInput(error.field, error.reason);
  if (error instanceof BadCursorError) return badUserInput("after", error.message);
  if (error instanceof InvalidFilenameError) return badUserInput(nameArgument, error.message);
  return error;
}
