import { sql } from "drizzle-orm";
import { sqliteTable, text, integer, real, index, uniqueIndex, primaryKey } from "drizzle-orm/sqlite-core";

/** Sync status values as the manifests spell them (SPEC.md §2). */
export const syncStatuses = ["synced", "local_only", "s3_only", "out_of_sync", "missing"] as const;
export type SyncStatus = (typeof syncStatuses)[number];
/** Images by sync status, and those no check could tell yet (`unchecked`). */
export type StatusCounts = Record<SyncStatus | "unchecked", number>;

/** The statistics columns of `actors`, and of `statsTotals`, which sums them over a group of actors. */
export const figureColumns = () => ({
  totalCount: integer("total_count").notNull().default(0),
  syncedCount: integer("synced_count").notNull().default(0),
  localOnlyCount: integer("local_only_count").notNull().default(0),
  s3OnlyCount: integer("s3_only_count").notNull().default(0),
  outOfSyncCount: integer("out_of_sync_count").notNull().default(0),
  missingCount: integer("missing_count").notNull().default(0),
  uncheckedCount: integer("unchecked_count").notNull().default(0),
  goodCount: integer("good_count").notNull().default(0),
  badCount: integer("bad_count").notNull().default(0),
  unratedCount: integer("unrated_count").notNull().default(0),
  totalSizeBytes: integer("total_size_bytes").notNull().default(0),
  syncedBytes: integer("synced_bytes").notNull().default(0),
  localOnlyBytes: integer("local_only_bytes").notNull().default(0),
  s3OnlyBytes: integer("s3_only_bytes").notNull().default(0),
  outOfSyncBytes: integer("out_of_sync_bytes").notNull().default(0),
  missingBytes: integer("missing_bytes").notNull().default(0),
  uncheckedBytes: integer("unchecked_bytes").notNull().default(0),
  goodBytes: integer("good_bytes").notNull().default(0),
  badBytes: integer("bad_bytes").notNull().default(0),
  unratedBytes: integer("unrated_bytes").notNull().default(0),
});

export const actors = sqliteTable(
  "actors",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** Four-digit id with leading zeros, or null when the name does not start with one. */
    characterId: text("character_id"),
    name: text("name").notNull(),
    descriptor: text("descriptor"),
    age: integer("age"),
    gender: text("gender"),
    manifestUpdatedAt: text("manifest_updated_at"),
    lastCheckedAt: text("last_checked_at"),
    /** When the actor's S3 prefix was last listed (scan, sync, `audit --list`): the age of the S3 side an audit compares with. */
    s3ListedAt: text("s3_listed_at"),
    /** Bumped by every change of the actor or its images; exports compare it. */
    revision: integer("revision").notNull().default(0),
    /** Revision last written to the manifests (export skips actors already written). */
    exportedRevision: integer("exported_revision").notNull().default(0),
    // Statistics, recomputed in the transaction that changes the images (read far more than
    // written): counts and bytes by status and by rating, so every grouping of `stats` reads actors only.
    ...figureColumns(),
  },
  (t) => [
    uniqueIndex("actors_name_unique").on(t.name),
    index("actors_character_id").on(t.characterId),
    // With the name: "actors below N good images", fewest first then by name, reads the index in order.
    index("actors_good_count").on(t.goodCount, t.name),
  ],
);

/**
 * The actors' statistics summed overall (`grouping` 'all') and per descriptor, gender and
 * age band, kept by triggers on `actors` (migration 0009), so `stats` without a filter reads a
 * few rows instead of every actor, also right after a write.
 */
export const statsTotals = sqliteTable(
  "stats_totals",
  {
    /** 'all', 'descriptor', 'gender' or 'ageBand'. */
    grouping: text("grouping").notNull(),
    /** 1 for the group of actors without that part (and for 'all'); `key` is '' then. */
    keyIsNull: integer("key_is_null").notNull(),
    key: text("key").notNull(),
    actorCount: integer("actor_count").notNull().default(0),
    /** Actors with at least one image and every image synced. */
    fullySyncedCount: integer("fully_synced_count").notNull().default(0),
    ...figureColumns(),
  },
  (t) => [primaryKey({ columns: [t.grouping, t.keyIsNull, t.key] })],
);

