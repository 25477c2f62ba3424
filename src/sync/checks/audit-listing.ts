import { createHash } from "node:crypto";
import { assertSafeName, isTrainingImageFilename } from "../files/layout.ts";
import { listActorObjects, listObjects, type ListedObject, type S3Access } from "../s3/s3-client.ts";

/** One actor's objects: its part of the listing of every actor when there is one, else a listing of its own prefix. */
export async function actorObjects(
  s3: S3Access,
  name: string,
  listings: Promise<Map<string, ListedObject[]> | Error> | undefined,
): Promise<ListedObject[]> {
  if (listings) {
    const all = await listings;
    if (all instanceof Error) throw all;
    return all.get(name) ?? [];
  }
  return (await listActorObjects(s3.client, s3.s3Config, name)).objects;
}

/** Digest of an actor's listing (key, ETag, size, last-modified of each object, in key order). */
export function listingDigest(objects: readonly ListedObject[]): string {
  const hash = createHash("md5");
  for (const object of [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    hash.update(`${object.key}\0${object.etag}\0${object.size}\0${object.lastModified}\n`);
  }
  return hash.digest("hex");
}

/** One listing of the whole prefix, grouped by actor name (`{prefix}{name}/{filename}`). */
export async function listAllActors(s3: S3Access): Promise<Map<string, ListedObject[]>> {
  const prefix = s3.s3Config.prefix;
  const byActor = new Map<string, ListedObject[]>();
  for await (const object of listObjects(s3.client, s3.s3Config.bucket, prefix)) {
    const rest = object.key.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash <= 0) continue;
    const name = rest.slice(0, slash);
    const filename = rest.slice(slash + 1);
    if (!isSafeSegment(filename) || !isTrainingImageFilename(filename)) continue;
    let list = byActor.get(name);
    if (!list) byActor.set(name, (list = []));
    list.push({ ...object, filename });
  }
  return byActor;
}

function isSafeSegment(value: string): boolean {
  try {
    assertSafeName(value);
    return true;
  } catch {
    return false;
  }
}
