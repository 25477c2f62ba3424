import { Readable } from "node:stream";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Plugin } from "graphql-yoga";
import type { AppContext } from "./context.ts";
import { actorByName } from "./db/actor-queries.ts";
import { imageByFilename } from "./db/image-queries.ts";
import type { ImageRow } from "./db/schema.ts";
import { tokenCheckFor } from "./request-guard.ts";
import { actorPrefix, assertSafeName, s3KeyOf, InvalidFilenameError } from "./sync/files/layout.ts";
import { openRegularFile, UnsafePathError } from "./sync/files/safe-files.ts";
import { contentTypeOf, isNotFound } from "./sync/s3/s3-client.ts";

/** Where the service serves an image's bytes: `/images/{actorName}/{filename}` (TrainingImage.viewUrl). */
export const imageRoutePath = "/images/";

export function imageViewPath(actorName: string, filename: string): string {
  return `${imageRoutePath}${encodeURIComponent(actorName)}/${encodeURIComponent(filename)}`;
}

interface ImageBytes {
  body: ReadableStream<Uint8Array>;
  etag: string;
  size?: number;
}

/**
 * Serves a training image's bytes: the local file in mirrored mode (opened without following
 * a link, only a regular file inside the data directory), else the S3 object, streamed. It runs
 * after the request guard (same origin, the service's own Host); off loopback it needs the
 * token, as mutations do, since an image is the users' data.
 */
export function useImageRoute(app: AppContext): Plugin {
  const hasToken = tokenCheckFor(app.config);
  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (!url.pathname.startsWith(imageRoutePath)) return;
      const answer = (status: number, text: string) =>
        endResponse(new fetchAPI.Response(`${text}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } }));
      if (request.method !== "GET" && request.method !== "HEAD") return answer(405, "images are read with GET");
      if (!hasToken(request)) return answer(401, "images need Authorization: Bearer <API_TOKEN> when the service is not bound to loopback");
      const addressed = imageAt(app, url.pathname.slice(imageRoutePath.length), "/images/{actorName}/{filename}");
      if ("status" in addressed) return answer(addressed.status, addressed.text);
      const { name, filename, key } = addressed;
      try {
        const bytes = (app.config.storageMode === "mirrored" ? await localBytes(app, name, filename) : null) ?? (await s3Bytes(app, key));
        if (!bytes) return answer(404, `${filename} is neither on local disk nor in S3`);
        const headers: Record<string, string> = {
          "content-type": contentTypeOf(filename),
          etag: bytes.etag,
          "cache-control": "private, no-cache",
          ...(bytes.size !== undefined ? { "content-length": String(bytes.size) } : {}),
        };
        const notModified = request.headers.get("if-none-match") === bytes.etag;
        // An unsent body still holds a descriptor or an S3 connection: let it go.
        if (notModified || request.method === "HEAD") await (bytes.body as ReadableStream).cancel();
        if (notModified) return endResponse(new fetchAPI.Response(null, { status: 304, headers }));
        endResponse(new fetchAPI.Response(request.method === "HEAD" ? null : bytes.body, { status: 200, headers }));
      } catch (error) {
        if (error instanceof UnsafePathError) return answer(403, `refused: ${error.reason}`);
        throw error;
      }
    },
  };
}

/** The tracked image an address names (`{actorName}/{filename}`), with its S3 key; or the answer that refuses it. */
export function imageAt(
  app: AppContext,
  rest: string,
  shape: string,
): { name: string; filename: string; image: ImageRow; key: string } | { status: number; text: string } {
  const parts = rest.split("/");
  if (parts.length !== 2) return { status: 404, text: `not an image address: ${shape}` };
  let name: string;
  let filename: string;
  try {
    name = assertSafeName(decodeURIComponent(parts[0]!));
    filename = assertSafeName(decodeURIComponent(parts[1]!));
  } catch (error) {
    if (error instanceof InvalidFilenameError || error instanceof URIError) return { status: 400, text: error.message };
    throw error;
  }
  const actor = actorByName(app.db, name);
  const image = actor ? imageByFilename(app.db, actor.id, filename) : null;
  if (!actor || !image) return { status: 404, text: `no image ${filename} of actor ${name}` };
  // A key a manifest recorded is used only inside the actor's prefix: a hostile manifest must
  // not make the service fetch any object of the bucket.
  const key = image.s3Key?.startsWith(actorPrefix(app.config.s3, name)) ? image.s3Key : s3KeyOf(app.config.s3, name, filename);
  return { name, filename, image, key };
}

/** The local file, or null when there is none (then S3 answers). */
async function localBytes(app: AppContext, name: string, filename: string): Promise<ImageBytes | null> {
  let opened: Awaited<ReturnType<typeof openRegularFile>>;
  try {
    opened = await openRegularFile(app.config.dataDir, app.layout.imagePath(name, filename));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  // Size and modification time identify the local content without hashing it on every view.
  const etag = `W/"${opened.stat.size.toString(16)}-${Math.floor(opened.stat.mtimeMs).toString(16)}"`;
  // Streamed from the descriptor that was checked (never read whole into memory); it closes at the end.
  const body = Readable.toWeb(opened.handle.createReadStream()) as ReadableStream<Uint8Array>;
  return { body, etag, size: opened.stat.size };
}

async function s3Bytes(app: AppContext, key: string): Promise<ImageBytes | null> {
  if (!app.s3) return null;
  try {
    const object = await app.s3.client.send(new GetObjectCommand({ Bucket: app.s3.s3Config.bucket, Key: key }));
    if (!object.Body) return null;
    return { body: object.Body.transformToWebStream(), etag: object.ETag ?? `"${key}"`, size: object.ContentLength };
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}