/** Generations and their images per generation type, kept by triggers on `generations` (migration 0009). */
export const generationTypeTotals = sqliteTable("generation_type_totals", {
  type: text("type").primaryKey(),
  /** Actors with at least one generation of this type. */
  actorCount: integer("actor_count").notNull().default(0),
  generationCount: integer("generation_count").notNull().default(0),
  imageRows: integer("image_rows").notNull().default(0),
  imageBytes: integer("image_bytes").notNull().default(0),
});

export const generations = sqliteTable(
  "generations",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    actorId: integer("actor_id")
      .notNull()
      .references(() => actors.id, { onDelete: "cascade" }),
    /** The manifest's own `generation_id`, unique within the actor. */
    generationKey: integer("generation_key").notNull(),
    type: text("type").notNull(),
    generatedAt: text("generated_at"),
    imageCount: integer("image_count").notNull().default(0),
    /** Images rows that belong to this generation now, and their bytes (kept with the actor's statistics). */
    imageRows: integer("image_rows").notNull().default(0),
    imageBytes: integer("image_bytes").notNull().default(0),
    /** Free metadata as a JSON text. */
    metadata: text("metadata"),
  },
  (t) => [uniqueIndex("generations_actor_key").on(t.actorId, t.generationKey), index("generations_type").on(t.type)],
);

export const images = sqliteTable(
  "images",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    actorId: integer("actor_id")
      .notNull()
      .references(() => actors.id, { onDelete: "cascade" }),
    filename: text("filename").notNull(),
    /** The `{index}` of `{name}_{index}.jpg`, when the filename has that shape. */
    index: integer("index"),
    s3Key: text("s3_key"),
    s3Url: text("s3_url"),
    localPath: text("local_path"),
    /** MD5 of the content as last known (from a manifest or an audit). */
    md5: text("md5"),
    sizeBytes: integer("size_bytes"),
    modifiedAt: text("modified_at"),
    modifiedTimestamp: real("modified_timestamp"),
    prompt: text("prompt"),
    promptPreview: text("prompt_preview"),
    generatedAt: text("generated_at"),
    generationId: integer("generation_id").references(() => generations.id, { onDelete: "set null" }),
    source: text("source"),
    status: text("status", { enum: syncStatuses }),
    good: integer("good", { mode: "boolean" }),
    checkedAt: text("checked_at"),
    // What the last scan saw of each side (stat only), to tell what changed since.
    localSize: integer("local_size"),
    localMtimeMs: real("local_mtime_ms"),
    s3Etag: text("s3_etag"),
    s3Size: integer("s3_size"),
    s3LastModified: text("s3_last_modified"),
    /** Content MD5 stored in the object's metadata (x-amz-meta-md5), or established by an audit. */
    s3Md5: text("s3_md5"),
    /** The ETag `s3_md5` was established for: while the object keeps that ETag, audit need not read it again. */
    s3Md5Etag: text("s3_md5_etag"),
    /** Set when the image was found under the folder or prefix without being in any manifest. */
    orphan: integer("orphan", { mode: "boolean" }).notNull().default(false),
  },
  // One index only: each secondary index nearly doubled the cost of a bulk import (measured:
  // 500,000 inserts 2.6 s with status/good/generation indexes, 1.5 s without), while filters
  // across all images scan half a million narrow rows in tens of milliseconds.
  (t) => [uniqueIndex("images_actor_filename").on(t.actorId, t.filename)],
);

/** Every manifest-like file the importer read, to skip unchanged ones and to detect edits by other tools. */
export const sourceFiles = sqliteTable(
  "source_files",
  {
    path: text("path").primaryKey(),
    actorId: integer("actor_id").references(() => actors.id, { onDelete: "cascade" }),
    format: text("format", { enum: ["format_a", "format_b", "prompt_metadata", "response"] }).notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    mtimeMs: real("mtime_ms").notNull(),
    /** SHA-1 of the bytes last read or written: an export refuses to replace other content. */
    contentHash: text("content_hash").notNull(),
    /** Null when the file imported cleanly; otherwise the reason it was skipped. */
    error: text("error"),
    importedAt: text("imported_at").notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
  },
  (t) => [index("source_files_actor").on(t.actorId)],
);

