import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import type { Plugin } from "graphql-yoga";
import pLimit from "p-limit";
import sharp from "sharp";
import type { AppContext } from "../context.ts";
import { imageAt } from "../image-route.ts";
import { tokenCheckFor } from "../request-guard.ts";
import { isNotFound } from "../sync/s3/s3-client.ts";
import { createNewFile, makeRealFolder, openRegularFile, placeFile, UnsafePathError } from "../sync/files/safe-files.ts";

/**
 * Thumbnails for the Training Data page: `/thumbnails/{actorName}/{filename}?w=256`.
 * Each is made once with sharp and kept in `$DATA_DIR/.thumbnails/{md5}-{bytes}-{width}.webp`,
 * so a changed image (new MD5) gets a new one and an unchanged image is never decoded again.
 * The page adds `v={md5}` to the address: an address then names one content, which lets the
 * browser keep it for a year. An image that cannot be read (missing, a link, not an image)
 * answers a placeholder, never an error the grid would show as a broken image.
 */
export const thumbnailRoutePath = "/thumbnails/";
export const thumbnailWidths = [256, 512] as const;
const defaultWidth = 256;
const yearCache = "private, max-age=31536000, immutable";

export function thumbnailFolder(dataDir: string): string {
  return join(dataDir, ".thumbnails");
}

interface Source {
  bytes: Buffer;
  md5: string;
}

/**
 * Largest picture decoded (sharp's default, 268 MP, lets one small PNG take about 800 MB to
 * decode): 50 MP covers any training image and keeps a decode under about 200 MB.
 */
const maxInputPixels = 50_000_000;

/** Why there is no thumbnail; the placeholder says it in a word, never quoting a file. */
type Unavailable = "missing" | "link" | "unreadable";

