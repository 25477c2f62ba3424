import type { AppContext } from "../../src/context.ts";
import { actorByCharacterId, actorByName } from "../../src/db/actor-queries.ts";
import { allActorIds } from "../../src/db/scan-writes.ts";
import { normalizeCharacterId } from "../../src/sync/layout.ts";

export class ActorSelectionError extends Error {
  override name = "ActorSelectionError";
}

/** Actor row ids for `--actor NAME|ID` (repeatable) or `--all`; an unknown actor is an error, not a silent skip. */
export function selectActorIds(ctx: AppContext, flags: { actor?: string[]; all?: boolean }): number[] {
  const names = flags.actor ?? [];
  if (flags.all && names.length > 0) throw new ActorSelectionError("give either --actor or --all, not both");
  if (flags.all) return allActorIds(ctx.db);
  if (names.length === 0) throw new ActorSelectionError("say which actors: --actor NAME (repeatable) or --all");
  const ids: number[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    const actor = actorByName(ctx.db, name) ?? (/^\d+$/.test(name) ? actorByCharacterId(ctx.db, normalizeCharacterId(name)) : null);
    if (actor) ids.push(actor.id);
    else unknown.push(name);
  }
  if (unknown.length > 0) throw new ActorSelectionError(`unknown actor${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")} (run import first?)`);
  return [...new Set(ids)];
}
