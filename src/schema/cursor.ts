import { defaultPageSize, maxPageSize } from "./builder.ts";
import { BadFilterError } from "../db/actor-queries.ts";
import { BadCursorError } from "./errors.ts";

/**
 * Cursors are opaque to clients: base64url of a small JSON record naming the list and
 * order they belong to and the position (sort value and id) of the row they point at.
 */
export function encodeCursor(list: string, position: unknown[]): string {
  return Buffer.from(JSON.stringify([list, ...position])).toString("base64url");
}

/** The position inside a cursor, after checking it belongs to `list`; `check` validates the position's shape. */
export function decodeCursor<T>(cursor: string, list: string, check: (position: unknown[]) => T | undefined): T {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new BadCursorError(cursor, "not a cursor of this service");
  }
  if (!Array.isArray(decoded) || typeof decoded[0] !== "string") throw new BadCursorError(cursor, "not a cursor of this service");
  if (decoded[0] !== list) throw new BadCursorError(cursor, `issued for another list or order (${decoded[0]}), not ${list}`);
  const position = check(decoded.slice(1));
  if (position === undefined) throw new BadCursorError(cursor, "malformed position");
  return position;
}

interface PagingArgs {
  first?: number | null;
}

/** The page size from connection arguments (pages go forward only: see ForwardPagingPlugin). */
export function pageSize(args: PagingArgs): number {
  const first = args.first ?? defaultPageSize;
  if (first < 0 || first > maxPageSize) throw new BadFilterError("first", `must be between 0 and ${maxPageSize}`);
  return first;
}

/** Complexity of a connection field: its selection counts once per requested item. */
export function connectionComplexity(args: PagingArgs) {
  return { field: 2, multiplier: Math.max(1, Math.min(args.first ?? defaultPageSize, maxPageSize)) };
}
