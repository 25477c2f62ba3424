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
  values: Object.fromEntries(
    syncStatuses.map((status) => [status.toUpperCase(), { value: status, description: statusDescriptions[status] }]),
  ) as Record<Uppercase<SyncStatus>, { value: SyncStatus; description: string }>,
});

export const RatingEnum = builder.enumType("Rating", {
  description: "A person's verdict on a training image.",
  values: {
    GOOD: { value: "good", description: "Rated good (`good: true`)." },
    BAD: { value: "bad", description: "Rated bad (`good: false`)." },
    UNRATED: { value: "unrated", description: "Not rated yet (`good: null`)." },
  } as const,
});

type ComparedScalar = "Int" | "Float" | "DateTime";

/** `{ lt lte gt gte eq }` over one scalar: the same five bounds for counts, bytes and times. */
function comparisonInput<S extends ComparedScalar>(name: string, scalar: S, what: string, example: string) {
  return builder.inputType(name, {
    description: `Bounds on ${what}; every bound given must hold, e.g. ${example}. A missing value (null) meets no bound.`,
    fields: (t) => ({
      lt: t.field({ type: scalar, description: "Less than this." }),
      lte: t.field({ type: scalar, description: "Less than or equal to this." }),
      gt: t.field({ type: scalar, description: "Greater than this." }),
      gte: t.field({ type: scalar, description: "Greater than or equal to this." }),
      eq: t.field({ type: scalar, description: "Equal to this." }),
    }),
  });
}

export const IntComparisonInput = comparisonInput(
  "IntComparisonInput",
  "Int",
  "a whole number (a count or an age)",
  "`{ lt: 5 }` or `{ gte: 30, lte: 39 }`",
);
export const SizeComparisonInput = comparisonInput("SizeComparisonInput", "Float", "a size in bytes", "`{ gt: 5000000 }` (over 5 MB)");
export const DateTimeComparisonInput = comparisonInput("DateTimeComparisonInput", "DateTime", "a time", '`{ lt: "2025-06-01T00:00:00Z" }`');

export const ActorFilterInput = builder.inputType("ActorFilterInput", {
  description:
    'Picks actors; every criterion given must hold. Leave a field out to not filter on it. Counts compare with `{ lt lte gt gte eq }`, e.g. `{ gender: "female", goodCount: { lt: 5 } }`.',
  fields: (t) => ({
    name: t.string({ description: "Exact actor name, e.g. `0042_european_30_male`." }),
    names: t.stringList({ description: "Any of these exact actor names." }),
    characterIds: t.stringList({ description: "Four-digit character ids, e.g. `0042`." }),
    nameContains: t.string({ description: "A substring of the name (case-insensitive for ASCII)." }),
    descriptor: t.string({ description: "Descriptor part of the name, e.g. `european`, `east_asian`." }),
    descriptors: t.stringList({ description: "Any of these descriptors." }),
    gender: t.string({ description: "Gender part of the name, e.g. `male`, `female`." }),
    genders: t.stringList({ description: "Any of these genders." }),
    age: t.field({ type: IntComparisonInput, description: "Age part of the name, e.g. `{ gte: 30, lt: 40 }`." }),
    totalCount: t.field({ type: IntComparisonInput, description: "Number of training images." }),
    syncedCount: t.field({ type: IntComparisonInput, description: "Images with status SYNCED." }),
    localOnlyCount: t.field({ type: IntComparisonInput, description: "Images with status LOCAL_ONLY." }),
    s3OnlyCount: t.field({ type: IntComparisonInput, description: "Images with status S3_ONLY." }),
    outOfSyncCount: t.field({ type: IntComparisonInput, description: "Images with status OUT_OF_SYNC." }),
    missingCount: t.field({ type: IntComparisonInput, description: "Images with status MISSING." }),
    uncheckedCount: t.field({ type: IntComparisonInput, description: "Images not checked yet." }),
    goodCount: t.field({
      type: IntComparisonInput,
      description: "Images rated good: `{ lt: 10 }` picks the actors that still need good images.",
    }),
    badCount: t.field({ type: IntComparisonInput, description: "Images rated bad." }),
    unratedCount: t.field({ type: IntComparisonInput, description: "Images not rated yet." }),
    totalSizeBytes: t.field({ type: SizeComparisonInput, description: "Total bytes of the training images." }),
    lastCheckedAt: t.field({
      type: DateTimeComparisonInput,
      description: "Time of the last scan or audit (never-checked actors have none: see `neverChecked`).",
    }),
    neverChecked: t.boolean({ description: "true: never checked; false: checked at least once." }),
    withStatus: t.field({ type: [SyncStatusEnum], description: "At least one image in any of these statuses." }),
    hasUnchecked: t.boolean({ description: "true: some image was never checked; false: every image has been checked." }),
    fullySynced: t.boolean({ description: "true: every image synced (and at least one); false: anything else." }),
    hasUnrated: t.boolean({ description: "true: some image is not rated yet; false: every image is rated." }),
    generationTypes: t.stringList({
      description: "At least one generation of any of these types, e.g. `s3_scan`, `replicate_flux_kontext`.",
    }),
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
    sizeBytes: t.field({ type: SizeComparisonInput, description: "Size in bytes, e.g. `{ gt: 1000000 }`." }),
    checkedAt: t.field({
      type: DateTimeComparisonInput,
      description: "When a scan or audit last set the status (never-checked images have none: see `checked`).",
    }),
    orphan: t.boolean({ description: "true: found in the folder or S3 prefix without being in any manifest." }),
    duplicate: t.boolean({
      description: "true: another image, of this actor or another, has the same MD5 (an exact duplicate); false: none has.",
    }),
  }),
});

export type ActorFilterArg = typeof ActorFilterInput.$inferInput;
export type ImageFilterArg = typeof TrainingImageFilterInput.$inferInput;

type ComparisonArg<T> = { lt?: T | null; lte?: T | null; gt?: T | null; gte?: T | null; eq?: T | null } | null | undefined;

/** Times reach SQL as the ISO text the rows store. */
function timeComparison(input: ComparisonArg<Date>) {
  const bounds = withoutNulls(input);
  return bounds && Object.fromEntries(Object.entries(bounds).map(([key, date]) => [key, (date as Date).toISOString()]));
}

export function toActorFilter(input: ActorFilterArg | null | undefined): ActorFilter | undefined {
  if (input == null) return undefined;
  const { lastCheckedAt, ...rest } = input;
  const filter: Record<string, unknown> = withoutNulls(rest) ?? {};
  for (const key of comparedActorFields) if (filter[key]) filter[key] = withoutNulls(filter[key] as ComparisonArg<number>);
  if (lastCheckedAt != null) filter.lastCheckedAt = timeComparison(lastCheckedAt);
  return filter as ActorFilter;
}

const comparedActorFields = [
  "age",
  "totalCount",
  "syncedCount",
  "localOnlyCount",
  "s3OnlyCount",
  "outOfSyncCount",
  "missingCount",
  "uncheckedCount",
  "goodCount",
  "badCount",
  "unratedCount",
  "totalSizeBytes",
] as const;

export function toImageFilter(input: ImageFilterArg | null | undefined): ImageFilter | undefined {
  if (input == null) return undefined;
  const { sizeBytes, checkedAt, ...rest } = input;
  const filter: Record<string, unknown> = withoutNulls(rest) ?? {};
  if (sizeBytes != null) filter.sizeBytes = withoutNulls(sizeBytes);
  if (checkedAt != null) filter.checkedAt = timeComparison(checkedAt);
  return filter as ImageFilter;
}
