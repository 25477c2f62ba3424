/**
 * The database as the shared log (issue 10; SPEC.md §7 "several processes"): CLI runs are jobs
 * a server lists, their actor changes reach the server's `actorChanged` subscribers, a job is
 * marked interrupted only once its process is gone, audits take the actor lock, and
 * `startSync(all)` adopts actors only a prefix tells of.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { actorByName } from "../../src/db/actor-queries.ts";
import { actorChangeKeepMs, appendActorChange } from "../../src/db/actor-changes.ts";
import { tryLockActor, unlockActor } from "../../src/db/actor-locks.ts";
import { leaseOf } from "../../src/db/process-lease.ts";
import { actorChanges, jobs, processLeases } from "../../src/db/schema.ts";
import { createApi, type Api } from "../../src/server.ts";
import { auditActors } from "../../src/sync/checks/audit.ts";
import { JobRunner } from "../../src/sync/jobs/jobs.ts";
import { ActorLocks } from "../../src/sync/operations/write-through.ts";
import { bytesFor, makeActor, putImage } from "../helpers/actors.ts";
import { cli, cliEnv } from "../helpers/cli.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { subscribeSse } from "../helpers/sse.ts";
import { createWorld, type World } from "../helpers/world.ts";
import { graphqlData } from "../helpers/graphql-data.ts";

const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");
const A = "0501_european_30_male";
const B = "0502_east_asian_25_female";

let server: TestS3Server;
let world: World;
let api: Api;

beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(() => server?.stop());
afterEach(async () => {
  await world.ctx.jobs?.shutdown(1_000);
  await world.close();
});

/** A world with a server's job runner following the shared log, and the API over it (as `serve` builds it). */
async function serverWorld(): Promise<void> {
  world = await createWorld({ server });
  world.ctx.s3 = world.s3;
  world.ctx.jobs = new JobRunner(world.ctx);
  world.ctx.jobs.followOtherProcesses(50);
  api = createApi(world.ctx);
}

const graphql = <T = any>(query: string, variables?: Record<string, unknown>) => graphqlData<T>(api, query, variables);

/** The next event of a subscription, failing (not hanging) when none comes within a few seconds. */
async function nextEvent(stream: Awaited<ReturnType<typeof subscribeSse>>): Promise<any> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error("no event within 5 s")), 5_000);
  });
  try {
    return (await Promise.race([stream.next(), timeout]))?.data;
  } finally {
    clearTimeout(timer);
  }
}

const jobsQuery = `{ jobs(first: 10) { nodes { id kind state error parameters progress { actorsDone actorsTotal } actorsSucceeded actorsFailed } } }`;

it("a CLI run beside the server is a job in its `jobs`, and its change reaches the server's actorChanged subscribers once", async () => {
  await serverWorld();
  await makeActor(world, {
    name: A,
    images: [
      { local: true, s3: true },
      { local: true, s3: true },
    ],
  });
  const changes = await subscribeSse(
    api,
    `subscription { actorChanged(name: "${A}") { name reason jobId actor { statistics { goodCount } } } }`,
  );
  try {
    // The server's own change: published once, when made (not again from the shared log).
    await graphql(`mutation { rateImages(name: "${A}", filenames: ["${A}_1.jpg"], rating: BAD) { __typename } }`);
    expect((await nextEvent(changes)).data.actorChanged).toEqual({
      name: A,
      reason: "operation",
      jobId: null,
      actor: { statistics: { goodCount: 0 } },
    });

    const run = await cli(["rate", "--actor", A, "--good", `${A}_0.jpg`], cliEnv(world));
    expect(run.code, run.stderr).toBe(0);
    const { jobs: page } = await graphql(jobsQuery);
    expect(page.nodes).toHaveLength(1);
    const job = page.nodes[0];
    expect(job).toMatchObject({
      kind: "RATE",
      state: "SUCCEEDED",
      error: null,
      actorsSucceeded: 1,
      actorsFailed: 0,
      progress: { actorsDone: 1, actorsTotal: 1 },
    });
    expect(JSON.parse(job.parameters)).toMatchObject({ actors: [A], filenames: [`${A}_0.jpg`], good: true });
    // The CLI's change, from the shared log, with the CLI's job: the next event, not a repeat of the server's.
    expect((await nextEvent(changes)).data.actorChanged).toEqual({
      name: A,
      reason: "rate",
      jobId: job.id,
      actor: { statistics: { goodCount: 1 } },
    });
  } finally {
    await changes.close();
  }
}, 60_000);

