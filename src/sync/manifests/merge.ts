import type { GenerationFields, ImageFields, MergedActor } from "../../db/actor-import.ts";
import { imageIndexOf, parseActorName } from "../files/layout.ts";
import { timeValue, type SourceContribution } from "./formats/fields.ts";

/** One actor as all its manifest files describe it together. */
/**
 * Merges an actor's sources. Where they disagree, the newest wins per field: sources are
 * applied oldest first (by their own updated time: format A `training_data_updated`,
 * format B `updated_at`, prompt_metadata.json its file time, response.json oldest of all),
 * and a field a source does not carry never erases another's. When two format A files claim
 * the actor, the actor's own (its id's file) comes first in `sources`.
 */
export function mergeSources(name: string, sources: SourceContribution[]): MergedActor {
  const ordered = [...sources].sort((a, b) => timeValue(a.updatedAt) - timeValue(b.updatedAt));
  const parts = parseActorName(name);
  // The actor's own format A manifest (given first) says its id; a second one claiming the actor never changes it.
  const characterId = sources.find((source) => source.characterId)?.characterId ?? parts.characterId;
  // Ratings files may name images long gone: only files that list images create them.
  const images = new Map<string, ImageFields>();
  const single = ordered.length === 1 && ordered[0]!.listsImages;
  for (const source of ordered) {
    // The common case (one manifest): its records are the merged records, no copy needed.
    if (single) for (const fields of source.images) images.set(fields.filename, fields);
    else if (source.listsImages) for (const { filename } of source.images) images.set(filename, { filename });
  }
  const formatA = ordered.find((source) => source.format === "format_a");
  let sourcesDisagree = formatA !== undefined && formatA.images.length < images.size;
  const generations = new Map<number, GenerationFields>();
  for (const source of ordered) {
    for (const generation of source.generations ?? []) generations.set(generation.generationKey, generation);
    if (single) continue;
    for (const fields of source.images) {
      const merged = images.get(fields.filename);
      if (!merged) continue;
      const record = merged as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(fields)) {
        if (value === undefined || value === null) continue;
        if (record[key] !== undefined && record[key] !== value) sourcesDisagree = true;
        record[key] = value;
      }
    }
  }
  for (const image of images.values()) image.index ??= imageIndexOf(name, image.filename);
  const newest = ordered.filter((source) => source.updatedAt && (source.format === "format_a" || source.format === "format_b")).at(-1);
  return {
    ...parts,
    characterId,
    name,
    manifestUpdatedAt: newest?.updatedAt ?? null,
    images: [...images.values()],
    generations: [...generations.values()],
    sourcesDisagree,
  };
}
