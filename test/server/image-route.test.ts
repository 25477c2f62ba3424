import { symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import type { Api } from "../../src/server.ts";
import { bytesFor, makeActor } from "../helpers/actors.ts";
import type { World } from "../helpers/world.ts";
import { useS3ApiWorlds } from "../helpers/api-world.ts";
import { graphqlData } from "../helpers/graphql-data.ts";

const worlds = useS3ApiWorlds();
let world: World;
let api: Api;

const A = "0001_european_30_male";

async function viewUrls(): Promise<{ filename: string; viewUrl: string; s3Url: string }[]> {
  const data = await graphqlData(api, `{ actor(name: "${A}") { trainingImages { nodes { filename viewUrl s3Url } } } }`);
  return data.actor.trainingImages.nodes;
}

describe("the image route", () => {
  it("serves only objects inside the actor's prefix, whatever key a manifest recorded", async () => {
    ({ world, api } = await worlds.open());
    const actor = await makeActor(world, { name: A, images: [{ s3: true }] });
    const secret = Buffer.from("another application's object");
    await world.s3.client.send(new PutObjectCommand({ Bucket: world.config.s3.bucket, Key: "private/payroll.jpg", Body: secret }));
    // A hostile format B manifest can record any key for an image.
    world.ctx.db.$client.prepare("UPDATE images SET s3_key = 'private/payroll.jpg' WHERE filename = ?").run(actor.filenames[0]);
    const [image] = await viewUrls();
    const response = await api.fetch(`http://127.0.0.1${image!.viewUrl}`);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(actor.contents.get(actor.filenames[0]!));
  });

  it("serves the local file, or the S3 object when there is no local copy, from the viewUrl a query gives", async () => {
    ({ world, api } = await worlds.open());
    const actor = await makeActor(world, { name: A, images: [{ local: true, s3: true }, { s3: true }, { local: true }] });
    const images = await viewUrls();
    expect(images.map((i) => i.filename)).toEqual(actor.filenames);
    for (const image of images) {
      const response = await api.fetch(`http://127.0.0.1${image.viewUrl}`);
      expect(response.status, image.filename).toBe(200);
      expect(response.headers.get("content-type")).toBe("image/jpeg");
      expect(Buffer.from(await response.arrayBuffer())).toEqual(actor.contents.get(image.filename));
      const etag = response.headers.get("etag")!;
      expect(etag).toBeTruthy();
      const again = await api.fetch(`http://127.0.0.1${image.viewUrl}`, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
    }
    // s3Url points at the configured (loopback) endpoint, path-style, not at amazonaws.com.
    const direct = await fetch(images[1]!.s3Url);
    expect(images[1]!.s3Url.startsWith(`${world.config.s3.endpoint!.replace(/\/$/, "")}/${world.config.s3.bucket}/`)).toBe(true);
    expect(Buffer.from(await direct.arrayBuffer())).toEqual(actor.contents.get(images[1]!.filename));
  });

  it("refuses a hostile name, an unknown image, a linked file, a foreign origin, and off loopback a request without the token", async () => {
    ({ world, api } = await worlds.open());
    const actor = await makeActor(world, { name: A, images: [{ local: true }] });
    expect((await api.fetch(`http://127.0.0.1/images/${A}/..%2F..%2Fsecret.jpg`)).status).toBe(400);
    expect((await api.fetch(`http://127.0.0.1/images/${A}/${A}_9.jpg`)).status).toBe(404);
    const secret = join(world.dataDir, "..", `secret-${Date.now()}.jpg`);
    writeFileSync(secret, bytesFor("secret"));
    const path = world.ctx.layout.imagePath(A, actor.filenames[0]!);
    unlinkSync(path);
    symlinkSync(secret, path);
    const linked = await api.fetch(`http://127.0.0.1/images/${A}/${actor.filenames[0]}`);
    expect(linked.status).toBe(403);
    expect(await linked.text()).not.toContain("secret");
    unlinkSync(secret);
    const foreign = await api.fetch(`http://127.0.0.1/images/${A}/${actor.filenames[0]}`, { headers: { origin: "http://evil.example" } });
    expect(foreign.status).toBe(403);

    await world.close();
    ({ world, api } = await worlds.open({ env: { HOST: "0.0.0.0", API_TOKEN: "s3cret-token" } }));
    const owned = await makeActor(world, { name: A, images: [{ local: true }] });
    const url = `http://127.0.0.1/images/${A}/${owned.filenames[0]}`;
    expect((await api.fetch(url)).status).toBe(401);
    const allowed = await api.fetch(url, { headers: { authorization: "Bearer s3cret-token" } });
    expect(Buffer.from(await allowed.arrayBuffer())).toEqual(owned.contents.get(owned.filenames[0]!));
  });
});