it("a CLI sync killed -9 leaves its job running while its process lives (a server starting leaves it alone); the next run marks it interrupted", async () => {
  world = await createWorld({ server });
  await makeActor(world, { name: A, images: Array.from({ length: 4 }, (_, i) => ({ content: bytesFor(`${A}/${i}`, 64_000), s3: true })) });
  await makeActor(world, { name: B, images: [{ local: true, s3: true }] });
  // Downloads are held halfway, so the sync is caught mid-run.
  const proxy = await startFaultProxy(server.endpoint, (request) =>
    request.method === "GET" && !request.url.includes("list-type") ? { stall: true } : null,
  );
  const child = spawn(process.execPath, [bin, "sync", "--actor", A], {
    env: { PATH: process.env.PATH ?? "", ...cliEnv(world), S3_ENDPOINT: proxy.endpoint },
    stdio: "ignore",
  });
  const exited = new Promise<NodeJS.Signals | null>((resolveExit) => child.on("exit", (_code, signal) => resolveExit(signal)));
  try {
    for (let waited = 0; proxy.stalled === 0; waited += 20) {
      if (waited > 20_000) throw new Error("the CLI sync never reached a download");
      await sleep(20);
    }
    const running = world.db.select().from(jobs).all();
    expect(running).toMatchObject([{ kind: "sync", state: "running" }]);
    expect(running[0]!.ownerId).toBe(
      world.db
        .select()
        .from(processLeases)
        .all()
        .find((lease) => lease.pid === child.pid)?.ownerId,
    );

    // A server starting beside the live CLI run: the job is the CLI's, still running, listed with its progress.
    world.ctx.s3 = world.s3;
    world.ctx.jobs = new JobRunner(world.ctx);
    api = createApi(world.ctx);
    expect(world.ctx.jobs.interruptedAtStart).toBe(0);
    const { jobs: live } = await graphql(jobsQuery);
    expect(live.nodes).toMatchObject([{ kind: "SYNC", state: "RUNNING", progress: { actorsTotal: 1 } }]);
    // Another CLI run starting beside it leaves it alone too.
    const other = await cli(["rate", "--actor", B, "--good", `${B}_0.jpg`], cliEnv(world));
    expect(other.code, other.stderr).toBe(0);
    expect(
      world.db
        .select()
        .from(jobs)
        .all()
        .find((job) => job.kind === "sync")?.state,
    ).toBe("running");

    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    const next = await cli(["rate", "--actor", B, "--bad", `${B}_0.jpg`], cliEnv(world));
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toContain("1 job(s) left running by a previous process marked interrupted");
    const { jobs: after } = await graphql(jobsQuery);
    expect(after.nodes.map((job: { kind: string; state: string }) => `${job.kind} ${job.state}`)).toEqual([
      "RATE SUCCEEDED",
      "RATE SUCCEEDED",
      "SYNC INTERRUPTED",
    ]);
  } finally {
    child.kill("SIGKILL");
    await proxy.stop();
  }
}, 60_000);

