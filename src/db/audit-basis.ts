import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { actors, auditBases, type SyncStatus } from "./schema.ts";
import { bare, cachedStatement, columnList, jsonList, sqlText } from "./statements.ts";
import type { Db } from "./store.ts";

/**
 * What an audit's outcome rested on besides the rows themselves (table audit_bases): the
 * digest of the training folder's image files and of the S3 listing, and what it found
 * untracked. While an actor's rows are as that audit left them (its revision has not
 * moved and no scan has written since) and both digests are the same again, a new audit
 * would compute exactly the same statuses, so it confirms them without reading a row:
 * the warm audit of SPEC.md §6 costs the stat(2) of each file and one short write.
 */
export interface AuditBasis {
  revision: number;
  localDigest: string;
  s3Digest: string | null;
  untrackedLocal: string[];
  untrackedS3: string[];
}

/** The local digest in s3-only mode, where the folder plays no part in the statuses. */
export const s3OnlyLocalDigest = "s3-only";

/** An actor chosen for an audit, with its last audit's basis and the statistics an unchanged audit reports. */
export interface AuditCandidate {
  id: number;
  name: string;
  revision: number;
  exportedRevision: number;
  s3ListedAt: string | null;
  counts: Record<SyncStatus, number>;
  /** Bytes of the images present on either side (every status but missing). */
  bytesPresent: number;
  basis: AuditBasis | null;
}

interface CandidateRow {
  id: number;
  name: string;
  revision: number;
  exportedRevision: number;
  s3ListedAt: string | null;
  synced: number;
  localOnly: number;
  s3Only: number;
  outOfSync: number;
  missing: number;
  bytesPresent: number;
  basisRevision: number | null;
  localDigest: string | null;
  s3Digest: string | null;
  untrackedLocal: string | null;
  untrackedS3: string | null;
}

const a = alias(actors, "a");
const b = alias(auditBases, "b");
const candidates = sql`SELECT ${a.id} AS id, ${a.name} AS name, ${a.revision} AS revision,
    ${a.exportedRevision} AS exportedRevision, ${a.s3ListedAt} AS s3ListedAt, ${a.syncedCount} AS synced,
    ${a.localOnlyCount} AS localOnly, ${a.s3OnlyCount} AS s3Only, ${a.outOfSyncCount} AS outOfSync, ${a.missingCount} AS missing,
    ${a.syncedBytes} + ${a.localOnlyBytes} + ${a.s3OnlyBytes} + ${a.outOfSyncBytes} AS bytesPresent,
    ${b.revision} AS basisRevision, ${b.localDigest} AS localDigest, ${b.s3Digest} AS s3Digest,
    ${b.untrackedLocal} AS untrackedLocal, ${b.untrackedS3} AS untrackedS3
  FROM ${actors} ${a} LEFT JOIN ${auditBases} ${b} ON ${b.actorId} = ${a.id}`;
const everyCandidateText = sqlText(sql`${candidates} ORDER BY ${a.name}`);
const candidatesOfText = sqlText(sql`${candidates} WHERE ${a.id} IN (SELECT value FROM json_each(?)) ORDER BY ${a.name}`);

/** The actors to audit (every one, or those of `actorIds`), by name. */
export function auditCandidates(db: Db, actorIds: readonly number[] | "all"): AuditCandidate[] {
  const rows = (
    actorIds === "all" ? cachedStatement(db, everyCandidateText).all() : cachedStatement(db, candidatesOfText).all(jsonList(actorIds))
  ) as CandidateRow[];
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    revision: row.revision,
    exportedRevision: row.exportedRevision,
    s3ListedAt: row.s3ListedAt,
    counts: { synced: row.synced, local_only: row.localOnly, s3_only: row.s3Only, out_of_sync: row.outOfSync, missing: row.missing },
    bytesPresent: row.bytesPresent,
    basis:
      row.basisRevision === null
        ? null
        : {
            revision: row.basisRevision,
            localDigest: row.localDigest!,
            s3Digest: row.s3Digest,
            untrackedLocal: JSON.parse(row.untrackedLocal!) as string[],
            untrackedS3: JSON.parse(row.untrackedS3!) as string[],
          },
  }));
}

/** Records the basis of an audit just written; call in the transaction that wrote it, after the statistics. */
export function recordAuditBasis(db: Db, actorId: number, basis: Omit<AuditBasis, "revision">): void {
  cachedStatement(db, recordBasisText).run(
    basis.localDigest,
    basis.s3Digest,
    JSON.stringify(basis.untrackedLocal),
    JSON.stringify(basis.untrackedS3),
    actorId,
  );
}

/**
 * A writer other than the audit changed the actor's rows without moving its revision (a
 * scan records ETags and stats the manifests do not show): the next audit looks at every row.
 */
export function forgetAuditBasis(db: Db, actorId: number): void {
  cachedStatement(db, forgetBasisText).run(actorId);
}

/**
 * A verified upload moved the actor's revision without touching its folder: the last audit's
 * basis still describes the local side, and the row now records the object the upload verified
 * (what a new audit would conclude), so the basis follows the revision. Its S3 digest is dropped:
 * the listing it described has changed. Call in the transaction of the upload's record, after the
 * statistics, with the revision they moved from.
 */
export function carryAuditBasis(db: Db, actorId: number, fromRevision: number): void {
  cachedStatement(db, carryBasisText).run({ actorId, fromRevision });
}

const carryBasisText = sqlText(sql`UPDATE ${auditBases}
  SET ${bare(auditBases.revision)} = (SELECT ${actors.revision} FROM ${actors} WHERE ${actors.id} = @actorId), ${bare(auditBases.s3Digest)} = NULL
  WHERE ${auditBases.actorId} = @actorId AND ${auditBases.revision} = @fromRevision`);

// The basis is tied to the revision the audit wrote, read in the same statement.
const recordBasisText = sqlText(sql`INSERT OR REPLACE INTO ${auditBases} (${columnList([
  auditBases.actorId,
  auditBases.revision,
  auditBases.localDigest,
  auditBases.s3Digest,
  auditBases.untrackedLocal,
  auditBases.untrackedS3,
])})
  SELECT ${actors.id}, ${actors.revision}, ?, ?, ?, ? FROM ${actors} WHERE ${actors.id} = ?`);
const forgetBasisText = sqlText(sql`DELETE FROM ${auditBases} WHERE ${auditBases.actorId} = ?`);
