import { beforeEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { recordIntent } from "../../src/db/intents.ts";
import { actors, images, intents, trashItems } from "../../src/db/schema.ts";
import { recordTrashItem } from "../../src/db/trash-items.ts";
import type { Api } from "../../src/server.ts";
import { deleteImages } from "../../src/sync/operations/delete-images.ts";
import { assertSafeName, s3KeyOf, InvalidFilenameError } from "../../src/sync/files/layout.ts";
import { headObject } from "../../src/sync/s3/s3-client.ts";
import { scanActors } from "../../src/sync/checks/scan.ts";
import { syncActors } from "../../src/sync/operations/sync.ts";
import { emptyTrash, restoreTrash, TrashPlaceOccupiedError } from "../../src/sync/operations/trash-restore.ts";
import { trashObject } from "../../src/sync/operations/trash.ts";
import { recoverIntents } from "../../src/sync/operations/write-through.ts";
import { bytesFor, makeActor, md5Of } from "../helpers/actors.ts";
import { useS3ApiWorlds } from "../helpers/api-world.ts";
import { imageRowsByFilename, type World } from "../helpers/world.ts";
import { graphqlData } from "../helpers/graphql-data.ts";

const worlds = useS3ApiWorlds();
let world: World;
let api: Api;
beforeEach(async () => {
  ({ world, api } = await worlds.open());
});

const name = "0042_european_30_male";
const file = (i: number) => `${name}_${i}.jpg`;
const localVersion = bytesFor("local version");
const s3Version = bytesFor("s3 version", 3000);

function trash() {
  return world.db.select().from(trashItems).all();
}
function localBytes(filename: string): Buffer {
  return readFileSync(world.ctx.layout.imagePath(name, filename));
}
async function objectBytes(key: string): Promise<Buffer> {
  const answer = await world.s3.client.send(new GetObjectCommand({ Bucket: world.s3.s3Config.bucket, Key: key }));
  return Buffer.from(await answer.Body!.transformToByteArray());
}
function keyOf(filename: string): string {
  return s3KeyOf(world.s3.s3Config, name, filename);
}
/** One out-of-sync image: the local file and the S3 object hold different content. */
function outOfSyncActor() {
  return makeActor(world, {
    name,
    images: [
      { content: localVersion, local: true, s3: s3Version },
      { local: true, s3: true },
    ],
  });
}
const graphql = <T = any>(query: string, variables?: Record<string, unknown>) => graphqlData<T>(api, query, variables);

describe("a repair keeps the loser", () => {
  it("S3 wins: the local file is moved to .trash with its MD5, and a restore brings its bytes back (the occupant going to the trash in turn)", async () => {
    await outOfSyncActor();
    const report = await syncActors(world.ctx, world.s3, { outOfSync: "s3" });
    expect(report.failedSteps).toBe(0);
    expect(md5Of(localBytes(file(0)))).toBe(md5Of(s3Version));
    const [item, ...more] = trash();
    expect(more).toEqual([]);
    expect(item).toMatchObject({
      side: "local",
      origin: "repair",
      filename: file(0),
      actorName: name,
      md5: md5Of(localVersion),
      sizeBytes: localVersion.length,
      state: "kept",
    });
    expect(item!.trashLocation).toBe(join(".trash", String(item!.id), name, file(0)));
    expect(md5Of(readFileSync(join(world.dataDir, item!.trashLocation!)))).toBe(md5Of(localVersion));

    // Something is in its place now: refused, naming the file, and nothing moved.
    const refused = restoreTrash(world.ctx, world.s3, { ids: [item!.id] });
    await expect(refused).rejects.toThrow(TrashPlaceOccupiedError);
    await expect(refused).rejects.toThrow(`actors/${name}/training_data/${file(0)}`);
    expect(md5Of(localBytes(file(0)))).toBe(md5Of(s3Version));

    const restored = await restoreTrash(world.ctx, world.s3, { ids: [item!.id], overwrite: true });
    expect(restored.failed).toEqual([]);
    expect(md5Of(localBytes(file(0)))).toBe(md5Of(localVersion));
    expect(existsSync(join(world.dataDir, item!.trashLocation!))).toBe(false);
    // The downloaded content it replaced is kept in its turn; the row says what each side holds now.
    expect(trash().map((row) => [row.origin, row.side, row.md5])).toEqual([["restore", "local", md5Of(s3Version)]]);
    expect(imageRowsByFilename(world).get(file(0))?.status).toBe("out_of_sync");
  });

  it("local wins: the S3 object is copied under the trash prefix before the upload replaces it", async () => {
    await outOfSyncActor();
    await syncActors(world.ctx, world.s3, { outOfSync: "local" });
    expect((await headObject(world.s3.client, world.s3.s3Config.bucket, keyOf(file(0))))?.metadataMd5).toBe(md5Of(localVersion));
    const [item, ...more] = trash();
    expect(more).toEqual([]);
    expect(item).toMatchObject({
      side: "s3",
      origin: "repair",
      md5: md5Of(s3Version),
      sizeBytes: s3Version.length,
      originalLocation: keyOf(file(0)),
    });
    expect(item!.trashLocation).toBe(`${world.s3.s3Config.prefix}.trash/${item!.id}/${name}/${file(0)}`);
    expect(md5Of(await objectBytes(item!.trashLocation!))).toBe(md5Of(s3Version));
  });

  it("trash keys are never adopted as actors or images by scan --all and sync", async () => {
    await outOfSyncActor();
    await syncActors(world.ctx, world.s3, { outOfSync: "local" });
    await deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(1)], from: "everywhere" });
    expect(trash()).toHaveLength(3);
    const scanned = await scanActors(world.ctx, world.s3, { all: true });
    expect(scanned.discovered).toEqual([]);
    // What keeps them out on real S3, whose delimiter listing names `.trash/` beside the actors
    // (s3rver's leaves out a prefix with nested keys): its name is no actor name.
    const [s3Item] = trash().filter((item) => item.side === "s3");
    const topName = s3Item!.trashLocation!.slice(world.s3.s3Config.prefix.length).split("/")[0]!;
    expect(() => assertSafeName(topName)).toThrow(InvalidFilenameError);
    await syncActors(world.ctx, world.s3, { outOfSync: "local" });
    expect(world.db.select({ name: actors.name }).from(actors).all()).toEqual([{ name }]);
    expect(world.db.select({ filename: images.filename }).from(images).all()).toEqual([{ filename: file(0) }]);
    expect(trash().every((item) => item.state === "kept")).toBe(true);
  });
});