/** Local MD5s keyed by what identifies unchanged content: path + size + mtime + inode. */
export const hashCache = sqliteTable("hash_cache", {
  path: text("path").primaryKey(),
  sizeBytes: integer("size_bytes").notNull(),
  mtimeMs: real("mtime_ms").notNull(),
  inode: integer("inode").notNull(),
  /** Status-change time: catches an in-place edit whose mtime was set back (utimes cannot set ctime). */
  ctimeMs: real("ctime_ms"),
  md5: text("md5").notNull(),
});

/**
 * What the last audit of an actor rested on (see audit-basis.ts): while the actor's rows are
 * as that audit left them (same revision, no scan since) and the folder's image files stat
 * the same, a new audit would find exactly what it found, so it need not look at a row.
 */
export const auditBases = sqliteTable("audit_bases", {
  actorId: integer("actor_id")
    .primaryKey()
    .references(() => actors.id, { onDelete: "cascade" }),
  /** The actor's revision right after the audit wrote. */
  revision: integer("revision").notNull(),
  /** Digest of the training folder's image files (name, size, mtime, ctime, inode); "s3-only" in that mode. */
  localDigest: text("local_digest").notNull(),
  /** Digest of the actor's S3 listing the rows reflect (key, ETag, size, last-modified); null when not listed. */
  s3Digest: text("s3_digest"),
  /** Images in the folder or prefix that no manifest lists, as JSON lists of filenames. */
  untrackedLocal: text("untracked_local").notNull().default("[]"),
  untrackedS3: text("untracked_s3").notNull().default("[]"),
});

export type ActorRow = typeof actors.$inferSelect;
export type ImageRow = typeof images.$inferSelect;
export type GenerationRow = typeof generations.$inferSelect;
export type SourceFileRow = typeof sourceFiles.$inferSelect;

/**
 * Write-through intents (SPEC.md §7): recorded before S3 or disk is touched, done once the
 * actor's manifests say what happened. At start, pending ones are settled by looking at S3
 * and disk.
 */
export const intents = sqliteTable(
  "intents",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    actorId: integer("actor_id")
      .notNull()
      .references(() => actors.id, { onDelete: "cascade" }),
    filename: text("filename").notNull(),
    /** upload | download | delete_s3 | delete_local | forget | rate | add */
    operation: text("operation").notNull(),
    /** JSON: what the step expects (md5, size, direction). */
    detail: text("detail"),
    state: text("state", { enum: ["pending", "done", "failed"] })
      .notNull()
      .default("pending"),
    error: text("error"),
    createdAt: text("created_at").notNull(),
    settledAt: text("settled_at"),
    /** The process lease that recorded it: recovery settles it only once that lease has expired. */
    ownerId: text("owner_id"),
  },
  (t) => [index("intents_pending").on(t.state, t.actorId)],
);

/** Long operations run as jobs with progress (SPEC.md §7); kept as history with each actor's outcome. */
export const jobs = sqliteTable("jobs", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  kind: text("kind").notNull(),
  state: text("state", { enum: ["running", "succeeded", "failed", "interrupted"] }).notNull(),
  /** JSON of the options the job was started with. */
  params: text("params"),
  dryRun: integer("dry_run", { mode: "boolean" }).notNull().default(false),
  actorsTotal: integer("actors_total").notNull().default(0),
  actorsDone: integer("actors_done").notNull().default(0),
  bytesTotal: integer("bytes_total").notNull().default(0),
  bytesDone: integer("bytes_done").notNull().default(0),
  startedAt: text("started_at").notNull(),
  finishedAt: text("finished_at"),
  error: text("error"),
  /** The process lease running it: a job is only marked interrupted once that lease has expired. */
  ownerId: text("owner_id"),
});

