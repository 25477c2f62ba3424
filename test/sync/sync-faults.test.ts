/**
 * A sync against an S3 that misbehaves on part of the requests (SPEC.md §4, §7): 503
 * SlowDown, 500 InternalError and connection resets, through a loopback proxy in front of
 * s3rver (the SDK's real retry path). Each image's outcome is reported, nothing is lost,
 * no row says synced unless S3 really holds its content, and a re-run finishes the job.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { images } from "../../src/db/schema.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { scanActors } from "../../src/sync/checks/scan.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import { temporaryPrefix } from "../../src/sync/s3/transfer.ts";
import { bytesFor, deleteImageObject, makeActor, md5Of, type FixtureActor } from "../helpers/actors.ts";
import { startFaultProxy, type Fault, type FaultProxy, type SeenRequest } from "../helpers/fault-proxy.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { createWorld, type World } from "../helpers/world.ts";

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server.stop());

const names = ["0201_european_30_male", "0202_east_asian_25_female", "0203_african_40_male", "0204_south_asian_22_female"];
const perActor = 12;

let proxy: FaultProxy | undefined;
let world: World | undefined;
afterEach(async () => {
  await proxy?.stop();
  await world?.close();
  proxy = world = undefined;
});

/**
 * A world whose S3 client goes through a fault proxy; faults start once the fixtures are in
 * place. Per actor: a third local-only, a third S3-only, a third on both sides.
 */
async function faultyWorld(decide: (request: SeenRequest) => Fault | null, maxAttempts?: number) {
  let active = false;
  proxy = await startFaultProxy(server.endpoint, (request) => (active ? decide(request) : null));
  world = await createWorld({ server, endpoint: proxy.endpoint, clientOptions: maxAttempts ? { maxAttempts } : {} });
  const made: FixtureActor[] = [];
  for (const name of names) {
    made.push(
      await makeActor(world, {
        name,
        images: Array.from({ length: perActor }, (_, i) => {
          const content = bytesFor(`${name}/${i}`, 20_000 + i * 101);
          return i % 3 === 0 ? { content, local: true } : i % 3 === 1 ? { content, s3: true } : { content, local: true, s3: true };
        }),
      }),
    );
  }
  active = true;
  return { w: world, p: proxy, made };
}

/** An object request (not a listing) for one of these filenames. */
function objectRequestFor(request: SeenRequest, filenames: readonly string[]): boolean {
  return !request.url.includes("list-type") && filenames.some((filename) => request.url.split("?")[0]!.endsWith(`/${filename}`));
}

/**
 * Nothing lost: every image on at least one side with its own content; no temporary
 * download left; every row that says synced has the same content locally and in S3.
 */
async function expectNothingLost(w: World, made: FixtureActor[]): Promise<void> {
  for (const actor of made) {
    for (const [filename, content] of actor.contents) {
      const path = w.ctx.layout.imagePath(actor.name, filename);
      const local = existsSync(path) ? md5Of(readFileSync(path)) : null;
      const head = await headObject(w.s3.client, w.config.s3.bucket, s3KeyOf(w.config.s3, actor.name, filename));
      const remote = head ? (head.metadataMd5 ?? head.etag) : null;
      if (local !== null) expect(local).toBe(md5Of(content));
      if (remote !== null) expect(remote).toBe(md5Of(content));
      expect(local !== null || remote !== null, `${actor.name}/${filename} on one side`).toBe(true);
      const row = w.db
        .select()
        .from(images)
        .all()
        .find((r) => r.actorId === actor.id && r.filename === filename)!;
      if (row.status === "synced") {
        expect([local, remote], `${filename} says synced`).toEqual([md5Of(content), md5Of(content)]);
      }
    }
    expect(readdirSync(w.ctx.layout.trainingDir(actor.name)).filter((entry) => entry.startsWith(temporaryPrefix))).toEqual([]);
  }
}

function statuses(w: World): (string | null)[] {
  return w.db
    .select()
    .from(images)
    .all()
    .map((row) => row.status);
}

