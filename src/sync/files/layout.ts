/**
 * Folder src/sync/files/: where things live (the data directory's actor folders and the S3
 * keys beside them, and the name rules both obey, in this file) and how files are touched
 * safely: never through a link (safe-files), replaced atomically (atomic-write), temporary
 * files of interrupted work found and removed (temporary-files).
 */
import { join, resolve, sep } from "node:path";
import type { S3Config } from "../../config.ts";

/** Thrown when a filename, actor name or key from a file or request could escape its folder or prefix. */
export class InvalidFilenameError extends Error {
  constructor(
    readonly value: string,
    readonly reason: string,
  ) {
    super(`unsafe name ${JSON.stringify(value)}: ${reason}`);
    this.name = "InvalidFilenameError";
  }
}

/** The longest file name local file systems take (NAME_MAX), in UTF-8 bytes. */
export const maxNameBytes = 255;
/** S3's limit on an object key, in UTF-8 bytes. */
export const maxS3KeyBytes = 1024;

/**
 * A filename or actor name is data, never a path (SPEC.md §3): one plain path segment,
 * no separators, no `..`, no NUL, nothing that resolves elsewhere. A leading `.` is
 * refused too: the service's own temporary files start with one, so a user's file can
 * never be taken (and removed by recovery) for one of them.
 */
export function assertSafeName(value: string): string {
  if (typeof value !== "string" || value.length === 0) throw new InvalidFilenameError(String(value), "empty");
  if (value.includes("\0")) throw new InvalidFilenameError(value, "contains a NUL byte");
  // S3 lists keys in XML, which reads "\r\n" as "\n": such an image was listed as another name
  // and its own was LOCAL_ONLY after every scan. A lone surrogate made no S3 key at all.
  if (/\p{Cc}/u.test(value)) throw new InvalidFilenameError(value, "contains a control character");
  if (/\p{Cs}/u.test(value)) throw new InvalidFilenameError(value, "is not valid Unicode (a lone surrogate)");
  if (value.includes("/") || value.includes("\\")) throw new InvalidFilenameError(value, "contains a path separator");
  if (value.includes("..")) throw new InvalidFilenameError(value, "contains '..'");
  if (value.startsWith(".")) throw new InvalidFilenameError(value, "starts with '.' (reserved for the service's temporary files)");
  if (/^[a-zA-Z]:/.test(value)) throw new InvalidFilenameError(value, "looks like a drive path");
  if (Buffer.byteLength(value, "utf8") > maxNameBytes) throw new InvalidFilenameError(value, `longer than ${maxNameBytes} bytes (UTF-8)`);
  return value;
}

/** Whether `value` is one safe path segment (assertSafeName), for names that are skipped rather than refused. */
export function isSafeName(value: string): boolean {
  try {
    assertSafeName(value);
    return true;
  } catch {
    return false;
  }
}

/** What makes a filename a training image (also handed to the hashing workers, which cannot import this module). */
export const trainingImagePattern = /\.(jpe?g|png)$/i;

export function isTrainingImageFilename(filename: string): boolean {
  return trainingImagePattern.test(filename);
}

/** The `{index}` of `{name}_{index}.{ext}`, or null when the filename has another shape. */
export function imageIndexOf(actorName: string, filename: string): number | null {
  if (!filename.startsWith(`${actorName}_`)) return null;
  const match = /^(\d+)\.(jpe?g|png)$/i.exec(filename.slice(actorName.length + 1));
  return match ? Number(match[1]) : null;
}

export interface NameParts {
  characterId: string | null;
  descriptor: string | null;
  age: number | null;
  gender: string | null;
}

/** `0042_east_asian_30_male` → id 0042, descriptor east_asian, age 30, gender male. */
export function parseActorName(name: string): NameParts {
  const full = /^(\d{4})_(.+)_(\d{1,3})_([a-z]+)$/i.exec(name);
  if (full) return { characterId: full[1]!, descriptor: full[2]!, age: Number(full[3]), gender: full[4]! };
  const idOnly = /^(\d{4})(?:_|$)/.exec(name);
  return { characterId: idOnly ? idOnly[1]! : null, descriptor: null, age: null, gender: null };
}

