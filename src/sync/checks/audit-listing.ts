import { createHash } from "node:crypto";
import type { ListedObject } from "../s3/s3-client.ts";

/** Digest of an actor's listing (key, ETag, size, last-modified of each object, in key order). */
export function listingDigest(objects: readonly ListedObject[]): string {
  const hash = createHash("md5");
  for (const object of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    hash.update(`${object.key}\0${object.etag}\0${object.size}\0${object.lastModified}\n`);
  }
  return hash.digest("hex");
}
