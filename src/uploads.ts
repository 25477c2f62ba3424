import { randomUUID } from "node:crypto";
import { createWriteStream, openAsBlob } from "node:fs";
import { lstat, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import { GraphQLError } from "graphql";
import type { GraphQLParams, Plugin } from "graphql-yoga";
import { processRuns } from "./db/process-lease.ts";

/** A file of a multipart request, staged on disk: resolvers read it from `path`, never into memory. */
export class UploadedFile extends File {
  constructor(
    blob: Blob,
    name: string,
    type: string,
    readonly path: string,
  ) {
    super([blob], name, { type });
  }
}

/** Staged uploads live in the data directory (same file system as the images), one folder for all. */
export function uploadsDir(dataDir: string): string {
  return join(dataDir, ".uploads");
}

export interface RequestBodyLimits {
  /** Largest JSON (or other non-multipart) body. */
  maxJsonBytes: number;
  /** Largest multipart body, counted as it streams to disk. */
  maxUploadBytes: number;
  /** Folder for staged upload files. */
  dir: string;
}

/**
 * Request bodies without buffering (SPEC.md §9): a multipart request's files stream to
 * files in the data directory, counted against the upload limit as they arrive; any other
 * body has the much smaller JSON limit. The staged files are removed once the response is out.
 */
export function useRequestBodyLimits(limits: RequestBodyLimits): Plugin {
  const staged = new WeakMap<Request, string[]>();
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      const maxBytes = isMultipart(request) ? limits.maxUploadBytes : limits.maxJsonBytes;
      if (Number(request.headers.get("content-length")) > maxBytes) endResponse(bodyTooLarge(fetchAPI.Response, maxBytes));
    },
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (request.method !== "POST") return;
      if (isMultipart(request)) {
        const paths: string[] = [];
        staged.set(request, paths);
        setRequestParser((multipart) => parseMultipartToDisk(multipart, limits, paths));
      } else if (requestParser && !request.headers.has("content-length")) {
        // A declared length was checked in onRequest, and Node's HTTP parser never delivers more
        // body than it declares: only a chunked body needs counting (the counting stream costs
        // about a tenth of a small query's time).
        setRequestParser((unlimited) => requestParser(withBodyLimit(unlimited, limits.maxJsonBytes)));
      }
    },
    async onResponse({ request }) {
      const paths = staged.get(request);
      if (paths) await Promise.all(paths.map((path) => rm(path, { force: true })));
    },
  };
}

export function isMultipart(request: Request): boolean {
  return request.method === "POST" && (request.headers.get("content-type") ?? "").toLowerCase().startsWith("multipart/form-data");
}

function bodyTooLarge(ResponseClass: typeof Response, maxBytes: number): Response {
  return new ResponseClass(`request body over ${maxBytes} bytes\n`, { status: 413, headers: { "content-type": "text/plain" } });
}

function tooLargeError(maxBytes: number): GraphQLError {
  return new GraphQLError(`request body over ${maxBytes} bytes`, {
    extensions: { code: "REQUEST_ENTITY_TOO_LARGE", http: { status: 413 } },
  });
}

/** The same request with a body that errors (413) past `maxBytes`, for bodies sent without a length. */
function withBodyLimit(request: Request, maxBytes: number): Request {
  if (!request.body) return request;
  const limited = Readable.toWeb(Readable.from(countedChunks(request.body, maxBytes)));
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body: limited,
    duplex: "half",
  } as RequestInit);
}

/**
 * The body's chunks, pulled as the consumer asks (so backpressure reaches the socket), failing
 * past `maxBytes`. The body is left open then, not cancelled: cancelling it would destroy the
 * socket before the 413 answer is out.
 */
async function* countedChunks(body: ReadableStream<Uint8Array> | null, maxBytes: number): AsyncGenerator<Uint8Array> {
  if (!body) return;
  const chunks = (body as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  let total = 0;
  for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
    total += next.value.byteLength;
    if (total > maxBytes) throw tooLargeError(maxBytes);
    yield next.value;
  }
}

/**
 * The GraphQL multipart request spec (`operations`, `map`, files), with each file written
 * to `limits.dir` as it streams in; the variables get `UploadedFile`s backed by those files.
 */
