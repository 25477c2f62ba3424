import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3Config } from "../../src/config.ts";
import { createS3Client, ensureBucket, s3rverCredentials, type S3ClientOptions } from "../../src/sync/s3/s3-client.ts";
import { startS3rverProcess } from "../../src/sync/s3/s3rver-process.ts";

/** A real s3rver in its own process on a free loopback port, for one test file. */
export interface TestS3Server {
  endpoint: string;
  directory: string;
  /** A client for `s3Config`, with s3rver's fixed credentials (the caller destroys it). */
  client(s3Config: S3Config, options?: S3ClientOptions): S3Client;
  /** Creates a fresh bucket and returns the configuration pointing at it (through `endpoint` if given). */
  newBucket(options?: { name?: string; prefix?: string; endpoint?: string }): Promise<S3Config>;
  stop(): Promise<void>;
}

let bucketSequence = 0;

export async function startTestS3Server(options: { legacyProvider?: boolean } = {}): Promise<TestS3Server> {
  const directory = mkdtempSync(join(tmpdir(), "am-s3rver-"));
  const server = await startS3rverProcess({ directory, legacyProvider: options.legacyProvider });
  const client = (s3Config: S3Config, clientOptions: S3ClientOptions = {}) =>
    createS3Client(s3Config, { credentials: s3rverCredentials, ...clientOptions });
  return {
    endpoint: server.endpoint,
    directory,
    client,
    async newBucket(bucketOptions = {}) {
      const name = bucketOptions.name ?? `test-bucket-${process.pid}-${++bucketSequence}`;
      const s3Config: S3Config = {
        endpoint: bucketOptions.endpoint ?? server.endpoint,
        bucket: name,
        region: "us-west-1",
        prefix: bucketOptions.prefix ?? "system_actors/training_data/",
        forcePathStyle: true,
      };
      // Created directly on the server, not through a possibly faulty endpoint.
      const setup = client({ ...s3Config, endpoint: server.endpoint });
      try {
        await ensureBucket(setup, name);
      } finally {
        setup.destroy();
      }
      return s3Config;
    },
    async stop() {
      await server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
