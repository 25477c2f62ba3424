import { createHash } from "node:crypto";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import pLimit from "p-limit";
import type { AuditedImage } from "../../db/audit-writes.ts";
import type { LocalHash } from "../hashing/hash-cache.ts";
import { s3KeyOf } from "../files/layout.ts";
import { candidatePartSizes, knownS3ContentMd5, multipartEtagMatches, multipartPartCount, type S3ContentMd5 } from "../s3/content-md5.ts";
import { headObject, type ListedObject, type S3Access } from "../s3/s3-client.ts";
import type { ActorAuditResult } from "./audit.ts";
import type { HashRow } from "./audit-actor.ts";

/**
 * The S3 content MD5 of each row's object: stated by the ETag or recorded for it, else
 * metadata by HEAD, else the multipart rule over the local file's part ETags, else the
 * object's own bytes. Only content compared with a local file of the same size needs more
 * than the ETag. Reads and downloads are counted in `result`.
 */
export async function resolveS3ContentMd5s(
  s3: S3Access,
  rows: readonly AuditedImage[],
  s3Of: Map<number, ListedObject | null>,
  hashes: Map<number, LocalHash>,
  hashOf: HashRow,
  result: ActorAuditResult,
): Promise<Map<number, S3ContentMd5>> {
  const s3Md5 = new Map<number, S3ContentMd5>();
  const unresolved: AuditedImage[] = [];
  for (const row of rows) {
    const object = s3Of.get(row.id);
    if (!object) continue;
    const known = knownS3ContentMd5(object.etag, { s3Md5: row.s3Md5, s3Md5Etag: row.s3Md5Etag });
    const hash = hashes.get(row.id);
    s3Md5.set(row.id, known);
    if (!known.md5 && hash && hash.size === object.size) unresolved.push(row);
  }
  const heads = pLimit(8);
  await Promise.all(
    unresolved.map((row) =>
      heads(async () => {
        const object = s3Of.get(row.id)!;
        const hash = hashes.get(row.id)!;
        const head = await headObject(s3.client, s3.s3Config.bucket, object.key);
        if (head && head.etag === object.etag) {
          const fromHead = knownS3ContentMd5(object.etag, { metadataMd5: head.metadataMd5 });
          if (fromHead.md5) return void s3Md5.set(row.id, fromHead);
        }
        const parts = multipartPartCount(object.etag);
        const sizes = parts === null ? [] : candidatePartSizes(object.size, parts);
        let localEtags = hash.multipartEtags;
        if (sizes.some((size) => localEtags[String(size)] === undefined)) {
          const again = await hashOf(row, sizes);
          result.filesHashed += 1;
          result.bytesHashed += again.bytesRead;
          localEtags = again.multipartEtags;
        }
        if (object.etag && multipartEtagMatches(object.etag, localEtags))
          return void s3Md5.set(row.id, { md5: hash.md5, source: "multipart-etag" });
        // No plausible part size explains the ETag: read the object itself rather than guess.
        const downloaded = await md5OfObject(s3.client, s3.s3Config.bucket, object.key);
        result.bytesDownloaded += downloaded.size;
        s3Md5.set(row.id, { md5: downloaded.md5, source: "download" });
      }),
    ),
  );
  return s3Md5;
}

/**
 * Part sizes to compute in the first read, when the object's recorded ETag is multipart
 * and nothing recorded tells its content MD5 (saves a second read of the file).
 */
export function guessPartSizes(row: AuditedImage, localSize: number): number[] | undefined {
  if (!mayNeedPartSizes(row) || row.s3Size !== localSize) return undefined;
  return candidatePartSizes(localSize, multipartPartCount(row.s3Etag!)!);
}

/** Whether the row's recorded object has a multipart ETag and nothing recorded tells its content MD5. */
export function mayNeedPartSizes(row: AuditedImage): boolean {
  if (!row.s3Etag || knownS3ContentMd5(row.s3Etag, { s3Md5: row.s3Md5, s3Md5Etag: row.s3Md5Etag }).md5) return false;
  return multipartPartCount(row.s3Etag) !== null;
}

/** The S3 side as the last scan or audit recorded it (no request). */
export function recordedObjects(s3: S3Access, name: string, rows: readonly AuditedImage[]): ListedObject[] {
  return rows
    .filter((row) => row.s3Size !== null && row.s3Etag !== null)
    .map((row) => ({
      key: row.s3Key ?? s3KeyOf(s3.s3Config, name, row.filename),
      filename: row.filename,
      size: row.s3Size!,
      etag: row.s3Etag,
      lastModified: row.s3LastModified,
    }));
}

/** HEAD of a key as a listing entry, or null when there is no such object. */
export async function headAsListed(s3: S3Access, key: string, filename: string): Promise<ListedObject | null> {
  const head = await headObject(s3.client, s3.s3Config.bucket, key);
  return head ? { key, filename, size: head.size, etag: head.etag, lastModified: head.lastModified } : null;
}

/** MD5 of an object's bytes, streamed (the last resort for an ETag nothing else explains). */
async function md5OfObject(client: S3Client, bucket: string, key: string): Promise<{ md5: string; size: number }> {
  const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash("md5");
  let size = 0;
  for await (const chunk of answer.Body as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { md5: hash.digest("hex"), size };
}