async function parseMultipartToDisk(request: Request, limits: RequestBodyLimits, paths: string[]): Promise<GraphQLParams> {
  const parser = busboy({
    headers: { "content-type": request.headers.get("content-type") ?? "" },
    // Browsers send filenames as UTF-8; busboy's default (latin1) would turn "é" into "Ã©".
    defParamCharset: "utf8",
    limits: { fieldSize: limits.maxJsonBytes, fields: 16, files: 1000 },
  });
  const fields = new Map<string, string>();
  const files = new Map<string, Promise<UploadedFile>>();
  parser.on("field", (name, value, info) => {
    if (info.valueTruncated) parser.destroy(tooLargeError(limits.maxJsonBytes));
    else fields.set(name, value);
  });
  parser.on("file", (name, stream, info) => {
    const path = join(limits.dir, `${process.pid}-${randomUUID()}`);
    paths.push(path);
    // `wx`: never through a link or over another file.
    const written = pipeline(stream, createWriteStream(path, { flags: "wx", mode: 0o600 })).then(
      async () => new UploadedFile(await openAsBlob(path), info.filename ?? "", info.mimeType, path),
    );
    written.catch(() => {});
    files.set(name, written);
  });
  try {
    await ensureUploadsDir(limits.dir);
    await pipeline(Readable.from(countedChunks(request.body, limits.maxUploadBytes)), parser);
    const operations = jsonField(fields, "operations");
    const map = fields.has("map") ? jsonField(fields, "map") : {};
    if (typeof map !== "object" || map === null) throw badMultipart('"map" must be an object');
    for (const [part, targets] of Object.entries(map as Record<string, unknown>)) {
      const file = files.get(part);
      if (!file) throw badMultipart(`"map" names part ${JSON.stringify(part)}, which the request does not have`);
      if (!Array.isArray(targets)) throw badMultipart(`"map" entry ${JSON.stringify(part)} must be a list of paths`);
      for (const target of targets) setPath(operations, String(target), await file);
    }
    return operations as GraphQLParams;
  } catch (error) {
    await Promise.all(paths.map((path) => rm(path, { force: true })));
    if (error instanceof GraphQLError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    // A file-system failure names server paths: the client learns only that staging failed.
    if (typeof (error as NodeJS.ErrnoException).code === "string" || message.includes(limits.dir))
      throw new GraphQLError("the upload could not be staged on the server", {
        extensions: { code: "INTERNAL_SERVER_ERROR", http: { status: 500 } },
      });
    throw badMultipart(message);
  }
}

function jsonField(fields: Map<string, string>, name: string): unknown {
  const text = fields.get(name);
  if (text === undefined) throw badMultipart(`missing field "${name}"`);
  try {
    return JSON.parse(text);
  } catch {
    throw badMultipart(`field "${name}" is not valid JSON`);
  }
}

function badMultipart(reason: string): GraphQLError {
  return new GraphQLError(`invalid multipart request: ${reason}`, { extensions: { code: "BAD_REQUEST", http: { status: 400 } } });
}

/** `variables.images.0.file` → operations.variables.images[0].file = value (no prototype keys). */
function setPath(target: unknown, path: string, value: unknown): void {
  const keys = path.split(".");
  let current = target as Record<string, unknown>;
  for (const [i, key] of keys.entries()) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") throw badMultipart(`"map" path ${path} is not allowed`);
    if (i === keys.length - 1) current[key] = value;
    else {
      const next = current[key];
      if (typeof next !== "object" || next === null) throw badMultipart(`"map" path ${path} does not point into the variables`);
      current = next as Record<string, unknown>;
    }
  }
}

async function ensureUploadsDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (!(await lstat(dir)).isDirectory()) throw new Error(`${dir} is not a folder (a link?): uploads refused`);
}

/** Staged files of processes that no longer run (a crash mid-request): nothing else will remove them. */
export async function removeAbandonedUploads(dir: string): Promise<number> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return 0;
  }
  const abandoned = entries.filter((entry) => {
    const pid = Number(/^(\d+)-/.exec(entry)?.[1] ?? 0);
    return pid > 0 && !processRuns(pid);
  });
  await Promise.all(abandoned.map((entry) => rm(join(dir, entry), { force: true })));
  return abandoned.length;
}