export function useThumbnailRoute(app: AppContext): Plugin {
  const hasToken = tokenCheckFor(app.config);
  const folder = thumbnailFolder(app.layout.root);
  // Decoding is CPU-bound and sharp has its own threads: a few at a time keep the API answering.
  const making = pLimit(2);
  const inFlight = new Map<string, Promise<Buffer | Unavailable>>();

  const cachedThumbnail = async (key: string): Promise<Buffer | null> => {
    try {
      const opened = await openRegularFile(app.layout.root, join(folder, key));
      try {
        return await opened.handle.readFile();
      } finally {
        await opened.handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  };

  const makeThumbnail = async (source: Source, width: number): Promise<Buffer | Unavailable> => {
    const key = cacheKey(source.md5, source.bytes.length, width);
    const cached = await cachedThumbnail(key);
    if (cached) return cached;
    let made: Buffer;
    try {
      made = await making(() =>
        sharp(source.bytes, { failOn: "error", limitInputPixels: maxInputPixels })
          .rotate()
          .resize({ width, height: width, fit: "inside", withoutEnlargement: true })
          .webp({ quality: 80 })
          .toBuffer(),
      );
    } catch {
      return "unreadable";
    }
    await storeThumbnail(app.layout.root, folder, key, made);
    return made;
  };

  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (!url.pathname.startsWith(thumbnailRoutePath)) return;
      const answer = (status: number, text: string) =>
        endResponse(new fetchAPI.Response(`${text}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } }));
      if (request.method !== "GET" && request.method !== "HEAD") return answer(405, "thumbnails are read with GET");
      if (!hasToken(request))
        return answer(401, "thumbnails need Authorization: Bearer <API_TOKEN> when the service is not bound to loopback");
      const width = Number(url.searchParams.get("w") ?? defaultWidth);
      const addressed = imageAt(app, url.pathname.slice(thumbnailRoutePath.length), "/thumbnails/{actorName}/{filename}?w=256");
      if ("status" in addressed) return answer(addressed.status, addressed.text);
      if (!(thumbnailWidths as readonly number[]).includes(width)) return answer(400, `w must be one of ${thumbnailWidths.join(", ")}`);
      const { name, filename, image, key } = addressed;

      const respond = (body: Buffer, etag: string, requested: string | null) => {
        const headers = {
          "content-type": "image/webp",
          etag,
          // An address naming this content may be kept for good; any other is revalidated.
          "cache-control": requested !== null && etag === `"${requested}-${width}"` ? yearCache : "private, no-cache",
        };
        if (request.headers.get("if-none-match") === etag) return endResponse(new fetchAPI.Response(null, { status: 304, headers }));
        endResponse(new fetchAPI.Response(request.method === "HEAD" ? null : new Uint8Array(body), { status: 200, headers }));
      };
      const requested = url.searchParams.get("v");

      // The last known MD5 finds a made thumbnail without reading the image (or calling S3).
      if (image.md5 && image.sizeBytes != null) {
        const etag = `"${image.md5}-${width}"`;
        if (request.headers.get("if-none-match") === etag && requested === image.md5) return respond(Buffer.alloc(0), etag, requested);
        const cached = await cachedThumbnail(cacheKey(image.md5, image.sizeBytes, width));
        if (cached) return respond(cached, etag, requested);
      }

      const source = await readSource(app, name, filename, key);
      if (typeof source === "string") return endResponse(placeholder(fetchAPI, source));
      const flight = `${source.md5}-${source.bytes.length}-${width}`;
      let made = inFlight.get(flight);
      if (!made) {
        made = makeThumbnail(source, width).finally(() => inFlight.delete(flight));
        inFlight.set(flight, made);
      }
      const thumbnail = await made;
      if (typeof thumbnail === "string") return endResponse(placeholder(fetchAPI, thumbnail));
      respond(thumbnail, `"${source.md5}-${width}"`, requested);
    },
  };
}

function cacheKey(md5: string, sizeBytes: number, width: number): string {
  return `${md5}-${sizeBytes}-${width}.webp`;
}

/** The image's bytes: the local file in mirrored mode (never through a link), else the S3 object. */
async function readSource(app: AppContext, name: string, filename: string, key: string): Promise<Source | Unavailable> {
  let bytes: Buffer | null = null;
  if (app.config.storageMode === "mirrored") {
    try {
      const opened = await openRegularFile(app.layout.root, app.layout.imagePath(name, filename));
      try {
        bytes = await opened.handle.readFile();
      } finally {
        await opened.handle.close();
      }
    } catch (error) {
      if (error instanceof UnsafePathError) return "link";
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") return "unreadable";
    }
  }
  if (!bytes && app.s3) {
    try {
      const object = await app.s3.client.send(new GetObjectCommand({ Bucket: app.s3.s3Config.bucket, Key: key }));
      if (object.Body) bytes = Buffer.from(await object.Body.transformToByteArray());
    } catch (error) {
      if (!isNotFound(error)) return "unreadable";
    }
  }
  if (!bytes) return "missing";
  return { bytes, md5: createHash("md5").update(bytes).digest("hex") };
}

/** Written under a temporary name and renamed: a reader never sees half a thumbnail. */
async function storeThumbnail(root: string, folder: string, key: string, bytes: Buffer): Promise<void> {
  makeRealFolder(root, folder);
  const temporary = join(folder, `.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await createNewFile(root, temporary);
  try {
    await handle.writeFile(bytes);
  } finally {
    await handle.close();
  }
  await placeFile(root, temporary, join(folder, key), true);
}

const placeholderText: Record<Unavailable, string> = { missing: "no copy", link: "link refused", unreadable: "unreadable" };

/** A grey tile naming why, revalidated every time (the image may be repaired). */
function placeholder(fetchAPI: { Response: typeof Response }, why: Unavailable): Response {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256"><rect width="256" height="256" fill="#2a2d33"/><g fill="none" stroke="#6b7280" stroke-width="6"><rect x="78" y="82" width="100" height="80" rx="8"/><path d="M78 146l28-26 22 20 16-12 34 26"/><path d="M70 70l116 116"/></g><text x="128" y="206" fill="#9ca3af" font-family="sans-serif" font-size="18" text-anchor="middle">${placeholderText[why]}</text></svg>`;
  return new fetchAPI.Response(svg, {
    status: 200,
    headers: { "content-type": "image/svg+xml", "cache-control": "no-store", "x-thumbnail-unavailable": why },
  });
}