/** Legacy JSON sometimes has the id as the number 42: keep the four digits. */
export function normalizeCharacterId(value: string | number): string {
  const text = typeof value === "number" ? String(Math.trunc(value)) : value.trim();
  return /^\d+$/.test(text) ? text.padStart(4, "0") : text;
}

/** Where an actor's files live under the data directory (SPEC.md §3). */
export class DataLayout {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = resolve(dataDir);
  }
  get manifestsDir(): string {
    return join(this.root, "actor_manifests");
  }
  get actorsDir(): string {
    return join(this.root, "actors");
  }
  formatAPath(characterId: string): string {
    return join(this.manifestsDir, `${assertSafeName(characterId)}_manifest.json`);
  }
  actorDir(name: string): string {
    return join(this.actorsDir, assertSafeName(name));
  }
  trainingDir(name: string): string {
    return join(this.actorDir(name), "training_data");
  }
  formatBPath(name: string): string {
    return join(this.trainingDir(name), "manifest.json");
  }
  promptMetadataPath(name: string): string {
    return join(this.trainingDir(name), "prompt_metadata.json");
  }
  responsePath(name: string): string {
    return join(this.trainingDir(name), "response.json");
  }
  /** Absolute path of a training image, refusing anything that leaves the actor's folder. */
  imagePath(name: string, filename: string): string {
    const folder = this.trainingDir(name);
    const path = resolve(folder, assertSafeName(filename));
    if (!path.startsWith(folder + sep)) throw new InvalidFilenameError(filename, "resolves outside the actor's folder");
    return path;
  }
  /** The data-dir-relative form manifests store in `local_path`. */
  relativeImagePath(name: string, filename: string): string {
    return `data/actors/${name}/training_data/${filename}`;
  }
}

export function actorPrefix(s3: S3Config, name: string): string {
  return `${s3.prefix}${assertSafeName(name)}/`;
}

/** The object key of an image; refused (naming the filename) when it would pass S3's key limit. */
export function s3KeyOf(s3: S3Config, name: string, filename: string): string {
  const key = `${actorPrefix(s3, name)}${assertSafeName(filename)}`;
  if (Buffer.byteLength(key, "utf8") > maxS3KeyBytes)
    throw new InvalidFilenameError(filename, `makes an S3 key longer than ${maxS3KeyBytes} bytes`);
  return key;
}

export function s3UrlOf(s3: S3Config, key: string): string {
  return `https://${s3.bucket}.s3.${s3.region}.amazonaws.com/${encodedKey(key)}`;
}

/** Where the configured S3 serves an object: the AWS URL on AWS, else the custom endpoint's (path-style unless turned off). */
export function objectUrlOf(s3: S3Config, key: string): string {
  if (!s3.endpoint) return s3UrlOf(s3, key);
  let base = endpointBases.get(s3);
  if (base === undefined) {
    const endpoint = new URL(s3.endpoint);
    if (!s3.forcePathStyle) endpoint.hostname = `${s3.bucket}.${endpoint.hostname}`;
    base = endpoint.toString().replace(/\/$/, "") + (s3.forcePathStyle ? `/${encodeURIComponent(s3.bucket)}` : "");
    endpointBases.set(s3, base);
  }
  return `${base}/${encodedKey(key)}`;
}

// Every image of a page asks for its URL: the endpoint is parsed once per configuration, and a key
// of URL-safe characters (as generated names are) is used as it is rather than split and rejoined.
const endpointBases = new WeakMap<S3Config, string>();
const urlSafeKey = /^[\w\-.~/]*$/;

function encodedKey(key: string): string {
  return urlSafeKey.test(key) ? key : key.split("/").map(encodeURIComponent).join("/");
}
