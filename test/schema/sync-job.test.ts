import { join } from "node:path";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { jobs } from "../../src/db/schema.ts";
import { graphqlEndpoint, type Api } from "../../src/server.ts";
import { JobRunner } from "../../src/sync/jobs/jobs.ts";
import { Md5Pool } from "../../src/sync/hashing/md5-pool.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { makeActor, putImage, bytesFor, deleteImageObject } from "../helpers/actors.ts";
import { makeApiWorld, useS3ApiWorlds } from "../helpers/api-world.ts";
import { subscribeSse } from "../helpers/sse.ts";
import { pendingIntents, type World } from "../helpers/world.ts";
import { graphqlData } from "../helpers/graphql-data.ts";

const worlds = useS3ApiWorlds();
let world: World;
let api: Api;

/** A world whose context carries S3, a job runner and hashing threads, as `serve` builds it, and the API over it. */
async function apiWorld(): Promise<void> {
  ({ world, api } = await worlds.open({
    prepare: (opened: World) => {
      opened.ctx.jobs = new JobRunner(opened.ctx);
      opened.ctx.hashing = new Md5Pool();
    },
  }));
}

const graphql = <T = any>(query: string, variables?: Record<string, unknown>) => graphqlData<T>(api, query, variables);

/** Opens a subscription over server-sent events on this file's API. */
function subscribe(query: string, variables?: Record<string, unknown>) {
  return subscribeSse(api, query, variables);
}

/** Reads a job's progress events until the stream completes; returns the data of each. */
async function followJob(id: string): Promise<any[]> {
  const stream = await subscribe(
    `subscription ($id: ID!) { jobProgress(id: $id) { jobId state finished changedActors progress { actorsDone actorsTotal bytesDone bytesTotal percent } } }`,
    { id },
  );
  const events: any[] = [];
  for (let event = await stream.next(); event && event.event !== "complete"; event = await stream.next()) {
    expect(event.data.errors).toBeUndefined();
    events.push(event.data.data.jobProgress);
  }
  return events;
}

const A = "0001_european_30_male";
const B = "0002_african_40_female";

const startSync = `mutation ($input: SyncInput!) {
  startSync(input: $input) {
    __typename
    ... on SyncJob { id kind state dryRun }
    ... on Error { message }
  }
}`;

const jobQuery = `query ($id: ID!) {
  job(id: $id) {
    id kind state dryRun error actorsSucceeded actorsFailed actorsPending
    progress { actorsDone actorsTotal bytesDone bytesTotal }
    planTotals { uploads uploadBytes downloads downloadBytes overwrites deletes summary }
    actors {
      actorName state error
      actor { name statistics { totalCount syncedCount localOnlyCount s3OnlyCount } }
      planTotals { uploads downloads }
      steps { kind filename bytes applied ok error }
      skipped { filename reason }
    }
  }
}`;

const statisticsQuery = `query ($name: String!) {
  actor(name: $name) { statistics { totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount } }
}`;

/** A: one image on both sides, one only local, one only in S3. B: two synced. */
async function makeActors() {
  const a = await makeActor(world, { name: A, images: [{ local: true, s3: true }, { local: true }, { s3: true }] });
  await makeActor(world, {
    name: B,
    images: [
      { local: true, s3: true },
      { local: true, s3: true },
    ],
  });
  return a;
}

