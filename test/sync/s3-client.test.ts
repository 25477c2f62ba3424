import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, HeadBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { mapLimit } from "../../src/sync/concurrency.ts";
import {
  headObject,
  isPlainMd5Etag,
  listActorObjects,
  listObjects,
  multipartPartCount,
  putObjectWithMd5,
  unquoteEtag,
} from "../../src/sync/s3/s3-client.ts";
import { awsCredentialsConfigured, connectS3, usesEmbeddedS3 } from "../../src/sync/s3/s3-setup.ts";
import { bytesFor, md5Of } from "../helpers/actors.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(async () => {
  await server?.stop();
});

async function putMany(s3: Awaited<ReturnType<TestS3Server["newBucket"]>>, keys: string[]) {
  const client = server.client(s3);
  try {
    await mapLimit(keys, 32, (key) => putObjectWithMd5(client, s3.bucket, key, Buffer.from(key)));
  } finally {
    client.destroy();
  }
}

describe("ETags", () => {
  it("tells a content MD5 from a multipart ETag", () => {
    expect(unquoteEtag('"0123456789abcdef0123456789abcdef"')).toBe("0123456789abcdef0123456789abcdef");
    expect(isPlainMd5Etag("0123456789abcdef0123456789abcdef")).toBe(true);
    expect(isPlainMd5Etag("0123456789abcdef0123456789abcdef-3")).toBe(false);
    expect(multipartPartCount("0123456789abcdef0123456789abcdef-3")).toBe(3);
    expect(multipartPartCount("0123456789abcdef0123456789abcdef")).toBeNull();
  });
});

describe("listing", () => {
  it("follows continuation tokens past 1,000 keys (s3rver under --openssl-legacy-provider)", async () => {
    const s3 = await server.newBucket();
    const name = "0007_european_30_male";
    const keys = Array.from({ length: 1_234 }, (_, i) => `${s3.prefix}${name}/${name}_${i}.jpg`);
    await putMany(s3, [
      ...keys,
      `${s3.prefix}${name}/notes.txt`,
      `${s3.prefix}${name}/sub/${name}_1.jpg`,
      `${s3.prefix}${name}x/${name}x_1.jpg`,
    ]);
    const client = server.client(s3);
    try {
      const listing = await listActorObjects(client, s3, name);
      expect(listing.objects).toHaveLength(1_234);
      expect(new Set(listing.objects.map((o) => o.key))).toEqual(new Set(keys));
      const first = listing.objects.find((o) => o.filename === `${name}_0.jpg`)!;
      expect(first.etag).toBe(md5Of(Buffer.from(first.key)));
      expect(first.size).toBe(Buffer.byteLength(first.key));
      expect(first.lastModified).toMatch(/^\d{4}-\d\d-\d\dT/);
      // Another actor whose name extends this one is not listed; other keys are reported, not dropped silently.
      expect(listing.skipped.map((s) => s.key).sort()).toEqual([`${s3.prefix}${name}/notes.txt`, `${s3.prefix}${name}/sub/${name}_1.jpg`]);
    } finally {
      client.destroy();
    }
  });

  it("measured: without the legacy provider every truncated listing answers 500", async () => {
    const plain = await startTestS3Server({ legacyProvider: false });
    try {
      const s3 = await plain.newBucket();
      const client = plain.client(s3, { maxAttempts: 1 });
      try {
        await mapLimit(
          Array.from({ length: 1_001 }, (_, i) => `p/${i}.jpg`),
          32,
          (key) => putObjectWithMd5(client, s3.bucket, key, Buffer.from(key)),
        );
        const listed: string[] = [];
        const error = await (async () => {
          for await (const object of listObjects(client, s3.bucket, "p/")) listed.push(object.key);
        })().catch((e: unknown) => e);
        // Not even the first page arrives: the truncated answer itself needs a (DES) continuation token.
        expect(listed).toHaveLength(0);
        expect(error).toMatchObject({ name: "InternalError", $metadata: { httpStatusCode: 500 } });
      } finally {
        client.destroy();
      }
    } finally {
      await plain.stop();
    }
  });
});

describe("objects", () => {
  it("stores the content MD5 in metadata and the exact bytes (no aws-chunked framing)", async () => {
    const s3 = await server.newBucket();
    const client = server.client(s3);
    try {
      const body = bytesFor("twelve thousand", 12_000);
      const put = await putObjectWithMd5(client, s3.bucket, "k/a.jpg", body);
      expect(put.etag).toBe(md5Of(body));
      const head = await headObject(client, s3.bucket, "k/a.jpg");
      expect(head).toMatchObject({ size: 12_000, etag: md5Of(body), metadataMd5: md5Of(body) });
      const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: "k/a.jpg" }));
      expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
      expect(await headObject(client, s3.bucket, "k/none.jpg")).toBeNull();
    } finally {
      client.destroy();
    }
  });

  it("measured: s3rver stores a body whose Content-MD5 is wrong, and its ETag is the MD5 of what it stored", async () => {
    // AWS refuses such a PUT (BadDigest); on s3rver the upload's ETag check is what tells (transfer.ts).
    const s3 = await server.newBucket();
    const client = server.client(s3);
    try {
      const body = bytesFor("not what the audit read", 5_000);
      const claimed = md5Of(bytesFor("what the audit read", 5_000));
      const put = await client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key: "k/b.jpg", Body: body, ContentMD5: Buffer.from(claimed, "hex").toString("base64") }),
      );
      expect(unquoteEtag(put.ETag)).toBe(md5Of(body));
    } finally {
      client.destroy();
    }
  });
});