describe("sync with S3 faults", () => {
  it("retries 503 SlowDown, 500 and reset connections on part of the requests and finishes", async () => {
    let n = 0;
    const kinds: Fault[] = [
      { status: 503, code: "SlowDown", message: "Please reduce your request rate." },
      { status: 500, code: "InternalError" },
      { reset: "request" },
      { reset: "answer" },
    ];
    // A first attempt in three fails, in turn with each kind; the SDK's retries get through.
    const { w, p, made } = await faultyWorld((request) =>
      request.attempt === 1 && n++ % 3 === 0 ? kinds[((n / 3) % kinds.length) | 0]! : null,
    );
    const report = await syncActors(w.ctx, w.s3);
    expect(p.faults).toBeGreaterThan(10);
    expect(report.failedActors).toEqual([]);
    expect(report.failedSteps).toBe(0);
    expect(report.totals).toMatchObject({ uploads: names.length * 4, downloads: names.length * 4 });
    expect(new Set(statuses(w))).toEqual(new Set(["synced"]));
    await expectNothingLost(w, made);
  });

  it("reports each image that keeps failing, loses nothing, and a re-run without faults finishes", async () => {
    // Per actor, by filename: an upload answered 500 every time, an upload stored by S3 whose
    // answer never arrives (reset), a download cut halfway through its body, a download
    // refused with SlowDown; the third actor's listing always fails.
    const failing = (name: string) => ({
      upload500: `${name}_0.jpg`,
      uploadLost: `${name}_3.jpg`,
      downloadCut: `${name}_1.jpg`,
      downloadSlow: `${name}_4.jpg`,
    });
    const listingFails = names[2]!;
    let faultsOn = true;
    const { w, p, made } = await faultyWorld((request) => {
      if (!faultsOn) return null;
      if (request.url.includes("list-type") && request.url.includes(encodeURIComponent(`/${listingFails}/`)))
        return { status: 500, code: "InternalError", message: "disk on fire" };
      for (const name of names) {
        const f = failing(name);
        if (request.method === "PUT" && objectRequestFor(request, [f.upload500])) return { status: 500, code: "InternalError" };
        if (request.method === "PUT" && objectRequestFor(request, [f.uploadLost])) return { reset: "answer" };
        if (request.method === "GET" && objectRequestFor(request, [f.downloadCut])) return { reset: "body" };
        if (request.method === "GET" && objectRequestFor(request, [f.downloadSlow])) return { status: 503, code: "SlowDown" };
      }
      return null;
    }, 2);

    // Chosen actors are listed one by one (a sync of all lists the whole prefix at once).
    const report = await syncActors(w.ctx, w.s3, { actorIds: made.map((actor) => actor.id) });
    expect(p.faults).toBeGreaterThan(0);
    expect(report.failedActors).toEqual([
      { name: listingFails, error: expect.stringMatching(/InternalError \(HTTP 500, after 2 attempts\)/) },
    ]);
    const healthy = names.filter((name) => name !== listingFails);
    expect(report.failedSteps).toBe(healthy.length * 4);
    for (const name of healthy) {
      const result = report.results.find((r) => r.name === name)!;
      const failed = Object.fromEntries(
        result.steps.filter((step) => !step.ok).map((step) => [step.filename, `${step.kind}: ${step.error}`]),
      );
      const f = failing(name);
      expect(failed).toEqual({
        [f.upload500]: expect.stringMatching(/^upload: InternalError \(HTTP 500, after 2 attempts\)/),
        [f.uploadLost]: expect.stringMatching(/^upload: .*(ECONNRESET|socket hang up)/),
        [f.downloadCut]: expect.stringMatching(/^download: /),
        [f.downloadSlow]: expect.stringMatching(/^download: SlowDown \(HTTP 503, after 2 attempts\)/),
      });
      expect(result.steps.filter((step) => step.ok)).toHaveLength(4);
      const rows = new Map(
        w.db
          .select()
          .from(images)
          .all()
          .filter((row) => row.actorId === made[names.indexOf(name)]!.id)
          .map((row) => [row.filename, row.status]),
      );
      expect([f.upload500, f.uploadLost, f.downloadCut, f.downloadSlow].map((filename) => rows.get(filename))).toEqual([
        "local_only",
        "local_only",
        "s3_only",
        "s3_only",
      ]);
    }
    // The actor whose listing failed was left as it was.
    const untouched = made[2]!;
    expect(
      w.db
        .select()
        .from(images)
        .all()
        .filter((row) => row.actorId === untouched.id)
        .map((row) => row.status)
        .sort(),
    ).toEqual([...Array(4).fill("local_only"), ...Array(4).fill("s3_only"), ...Array(4).fill("synced")].sort());
    await expectNothingLost(w, made);

    faultsOn = false;
    const rerun = await syncActors(w.ctx, w.s3);
    expect(rerun.failedActors).toEqual([]);
    expect(rerun.failedSteps).toBe(0);
    expect(new Set(statuses(w))).toEqual(new Set(["synced"]));
    await expectNothingLost(w, made);
  });

  it("a scan whose listing is cut by a reset connection marks nothing deleted", async () => {
    // scan.test.ts covers 503/500 on listings; this is the reset connection.
    const victim = names[1]!;
    let armed = false;
    const { w, made } = await faultyWorld(
      (request) =>
        armed && request.url.includes("list-type") && request.url.includes(encodeURIComponent(`/${victim}/`)) ? { reset: "request" } : null,
      2,
    );
    await deleteImageObject(w, names[0]!, made[0]!.filenames[1]!);
    armed = true;
    const before = w.db
      .select()
      .from(images)
      .all()
      .filter((row) => row.actorId === made[1]!.id)
      .map((row) => row.status);
    // Actors named (a listing each): scanning all of them takes one listing of every prefix instead.
    const report = await scanActors(w.ctx, w.s3, { actorIds: made.map((actor) => actor.id) });
    expect(report).toMatchObject({ scanned: names.length - 1, failed: 1 });
    expect(report.actors.find((a) => a.outcome === "failed")!.name).toBe(victim);
    expect(
      w.db
        .select()
        .from(images)
        .all()
        .filter((row) => row.actorId === made[1]!.id)
        .map((row) => row.status),
    ).toEqual(before);
    const first = w.db
      .select()
      .from(images)
      .all()
      .find((row) => row.actorId === made[0]!.id && row.filename === made[0]!.filenames[1])!;
    expect(first.status).toBe("missing");
  });
});
