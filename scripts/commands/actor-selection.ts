import type { AppContext } from "../../src/context.ts";
import { allActorIds } from "../../src/db/scan-writes.ts";
import { resolveActor, UnknownActorError } from "../../src/sync/operations/operation-common.ts";
import { UsageError } from "./exit-codes.ts";

/** Actor row ids for `--actor NAME|ID` (repeatable) or `--all`; an unknown actor is an error, not a silent skip. */
export function selectActorIds(ctx: AppContext, flags: { actor?: string[]; all?: boolean }): number[] {
  const names = flags.actor ?? [];
  if (flags.all && names.length > 0) throw new UsageError("give either --actor or --all, not both");
  if (flags.all) return allActorIds(ctx.db);
  if (names.length === 0) throw new UsageError("say which actors: --actor NAME|ID (repeatable) or --all");
  const ids: number[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    try {
      ids.push(resolveActor(ctx, name).id);
    } catch (error) {
      if (!(error instanceof UnknownActorError)) throw error;
      unknown.push(name);
    }
  }
  if (unknown.length > 0) throw new UnknownActorError({ nameOrId: unknown.join(", ") });
  return [...new Set(ids)];
}
