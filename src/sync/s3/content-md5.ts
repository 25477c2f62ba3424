/**
 * The S3 side's content MD5 (SPEC.md §2): the ETag when it is a plain MD5; for a multipart
 * ETag `"…-N"` the local file's multipart ETag for plausible part sizes, or the MD5 the
 * uploader stored in `x-amz-meta-md5`. A multipart object is never called out of sync
 * just because its ETag is not an MD5.
 */

import { isPlainMd5Etag } from "./s3-client.ts";

export { isPlainMd5Etag, multipartPartCount } from "./s3-client.ts";

export const MiB = 1024 * 1024;
/** Part sizes of the tools that upload here: @aws-sdk/lib-storage (5 MiB) and the AWS CLI / boto3 (8 MiB). */
export const defaultPartSizes = [5 * MiB, 8 * MiB] as const;
/** S3's limit on the number of parts, and its smallest part (but the last). */
const maxParts = 10_000;
const minPartSize = 5 * MiB;

const md5Pattern = /^[0-9a-f]{32}$/i;

export function isMd5Hex(value: string | null | undefined): value is string {
  return typeof value === "string" && md5Pattern.test(value);
}

/** Whole-MiB part sizes tried beyond the defaults, at most, when N allows many. */
const maxImpliedCandidates = 16;

/**
 * Part sizes worth trying for an object of `size` bytes whose ETag says `partCount` parts:
 * 5 MiB and 8 MiB, then the sizes N implies (every whole-MiB size, up to a few, and
 * ⌈size/N⌉ itself), keeping only those that really cut `size` into `partCount` parts.
 * All of them are computed in the same single read of the file.
 */
export function candidatePartSizes(size: number, partCount: number): number[] {
  if (partCount < 1 || partCount > maxParts) return [];
  if (partCount === 1) return [Math.max(size, 1)]; // every part size ≥ size gives the same ETag
  const smallest = Math.ceil(size / partCount);
  const largest = Math.ceil(size / (partCount - 1)) - 1;
  const implied: number[] = [];
  for (let mib = Math.ceil(smallest / MiB); mib * MiB <= largest && implied.length < maxImpliedCandidates; mib++) {
    implied.push(mib * MiB);
  }
  const fits = (partSize: number) => partSize >= minPartSize && Math.ceil(size / partSize) === partCount;
  return [...new Set([...defaultPartSizes, ...implied, smallest])].filter(fits);
}

export type ContentMd5Source = "etag" | "metadata" | "verified" | "multipart-etag" | "download";

/** The S3 side's content MD5 and where it came from; md5 null when it cannot be told from what is known. */
export interface S3ContentMd5 {
  md5: string | null;
  source: ContentMd5Source | null;
}

/**
 * The S3 side's content MD5 as far as it is known without reading the file or the
 * object: a plain ETag, the metadata MD5, or the MD5 an earlier audit established for
 * this very ETag (an ETag changes whenever the object's content does).
 */
export function knownS3ContentMd5(
  etag: string | null,
  known: { metadataMd5?: string | null; s3Md5?: string | null; s3Md5Etag?: string | null } = {},
): S3ContentMd5 {
  if (isPlainMd5Etag(etag)) return { md5: etag.toLowerCase(), source: "etag" };
  if (isMd5Hex(known.metadataMd5)) return { md5: known.metadataMd5.toLowerCase(), source: "metadata" };
  if (etag && known.s3Md5Etag === etag && isMd5Hex(known.s3Md5)) return { md5: known.s3Md5.toLowerCase(), source: "verified" };
  return { md5: null, source: null };
}

/** Whether one of the local file's multipart ETags (one per part size tried) is the object's ETag. */
export function multipartEtagMatches(etag: string, localMultipartEtags: Record<string, string>): boolean {
  const wanted = etag.toLowerCase();
  return Object.values(localMultipartEtags).some((candidate) => candidate === wanted);
}