describe("sync jobs", () => {
  it("runs a sync job, streams its progress over SSE until it ends, and records each actor's outcome", async () => {
    await apiWorld();
    const a = await makeActors();
    const started = await graphql(startSync, { input: { actors: [A, B] } });
    expect(started.startSync).toMatchObject({ __typename: "SyncJob", kind: "SYNC", dryRun: false });
    const id = started.startSync.id as string;

    const events = await followJob(id);
    expect(events.length).toBeGreaterThanOrEqual(1);
    const last = events.at(-1)!;
    expect(last).toMatchObject({ jobId: id, state: "SUCCEEDED", finished: true, progress: { actorsDone: 2, actorsTotal: 2 } });
    expect(events.slice(0, -1).every((event) => !event.finished)).toBe(true);
    expect(events.flatMap((event) => event.changedActors)).toContain(A);

    const { job } = await graphql(jobQuery, { id });
    expect(job).toMatchObject({ state: "SUCCEEDED", actorsSucceeded: 2, actorsFailed: 0, actorsPending: 0 });
    expect(job.planTotals).toMatchObject({ uploads: 1, downloads: 1, deletes: 0 });
    const outcomeA = job.actors.find((row: any) => row.actorName === A);
    expect(outcomeA.state).toBe("SUCCEEDED");
    expect(outcomeA.steps.map((step: any) => [step.kind, step.filename, step.applied, step.ok]).sort()).toEqual([
      ["download", `${A}_2.jpg`, true, true],
      ["upload", `${A}_1.jpg`, true, true],
    ]);
    expect(outcomeA.actor.statistics).toEqual({ totalCount: 3, syncedCount: 3, localOnlyCount: 0, s3OnlyCount: 0 });

    // The files and objects themselves.
    expect(existsSync(world.ctx.layout.imagePath(A, `${A}_2.jpg`))).toBe(true);
    const head = await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, A, `${A}_1.jpg`));
    expect(head?.size).toBe(a.contents.get(`${A}_1.jpg`)!.length);

    // A subscription to a job that has ended gives its final state and completes.
    const again = await followJob(id);
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ state: "SUCCEEDED", finished: true });

    const listed = await graphql(`{ jobs(first: 5) { totalCount nodes { id kind state } } }`);
    expect(listed.jobs.totalCount).toBe(1);
    expect(listed.jobs.nodes[0]).toEqual({ id, kind: "SYNC", state: "SUCCEEDED" });
  });

  it("a dry-run job records the plan with bytes and changes nothing", async () => {
    await apiWorld();
    const a = await makeActors();
    const before = await graphql(statisticsQuery, { name: A });
    const started = await graphql(startSync, { input: { all: true, dryRun: true } });
    const id = started.startSync.id as string;
    const events = await followJob(id);
    expect(events.at(-1)).toMatchObject({ state: "SUCCEEDED", finished: true });

    const { job } = await graphql(jobQuery, { id });
    expect(job.dryRun).toBe(true);
    expect(job.planTotals).toMatchObject({
      uploads: 1,
      uploadBytes: a.contents.get(`${A}_1.jpg`)!.length,
      downloads: 1,
      downloadBytes: a.contents.get(`${A}_2.jpg`)!.length,
      overwrites: 0,
      deletes: 0,
    });
    expect(job.planTotals.summary).toMatch(/^1 upload \(.+\), 1 download \(.+\), 0 overwrites, 0 deletes$/);
    const outcomeA = job.actors.find((row: any) => row.actorName === A);
    expect(outcomeA.steps.every((step: any) => step.applied === false && step.ok === null)).toBe(true);
    expect(job.actors.find((row: any) => row.actorName === B).steps).toEqual([]);

    expect(existsSync(world.ctx.layout.imagePath(A, `${A}_2.jpg`))).toBe(false);
    expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, A, `${A}_1.jpg`))).toBeNull();
    expect(await graphql(statisticsQuery, { name: A })).toEqual(before);
  });

  it("syncActor runs inline for one actor and returns its plan and fresh statistics", async () => {
    await apiWorld();
    await makeActors();
    const mutation = `mutation ($name: String!, $dryRun: Boolean) {
      syncActor(name: $name, direction: PUSH, dryRun: $dryRun) {
        __typename
        ... on ActorSyncPayload { dryRun failedSteps planTotals { uploads downloads } steps { kind filename applied ok } skipped { filename }
          actor { statistics { localOnlyCount s3OnlyCount syncedCount } } }
        ... on Error { message }
      }
    }`;
    const planned = await graphql(mutation, { name: A, dryRun: true });
    expect(planned.syncActor).toMatchObject({ __typename: "ActorSyncPayload", dryRun: true, planTotals: { uploads: 1, downloads: 0 } });
    const done = await graphql(mutation, { name: A });
    expect(done.syncActor).toMatchObject({
      dryRun: false,
      failedSteps: 0,
      steps: [{ kind: "upload", filename: `${A}_1.jpg`, applied: true, ok: true }],
      actor: { statistics: { localOnlyCount: 0, s3OnlyCount: 1, syncedCount: 2 } },
    });
  });
});