describe("retries", () => {
  it("retries 503 SlowDown and 500 InternalError with backoff through the SDK's real retry path", async () => {
    const s3 = await server.newBucket();
    await putMany(
      s3,
      Array.from({ length: 1_100 }, (_, i) => `r/${i}.jpg`),
    );
    let n = 0;
    // Every first attempt fails, alternately throttled and internal errors; retries pass.
    const proxy = await startFaultProxy(server.endpoint, (request) =>
      request.attempt === 1 ? (n++ % 2 === 0 ? { status: 503, code: "SlowDown" } : { status: 500, code: "InternalError" }) : null,
    );
    const client = server.client({ ...s3, endpoint: proxy.endpoint });
    try {
      const keys: string[] = [];
      for await (const object of listObjects(client, s3.bucket, "r/")) keys.push(object.key);
      expect(keys).toHaveLength(1_100);
      expect(proxy.faults).toBe(2); // two pages, each failed once
      expect(proxy.seen.map((r) => r.attempt)).toEqual([1, 2, 1, 2]);
    } finally {
      client.destroy();
      await proxy.stop();
    }
  });

  it("gives up after maxAttempts and says what S3 answered", async () => {
    const s3 = await server.newBucket();
    const proxy = await startFaultProxy(server.endpoint, () => ({ status: 500, code: "InternalError", message: "boom" }));
    const client = server.client({ ...s3, endpoint: proxy.endpoint }, { maxAttempts: 3 });
    try {
      const error = await listActorObjects(client, s3, "0001_a_20_male").catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "InternalError", $metadata: { httpStatusCode: 500, attempts: 3 } });
      expect(proxy.seen).toHaveLength(3);
    } finally {
      client.destroy();
      await proxy.stop();
    }
  });
});

describe("connectS3", () => {
  it("sees credentials in the environment or ~/.aws", () => {
    const home = mkdtempSync(join(tmpdir(), "am-home-"));
    try {
      expect(awsCredentialsConfigured({}, home)).toBe(false);
      expect(awsCredentialsConfigured({ AWS_PROFILE: "studio" }, home)).toBe(true);
      expect(awsCredentialsConfigured({ AWS_ACCESS_KEY_ID: "AKIA…" }, home)).toBe(true);
      mkdirSync(join(home, ".aws"));
      writeFileSync(join(home, ".aws", "credentials"), "[default]\n");
      expect(awsCredentialsConfigured({}, home)).toBe(true);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
    const config = loadConfig({ DATA_DIR: "/tmp/x" });
    expect(usesEmbeddedS3(config, { S3_EMBEDDED: "true", AWS_PROFILE: "p" })).toBe(true);
    expect(usesEmbeddedS3(config, { S3_EMBEDDED: "false" })).toBe(false);
    expect(usesEmbeddedS3(loadConfig({ DATA_DIR: "/tmp/x", S3_ENDPOINT: "http://127.0.0.1:9" }), { S3_EMBEDDED: "" })).toBe(false);
  });

  it("starts the embedded s3rver under $DATA_DIR/.s3rver with the bucket, and stops it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "am-embedded-"));
    try {
      const config = loadConfig({ DATA_DIR: dataDir });
      const s3 = await connectS3(config, { env: { S3_EMBEDDED: "true" } });
      try {
        expect(s3.embedded).toBe(true);
        expect(s3.s3Config).toMatchObject({ bucket: "story-boards-assets", forcePathStyle: true });
        expect(s3.s3Config.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        await s3.client.send(new HeadBucketCommand({ Bucket: "story-boards-assets" }));
        await putObjectWithMd5(s3.client, "story-boards-assets", "system_actors/training_data/a/a_1.jpg", Buffer.from("x"));
      } finally {
        await s3.stop();
      }
      expect(existsSync(join(dataDir, ".s3rver", "story-boards-assets"))).toBe(true);
      // The objects survive a restart: the next run sees them.
      const again = await connectS3(config, { env: { S3_EMBEDDED: "true" } });
      try {
        expect(await headObject(again.client, "story-boards-assets", "system_actors/training_data/a/a_1.jpg")).toMatchObject({ size: 1 });
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