it("a running server marks interrupted the job of a process gone meanwhile, and leaves a live process's job alone", async () => {
  await serverWorld();
  const lease = { ...leaseOf(world.db) };
  const leaseRow = (ownerId: string, expiresAt: number) => ({
    ownerId,
    pid: lease.pid,
    host: lease.host,
    command: "sync --all",
    startedAt: new Date().toISOString(),
    expiresAt,
  });
  world.db
    .insert(processLeases)
    .values([leaseRow("gone", Date.now() - 1), leaseRow("live", Date.now() + 60_000)])
    .run();
  const startedAt = new Date().toISOString();
  world.db
    .insert(jobs)
    .values([
      { kind: "sync", state: "running", startedAt, ownerId: "gone" },
      { kind: "audit", state: "running", startedAt, ownerId: "live" },
    ])
    .run();
  for (
    let waited = 0;
    world.db
      .select()
      .from(jobs)
      .all()
      .some((job) => job.ownerId === "gone" && job.state === "running");
    waited += 100
  ) {
    if (waited > 10_000) throw new Error("the gone process's job is still running");
    await sleep(100);
  }
  const { jobs: page } = await graphql(jobsQuery);
  expect(page.nodes.map((job: { kind: string; state: string }) => `${job.kind} ${job.state}`)).toEqual([
    "AUDIT RUNNING",
    "SYNC INTERRUPTED",
  ]);
  expect(world.messages).toContainEqual({ level: "warn", message: "1 job(s) of a process that is gone marked interrupted" });
}, 30_000);

it("an audit takes the actor's lock: it waits for another process's work on the actor, and skips it (saying who holds it) past the wait", async () => {
  world = await createWorld({ server });
  const actor = await makeActor(world, { name: A, images: [{ local: true, s3: true }] });
  // Another process of this host (alive: this one's pid) holds the actor.
  const other = { ...leaseOf(world.db), ownerId: "another-process" };
  world.db
    .insert(processLeases)
    .values({
      ownerId: other.ownerId,
      pid: other.pid,
      host: other.host,
      command: "sync --all",
      startedAt: new Date().toISOString(),
      expiresAt: Date.now() + 60_000,
    })
    .run();
  expect(tryLockActor(world.db, actor.id, other.ownerId)).toBeNull();

  const refused = await auditActors(world.ctx, world.s3, { actorIds: [actor.id], locks: new ActorLocks(world.db, 300) });
  expect(refused.actors[0]).toMatchObject({ ok: false, error: expect.stringContaining("another process works on it (pid") });
  expect(refused.actors[0]!.error).toContain("`sync --all`");
  expect(actorByName(world.db, A)!.lastCheckedAt).toBeNull();

  const waiting = auditActors(world.ctx, world.s3, { actorIds: [actor.id], locks: new ActorLocks(world.db, 5_000) });
  await sleep(300);
  unlockActor(world.db, actor.id, other.ownerId);
  const audited = await waiting;
  expect(audited.actors[0]).toMatchObject({ ok: true, counts: { synced: 1 } });
}, 30_000);

it("startSync(all: true) adopts an actor that only an S3 prefix tells of, like the CLI's sync --all", async () => {
  await serverWorld();
  await makeActor(world, { name: A, images: [{ local: true, s3: true }] });
  await putImage(world, B, `${B}_0.jpg`, bytesFor("prefix only"));
  const { startSync } = await graphql(`mutation { startSync(input: { all: true }) { ... on SyncJob { id } } }`);
  await world.ctx.jobs!.wait(Number(startSync.id));
  const { job } = await graphql(`query ($id: ID!) { job(id: $id) { state actorsSucceeded planTotals { downloads } } }`, {
    id: startSync.id,
  });
  expect(job).toMatchObject({ state: "SUCCEEDED", actorsSucceeded: 2, planTotals: { downloads: 1 } });
  expect(actorByName(world.db, B)).not.toBeNull();
  expect(existsSync(world.ctx.layout.imagePath(B, `${B}_0.jpg`))).toBe(true);
}, 30_000);

it("a process starting drops rows of the shared log older than an hour", async () => {
  world = await createWorld({ server });
  const change = { actorId: null, name: A, reason: "sync", jobId: null, ownerId: "gone" };
  appendActorChange(world.db, change, Date.now() - actorChangeKeepMs - 1_000);
  appendActorChange(world.db, change);
  new JobRunner(world.ctx);
  expect(world.db.select().from(actorChanges).all()).toMatchObject([{ name: A, ownerId: "gone" }]);
  expect(world.db.select().from(actorChanges).all()[0]!.at).toBeGreaterThan(Date.now() - actorChangeKeepMs);
});