describe("scanActor and auditActor", () => {
  const scan = `mutation ($name: String!) {
    scanActor(name: $name) {
      __typename
      ... on ActorCheckPayload { added removed counts { synced localOnly s3Only } actor { lastCheckedAt statistics { totalCount s3OnlyCount } } }
      ... on UnknownActorError { requestedName }
      ... on Error { message }
    }
  }`;
  const audit = `mutation ($name: String!) {
    auditActor(name: $name) {
      __typename
      ... on ActorCheckPayload { filesHashed bytesHashed counts { synced localOnly s3Only outOfSync } statusChanges { filename from to }
        actor { statistics { syncedCount outOfSyncCount } } }
      ... on Error { message }
    }
  }`;

  it("scanActor finds an object added behind the manifest's back; auditActor finds a changed local file", async () => {
    await apiWorld();
    await makeActor(world, {
      name: A,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    await putImage(world, A, `${A}_7.jpg`, bytesFor("new"));
    const changes = await subscribe(`subscription { actorChanged(name: "${A}") { name reason actor { statistics { totalCount } } } }`);

    const scanned = await graphql(scan, { name: A });
    expect(scanned.scanActor).toMatchObject({ __typename: "ActorCheckPayload", added: [`${A}_7.jpg`], removed: [] });
    expect(scanned.scanActor.actor.statistics).toEqual({ totalCount: 3, s3OnlyCount: 1 });
    expect(scanned.scanActor.actor.lastCheckedAt).not.toBeNull();
    const change = await changes.next();
    expect(change?.data.data.actorChanged).toEqual({ name: A, reason: "scan", actor: { statistics: { totalCount: 3 } } });
    await changes.close();

    // Same size, other bytes: only a content check can tell.
    const { writeFileSync } = await import("node:fs");
    const edited = bytesFor("edited");
    writeFileSync(world.ctx.layout.imagePath(A, `${A}_0.jpg`), edited);
    const readBefore = world.ctx.hashing!.bytesRead;
    const audited = await graphql(audit, { name: A });
    expect(audited.auditActor).toMatchObject({ __typename: "ActorCheckPayload", counts: { synced: 1, outOfSync: 1, s3Only: 1 } });
    expect(audited.auditActor.statusChanges).toContainEqual({ filename: `${A}_0.jpg`, from: "SYNCED", to: "OUT_OF_SYNC" });
    expect(audited.auditActor.actor.statistics).toEqual({ syncedCount: 1, outOfSyncCount: 1 });
    // The server's hashing threads did the work (none started per request).
    expect(audited.auditActor.bytesHashed).toBeGreaterThanOrEqual(edited.length);
    expect(world.ctx.hashing!.bytesRead - readBefore).toBe(audited.auditActor.bytesHashed);

    // An object changed behind the manifest's back: the audit compares with the last listing
    // (the scan's) unless asked to list again.
    await putImage(world, A, `${A}_1.jpg`, bytesFor("changed in S3"));
    const listedBy = `query { actor(name: "${A}") { s3ListedAt } }`;
    const scannedAt = (await graphql(listedBy)).actor.s3ListedAt;
    expect((await graphql(audit, { name: A })).auditActor.counts).toMatchObject({ synced: 1, outOfSync: 1 });
    const relisted = await graphql(audit.replace("auditActor(name: $name)", "auditActor(name: $name, listS3: true)"), { name: A });
    expect(relisted.auditActor.counts).toMatchObject({ synced: 0, outOfSync: 2 });
    expect((await graphql(listedBy)).actor.s3ListedAt > scannedAt).toBe(true);
  });

  it("answers typed errors from mutations (unknown actor, hostile name, no actors) and null with NOT_FOUND for an unknown job", async () => {
    await apiWorld();
    await makeActors();
    expect((await graphql(scan, { name: "9999_nobody_1_male" })).scanActor).toEqual({
      __typename: "UnknownActorError",
      requestedName: "9999_nobody_1_male",
      message: 'no actor with name "9999_nobody_1_male"',
    });
    expect((await graphql(audit, { name: "../etc" })).auditActor.__typename).toBe("InvalidFilenameError");
    expect((await graphql(startSync, { input: { actors: [A, "nope"] } })).startSync).toMatchObject({ __typename: "UnknownActorError" });
    expect((await graphql(startSync, { input: {} })).startSync).toMatchObject({ __typename: "BadFilterError" });
    const unknownJob = await api.fetch(`http://127.0.0.1${graphqlEndpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: `{ job(id: "4242") { id } }` }),
    });
    expect(await unknownJob.json()).toEqual({
      data: { job: null },
      errors: [expect.objectContaining({ message: 'no job with id "4242"', extensions: { code: "NOT_FOUND", argument: "id" } })],
    });
    // Nothing was started by the refused requests.
    expect(world.db.select().from(jobs).all()).toEqual([]);
  });

  it("refuses a listing that looks suspect with SuspectListingError naming the actor and why, for scan, audit and sync alike", async () => {
    await apiWorld();
    await makeActor(world, {
      name: A,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    expect((await graphql(scan, { name: A })).scanActor.__typename).toBe("ActorCheckPayload");
    for (const i of [0, 1, 2]) await deleteImageObject(world, A, `${A}_${i}.jpg`);
    const suspect = `... on SuspectListingError { actorName reason } ... on Error { message }`;
    const refusals = [
      (await graphql(`mutation { scanActor(name: "${A}") { __typename ${suspect} } }`)).scanActor,
      (await graphql(`mutation { auditActor(name: "${A}", listS3: true) { __typename ${suspect} } }`)).auditActor,
      (await graphql(`mutation { syncActor(name: "${A}") { __typename ${suspect} } }`)).syncActor,
    ];
    for (const refusal of refusals) {
      expect(refusal).toMatchObject({ __typename: "SuspectListingError", actorName: A });
      expect(refusal.message).toMatch(
        new RegExp(`^${A}: S3 listing looks suspect: .+; nothing was changed \\(--allow-suspect applies it anyway\\)$`),
      );
      expect(refusal.reason).toBe(refusal.message);
    }
  });

  it("starts scan and audit jobs for all actors", async () => {
    await apiWorld();
    await makeActors();
    for (const mutation of ["startScan", "startAudit"]) {
      const started = await graphql(`mutation { ${mutation}(all: true) { ... on SyncJob { id } ... on Error { message } } }`);
      const id = started[mutation].id as string;
      expect((await followJob(id)).at(-1)).toMatchObject({ state: "SUCCEEDED", progress: { actorsDone: 2, actorsTotal: 2 } });
      const { job } = await graphql(
        `query ($id: ID!) { job(id: $id) { kind actorsSucceeded statusCounts { synced localOnly s3Only } planTotals { uploads } actors { actorName state } } }`,
        { id },
      );
      expect(job).toMatchObject({ actorsSucceeded: 2, statusCounts: { synced: 3, localOnly: 1, s3Only: 1 }, planTotals: null });
      expect(job.actors.map((row: any) => [row.actorName, row.state])).toEqual([
        [A, "SUCCEEDED"],
        [B, "SUCCEEDED"],
      ]);
    }
  });
});

describe("without S3 or after a crash", () => {
  it("a server without S3 answers reads and refuses S3 mutations with NotConfiguredError", async () => {
    const storeWorld = makeApiWorld();
    try {
      const read = await storeWorld.graphql(`{ stats { actorCount } }`);
      expect(read.body.errors).toBeUndefined();
      const refused = await storeWorld.graphql(
        `mutation { startScan(all: true) { __typename ... on NotConfiguredError { missing message } } }`,
      );
      expect(refused.body.data.startScan).toMatchObject({ __typename: "NotConfiguredError", missing: "S3 connection" });
    } finally {
      storeWorld.dispose();
    }
  });

  it("a job left running by a crash is marked interrupted when the next runner starts", async () => {
    await apiWorld();
    world.db.insert(jobs).values({ kind: "sync", state: "running", startedAt: "2025-01-01T00:00:00Z" }).run();
    const runner = new JobRunner(world.ctx);
    expect(runner.interruptedAtStart).toBe(1);
    const { jobs: page } = await graphql(`{ jobs { nodes { state finishedAt error } } }`);
    expect(page.nodes[0]).toMatchObject({ state: "INTERRUPTED", error: "the process running this job stopped before it ended" });
  });
});

describe("image operations as mutations", () => {
  const payload = `__typename
    ... on ImageOperationPayload { dryRun failedSteps planTotals { uploads deletes deleteBytes } steps { kind filename applied ok }
      actor { statistics { totalCount goodCount badCount s3OnlyCount syncedCount } } }
    ... on Error { message }`;

  it("rates, deletes (dry run, max-delete, for real) and adds an uploaded file", async () => {
    await apiWorld();
    await makeActors();
    const rated = await graphql(`mutation { rateImage(name: "${A}", filename: "${A}_0.jpg", rating: GOOD) { ${payload} } }`);
    expect(rated.rateImage).toMatchObject({ __typename: "ImageOperationPayload", dryRun: false, actor: { statistics: { goodCount: 1 } } });

    const unknown = await graphql(
      `mutation { rateImage(name: "${A}", filename: "${A}_9.jpg", rating: BAD) { __typename ... on Error { message } } }`,
    );
    expect(unknown.rateImage.__typename).toBe("UnknownImageError");

    const tooMany = await graphql(
      `mutation { deleteImages(name: "${A}", from: EVERYWHERE, maxDelete: 2) { ${payload} ... on MaxDeleteExceededError { limit count } } }`,
    );
    expect(tooMany.deleteImages).toMatchObject({ __typename: "MaxDeleteExceededError", limit: 2, count: 3 });

    const planned = await graphql(`mutation { deleteImage(name: "${A}", filename: "${A}_2.jpg", from: S3, dryRun: true) { ${payload} } }`);
    expect(planned.deleteImage).toMatchObject({
      dryRun: true,
      planTotals: { deletes: 1 },
      steps: [{ kind: "delete", applied: false, ok: null }],
    });
    expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, A, `${A}_2.jpg`))).not.toBeNull();

    const deleted = await graphql(`mutation { deleteImage(name: "${A}", filename: "${A}_2.jpg", from: S3) { ${payload} } }`);
    expect(deleted.deleteImage).toMatchObject({ dryRun: false, failedSteps: 0, actor: { statistics: { totalCount: 2, s3OnlyCount: 0 } } });
    expect(await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, A, `${A}_2.jpg`))).toBeNull();

    // A GraphQL multipart request, as a browser client sends a file.
    const body = new FormData();
    body.set(
      "operations",
      JSON.stringify({
        query: `mutation ($file: File!) { addImages(name: "${A}", images: [{ file: $file, prompt: "studio light" }]) { ${payload} } }`,
        variables: { file: null },
      }),
    );
    body.set("map", JSON.stringify({ 0: ["variables.file"] }));
    const bytes = bytesFor("uploaded", 3000);
    body.set("0", new File([new Uint8Array(bytes)], `${A}_5.jpg`, { type: "image/jpeg" }));
    const response = await api.fetch(`http://127.0.0.1${graphqlEndpoint}`, {
      method: "POST",
      headers: { "x-graphql-yoga-csrf": "1" },
      body,
    });
    const added = (await response.json()) as any;
    expect(added.errors).toBeUndefined();
    expect(added.data.addImages).toMatchObject({
      __typename: "ImageOperationPayload",
      steps: [{ kind: "add", filename: `${A}_5.jpg`, applied: true, ok: true }],
    });
    expect(added.data.addImages.actor.statistics).toMatchObject({ totalCount: 3, syncedCount: 2 });
    expect(existsSync(world.ctx.layout.imagePath(A, `${A}_5.jpg`))).toBe(true);
    expect((await headObject(world.s3.client, world.config.s3.bucket, s3KeyOf(world.config.s3, A, `${A}_5.jpg`)))?.size).toBe(3000);
  });

  it("a rating whose prompt_metadata.json cannot be written answers PartiallyAppliedError naming the file; the next rating writes it and settles", async () => {
    await apiWorld();
    await makeActors();
    // A folder in the file's place stops the write even for root (chmod does not).
    const promptMetadata = world.ctx.layout.promptMetadataPath(A);
    mkdirSync(promptMetadata, { recursive: true });
    const half = await graphql(`mutation { rateImage(name: "${A}", filename: "${A}_0.jpg", rating: BAD) {
      __typename ... on Error { message }
      ... on PartiallyAppliedError { done { actorName filename kind } pending { actorName file reason } actors { statistics { badCount } } } } }`);
    expect(half.rateImage).toMatchObject({
      __typename: "PartiallyAppliedError",
      done: [{ actorName: A, filename: `${A}_0.jpg`, kind: "rate" }],
      pending: [{ actorName: A, file: promptMetadata, reason: expect.stringContaining(promptMetadata) }],
      actors: [{ statistics: { badCount: 1 } }],
    });
    expect(half.rateImage.message).toContain(promptMetadata);
    expect(pendingIntents(world)).toHaveLength(1);

    rmSync(promptMetadata, { recursive: true });
    const next = await graphql(`mutation { rateImage(name: "${A}", filename: "${A}_1.jpg", rating: GOOD) { ${payload} } }`);
    expect(next.rateImage).toMatchObject({ __typename: "ImageOperationPayload", actor: { statistics: { goodCount: 1, badCount: 1 } } });
    expect(JSON.parse(readFileSync(promptMetadata, "utf8"))).toMatchObject({
      [`${A}_0.jpg`]: { good: false },
      [`${A}_1.jpg`]: { good: true },
    });
    expect(pendingIntents(world)).toHaveLength(0);
  });

  it("runs prune-local as a job: a dry run lists what would go and what stays", async () => {
    await apiWorld();
    await makeActors();
    const refused = await graphql(
      `mutation { startPruneLocal(actors: ["${A}"], dryRun: true) { __typename ... on StorageModeError { file message } } }`,
    );
    expect(refused.startPruneLocal).toMatchObject({
      __typename: "StorageModeError",
      file: join(world.dataDir, "actor-manifests.config.json"),
    });
    const started = await graphql(
      `mutation { startPruneLocal(actors: ["${A}"], dryRun: true, switchToS3Only: true) { ... on SyncJob { id kind dryRun } ... on Error { message } } }`,
    );
    expect(started.startPruneLocal).toMatchObject({ kind: "PRUNE_LOCAL", dryRun: true });
    expect((await followJob(started.startPruneLocal.id)).at(-1)).toMatchObject({ state: "SUCCEEDED" });
    const { job } = await graphql(jobQuery, { id: started.startPruneLocal.id });
    expect(job.planTotals).toMatchObject({ deletes: 1 });
    const outcome = job.actors[0];
    expect(outcome.steps).toEqual([
      { kind: "prune", filename: `${A}_0.jpg`, bytes: expect.any(Number), applied: false, ok: null, error: null },
    ]);
    expect(outcome.skipped).toEqual([{ filename: `${A}_1.jpg`, reason: expect.stringContaining("only copy is local") }]);
    expect(existsSync(world.ctx.layout.imagePath(A, `${A}_0.jpg`))).toBe(true);
  });
});
