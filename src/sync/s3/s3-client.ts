/**
 * Folder src/sync/s3/: talking to S3. The client (this file) and its setup for a run
 * (s3-setup: a configured bucket, or the embedded s3rver in a process of its own), the
 * content MD5 behind an ETag (content-md5), and verified transfers between disk and S3.
 */
import { createHash } from "node:crypto";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  CreateBucketCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  paginateListObjectsV2,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import type { S3Config } from "../../config.ts";
import { actorPrefix, assertSafeName, isSafeName, isTrainingImageFilename, InvalidFilenameError } from "../files/layout.ts";

/** The fixed key pair s3rver accepts; used only for the embedded server, never for AWS. */
/** The S3 side of a run: a client and the configuration it talks to (an `S3Connection` fits). */
export interface S3Access {
  client: S3Client;
  s3Config: S3Config;
}

export const s3rverCredentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface S3ClientOptions {
  /** Explicit credentials; omitted means the standard AWS chain (env, profile, SSO, IMDS, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Attempts per request including the first (SDK standard retry: backoff with jitter on throttling and 5xx). */
  maxAttempts?: number;
  /** Sockets per host; requests beyond it queue in the agent. */
  maxSockets?: number;
}

/** Default attempts: throttling (SlowDown) backs off from 500 ms, other 5xx from 100 ms, doubling. */
export const defaultMaxAttempts = 6;
export const defaultMaxSockets = 64;

/**
 * An S3 client configured as SPEC.md §4 says. With a custom endpoint the checksum
 * settings are WHEN_REQUIRED: the SDK's default (WHEN_SUPPORTED) streams uploads with
 * aws-chunked framing, which some S3-compatible servers store inside the object
 * (a 12,000-byte file stored as 12,044 bytes, no error). On AWS the defaults are right.
 */
export function createS3Client(s3: S3Config, options: S3ClientOptions = {}): S3Client {
  const maxSockets = options.maxSockets ?? defaultMaxSockets;
  // The machines run Node 20 (SPEC.md §1); the SDK's "will require node >= 22" warning on
  // every CLI run says nothing a user can act on. An explicit setting wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint
      ? {
          endpoint: s3.endpoint,
          requestChecksumCalculation: "WHEN_REQUIRED" as const,
          responseChecksumValidation: "WHEN_REQUIRED" as const,
        }
      : {}),
    forcePathStyle: s3.forcePathStyle,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    maxAttempts: options.maxAttempts ?? defaultMaxAttempts,
    retryMode: "standard",
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    }),
  });
}

/** ETags come quoted on the wire (`"abc…"`); manifests and SQLite keep them bare. */
export function unquoteEtag(etag: string | undefined): string | null {
  if (!etag) return null;
  return etag.replace(/^W\//, "").replace(/^"+|"+$/g, "");
}

/** A single-part ETag is the content MD5; a multipart one (`…-N`) is not (SPEC.md §2). */
export function isPlainMd5Etag(etag: string | null | undefined): etag is string {
  return typeof etag === "string" && /^[0-9a-f]{32}$/i.test(etag);
}

/** The `N` of a multipart ETag `md5(part md5s)-N`, or null for a plain one. */
export function multipartPartCount(etag: string | null | undefined): number | null {
  const match = typeof etag === "string" ? /^[0-9a-f]{32}-(\d+)$/i.exec(etag) : null;
  return match ? Number(match[1]) : null;
}

export interface ListedObject {
  key: string;
  /** The key below the actor's prefix, validated as one safe path segment. */
  filename: string;
  size: number;
  /** Unquoted. */
  etag: string | null;
  /** ISO 8601. */
  lastModified: string | null;
}

export interface SkippedKey {
  key: string;
  reason: string;
}

export interface ActorListing {
  /** Training images directly under the actor's prefix. */
  objects: ListedObject[];
  /** Keys under the prefix that are not training images (other extensions, sub-folders, unsafe names). */
  skipped: SkippedKey[];
}

/** Every object under `prefix`, following continuation tokens (1,000 keys a page). */
export async function* listObjects(client: S3Client, bucket: string, prefix: string) {
  for await (const page of paginateListObjectsV2({ client, pageSize: 1000 }, { Bucket: bucket, Prefix: prefix })) {
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined) continue;
      yield {
        key: object.Key,
        size: object.Size ?? 0,
        etag: unquoteEtag(object.ETag),
        lastModified: object.LastModified ? object.LastModified.toISOString() : null,
      };
    }
  }
}

/** The training images of one actor in S3 (`{prefix}{name}/{filename}`), stat only: no HEAD, no GET. */
export async function listActorObjects(client: S3Client, s3: S3Config, name: string): Promise<ActorListing> {
  const prefix = actorPrefix(s3, name);
  const listing: ActorListing = { objects: [], skipped: [] };
  for await (const object of listObjects(client, s3.bucket, prefix)) addActorKey(listing, object, object.key.slice(prefix.length));
  return listing;
}

/**
 * Every actor's listing from one listing of the whole prefix (a request per 1,000 keys, not
 * one per actor), by the name right under the prefix (`{prefix}{name}/…`). A name with no
 * training image under it still appears (its keys skipped): it is a prefix that tells of an actor.
 */
