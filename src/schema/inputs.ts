import type { ActorFilter } from "../db/actor-queries.ts";
import type { ImageFilter } from "../db/image-queries.ts";
import { syncStatuses, type SyncStatus } from "../db/schema.ts";
import { builder } from "./builder.ts";

/** GraphQL gives explicit nulls for fields the client wrote as null; the query layer wants them absent. */
export function withoutNulls<T extends object>(input: T | null | undefined): { [K in keyof T]?: Exclude<T[K], null> } | undefined {
  if (input == null) return undefined;
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value != null)) as { [K in keyof T]?: Exclude<T[K], null> };
}

const statusDescriptions: Record<SyncStatus, string> = {
  synced: "Local file and S3 object both present with the same content.",
  local_only: "Only the local file exists; S3 has no object.",
  s3_only: "Only the S3 object exists; there is no local file.",
  out_of_sync: "Both exist but their content differs.",
  missing: "The manifest lists the image but neither side has it.",
};

export const SyncStatusEnum = builder.enumType("SyncStatus", {
  description: "Where an image exists and whether both copies agree, as of its last check. A null status means not checked yet.",
  values: Object.fromEntries(syncStatuses.map((status) => [status.toUpperCase(), { value: status, description: statusDescriptions[status] }])) as Record<
    Uppercase<SyncStatus>,
    { value: SyncStatus; description: string }
  >,
});

export const RatingEnum = builder.enumType("Rating", {
  description: "A person's verdict on a training image.",
  values: {
    GOOD: { value: "good", description: "Rated good (`good: true`)." },
    BAD: { value: "bad", description: "Rated bad (`good: false`)." },
    UNRATED: { value: "unrated", description: "Not rated yet (`good: null`)." },
  } as const,
});

export const ActorFilterInput = builder.inputType("ActorFilterInput", {
  description: "Picks actors; every criterion given must hold. Leave a field out to not filter on it.",
  fields: (t) => ({
    names: t.stringList({ description: "Exact actor names, e.g. `0042_european_30_male`." }),
    characterIds: t.stringList({ description: "Four-digit character ids, e.g. `0042`." }),
    nameContains: t.string({ description: "A substring of the name (case-insensitive for ASCII)." }),
    descriptors: t.stringList({ description: "Descriptor parts of the name, e.g. `european`, `east_asian`." }),
    genders: t.stringList({ description: "Gender parts of the name, e.g. `male`, `female`." }),
    ageMin: t.int({ description: "Lowest age (inclusive)." }),
    ageMax: t.int({ description: "Highest age (inclusive)." }),
    totalCountMin: t.int({ description: "At least this many training images." }),
    totalCountMax: t.int({ description: "At most this many training images." }),
    goodCountBelow: t.int({ description: "Fewer than this many images rated good: the actors that still need good images." }),
    goodCountAtLeast: t.int({ description: "At least this many images rated good." }),
    withStatus: t.field({ type: [SyncStatusEnum], description: "At least one image in any of these statuses." }),
    hasUnchecked: t.boolean({ description: "true: some image was never checked; false: every image has been checked." }),
    fullySynced: t.boolean({ description: "true: every image synced (and at least one); false: anything else." }),
    hasUnrated: t.boolean({ description: "true: some image is not rated yet; false: every image is rated." }),
    generationTypes: t.stringList({ description: "At least one generation of any of these types, e.g. `s3_scan`, `replicate_flux_kontext`." }),
    checkedBefore: t.string({ description: "Never checked, or last checked before this ISO 8601 time." }),
    neverChecked: t.boolean({ description: "true: never checked; false: checked at least once." }),
  }),
});

export const TrainingImageFilterInput = builder.inputType("TrainingImageFilterInput", {
  description: "Picks training images; every criterion given must hold.",
  fields: (t) => ({
    status: t.field({ type: [SyncStatusEnum], description: "Any of these statuses (images never checked have none)." }),
    checked: t.boolean({ description: "true: status known; false: never checked yet (status null)." }),
    rating: t.field({ type: [RatingEnum], description: "Any of these ratings." }),
    filenames: t.stringList({ description: "Exact filenames (case-sensitive)." }),
    filenameContains: t.string({ description: "A substring of the filename." }),
    generationTypes: t.stringList({ description: "Made by a generation of any of these types." }),
    promptContains: t.string({ description: "A substring of the prompt." }),
    sizeMin: t.float({ description: "At least this many bytes." }),
    sizeMax: t.float({ description: "At most this many bytes." }),
    orphan: t.boolean({ description: "true: found in the folder or S3 prefix without being in any manifest." }),
    checkedBefore: t.string({ description: "Never checked, or last checked before this ISO 8601 time." }),
  }),
});

export type ActorFilterArg = typeof ActorFilterInput.$inferInput;
export type ImageFilterArg = typeof TrainingImageFilterInput.$inferInput;

export function toActorFilter(input: ActorFilterArg | null | undefined): ActorFilter | undefined {
  return withoutNulls(input) as ActorFilter | undefined;
}

export function toImageFilter(input: ImageFilterArg | null | undefined): ImageFilter | undefined {
  return withoutNulls(input) as ImageFilter | undefined;
}

/** "12.3 GB": byte counts for people (decimal units, as file browsers show them). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}