describe("a deletion keeps what it removes", () => {
  it("delete everywhere keeps both sides; restoring both brings back the file, the object, the row and the manifest entry", async () => {
    const actor = await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    const content = actor.contents.get(file(1))!;
    await deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(1)], from: "everywhere" });
    expect(existsSync(world.ctx.layout.imagePath(name, file(1)))).toBe(false);
    expect(await headObject(world.s3.client, world.s3.s3Config.bucket, keyOf(file(1)))).toBeNull();
    const kept = trash();
    expect(kept.map((item) => [item.side, item.origin, item.md5])).toEqual([
      ["s3", "delete", md5Of(content)],
      ["local", "delete", md5Of(content)],
    ]);
    expect(md5Of(await objectBytes(kept[0]!.trashLocation!))).toBe(md5Of(content));
    expect(md5Of(readFileSync(join(world.dataDir, kept[1]!.trashLocation!)))).toBe(md5Of(content));

    const restored = await restoreTrash(world.ctx, world.s3, { ids: kept.map((item) => item.id) });
    expect(restored.failed).toEqual([]);
    expect(trash()).toEqual([]);
    expect(localBytes(file(1))).toEqual(content);
    expect(md5Of(await objectBytes(keyOf(file(1))))).toBe(md5Of(content));
    expect(await headObject(world.s3.client, world.s3.s3Config.bucket, kept[0]!.trashLocation!)).toBeNull();
    expect(imageRowsByFilename(world).get(file(1))).toMatchObject({ status: "synced", md5: md5Of(content) });
    const manifest = JSON.parse(readFileSync(world.ctx.layout.formatAPath("0042"), "utf8"));
    expect(manifest.training_data.map((entry: { filename: string }) => entry.filename)).toContain(file(1));
  });

  it("a dry run shows what goes to the trash, with bytes, and moves nothing", async () => {
    await outOfSyncActor();
    const sync = await syncActors(world.ctx, world.s3, { outOfSync: "s3", dryRun: true });
    expect(sync.plans[0]!.steps).toEqual([
      expect.objectContaining({ kind: "download", filename: file(0), toTrash: [{ side: "local", bytes: localVersion.length }] }),
    ]);
    expect(sync.totals).toMatchObject({ trashed: 1, trashBytes: localVersion.length });

    const planned = await graphql(
      `mutation { deleteImages(name: "${name}", filenames: ["${file(1)}"], from: EVERYWHERE, dryRun: true) {
        ... on ImageOperationPayload { planTotals { trashed trashBytes summary } steps { kind toTrash { side bytes } } } } }`,
    );
    expect(planned.deleteImages.planTotals).toMatchObject({ trashed: 2, trashBytes: 4096 });
    expect(planned.deleteImages.planTotals.summary).toContain("2 to the trash");
    expect(planned.deleteImages.steps).toEqual([
      {
        kind: "delete",
        toTrash: [
          { side: "S3", bytes: 2048 },
          { side: "LOCAL", bytes: 2048 },
        ],
      },
    ]);
    expect(trash()).toEqual([]);
    expect(existsSync(join(world.dataDir, ".trash"))).toBe(false);
  });
});

