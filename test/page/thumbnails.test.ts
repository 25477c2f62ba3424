import { existsSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { thumbnailFolder } from "../../src/page/thumbnails.ts";
import type { Api } from "../../src/server.ts";
import { bytesFor, makeActor, md5Of } from "../helpers/actors.ts";
import type { World } from "../helpers/world.ts";
import { useS3ApiWorlds } from "../helpers/api-world.ts";

const worlds = useS3ApiWorlds();
let world: World;
let api: Api;

/** A real picture (the thumbnailer decodes it), different for each seed. */
function picture(seed: number, format: "jpeg" | "png" = "jpeg"): Promise<Buffer> {
  const image = sharp({ create: { width: 600, height: 800, channels: 3, background: { r: seed % 256, g: (seed * 7) % 256, b: 90 } } });
  return (format === "png" ? image.png() : image.jpeg()).toBuffer();
}

const A = "0001_european_30_male";
const thumbnailOf = (filename: string, query = "w=256", headers: Record<string, string> = {}) =>
  api.fetch(`http://127.0.0.1/thumbnails/${A}/${encodeURIComponent(filename)}?${query}`, { headers });

describe("the thumbnail route", () => {
  it("makes a thumbnail once, keeps it under the MD5 and size, and answers 304 to its ETag", async () => {
    ({ world, api } = await worlds.open());
    const jpeg = await picture(1);
    const png = await picture(2, "png");
    const actor = await makeActor(world, {
      name: A,
      images: [
        { content: jpeg, local: true, s3: true },
        { filename: `${A}_1.png`, content: png, local: true },
      ],
    });
    const [jpegName, pngName] = actor.filenames as [string, string];

    const first = await thumbnailOf(jpegName, `w=256&v=${md5Of(jpeg)}`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("image/webp");
    expect(first.headers.get("etag")).toBe(`"${md5Of(jpeg)}-256"`);
    expect(first.headers.get("cache-control")).toContain("immutable");
    const made = Buffer.from(await first.arrayBuffer());
    const metadata = await sharp(made).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(["webp", 192, 256]);
    const cached = join(thumbnailFolder(world.dataDir), `${md5Of(jpeg)}-${jpeg.length}-256.webp`);
    expect(existsSync(cached)).toBe(true);

    // Revalidation costs nothing; an address without the MD5 is not kept for a year.
    expect((await thumbnailOf(jpegName, `w=256&v=${md5Of(jpeg)}`, { "if-none-match": `"${md5Of(jpeg)}-256"` })).status).toBe(304);
    expect((await thumbnailOf(jpegName)).headers.get("cache-control")).toBe("private, no-cache");

    // Made once: with the image gone from disk the cached thumbnail still answers, byte for byte.
    unlinkSync(world.ctx.layout.imagePath(A, jpegName));
    const again = await thumbnailOf(jpegName, "w=256");
    expect(Buffer.from(await again.arrayBuffer())).toEqual(made);

    const wide = await thumbnailOf(pngName, "w=512");
    expect((await sharp(Buffer.from(await wide.arrayBuffer())).metadata()).width).toBe(384);
    expect(readdirSync(thumbnailFolder(world.dataDir)).sort()).toEqual(
      [`${md5Of(jpeg)}-${jpeg.length}-256.webp`, `${md5Of(png)}-${png.length}-512.webp`].sort(),
    );
    expect((await thumbnailOf(pngName, "w=100")).status).toBe(400);
  });

  it("answers a placeholder for an image that is not one, is too large to decode, is missing, or is a link, and never follows the link", async () => {
    ({ world, api } = await worlds.open());
    const outside = await picture(3);
    // A decompression bomb: 81 megapixels of one colour, a few kilobytes of PNG.
    const bomb = await sharp({ create: { width: 9000, height: 9000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .png()
      .toBuffer();
    const actor = await makeActor(world, {
      name: A,
      images: [
        { content: bytesFor("not a picture"), local: true },
        { content: await picture(4), status: "missing" },
        { content: await picture(5), local: true },
        { content: bomb, local: true },
      ],
    });
    const [broken, missing, linked, huge] = actor.filenames as [string, string, string, string];
    const secret = join(world.dataDir, "..", `outside-${Date.now()}.jpg`);
    writeFileSync(secret, outside);
    unlinkSync(world.ctx.layout.imagePath(A, linked));
    symlinkSync(secret, world.ctx.layout.imagePath(A, linked));

    for (const [filename, why] of [
      [broken, "unreadable"],
      [huge, "unreadable"],
      [missing, "missing"],
      [linked, "link"],
    ] as const) {
      const response = await thumbnailOf(filename);
      expect(response.status, filename).toBe(200);
      expect(response.headers.get("content-type")).toBe("image/svg+xml");
      expect(response.headers.get("x-thumbnail-unavailable")).toBe(why);
      expect(response.headers.get("cache-control")).toBe("no-store");
    }
    unlinkSync(secret);
    // Nothing was made, in particular not from the linked file's content.
    expect(existsSync(thumbnailFolder(world.dataDir)) ? readdirSync(thumbnailFolder(world.dataDir)) : []).toEqual([]);
    expect((await thumbnailOf(`${A}_9.jpg`)).status).toBe(404);
    expect((await api.fetch(`http://127.0.0.1/thumbnails/${A}/..%2Fsecret.jpg`)).status).toBe(400);
  });

  it("makes it from the S3 object in s3-only mode, and off loopback only with the token", async () => {
    ({ world, api } = await worlds.open({ env: { STORAGE_MODE: "s3-only", HOST: "0.0.0.0", API_TOKEN: "s3cret-token" } }));
    const jpeg = await picture(6);
    const actor = await makeActor(world, { name: A, images: [{ content: jpeg, s3: true }] });
    expect((await thumbnailOf(actor.filenames[0]!)).status).toBe(401);
    const response = await thumbnailOf(actor.filenames[0]!, "w=256", { authorization: "Bearer s3cret-token" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/webp");
    expect(existsSync(join(thumbnailFolder(world.dataDir), `${md5Of(jpeg)}-${jpeg.length}-256.webp`))).toBe(true);
  });
});
