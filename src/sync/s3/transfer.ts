import { createHash, randomBytes } from "node:crypto";
import { type FileHandle, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { processRuns } from "../../db/process-lease.ts";
import type { S3Access } from "./s3-client.ts";
import { MiB } from "./content-md5.ts";
import { contentTypeOf, headObject, isPlainMd5Etag, putObjectWithMd5, unquoteEtag, UploadVerificationError } from "./s3-client.ts";
import { assertRealFolder, createNewFile, makeRealFolder, openRegularFile, placeFile, readRegularFileUpTo } from "../files/safe-files.ts";
import { stampedNear } from "../hashing/folder-digest.mjs";

/** Files above this go up in parts (@aws-sdk/lib-storage), like the AWS CLI's default threshold. */
export const multipartThreshold = 8 * MiB;
export const multipartPartSize = 8 * MiB;

/** What S3 holds after a verified upload. */
export interface StoredObject {
  md5: string;
  size: number;
  etag: string | null;
  lastModified: string | null;
  /**
   * The uploaded file's mtime as it was read (a change after the read moves it on, so the next scan
   * sees it); null when stamped within the timestamp granularity of the read, where an edit right
   * after could keep the same mtime (the next scan then looks again).
   */
  fileMtimeMs: number | null;
}

/** The local file changed between the audit that planned a transfer and the transfer itself. */
export class ContentChangedError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}; nothing was transferred (audit again)`);
    this.name = "ContentChangedError";
  }
}

/**
 * Uploads a local file with its MD5 in `x-amz-meta-md5` and checks what S3 stored before
 * anyone may call it synced: a single PUT carries Content-MD5 (the server refuses a
 * corrupted body) and answers the ETag; a multipart upload is checked by HEAD (size and
 * metadata MD5). `expectedMd5`, when given, must still be the file's content. The file is a
 * regular file under `root`, read through one descriptor opened without following a link.
 */
export async function uploadFile(
  s3: S3Access,
  key: string,
  root: string,
  path: string,
  expectedMd5?: string,
  onBytes?: (bytes: number) => void,
): Promise<StoredObject> {
  // A file for one PUT is read at once, without the event loop's round trips (open, stat, read,
  // close: measured, they were a sixth of the main thread's time in a cold sync of 300 KB files).
  assertRealFolder(root, dirname(path));
  const readAt = Date.now();
  const small = readRegularFileUpTo(path, multipartThreshold);
  if (small.bytes) {
    const put = await putSingle(s3, key, path, small.bytes, expectedMd5);
    onBytes?.(small.bytes.length);
    // A PUT's answer has no Last-Modified: left for the next listing to fill in (not a change the
    // manifests show), where this process's clock would differ from it and mark the actor changed.
    return { md5: put.md5, size: small.bytes.length, etag: put.etag, lastModified: null, fileMtimeMs: provenMtime(small.stat, readAt) };
  }
  const { handle, stat } = await openRegularFile(root, path);
  const size = stat.size;
  const body = Readable.from(chunksOf(handle));
  try {
    // The MD5 goes up as metadata before any byte: a file changed since its audit is refused here,
    // not stored under the audited MD5 (which later audits would trust).
    const md5 = await md5OfHandle(handle);
    if (expectedMd5 && md5 !== expectedMd5) throw new ContentChangedError(path, `content MD5 is ${md5}, audited as ${expectedMd5}`);
    const upload = new Upload({
      client: s3.client,
      partSize: multipartPartSize,
      queueSize: 4,
      params: { Bucket: s3.s3Config.bucket, Key: key, Body: body, ContentType: contentTypeOf(key), Metadata: { md5 } },
    });
    // lib-storage says how far the parts have gone (`loaded`, cumulative) as each one is sent.
    let reported = 0;
    upload.on("httpUploadProgress", ({ loaded }) => {
      if (loaded === undefined || loaded <= reported) return;
      onBytes?.(loaded - reported);
      reported = loaded;
    });
    await upload.done();
    const head = await headObject(s3.client, s3.s3Config.bucket, key);
    if (!head) throw new UploadVerificationError(key, "the object is not there after the upload");
    if (head.size !== size) throw new UploadVerificationError(key, `stored ${head.size} bytes, the file has ${size}`);
    if (head.metadataMd5 !== md5) throw new UploadVerificationError(key, `stored metadata MD5 ${head.metadataMd5}, the file's is ${md5}`);
    // The file may have changed while it streamed: its MD5 now must still be the one stored.
    const after = await md5OfHandle(handle);
    if (after !== md5) throw new ContentChangedError(path, "changed during the upload");
    return { md5, size, etag: head.etag, lastModified: head.lastModified, fileMtimeMs: provenMtime(stat, readAt) };
  } finally {
    body.destroy(); // a failed upload stops reading before the descriptor closes
    await handle.close();
  }
}

function provenMtime(stat: { mtimeMs: number; ctimeMs: number }, readAt: number): number | null {
  return stampedNear(stat, readAt) ? null : stat.mtimeMs;
}

/**
 * One PUT of a file's bytes. With the audited MD5 the bytes are not hashed here (measured: the
 * main thread's MD5 of every upload competed with the S3 server for the cores): it goes up as
 * Content-MD5, which S3 checks against the body, and a plain ETag (the MD5 of what was stored)
 * must be it; s3rver does not check Content-MD5, the ETag check catches a body that is not the
 * audited one there. Only a failed check, or an ETag that states no MD5, hashes the bytes.
 */