describe("the trash through GraphQL", () => {
  it("lists with an actor filter, nodes, bytes, md5, origin and time; restores; empties with a dry run first", async () => {
    const actor = await makeActor(world, {
      name,
      images: [
        { local: true, s3: true },
        { local: true, s3: true },
      ],
    });
    await deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(0), file(1)], from: "disk" });
    const listed = await graphql(
      `query($actor: String) { trash(actorName: $actor, first: 10) { totalCount totalBytes nodes { id filename side origin md5 bytes trashedAt originalLocation trashLocation } edges { cursor } } }`,
      { actor: name },
    );
    expect(listed.trash).toMatchObject({ totalCount: 2, totalBytes: 4096 });
    expect(listed.trash.nodes.map((node: any) => [node.filename, node.side, node.origin, node.md5, node.bytes])).toEqual([
      [file(0), "LOCAL", "DELETE", md5Of(actor.contents.get(file(0))!), 2048],
      [file(1), "LOCAL", "DELETE", md5Of(actor.contents.get(file(1))!), 2048],
    ]);
    expect(Date.parse(listed.trash.nodes[0].trashedAt)).toBeGreaterThan(Date.now() - 60_000);
    const [first, second] = listed.trash.nodes;

    const restored = await graphql(
      `mutation($ids: [Int!]!) { restoreTrash(ids: $ids) { __typename ... on RestoreTrashPayload { restored { filename } actors { name } } } }`,
      {
        ids: [first.id],
      },
    );
    expect(restored.restoreTrash).toEqual({ __typename: "RestoreTrashPayload", restored: [{ filename: file(0) }], actors: [{ name }] });
    expect(localBytes(file(0))).toEqual(actor.contents.get(file(0)));
    // Restoring again: the id names nothing in the trash now.
    const again = await graphql(
      `mutation($ids: [Int!]!) { restoreTrash(ids: $ids) { __typename ... on UnknownTrashItemError { ids message } } }`,
      { ids: [first.id] },
    );
    expect(again.restoreTrash).toMatchObject({ __typename: "UnknownTrashItemError", ids: [first.id] });

    const empty = `mutation($ids: [Int!], $dryRun: Boolean) { emptyTrash(ids: $ids, dryRun: $dryRun) { __typename ... on EmptyTrashPayload { dryRun bytes emptied { id } failed { error } } } }`;
    const dry = await graphql(empty, { ids: [second.id], dryRun: true });
    expect(dry.emptyTrash).toEqual({
      __typename: "EmptyTrashPayload",
      dryRun: true,
      bytes: 2048,
      emptied: [{ id: second.id }],
      failed: [],
    });
    expect(existsSync(join(world.dataDir, second.trashLocation))).toBe(true);
    const done = await graphql(empty, { ids: [second.id], dryRun: false });
    expect(done.emptyTrash).toMatchObject({ dryRun: false, emptied: [{ id: second.id }], failed: [] });
    expect(existsSync(join(world.dataDir, second.trashLocation))).toBe(false);
    expect(existsSync(join(world.dataDir, ".trash", String(second.id)))).toBe(false);
    expect((await graphql(`{ trash { totalCount } }`)).trash.totalCount).toBe(0);
  });
});