export const jobActors = sqliteTable(
  "job_actors",
  {
    jobId: integer("job_id")
      .notNull()
      .references(() => jobs.id, { onDelete: "cascade" }),
    actorId: integer("actor_id").references(() => actors.id, { onDelete: "set null" }),
    actorName: text("actor_name").notNull(),
    state: text("state", { enum: ["pending", "succeeded", "failed", "skipped"] }).notNull(),
    /** JSON: per-image outcomes and counts. */
    outcome: text("outcome"),
    error: text("error"),
  },
  (t) => [uniqueIndex("job_actors_job_actor").on(t.jobId, t.actorName)],
);

export type IntentRow = typeof intents.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
export type JobActorRow = typeof jobActors.$inferSelect;

/**
 * One row per process that writes (SPEC.md §7, several processes): its heartbeat pushes
 * `expiresAt` on; a row past it, or of a process of this host that no longer runs, belongs
 * to a process that is gone, and its intents, locks and jobs are anyone's to settle.
 */
export const processLeases = sqliteTable("process_leases", {
  ownerId: text("owner_id").primaryKey(),
  pid: integer("pid").notNull(),
  host: text("host").notNull(),
  /** What the process runs (`sync --all`, `serve`), to name it to whoever waits for it. */
  command: text("command").notNull(),
  startedAt: text("started_at").notNull(),
  /** Epoch milliseconds. */
  expiresAt: integer("expires_at").notNull(),
});

/** The process working on an actor now (SPEC.md §7: one at a time, across processes). */
export const actorLocks = sqliteTable("actor_locks", {
  actorId: integer("actor_id")
    .primaryKey()
    .references(() => actors.id, { onDelete: "cascade" }),
  ownerId: text("owner_id").notNull(),
  acquiredAt: text("acquired_at").notNull(),
});

/**
 * A manifest about to replace `path` with content of `contentHash`, recorded before the
 * rename: after a crash between the rename and its record in `source_files`, the file on disk
 * is recognised as this service's own write, not another tool's edit.
 */
export const manifestWrites = sqliteTable("manifest_writes", {
  path: text("path").primaryKey(),
  contentHash: text("content_hash").notNull(),
  startedAt: text("started_at").notNull(),
});

/** The shared log of actor changes: a server publishes to its subscribers what other processes wrote. */
export const actorChanges = sqliteTable("actor_changes", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  actorId: integer("actor_id"),
  name: text("name").notNull(),
  reason: text("reason").notNull(),
  jobId: integer("job_id"),
  ownerId: text("owner_id").notNull(),
  /** Epoch milliseconds, to drop old rows. */
  at: integer("at").notNull(),
});

export type ProcessLeaseRow = typeof processLeases.$inferSelect;
export type ActorChangeRow = typeof actorChanges.$inferSelect;

/**
 * What the trash keeps (SPEC.md §7, losers are kept): a local file moved to
 * `$DATA_DIR/.trash/{id}/…` or an S3 object copied under the trash prefix (or, in a bucket that
 * keeps versions, the version id it left behind) before a repair replaced it or a deletion
 * removed it. A row is written `moving` before the file or object is touched and becomes
 * `kept` once it is there; after a crash, recovery tells which by looking.
 */
export const trashItems = sqliteTable(
  "trash_items",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** No foreign key: a trash record outlives anything that happens to the actor's row. */
    actorId: integer("actor_id").notNull(),
    actorName: text("actor_name").notNull(),
    filename: text("filename").notNull(),
    side: text("side", { enum: ["local", "s3"] }).notNull(),
    /** What put it there: a repair that overwrote it, a deletion, or a restore that replaced it. */
    origin: text("origin", { enum: ["repair", "delete", "restore"] }).notNull(),
    /** Where it came from: the data-dir-relative path of the file, or the object key. */
    originalLocation: text("original_location").notNull(),
    /** Where it is kept: the data-dir-relative path under `.trash/`, or the trash key; null when a version id keeps it. */
    trashLocation: text("trash_location"),
    /** The object version that keeps it, in a bucket with versioning enabled. */
    versionId: text("version_id"),
    md5: text("md5"),
    sizeBytes: integer("size_bytes").notNull().default(0),
    state: text("state", { enum: ["moving", "kept"] }).notNull(),
    trashedAt: text("trashed_at").notNull(),
  },
  (t) => [index("trash_items_actor").on(t.actorId)],
);

export type TrashItemRow = typeof trashItems.$inferSelect;
