import { GraphQLError } from "graphql";
import { InvalidFilterError } from "../db/actor-queries.ts";
import { UnsafeNameError } from "../sync/files/layout.ts";
import { builder } from "./builder.ts";

/** No actor has the requested name or character id. */
export class UnknownActorError extends Error {
  constructor(readonly lookup: { name?: string | null; characterId?: string | null }) {
    const what = lookup.name != null ? `name ${JSON.stringify(lookup.name)}` : `character id ${JSON.stringify(lookup.characterId)}`;
    super(`no actor with ${what}`);
    this.name = "UnknownActorError";
  }
}

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

export { InvalidFilterError, UnsafeNameError };

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
    requestedName: t.string({ nullable: true, description: "The name that was looked up, if any.", resolve: (e) => e.lookup.name ?? null }),
    requestedCharacterId: t.string({
      nullable: true,
      description: "The character id that was looked up, if any.",
      resolve: (e) => e.lookup.characterId ?? null,
    }),
  }),
});

builder.objectType(UnsafeNameError, {
  name: "InvalidFilenameError",
  description: "A filename or actor name refused by a rule `reason` names: a separator, `..`, NUL, a leading `.`, over 255 bytes, or an S3 key over 1024 bytes.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnsafeNameError,
  fields: (t) => ({
    value: t.exposeString("value", { description: "The rejected name, as given." }),
    reason: t.exposeString("reason", { description: "Why it was rejected." }),
  }),
});

builder.objectType(InvalidFilterError, {
  name: "BadFilterError",
  description: "A filter or paging argument that cannot be answered (negative count, min above max, empty list, page too large).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof InvalidFilterError,
  fields: (t) => ({
    field: t.exposeString("field", { description: "Path of the offending argument, e.g. `filter.ageMin`." }),
    reason: t.exposeString("reason", { description: "Why it was rejected." }),
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
  if (error instanceof InvalidFilterError) return badUserInput(error.field, error.reason);
  if (error instanceof BadCursorError) return badUserInput("after", error.message);
  if (error instanceof UnsafeNameError) return badUserInput(nameArgument, error.message);
  return error;
}
