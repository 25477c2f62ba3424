import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { HeadObjectCommand, paginateListObjectsV2 } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { roundMb } from "../../src/demo/demo-manifests.ts";
import { writeDemoData, type DemoDataSet } from "../../src/demo/demo.ts";
import { seedDemoS3 } from "../../src/demo/demo-s3.ts";
import { jpegMagic, makeImageOfSize, pngMagic } from "../../src/demo/image-bytes.ts";
import { s3KeyOf } from "../../src/sync/files/layout.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";

const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest("hex");

function listFiles(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(root, path), md5(readFileSync(path)));
    }
  };
  walk(root);
  return files;
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "am-demo-"));
  dirs.push(dir);
  return dir;
}

let dataSet: DemoDataSet;
let dataDir: string;

beforeAll(async () => {
  dataDir = tempDir();
  dataSet = await writeDemoData(dataDir);
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("writeDemoData", () => {
  it("writes a few dozen actors with names of the real shape and a couple that are not", () => {
    expect(dataSet.actors.length).toBe(36);
    const names = dataSet.actors.map((actor) => actor.name);
    expect(names).toContain("0007_east_asian_25_female");
    expect(names).toContain("0019_south_asian_67_female");
    expect(names.filter((name) => !/^\d{4}_.+_\d{1,3}_[a-z]+$/.test(name)).length).toBeGreaterThanOrEqual(2);
    for (const actor of dataSet.actors) expect(actor.images.length).toBeGreaterThanOrEqual(5);
  });

  it("writes real JPEG and PNG bytes whose MD5 and size are what the description says", () => {
    const extensions = new Set<string>();
    for (const actor of dataSet.actors) {
      for (const image of actor.images) {
        if (!image.local) continue;
        const bytes = readFileSync(join(dataDir, image.local.path));
        const ext = image.filename.split(".").pop()!;
        extensions.add(ext);
        const magic = ext.toLowerCase() === "png" ? pngMagic : jpegMagic;
        expect(bytes.subarray(0, magic.length).equals(magic), image.filename).toBe(true);
        expect(md5(bytes)).toBe(image.local.md5);
        expect(bytes.length).toBe(image.local.sizeBytes);
      }
      const base = readFileSync(join(dataDir, actor.files.baseImage));
      expect(base.subarray(0, 8).equals(pngMagic)).toBe(true);
    }
    expect([...extensions].sort()).toEqual(["JPG", "jpeg", "jpg", "png"]);
  });

  it("writes healthy format A manifests whose entries and statistics match the bytes", () => {
    let checked = 0;
    for (const actor of dataSet.actors.filter((a) => a.healthy && a.files.formatA)) {
      const manifest = JSON.parse(readFileSync(join(dataDir, actor.files.formatA!), "utf8"));
      const entries = manifest.training_data as Array<Record<string, unknown>>;
      const s3Only = actor.traits.includes("s3_only_manifest");
      for (const entry of entries) {
        const image = actor.images.find((i) => i.filename === entry.filename)!;
        expect(image, String(entry.filename)).toBeDefined();
        expect(entry.size_mb).toBe(roundMb(image.formatA!.sizeBytes));
        if (s3Only) {
          expect(entry).not.toHaveProperty("md5_hash");
          expect(entry).not.toHaveProperty("status");
          continue;
        }
        expect(entry.status).toBe(image.formatA!.status);
        expect(entry.size_bytes).toBe(image.formatA!.sizeBytes);
        // Where the manifest's last word still holds, its MD5 is the content's on that side.
        if (image.scenario === "synced" || image.scenario === "local_only" || image.scenario === "multipart") {
          expect(entry.md5_hash).toBe(image.local!.md5);
          checked++;
        }
        if (image.scenario === "local_changed_same_size") {
          expect(entry.md5_hash).toBe(image.s3!.md5);
          expect(image.local!.md5).not.toBe(image.s3!.md5);
          expect(image.local!.sizeBytes).toBe(image.s3!.sizeBytes);
        }
      }
      const stats = manifest.statistics;
      expect(stats.training_images_count).toBe(entries.length);
      const sizes = entries.map((entry) => actor.images.find((i) => i.filename === entry.filename)!.formatA!.sizeBytes);
      expect(stats.training_data_size_mb).toBe(roundMb(sizes.reduce((a, b) => a + b, 0)));
      if (!s3Only) {
        expect(stats.training_synced_count).toBe(entries.filter((e) => e.status === "synced").length);
        expect(stats.training_local_only_count).toBe(entries.filter((e) => e.status === "local_only").length);
        expect(stats.training_s3_only_count).toBe(entries.filter((e) => e.status === "s3_only").length);
        expect(stats.training_out_of_sync_count).toBe(entries.filter((e) => e.status === "out_of_sync").length);
      }
      expect(manifest.training_data_updated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    }
    expect(checked).toBeGreaterThan(200);
    const numeric = dataSet.actors.find((a) => a.traits.includes("numeric_character_id"))!;
    expect(typeof JSON.parse(readFileSync(join(dataDir, numeric.files.formatA!), "utf8")).character_id).toBe("number");
  });

  it("writes the broken files it reports, only for actors marked broken", () => {
    expect(dataSet.brokenFiles.map((file) => file.reason).join("\n")).toMatch(/truncated[\s\S]*big[\s\S]*sideways[\s\S]*etc\/passwd/);
    for (const file of dataSet.brokenFiles) {
      const text = readFileSync(join(dataDir, file.path), "utf8");
      const actor = dataSet.actors.find((a) => a.files.formatA === file.path)!;
      expect(actor.healthy).toBe(false);
      expect(dataSet.healthyManifests).not.toContain(file.path);
      if (file.jsonPath === null) {
        expect(() => JSON.parse(text)).toThrow();
        continue;
      }
      const value = JSON.parse(text);
      const [, index, field] = /^\$\.training_data\[(\d+)\]\.(\w+)$/.exec(file.jsonPath)!;
      const bad = value.training_data[Number(index)][field!];
      expect(["big", "sideways", "../../etc/passwd"]).toContain(bad);
    }
    for (const path of dataSet.healthyManifests) expect(() => JSON.parse(readFileSync(join(dataDir, path), "utf8"))).not.toThrow();
  });

  it("writes both prompt_metadata shapes, ratings true/false/absent and non-ASCII prompts", () => {
    const shapes = new Set<string>();
    const ratings = new Set<string>();
    let prompts = "";
    for (const actor of dataSet.actors.filter((a) => a.files.promptMetadata)) {
      const value = JSON.parse(readFileSync(join(dataDir, actor.files.promptMetadata!), "utf8"));
      shapes.add(Array.isArray(value) ? "list" : "object");
      const entries: Array<Record<string, unknown>> = Array.isArray(value) ? value : Object.values(value);
      for (const entry of entries) {
        ratings.add(String(entry.good));
        prompts += String(entry.prompt ?? "");
      }
    }
    expect(shapes).toEqual(new Set(["list", "object"]));
    expect(ratings).toEqual(new Set(["true", "false", "undefined"]));
    expect(prompts).toMatch(/[éèàâ]/);
    expect(prompts).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/);
    expect(prompts).toMatch(/\p{Extended_Pictographic}/u);
  });

  it("writes format B with the three generation types and legacy response.json with nested URLs", () => {
    const types = new Set<string>();
    for (const actor of dataSet.actors.filter((a) => a.files.formatB)) {
      const manifest = JSON.parse(readFileSync(join(dataDir, actor.files.formatB!), "utf8"));
      for (const generation of manifest.generations) types.add(generation.type);
      expect(manifest.total_images).toBe(Object.keys(manifest.images).length);
      for (const [filename, image] of Object.entries<Record<string, unknown>>(manifest.images)) {
        const described = actor.images.find((i) => i.filename === filename)!;
        expect(image.etag).toBe(described.s3!.md5);
        expect(image.size).toBe(described.s3!.sizeBytes);
      }
    }
    expect(types).toEqual(new Set(["s3_scan", "replicate_flux_kontext", "upload"]));
    const legacy = dataSet.actors.filter((a) => a.files.response);
    expect(legacy.length).toBe(2);
    for (const actor of legacy) {
      const text = readFileSync(join(dataDir, actor.files.response!), "utf8");
      for (const url of actor.legacyUrls) expect(text).toContain(url);
      expect(actor.legacyUrls.length).toBeGreaterThan(2);
      expect(text).not.toContain("etc/passwd");
    }
    const exempt = dataSet.actors.filter((a) => a.roundTripExempt);
    expect(exempt.map((a) => a.name)).toEqual(["0012_african_40_male"]);
    expect(dataSet.healthyManifests).not.toContain(exempt[0]!.files.formatA);
  });

  it("plans an S3 side with every status of the table and one multipart object", () => {
    const statuses = new Set(dataSet.actors.flatMap((a) => a.images.map((i) => i.expectedStatus)));
    expect(statuses).toEqual(new Set(["synced", "local_only", "s3_only", "out_of_sync", "missing"]));
    for (const object of dataSet.s3Plan) {
      expect(md5(object.body!)).toBe(object.md5);
      expect(object.body!.length).toBe(object.sizeBytes);
    }
    const multipart = dataSet.s3Plan.filter((object) => object.multipart);
    expect(multipart.length).toBe(1);
    expect(multipart[0]!.sizeBytes).toBeGreaterThan(5 * 1024 * 1024);
    const scenarios = new Set(dataSet.actors.flatMap((a) => a.images.map((i) => i.scenario)));
    for (const scenario of ["s3_changed_same_size", "local_changed_same_size", "local_orphan", "s3_orphan", "missing"]) {
      expect(scenarios).toContain(scenario);
    }
  });

  it("writes the same bytes on every run", async () => {
    const otherDir = tempDir();
    const other = await writeDemoData(otherDir);
    expect(listFiles(otherDir)).toEqual(listFiles(dataDir));
    const strip = (set: DemoDataSet) => JSON.stringify({ ...set, dataDir: "", s3Plan: set.s3Plan.map(({ body, ...rest }) => rest) });
    expect(strip(other)).toBe(strip(dataSet));
    const image = dataSet.actors[0]!.images[0]!;
    expect(statSync(join(otherDir, image.local!.path)).mtimeMs).toBe(statSync(join(dataDir, image.local!.path)).mtimeMs);
  });
});

describe("makeImageOfSize", () => {
  it("makes valid images of exactly the asked size, different per seed", () => {
    for (const size of [2_000, 300 * 1024, 200_003]) {
      const a = makeImageOfSize("a", size);
      const b = makeImageOfSize("b", size);
      expect(a.length).toBe(size);
      expect(b.length).toBe(size);
      expect(a.subarray(0, 3).equals(jpegMagic)).toBe(true);
      expect(a.subarray(-2).equals(Buffer.from([0xff, 0xd9]))).toBe(true);
      expect(md5(a)).not.toBe(md5(b));
    }
    const png = makeImageOfSize("p", 50_000, "png");
    expect(png.length).toBe(50_000);
    expect(png.subarray(0, 8).equals(pngMagic)).toBe(true);
  });
});

describe("seedDemoS3", () => {
  let server: TestS3Server;
  beforeAll(async () => {
    server = await startTestS3Server();
  });
  afterAll(async () => {
    await server.stop();
  });

  it("puts every planned object with its MD5 in metadata, the large one in parts", async () => {
    const s3Config = await server.newBucket();
    const client = server.client(s3Config);
    try {
      const result = await seedDemoS3(client, s3Config, dataSet.s3Plan);
      expect(result.objects).toBe(dataSet.s3Plan.length);
      expect(result.multipart).toBe(1);
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client }, { Bucket: s3Config.bucket })) {
        for (const object of page.Contents ?? []) keys.push(object.Key!);
      }
      expect(keys.sort()).toEqual(dataSet.s3Plan.map((o) => s3KeyOf(s3Config, o.name, o.filename)).sort());
      const big = dataSet.s3Plan.find((o) => o.multipart)!;
      const head = await client.send(new HeadObjectCommand({ Bucket: s3Config.bucket, Key: s3KeyOf(s3Config, big.name, big.filename) }));
      expect(head.Metadata?.md5).toBe(big.md5);
      expect(head.ContentLength).toBe(big.sizeBytes);
    } finally {
      client.destroy();
    }
  });
});
