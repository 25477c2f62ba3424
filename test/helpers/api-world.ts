import { createHash } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { actors, generations, images, type SyncStatus } from "../../src/db/schema.ts";
import { refreshActorStatistics } from "../../src/db/statistics.ts";
import type { Db } from "../../src/db/store.ts";
import { createApi, graphqlEndpoint, type Api, type ApiOptions } from "../../src/server.ts";
import { parseActorName, s3KeyOf, s3UrlOf } from "../../src/sync/files/layout.ts";
import { startTestS3Server, type TestS3Server } from "./s3-server.ts";
import { makeStoreWorld, type StoreWorld } from "./store-world.ts";
import { createWorld, type World } from "./world.ts";

export interface ApiWorld extends StoreWorld {
  api: Api;
  /** POSTs a GraphQL request through `api.fetch` and returns status and parsed body. */
  graphql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
}

export interface GraphQLResponse<T> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown>; path?: (string | number)[] }[] };
}

type ResponseErrors = GraphQLResponse<unknown>["body"]["errors"];

/** The one error of a response, which must carry BAD_USER_INPUT and name the argument. */
export function expectBadInput(errors: ResponseErrors, argument: string) {
  expect(errors, JSON.stringify(errors)).toHaveLength(1);
  expect(errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", argument });
  expect(errors![0]!.message).toContain(argument);
  return errors![0]!;
}

export function makeApiWorld(options: { env?: Record<string, string>; api?: ApiOptions } = {}): ApiWorld {
  const world = makeStoreWorld(options.env);
  let api: Api | undefined;
  let apiCtx = world.ctx;
  const currentApi = () => {
    if (!api || apiCtx !== world.ctx) {
      apiCtx = world.ctx;
      api = createApi(world.ctx, options.api);
    }
    return api;
  };
  return Object.assign(world, {
    get api() {
      return currentApi();
    },
    async graphql(query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}) {
      const response = await currentApi().fetch(`http://127.0.0.1${graphqlEndpoint}`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, headers: response.headers, body: await response.json() };
    },
  }) as ApiWorld;
}

export interface S3ApiWorld {
  world: World;
  api: Api;
}

export interface S3ApiWorldOptions {
  env?: Record<string, string>;
  /** Connect the context to S3, as `serve` does (default true). */
  s3?: boolean;
  /** Fills more of the context (a job runner, hashing threads) before the API is made over it. */
  prepare?: (world: World) => void;
}

/**
 * Registers the hooks of a test file that talks to S3: one s3rver for the file, and per test
 * worlds (each with its own bucket) and the API over them, closed after the test.
 */
export function useS3ApiWorlds(): { open(options?: S3ApiWorldOptions): Promise<S3ApiWorld> } {
  let server: TestS3Server | undefined;
  const opened: World[] = [];
  beforeAll(async () => {
    server = await startTestS3Server();
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    for (const world of opened.splice(0)) {
      await world.ctx.jobs?.idle();
      await world.ctx.hashing?.close();
      await world.close();
    }
  });
  return {
    async open(options = {}) {
      const world = await createWorld({ server, env: options.env });
      opened.push(world);
      if (options.s3 !== false) world.ctx.s3 = world.s3;
      options.prepare?.(world);
      return { world, api: createApi(world.ctx) };
    },
  };
}

export interface FixtureImage {
  filename: string;
  index: number;
  status: SyncStatus | null;
  good: boolean | null;
  sizeBytes: number;
  generationKey: number;
  prompt: string;
  /** Mostly distinct; some images repeat another's content, within an actor or across actors (exact duplicates). */
  md5: string;
}

export interface FixtureActor {
  name: string;
  characterId: string | null;
  descriptor: string | null;
  age: number | null;
  gender: string | null;
  lastCheckedAt: string | null;
  images: FixtureImage[];
  generations: { key: number; type: string }[];
}

const descriptors = ["european", "east_asian", "african", "south_asian"];
const genders = ["male", "female"];
const statusCycle: (SyncStatus | null)[] = ["synced", "synced", "local_only", "s3_only", "out_of_sync", "missing", null];
const generationTypes = ["s3_scan", "replicate_flux_kontext", "upload"];

/** Image 1 of every fifth actor shares one content across actors; image 2 of every fourth repeats its image 0. */
function contentOf(n: number, i: number, name: string): string {
  if (i === 1 && n % 5 === 0) return "shared across actors";
  if (i === 2 && n % 4 === 1) return `${name}/0`;
  return `${name}/${i}`;
}

/**
 * A deterministic, varied set of actors: name parts, statuses, ratings, sizes and
 * generation types all differ from actor to actor, so filters and groupings have
 * something to tell apart. Tests compute expected figures from this description.
 */