async function putSingle(
  s3: S3Access,
  key: string,
  path: string,
  bytes: Buffer,
  expectedMd5: string | undefined,
): Promise<{ md5: string; etag: string | null }> {
  const md5Of = () => createHash("md5").update(bytes).digest("hex");
  // The file is not what the audit read: said so, as a check before the PUT would have.
  const changedSinceAudit = () => {
    const md5 = md5Of();
    return md5 === expectedMd5 ? null : new ContentChangedError(path, `content MD5 is ${md5}, audited as ${expectedMd5}`);
  };
  const md5 = expectedMd5 ?? md5Of();
  let etag: string | null;
  try {
    etag = (await putObjectWithMd5(s3.client, s3.s3Config.bucket, key, bytes, { md5 })).etag;
  } catch (error) {
    const refused = error instanceof UploadVerificationError || (error as { name?: string }).name === "BadDigest";
    throw (refused && expectedMd5 && changedSinceAudit()) || error;
  }
  if (expectedMd5 && !isPlainMd5Etag(etag)) {
    const changed = changedSinceAudit();
    if (changed) throw changed;
  }
  return { md5, etag };
}

export interface DownloadedFile {
  md5: string;
  size: number;
}

/**
 * Downloads an object into the actor's folder: streamed into a temporary file beside the
 * target while hashing, checked against the object's content MD5 (metadata or plain
 * ETag) and size, fsynced, then put in place. An existing file is never replaced (link fails
 * instead of clobbering): a repair first takes it away in `beforePlace` (to the trash). Nothing
 * is written through a link: the folders under `root` are checked before the temporary file
 * is created and again before it is put in place, and a link in the target's place is refused.
 */
export async function downloadFile(
  s3: S3Access,
  key: string,
  root: string,
  path: string,
  options: { expectedMd5?: string | null; beforePlace?: () => Promise<unknown>; onBytes?: (bytes: number) => void },
): Promise<DownloadedFile> {
  // Created first: the folder check and the new file come before anything is fetched. The
  // folder of an actor known only by its S3 prefix is made here (one folder at a time, no link followed).
  makeRealFolder(root, dirname(path));
  const temporary = temporaryPathIn(dirname(path));
  const file = await createNewFile(root, temporary);
  try {
    const answer = await s3.client.send(new GetObjectCommand({ Bucket: s3.s3Config.bucket, Key: key }));
    const etag = unquoteEtag(answer.ETag);
    const metadataMd5 = answer.Metadata?.md5?.toLowerCase() ?? null;
    const expected = options.expectedMd5 ?? metadataMd5 ?? (isPlainMd5Etag(etag) ? etag!.toLowerCase() : null);
    const hash = createHash("md5");
    let size = 0;
    for await (const chunk of answer.Body as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.length;
      for (let written = 0; written < chunk.length; ) written += (await file.write(chunk, written)).bytesWritten;
      options.onBytes?.(chunk.length);
    }
    const md5 = hash.digest("hex");
    if (answer.ContentLength !== undefined && size !== answer.ContentLength) {
      throw new Error(`${key}: received ${size} bytes of ${answer.ContentLength}`);
    }
    if (expected !== null && md5 !== expected) throw new Error(`${key}: downloaded content MD5 ${md5} is not the object's ${expected}`);
    await file.sync();
    await options.beforePlace?.();
    await placeFile(root, temporary, path, false);
    return { md5, size };
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  } finally {
    await file.close();
  }
}

export async function deleteObject(s3: S3Access, key: string): Promise<void> {
  await s3.client.send(new DeleteObjectCommand({ Bucket: s3.s3Config.bucket, Key: key }));
}

/**
 * Temporary files of interrupted downloads and uploads start with this, so recovery can find
 * and remove them; no user's file can (names starting with `.` are refused).
 */
export const temporaryPrefix = ".am-download.";

/**
 * A new temporary file in `folder`: random, not the target's name, so it fits NAME_MAX whatever
 * that name's length; it names the writing process, so recovery in another leaves it alone.
 */
export function temporaryPathIn(folder: string): string {
  return join(folder, `${temporaryPrefix}${process.pid}.${randomBytes(8).toString("hex")}.tmp`);
}

/**
 * Whether a folder entry is a temporary file of a transfer whose process is gone (one of a
 * process that still runs is a transfer in progress; a name without a pid is an earlier version's).
 */
export function isAbandonedTransferFile(entry: string): boolean {
  if (!entry.startsWith(temporaryPrefix)) return false;
  const pid = /^\.am-download\.(\d+)\.[0-9a-f]{16}\.tmp$/.exec(entry)?.[1];
  return pid === undefined || !processRuns(Number(pid));
}

/** MD5 of an open file's whole content (from its start, whatever the descriptor's position). */
export async function md5OfHandle(handle: FileHandle): Promise<string> {
  const hash = createHash("md5");
  for await (const chunk of chunksOf(handle)) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * An open file's content from its start, a MiB at a time, read through the descriptor
 * (a stream of the FileHandle that does not close it keeps the handle from ever closing).
 */
async function* chunksOf(handle: FileHandle): AsyncGenerator<Buffer> {
  for (let position = 0; ; ) {
    const buffer = Buffer.allocUnsafe(1 << 20);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}