describe("links in the trash", () => {
  it("a symbolic link put in place of a kept file is neither followed nor moved by restore or empty", async () => {
    await makeActor(world, { name, images: [{ local: true, s3: true }] });
    await deleteImages(world.ctx, world.s3, { actor: name, filenames: [file(0)], from: "disk" });
    const [item] = trash();
    const kept = join(world.dataDir, item!.trashLocation!);
    const outside = join(world.dataDir, "outside.jpg");
    writeFileSync(outside, "not the service's");
    unlinkSync(kept);
    symlinkSync(outside, kept);

    const restored = await restoreTrash(world.ctx, world.s3, { ids: [item!.id] });
    expect(restored.failed.map((f) => f.error)).toEqual([expect.stringContaining("symbolic link")]);
    expect(existsSync(world.ctx.layout.imagePath(name, file(0)))).toBe(false);
    const emptied = await emptyTrash(world.ctx, world.s3, { all: true });
    expect(emptied.failed.map((f) => f.error)).toEqual([expect.stringContaining("symbolic link")]);
    expect(readFileSync(outside, "utf8")).toBe("not the service's");
    expect(trash().map((row) => [row.id, row.state])).toEqual([[item!.id, "kept"]]);
  });
});

describe("a crash between the trash and the overwrite", () => {
  it("recovery keeps the loser a move left half-recorded, and a re-run finishes the repair", async () => {
    const actor = await outOfSyncActor();
    await syncActors(world.ctx, world.s3, { outOfSync: "skip" });
    // What a kill -9 right after the rename leaves: the intent of the download, the item still `moving`, the file gone from its place.
    const step = {
      kind: "download",
      filename: file(0),
      bytes: s3Version.length,
      overwrite: true,
      expectedMd5: md5Of(s3Version),
      toTrash: [{ side: "local", bytes: 2048 }],
      reason: "test",
    };
    recordIntent(world.db, actor.id, file(0), "download", step);
    world.db.update(intents).set({ ownerId: "a process that is gone" }).run();
    const item = recordTrashItem(
      world.db,
      {
        actorId: actor.id,
        actorName: name,
        filename: file(0),
        side: "local",
        origin: "repair",
        originalLocation: `actors/${name}/training_data/${file(0)}`,
      },
      (id) => join(".trash", String(id), name, file(0)),
    );
    mkdirSync(dirname(join(world.dataDir, item.trashLocation!)), { recursive: true });
    renameSync(world.ctx.layout.imagePath(name, file(0)), join(world.dataDir, item.trashLocation!));

    const recovered = await recoverIntents(world.ctx, world.s3);
    expect(recovered.intents).toBe(1);
    expect(trash()).toEqual([
      expect.objectContaining({ id: item.id, state: "kept", md5: md5Of(localVersion), sizeBytes: localVersion.length }),
    ]);
    expect(imageRowsByFilename(world).get(file(0))?.status).toBe("s3_only");

    await syncActors(world.ctx, world.s3, { outOfSync: "s3" });
    expect(md5Of(localBytes(file(0)))).toBe(md5Of(s3Version));
    expect(trash().map((row) => row.id)).toEqual([item.id]);
  });

  it("a deletion killed after its copy under the trash prefix is finished by recovery without a second copy", async () => {
    const actor = await makeActor(world, { name, images: [{ local: true, s3: true }] });
    const step = {
      kind: "delete",
      filename: file(0),
      bytes: 2048,
      fromS3: true,
      fromLocal: false,
      toTrash: [{ side: "s3", bytes: 2048 }],
      reason: "test",
    };
    recordIntent(world.db, actor.id, file(0), "delete", step);
    world.db.update(intents).set({ ownerId: "a process that is gone" }).run();
    const copied = await trashObject(world.ctx, world.s3, actor, file(0), "delete");

    await recoverIntents(world.ctx, world.s3);
    expect(await headObject(world.s3.client, world.s3.s3Config.bucket, keyOf(file(0)))).toBeNull();
    expect(trash().map((row) => [row.id, row.state, row.md5])).toEqual([[copied!.id, "kept", md5Of(actor.contents.get(file(0))!)]]);
    expect(md5Of(await objectBytes(copied!.trashLocation!))).toBe(md5Of(actor.contents.get(file(0))!));
  });
});