export async function listEveryActor(client: S3Client, s3: S3Config): Promise<Map<string, ActorListing>> {
  const byActor = new Map<string, ActorListing>();
  for await (const object of listObjects(client, s3.bucket, s3.prefix)) {
    const rest = object.key.slice(s3.prefix.length);
    const slash = rest.indexOf("/");
    if (slash <= 0) continue;
    const name = rest.slice(0, slash);
    // Never an actor's prefix (the trash, `.trash/`, among them): its keys are not kept.
    if (!isSafeName(name)) continue;
    let listing = byActor.get(name);
    if (!listing) byActor.set(name, (listing = { objects: [], skipped: [] }));
    addActorKey(listing, object, rest.slice(slash + 1));
  }
  return byActor;
}

/**
 * One actor's listing: its part of a listing of every actor when one was taken, else (none, or
 * it failed) a listing of its own prefix, so that one actor's failure never stops the others.
 */
export async function actorListing(
  s3: S3Access,
  name: string,
  every: Promise<Map<string, ActorListing> | Error> | undefined,
): Promise<ActorListing> {
  const all = await every;
  if (all === undefined || all instanceof Error) return listActorObjects(s3.client, s3.s3Config, name);
  return all.get(name) ?? { objects: [], skipped: [] };
}

/** Files a key below an actor's prefix as a training image, or as skipped with the reason. */
function addActorKey(listing: ActorListing, object: Omit<ListedObject, "filename">, filename: string): void {
  try {
    assertSafeName(filename);
  } catch (error) {
    listing.skipped.push({ key: object.key, reason: error instanceof InvalidFilenameError ? error.reason : String(error) });
    return;
  }
  if (!isTrainingImageFilename(filename)) listing.skipped.push({ key: object.key, reason: "not a training image (.jpg, .jpeg, .png)" });
  else listing.objects.push({ ...object, filename });
}

export interface HeadInfo {
  size: number;
  etag: string | null;
  lastModified: string | null;
  /** Content MD5 from `x-amz-meta-md5`, which this service writes on every upload. */
  metadataMd5: string | null;
  /** Set in a bucket that keeps versions. */
  versionId: string | null;
}

/** HEAD of one object, or null when it does not exist. */
export async function headObject(client: S3Client, bucket: string, key: string, versionId?: string): Promise<HeadInfo | null> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
    const md5 = head.Metadata?.md5;
    return {
      size: head.ContentLength ?? 0,
      etag: unquoteEtag(head.ETag),
      lastModified: head.LastModified ? head.LastModified.toISOString() : null,
      metadataMd5: md5 && /^[0-9a-f]{32}$/i.test(md5) ? md5.toLowerCase() : null,
      versionId: head.VersionId ?? null,
    };
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === "NotFound" || error.name === "NoSuchKey" || error.$metadata.httpStatusCode === 404;
}

export class UploadVerificationError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`upload of ${key} not verified: ${reason}`);
    this.name = "UploadVerificationError";
  }
}

export interface PutResult {
  key: string;
  md5: string;
  size: number;
  etag: string | null;
}

/**
 * Puts a small object in one request with its content MD5 in `x-amz-meta-md5` and in
 * Content-MD5 (the server rejects a corrupted body), then checks the stored ETag is that
 * MD5 (a single PUT's ETag is the content MD5 on AWS and on s3rver).
 */
export async function putObjectWithMd5(
  client: S3Client,
  bucket: string,
  key: string,
  body: Buffer,
  /** `md5`: the body's MD5 (hex) when the caller has just computed it, so the body is not hashed twice. */
  options: { contentType?: string; metadata?: Record<string, string>; md5?: string } = {},
): Promise<PutResult> {
  const digest = options.md5 ? Buffer.from(options.md5, "hex") : createHash("md5").update(body).digest();
  const md5 = digest.toString("hex");
  const command = new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: body,
    ContentLength: body.length,
    ContentMD5: digest.toString("base64"),
    ContentType: options.contentType ?? contentTypeOf(key),
    Metadata: { ...options.metadata, md5 },
  });
  // The body is checked by its Content-MD5 (S3 refuses another) and the ETag below; the SHA-256 of
  // it SigV4 would sign is a second hash of every byte on the main thread (measured: ~1.4 s of CPU per GB).
  command.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      return next(args);
    },
    { step: "build", name: "unsignedPayloadWithContentMd5" },
  );
  const answer = await client.send(command);
  const etag = unquoteEtag(answer.ETag);
  if (etag !== null && isPlainMd5Etag(etag) && etag.toLowerCase() !== md5) {
    throw new UploadVerificationError(key, `stored ETag ${etag} is not the content MD5 ${md5}`);
  }
  return { key, md5, size: body.length, etag };
}

export function contentTypeOf(filename: string): string {
  return /\.png$/i.test(filename) ? "image/png" : /\.jpe?g$/i.test(filename) ? "image/jpeg" : "application/octet-stream";
}

/** Creates the bucket unless it exists (the embedded server and tests; never needed on AWS). */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/** One line for a failed S3 request: code, HTTP status and message, for reports. */
export function describeS3Error(error: unknown): string {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    const attempts = error.$metadata.attempts;
    return `${error.name}${status ? ` (HTTP ${status}` : ""}${status && attempts ? `, after ${attempts} attempts)` : status ? ")" : ""}: ${error.message}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