export function planActors(count: number, imagesPerActor: (actorNumber: number) => number = (n) => 3 + (n % 9)): FixtureActor[] {
  return Array.from({ length: count }, (_, n) => {
    const characterId = String(n + 1).padStart(4, "0");
    const descriptor = descriptors[n % descriptors.length]!;
    const age = 20 + ((n * 7) % 45);
    const gender = genders[n % genders.length]!;
    const name = `${characterId}_${descriptor}_${age}_${gender}`;
    const generationList = [
      { key: 1, type: generationTypes[n % generationTypes.length]! },
      ...(n % 2 === 0 ? [{ key: 2, type: "upload" }] : []),
    ];
    const images = Array.from(
      { length: imagesPerActor(n) },
      (_, i): FixtureImage => ({
        filename: `${name}_${i}.jpg`,
        index: i,
        status: statusCycle[(n + i) % statusCycle.length]!,
        good: (n + i) % 3 === 0 ? true : (n + i) % 3 === 1 ? false : n % 2 === 0 ? true : null,
        sizeBytes: 100_000 + n * 1_000 + i,
        generationKey: generationList[i % generationList.length]!.key,
        prompt: `portrait ${i} of ${descriptor} ${gender}, studio light`,
        md5: createHash("md5")
          .update(contentOf(n, i, name))
          .digest("hex"),
      }),
    );
    return {
      name,
      characterId,
      descriptor,
      age,
      gender,
      lastCheckedAt: n % 4 === 0 ? null : `2025-0${1 + (n % 9)}-15T10:00:00Z`,
      images,
      generations: generationList,
    };
  });
}

/** Inserts planned actors into a migrated store, as an import would leave them. */
export function insertActors(db: Db, plan: FixtureActor[]): void {
  const s3 = {
    endpoint: undefined,
    bucket: "story-boards-assets",
    region: "us-west-1",
    prefix: "system_actors/training_data/",
    forcePathStyle: false,
  };
  db.transaction((tx) => {
    for (const actor of plan) {
      const parts = parseActorName(actor.name);
      const [row] = tx
        .insert(actors)
        .values({
          name: actor.name,
          characterId: actor.characterId ?? parts.characterId,
          descriptor: actor.descriptor,
          age: actor.age,
          gender: actor.gender,
          lastCheckedAt: actor.lastCheckedAt,
        })
        .returning({ id: actors.id })
        .all();
      const generationIds = new Map<number, number>();
      for (const generation of actor.generations) {
        const [g] = tx
          .insert(generations)
          .values({
            actorId: row!.id,
            generationKey: generation.key,
            type: generation.type,
            imageCount: actor.images.filter((i) => i.generationKey === generation.key).length,
          })
          .returning({ id: generations.id })
          .all();
        generationIds.set(generation.key, g!.id);
      }
      if (actor.images.length > 0)
        tx.insert(images)
          .values(
            actor.images.map((image) => {
              const key = s3KeyOf(s3, actor.name, image.filename);
              return {
                actorId: row!.id,
                filename: image.filename,
                index: image.index,
                s3Key: key,
                s3Url: s3UrlOf(s3, key),
                localPath: `data/actors/${actor.name}/training_data/${image.filename}`,
                md5: image.md5,
                sizeBytes: image.sizeBytes,
                prompt: image.prompt,
                generationId: generationIds.get(image.generationKey) ?? null,
                status: image.status,
                good: image.good,
                checkedAt: image.status ? "2025-06-01T00:00:00Z" : null,
              };
            }),
          )
          .run();
      refreshActorStatistics(db, [row!.id]);
    }
  });
}

/**
 * Counts SQL statements executed on the store's connection from now on (cached prepared
 * statements included: the count is of executions, taken on the Statement prototype).
 */
export function countStatements(db: Db): { readonly count: number; readonly sql: string[]; stop(): void } {
  const client = db.$client;
  const prototype = Object.getPrototypeOf(client.prepare("SELECT 1")) as Record<string, unknown>;
  const executed: string[] = [];
  const originals = new Map<string, unknown>();
  for (const method of ["all", "get", "run", "iterate"]) {
    const original = prototype[method] as (this: { source: string; database: unknown }, ...args: unknown[]) => unknown;
    originals.set(method, original);
    prototype[method] = function (this: { source: string; database: unknown }, ...args: unknown[]) {
      if (this.database === client) executed.push(this.source);
      return original.apply(this, args);
    };
  }
  return {
    get count() {
      return executed.length;
    },
    sql: executed,
    stop() {
      for (const [method, original] of originals) prototype[method] = original;
    },
  };
}
