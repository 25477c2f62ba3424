/**
 * Puts a planned set of objects in S3 (the demo's mix, or the content benchmark's files),
 * each with its content MD5 in `x-amz-meta-md5` as this service writes on every upload.
 */
import { readFile } from "node:fs/promises";
import type { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import pLimit from "p-limit";
import type { S3Config } from "../config.ts";
import type { PlannedObject } from "./demo.ts";
import { md5Hex } from "./image-bytes.ts";
import { s3KeyOf } from "../sync/files/layout.ts";
import { contentTypeOf, putObjectWithMd5 } from "../sync/s3/s3-client.ts";

/** The SDK's default part size; objects above it go up in parts (a `…-N` ETag on real S3). */
export const multipartPartSize = 5 * 1024 * 1024;

export interface SeedResult {
  objects: number;
  bytes: number;
  multipart: number;
}

export async function seedDemoS3(
  client: S3Client,
  s3: S3Config,
  plan: readonly PlannedObject[],
  options: { concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<SeedResult> {
  const limit = pLimit(options.concurrency ?? 16);
  let done = 0;
  let bytes = 0;
  await Promise.all(
    plan.map((object) =>
      limit(async () => {
        const body = object.body ?? (object.path ? await readFile(object.path) : undefined);
        if (!body) throw new Error(`planned object ${object.name}/${object.filename} has neither bytes nor a path`);
        const md5 = md5Hex(body);
        if (md5 !== object.md5)
          throw new Error(`planned object ${object.name}/${object.filename} changed: MD5 ${md5}, plan says ${object.md5}`);
        const key = s3KeyOf(s3, object.name, object.filename);
        if (object.multipart && body.length > multipartPartSize) {
          await new Upload({
            client,
            partSize: multipartPartSize,
            queueSize: 2,
            params: { Bucket: s3.bucket, Key: key, Body: body, ContentType: contentTypeOf(object.filename), Metadata: { md5 } },
          }).done();
        } else {
          await putObjectWithMd5(client, s3.bucket, key, body);
        }
        bytes += body.length;
        options.onProgress?.(++done, plan.length);
      }),
    ),
  );
  return {
    objects: plan.length,
    bytes,
    multipart: plan.filter((object) => object.multipart && object.sizeBytes > multipartPartSize).length,
  };
}
