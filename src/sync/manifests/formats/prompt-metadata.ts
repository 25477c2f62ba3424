import { z } from "zod";
import type { ImageRow } from "../../../db/schema.ts";
import { parseEntries, parseWith, type ManifestProblem } from "./problems.ts";
import type { ImageFields } from "../../../db/actor-import.ts";
import { safeFilename, setField, type SourceContribution } from "./fields.ts";
import { isObject } from "./format-a.ts";
import { isTrainingImageFilename } from "../../files/layout.ts";

/**
 * prompt_metadata.json: ratings and prompts. Its shape was never documented, so both
 * shapes seen are accepted: an object keyed by filename, or a list of entries with a
 * `filename`. Keys that are not image filenames are other tools' data and are kept.
 */
const entrySchema = z.object({
  good: z.boolean().nullish(),
  prompt: z.string().nullish(),
  prompt_preview: z.string().nullish(),
});
// List entries without a filename belong to other tools: kept, not read.
const listEntrySchema = entrySchema.extend({ filename: safeFilename.optional() });

/** Parses prompt_metadata.json entry by entry: a bad entry is reported in `problems` and left out. */
export function parsePromptMetadata(value: unknown, file: string, actorName: string, mtime: string): SourceContribution {
  const entries: ImageFields[] = [];
  const problems: ManifestProblem[] = [];
  if (Array.isArray(value)) {
    for (const [, entry] of parseEntries(listEntrySchema, value.entries(), file, [], problems))
      if (entry.filename) entries.push(fieldsOf(entry.filename, entry));
  } else if (isObject(value)) {
    // One static schema per entry: a schema built per file would be compiled anew for each.
    const keys = parseEntries(
      safeFilename,
      Object.keys(value)
        .filter(isTrainingImageFilename)
        .map((key) => [key, key]),
      file,
      [],
      problems,
    );
    for (const [key, entry] of parseEntries(
      entrySchema,
      keys.map(([key]) => [key, value[key]]),
      file,
      [],
      problems,
    ))
      entries.push(fieldsOf(key, entry));
  } else {
    parseWith(z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]), value, file);
  }
  return { file, format: "prompt_metadata", updatedAt: mtime, actorName, images: entries, listsImages: false, problems };
}

function fieldsOf(filename: string, entry: z.infer<typeof entrySchema>): ImageFields {
  return { filename, good: entry.good, prompt: entry.prompt, promptPreview: entry.prompt_preview };
}

/** Writes ratings (and prompts) back into the file's own shape. */
export function renderPromptMetadata(previous: unknown, images: ImageRow[]): unknown {
  const rated = new Set(images.filter((image) => image.good !== null || image.prompt !== null));
  if (Array.isArray(previous)) {
    const doc = structuredClone(previous) as unknown[];
    const byName = new Map<string, Record<string, unknown>>();
    for (const entry of doc) if (isObject(entry) && typeof entry.filename === "string") byName.set(entry.filename, entry);
    for (const image of images) {
      let entry = byName.get(image.filename);
      if (!entry && !rated.has(image)) continue;
      if (!entry) {
        entry = { filename: image.filename };
        doc.push(entry);
      }
      patchEntry(entry, image);
    }
    return doc;
  }
  const doc: Record<string, unknown> = isObject(previous) ? structuredClone(previous) : {};
  for (const image of images) {
    // An entry already there is patched even when its rating was taken back (null), or the old rating would come back on import.
    if (!rated.has(image) && !isObject(doc[image.filename])) continue;
    const entry = isObject(doc[image.filename]) ? (doc[image.filename] as Record<string, unknown>) : {};
    patchEntry(entry, image);
    doc[image.filename] = entry;
  }
  return doc;
}

function patchEntry(entry: Record<string, unknown>, image: ImageRow): void {
  // A rating taken back (null) is written as null: other tools read `good` as tri-state.
  if (image.good === null) {
    if ("good" in entry) entry.good = null;
  } else setField(entry, "good", image.good);
  setField(entry, "prompt", image.prompt);
}
