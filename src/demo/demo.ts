/**
 * Folder src/demo/: demo data, not sync: the data set (this file), its S3 objects
 * (demo-s3) and the image bytes it and the benchmark use (image-bytes).
 *
 * The demo data set: a studio data directory (SPEC.md §3) a newcomer, the tests and
 * `actor-manifests demo` can rely on. Deterministic: two runs write the same bytes.
 *
 * 36 actors, 5–25 real JPEG/PNG images each (one `.JPG`, some `.jpeg`/`.png`), a PNG base
 * image each, and an S3 plan that makes every status of SPEC.md §2 appear:
 * - healthy, mirrored format A for most (statistics consistent with entries); format B for
 *   some (generations `s3_scan`, `replicate_flux_kontext`, `upload`); prompt_metadata.json in
 *   both shapes (object keyed by filename, list of entries) with good true/false/absent and
 *   prompts with accents, CJK and emoji; unknown fields at top level, in entries, in
 *   statistics (0002) and a numeric `character_id` (0003);
 * - sync mix: synced, local only, S3 only, changed in S3 behind the manifest (other size,
 *   same size), edited locally with the same size, a known out_of_sync, missing on both
 *   sides, deleted from S3, orphans on disk and in S3, a 6 MiB multipart object (0010);
 * - odd actors: a training folder without any manifest (0013), an s3-only manifest as in
 *   seed 002 (0014), legacy response.json beside format A (0012) and alone (0015), names
 *   that do not fit `{id}_{descriptor}_{age}_{gender}` (0030_studio_reference_sheet,
 *   legacy_hero_v2 which has no id and only format B);
 * - broken actors, separate from the healthy ones: truncated JSON (0032), `size_bytes:
 *   "big"` (0033), status `"sideways"` (0034), filename `../../etc/passwd` (0035).
 * `healthyManifests` lists the files an import then export must give back unchanged; 0012's
 * format A is left out (response.json names an image it lacks, so the merge adds it).
 */
import { readdirSync } from "node:fs";
import { mkdir, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { loadConfig, type S3Config } from "../config.ts";
import type { SyncStatus } from "../db/schema.ts";
import { makeImageOfSize, makeJpeg, makePng, makeRandom, md5Hex, padImage } from "./image-bytes.ts";
import { DataLayout, s3KeyOf, s3UrlOf } from "../sync/files/layout.ts";

export type ManifestSource = "format_a" | "format_b" | "prompt_metadata" | "response";

export interface DemoImage {
  filename: string;
  /** The file on disk (path relative to the data directory), or null when there is none. */
  local: { path: string; sizeBytes: number; md5: string } | null;
  /** The object the S3 plan puts, or null when S3 should not have it. */
  s3: { sizeBytes: number; md5: string; multipart: boolean } | null;
  /** What an audit should find (SPEC.md §2). */
  expectedStatus: SyncStatus;
  /** Files that name this image; empty for orphans (found only on disk or in S3). */
  listedIn: ManifestSource[];
  /** The format A entry as written, when format A lists the image. */
  formatA: { status: string | null; md5: string | null; sizeBytes: number } | null;
  good: boolean | null;
  prompt: string | null;
  /** Why this image is here, for people reading test failures. */
  scenario: ImageScenario;
}

export interface DemoBrokenFile {
  /** Relative to the data directory. */
  path: string;
  reason: string;
  /** Where in the JSON the fault is, `$.training_data[2].size_bytes` style; null for unparsable text. */
  jsonPath: string | null;
}

export type DemoTrait =
  | "format_a"
  | "format_b"
  | "prompt_metadata_object"
  | "prompt_metadata_list"
  | "legacy_response"
  | "extra_fields"
  | "numeric_character_id"
  | "s3_only_manifest"
  | "no_manifest"
  | "name_off_shape"
  | "multipart"
  | "broken";

export interface DemoActor {
  name: string;
  characterId: string | null;
  healthy: boolean;
  traits: DemoTrait[];
  /** Paths relative to the data directory; null where the actor has no such file. */
  files: {
    formatA: string | null;
    formatB: string | null;
    promptMetadata: string | null;
    response: string | null;
    baseImage: string;
  };
  images: DemoImage[];
  broken: DemoBrokenFile | null;
  /** The S3 URLs in response.json that point at this actor's prefix (others there must be ignored). */
  legacyUrls: string[];
  /** Why this healthy actor's format A is left out of `healthyManifests` (its other files name images format A lacks). */
  roundTripExempt: string | null;
}

/** One object to put in S3: from bytes in memory or from a file. */
export interface PlannedObject {
  name: string;
  filename: string;
  md5: string;
  sizeBytes: number;
  /** Upload in parts (over 5 MiB), so that real S3 gives it a `…-N` ETag. */
  multipart: boolean;
  body?: Buffer;
  path?: string;
}

export interface DemoDataSet {
  dataDir: string;
  actors: DemoActor[];
  s3Plan: PlannedObject[];
  brokenFiles: DemoBrokenFile[];
  /** Format A, format B and prompt_metadata files of healthy actors: import then export must give back the same JSON value. */
  healthyManifests: string[];
}

/** Whether the data directory already holds actors or manifests (the SQLite file and .s3rver do not count). */
export function holdsStudioData(dataDir: string): boolean {
  return ["actors", "actor_manifests"].some((folder) => {
    try {
      return readdirSync(join(dataDir, folder)).length > 0;
    } catch {
      return false;
    }
  });
}

export interface DemoOptions {
  /** Bucket, region and prefix the manifests' URLs name; defaults to the configuration defaults. */
  s3?: S3Config;
}

export type ImageScenario =
  | "synced"
  | "local_only"
  | "s3_only"
  | "s3_changed"
  | "s3_changed_same_size"
  | "local_changed_same_size"
  | "known_out_of_sync"
  | "missing"
  | "s3_deleted"
  | "local_orphan"
  | "s3_orphan"
  | "multipart"
  | "legacy_only";

/** Manifest status as written, what each side holds, and what an audit finds, per scenario. */
const scenarioRules: Record<
  ImageScenario,
  { local: "a" | "b" | null; s3: "a" | "b" | "b_same_size" | null; formatA: string | null; expected: SyncStatus }
> = {
  synced: { local: "a", s3: "a", formatA: "synced", expected: "synced" },
  local_only: { local: "a", s3: null, formatA: "local_only", expected: "local_only" },
  s3_only: { local: null, s3: "a", formatA: "s3_only", expected: "s3_only" },
  s3_changed: { local: "a", s3: "b", formatA: "synced", expected: "out_of_sync" },
  s3_changed_same_size: { local: "a", s3: "b_same_size", formatA: "synced", expected: "out_of_sync" },
  // The manifest and S3 hold version a; someone edited the local file, same size.
  local_changed_same_size: { local: "b", s3: "a", formatA: "synced", expected: "out_of_sync" },
  known_out_of_sync: { local: "a", s3: "b", formatA: "out_of_sync", expected: "out_of_sync" },
  missing: { local: null, s3: null, formatA: "synced", expected: "missing" },
  s3_deleted: { local: "a", s3: null, formatA: "synced", expected: "local_only" },
  local_orphan: { local: "a", s3: null, formatA: null, expected: "local_only" },
  s3_orphan: { local: null, s3: "a", formatA: null, expected: "s3_only" },
  multipart: { local: "a", s3: "a", formatA: "synced", expected: "synced" },
  legacy_only: { local: null, s3: "a", formatA: null, expected: "s3_only" },
};

const demoEpoch = Date.UTC(2025, 9, 16, 10, 0, 0) / 1000;
const multipartBytes = 6 * 1024 * 1024 + 4321;

/** `2025-10-17T15:57:00.000000`: the naive ISO form Python's isoformat() wrote. */
export function naiveIso(seconds: number): string {
  return `${new Date(Math.round(seconds * 1000)).toISOString().slice(0, -1)}000`;
}

export function roundMb(bytes: number): number {
  return Math.round((bytes / 1048576) * 100) / 100;
}

/** Code-point slice, as Python slices text: never splits an emoji. */
function previewOf(prompt: string): string {
  const points = Array.from(prompt);
  return points.length > 100 ? `${points.slice(0, 100).join("")}...` : prompt;
}

const promptTemplates = [
  "Close-up of the {who} looking out a rain-streaked window, warm interior light from the side, shallow depth of field, 85mm lens",
  "Portrait de {who} près d'une fenêtre, lumière dorée du soir, café crème sur la table — ambiance à la Amélie",
  "雨の日の窓辺に立つ{who_ja}、柔らかい自然光、映画のワンシーン",
  "The {who} laughing at a street food stall at night 🌃🍜, neon reflections on wet asphalt, candid shot",
  "Señal de tráfico al fondo, {who} caminando por la calle mayor de Sevilla al atardecer, luz cálida",
  "Full body shot of the {who} in a Müller-Lüdenscheid style tweed coat, Straße at dusk, film grain",
  "The {who} in a 北京 hutong market holding red lanterns 🧧, overcast daylight, documentary photography",
  "Studio headshot of the {who}, neutral grey backdrop, softbox key light, expression: calm 😊",
  "The {who} reading on a train, Zürich → Milano, morning light through the window, naïve watercolor look",
  "Three-quarter profile of the {who} on a rooftop in Seoul (서울), windy, golden hour, cinematic",
  "The {who} cooking in a small kitchen, steam rising, tungsten light, photorealistic",
  "Low-angle shot of the {who} under an umbrella ☔ in heavy rain, moody blue tones",
];

function promptFor(name: string, gender: string | null, index: number): string {
  const who = gender === "female" ? "woman" : gender === "male" ? "man" : "person";
  const whoJa = gender === "female" ? "女性" : gender === "male" ? "男性" : "人物";
  const whoFr = gender === "female" ? "la femme" : gender === "male" ? "l'homme" : "la personne";
  const template = promptTemplates[(index + name.length) % promptTemplates.length]!;
  return template.replace("de {who}", `de ${whoFr}`).replace("{who_ja}", whoJa).replace("{who}", who);
}

interface ImageDraft {
  filename: string;
  index: number;
  scenario: ImageScenario;
  local: Buffer | null;
  s3: Buffer | null;
  /** The bytes format A describes (version a). */
  described: Buffer;
  mtime: number;
  /** The local file's mtime, later than `mtime` when edited after the manifest was written. */
  localMtime: number;
  good: boolean | null;
  /** null: no prompt_metadata entry for this image. */
  prompt: string | null;
  generation: number;
  entryExtras?: Record<string, unknown>;
}

interface ActorDraft {
  name: string;
  characterId: string | null;
  gender: string | null;
  traits: DemoTrait[];
  images: ImageDraft[];
  formatA: "mirrored" | "s3_only" | null;
  numericId?: boolean;
  formatB: null | { generations: Array<"s3_scan" | "replicate_flux_kontext" | "upload"> };
  promptMetadata: "object" | "list" | null;
  response: boolean;
  topExtras?: Record<string, unknown>;
  statisticsExtras?: Record<string, unknown>;
  breakage?: "truncated" | "wrong_type" | "unknown_status" | "hostile_filename";
  baseTime: number;
}

interface RosterEntry {
  name: string;
  plan: (a: ActorPlanner) => void;
}

/** Builds one actor's images: scenario by scenario, extension and generation as asked. */
class ActorPlanner {
  readonly draft: ActorDraft;
  readonly random: () => number;
  private nextIndex = 0;

  constructor(name: string, actorNumber: number) {
    const parts = /^(\d{4})_(.+)_(\d{1,3})_([a-z]+)$/.exec(name);
    const id = /^(\d{4})(?:_|$)/.exec(name);
    this.random = makeRandom(`demo:${name}`);
    this.draft = {
      name,
      characterId: id ? id[1]! : null,
      gender: parts ? parts[4]! : null,
      traits: [],
      images: [],
      formatA: "mirrored",
      formatB: null,
      promptMetadata: this.random() < 0.66 ? "object" : "list",
      response: false,
      baseTime: demoEpoch + actorNumber * 7200,
    };
  }

  /** Adds images of one scenario; `ext` defaults to jpg (png for about one in eight). */
  add(scenario: ImageScenario, count = 1, options: { ext?: string; generation?: number } = {}): this {
    for (let i = 0; i < count; i++) {
      const index = this.nextIndex++;
      const ext = options.ext ?? (this.random() < 0.12 ? "png" : "jpg");
      const filename = `${this.draft.name}_${index}.${ext}`;
      const format = ext.toLowerCase() === "png" ? "png" : "jpeg";
      const seed = `${this.draft.name}/${filename}`;
      const a =
        scenario === "multipart"
          ? makeImageOfSize(seed, multipartBytes, format)
          : format === "png"
            ? makePng(seed, { width: 96, height: 128 })
            : paddedJpeg(seed, 4000 + Math.floor(this.random() * 26000));
      const rule = scenarioRules[scenario];
      const b =
        rule.local === "b" || rule.s3 === "b_same_size"
          ? sameSizeVariant(a, `${seed}#edited`, format)
          : rule.s3 === "b"
            ? format === "png"
              ? makePng(`${seed}#changed`, { width: 112, height: 128 })
              : paddedJpeg(`${seed}#changed`, 4000 + Math.floor(this.random() * 26000))
            : null;
      const mtime = Math.round((this.draft.baseTime + index * 97.125 + this.random()) * 1000) / 1000;
      const roll = this.random();
      this.draft.images.push({
        filename,
        index,
        scenario,
        local: rule.local === "a" ? a : rule.local === "b" ? b : null,
        s3: rule.s3 === "a" ? a : rule.s3 ? b : null,
        described: a,
        mtime,
        localMtime: rule.local === "b" ? mtime + 3 * 86400 : mtime,
        good: roll < 0.5 ? true : roll < 0.72 ? false : null,
        prompt: this.random() < 0.9 ? promptFor(this.draft.name, this.draft.gender, index) : null,
        generation: options.generation ?? 1,
      });
    }
    return this;
  }

  /** A deleted index leaves a gap, as in real folders. */
  skipIndex(): this {
    this.nextIndex++;
    return this;
  }

  /** The usual mix: mostly synced, some local only. */
  mix(count: number): this {
    for (let i = 0; i < count; i++) this.add(this.random() < 0.82 ? "synced" : "local_only");
    return this;
  }

  set<K extends keyof ActorDraft>(key: K, value: ActorDraft[K]): this {
    this.draft[key] = value;
    return this;
  }
}

/** A JPEG of realistic, varied size: the picture plus `extra` bytes of comment padding. */
function paddedJpeg(seed: string, extra: number): Buffer {
  const base = makeJpeg(seed);
  return padImage(base, base.length + extra, seed, "jpeg");
}

/** Different content of exactly the same size (a local edit or S3 overwrite that kept the size). */
function sameSizeVariant(original: Buffer, seed: string, format: "jpeg" | "png"): Buffer {
  const base = format === "png" ? makePng(seed, { width: 16, height: 16 }) : makeJpeg(seed, { width: 16, height: 16 });
  return padImage(base, original.length, seed, format);
}

function count(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

const roster: RosterEntry[] = [
  // Seed 001's actor 0000: 17 images, 12 synced and 5 local only; format B from an S3 scan.
  { name: "0000_european_16_male", plan: (a) => a.add("local_only", 5).add("synced", 12).set("formatB", { generations: ["s3_scan"] }).set("promptMetadata", "object") },
  {
    name: "0001_european_20_female",
    plan: (a) =>
      a
        .add("synced", 6, { generation: 1 })
        .add("synced", 5, { generation: 2 })
        .add("s3_only", 1, { generation: 2 })
        .add("synced", 2, { generation: 3, ext: "jpeg" })
        .set("formatB", { generations: ["s3_scan", "replicate_flux_kontext", "upload"] })
        .set("promptMetadata", "list"),
  },
  {
    name: "0002_east_asian_22_male",
    plan: (a) => {
      a.mix(count(a.random, 8, 14));
      a.set("traits", ["extra_fields"]);
      a.set("topExtras", {
        character_description: "Quiet man in his twenties, tired eyes, short black hair — often in a grey hoodie",
        lora: { trigger_word: "ohwx man", model_version: "v3", trained_at: "2025-10-12T08:41:10.552310", replicate_model: "studio/actor-0002:3f9a1c" },
        tags: ["hero", "noir", "雨"],
        version: 3,
        poses: [],
        approved_by: null,
      });
      a.set("statisticsExtras", { base_images_count: 1, last_sync_duration_s: 4.2 });
      for (const [i, image] of a.draft.images.entries()) {
        if (i % 3 === 0) image.entryExtras = { caption: `frame ${i}, 96×128 preview`, width: 96, height: 128, tags: ["outdoor"], review: { by: "jo", ok: i % 2 === 0 } };
      }
    },
  },
  { name: "0003_african_31_female", plan: (a) => a.mix(count(a.random, 6, 12)).set("numericId", true).set("traits", ["numeric_character_id"]) },
  { name: "0004_south_asian_45_male", plan: (a) => a.mix(4).add("s3_changed").mix(3).add("s3_changed_same_size").mix(2) },
  { name: "0005_latin_american_28_female", plan: (a) => a.mix(3).add("local_changed_same_size").mix(6) },
  { name: "0006_middle_eastern_52_male", plan: (a) => a.mix(5).add("known_out_of_sync").mix(4) },
  { name: "0007_east_asian_25_female", plan: (a) => a.mix(6).add("s3_only", 2).mix(3).add("s3_orphan", 2) },
  { name: "0008_european_70_female", plan: (a) => a.mix(7).add("local_orphan", 2) },
  { name: "0009_southeast_asian_19_male", plan: (a) => a.mix(5).add("missing").add("s3_deleted").mix(3) },
  { name: "0010_african_american_38_male", plan: (a) => a.mix(3).add("multipart").mix(4).set("traits", ["multipart"]) },
  {
    name: "0011_pacific_islander_27_female",
    plan: (a) => a.mix(3).add("synced", 1, { ext: "jpeg" }).add("synced", 1, { ext: "png" }).skipIndex().mix(1).add("synced", 1, { ext: "JPG" }).add("synced", 1, { ext: "png" }).mix(2),
  },
  { name: "0012_african_40_male", plan: (a) => a.add("synced", 6).add("local_only", 2).add("legacy_only").set("response", true) },
  { name: "0013_native_american_60_male", plan: (a) => a.add("synced", 5).add("local_only", 3).set("formatA", null).set("promptMetadata", "object").set("traits", ["no_manifest"]) },
  { name: "0014_european_34_female", plan: (a) => a.add("s3_only", 9).add("missing").add("s3_only", 2).set("formatA", "s3_only").set("traits", ["s3_only_manifest"]) },
  { name: "0015_mixed_race_23_female", plan: (a) => a.add("synced", 5).add("local_only", 2).set("formatA", null).set("response", true).set("promptMetadata", null) },
  { name: "0016_south_asian_18_male", plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["s3_scan", "replicate_flux_kontext"] }) },
  { name: "0017_east_asian_80_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0018_latin_american_41_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0019_south_asian_67_female", plan: (a) => a.mix(count(a.random, 5, 25)).skipIndex().mix(2) },
  { name: "0020_middle_eastern_29_female", plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["s3_scan", "replicate_flux_kontext"] }) },
  { name: "0021_european_55_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0022_african_19_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0023_southeast_asian_36_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0024_european_44_nonbinary", plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["s3_scan", "upload"] }) },
  { name: "0025_east_asian_33_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0026_north_african_47_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0027_central_asian_26_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0028_european_62_female", plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["replicate_flux_kontext"] }) },
  { name: "0029_latin_american_17_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0030_studio_reference_sheet", plan: (a) => a.add("synced", 6).set("traits", ["name_off_shape"]) },
  {
    name: "legacy_hero_v2",
    plan: (a) =>
      a
        .add("synced", 6)
        .add("s3_only", 3)
        .set("formatA", null)
        .set("formatB", { generations: ["s3_scan", "replicate_flux_kontext"] })
        .set("promptMetadata", "list")
        .set("traits", ["name_off_shape"]),
  },
  { name: "0032_european_50_male", plan: (a) => a.add("synced", 6).set("breakage", "truncated").set("promptMetadata", null) },
  { name: "0033_african_24_female", plan: (a) => a.add("synced", 6).set("breakage", "wrong_type").set("promptMetadata", null) },
  { name: "0034_east_asian_58_female", plan: (a) => a.add("synced", 6).set("breakage", "unknown_status").set("promptMetadata", null) },
  { name: "0035_south_asian_30_male", plan: (a) => a.add("synced", 6).set("breakage", "hostile_filename").set("promptMetadata", null) },
];

export const hostileFilename = "../../etc/passwd";

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Python's json.dump default (ensure_ascii): non-ASCII as \uXXXX escapes. Same JSON value. */
function asciiJson(value: unknown): string {
  return json(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Writes the demo data set under `dataDir` and describes what it wrote. */
export async function writeDemoData(dataDir: string, options: DemoOptions = {}): Promise<DemoDataSet> {
  const s3 = options.s3 ?? loadConfig({}).s3;
  const layout = new DataLayout(dataDir);
  const rel = (path: string) => path.slice(layout.root.length + 1).split("\\").join("/");
  const urlOf = (name: string, filename: string) => s3UrlOf(s3, s3KeyOf(s3, name, filename));

  const drafts = roster.map((entry, actorNumber) => {
    const planner = new ActorPlanner(entry.name, actorNumber);
    entry.plan(planner);
    return planner.draft;
  });

  const dataSet: DemoDataSet = { dataDir: layout.root, actors: [], s3Plan: [], brokenFiles: [], healthyManifests: [] };

  for (const draft of drafts) {
    const { name } = draft;
    const traits = new Set<DemoTrait>(draft.traits);
    const healthy = draft.breakage === undefined;
    if (!healthy) traits.add("broken");

    await mkdir(layout.trainingDir(name), { recursive: true });
    const baseImagePath = join(layout.actorDir(name), "base_image", `${name}_base.png`);
    await writeBytes(baseImagePath, makePng(`${name}/base`, { width: 64, height: 64 }));

    // Local files and the S3 plan.
    for (const image of draft.images) {
      if (image.local) {
        const path = layout.imagePath(name, image.filename);
        await writeFile(path, image.local);
        await utimes(path, image.localMtime, image.localMtime);
      }
      if (image.s3) {
        dataSet.s3Plan.push({
          name,
          filename: image.filename,
          md5: md5Hex(image.s3),
          sizeBytes: image.s3.length,
          multipart: image.scenario === "multipart",
          body: image.s3,
        });
      }
    }

    const listedIn = new Map<string, ManifestSource[]>(draft.images.map((image) => [image.filename, []]));
    const listed = (filename: string, source: ManifestSource) => listedIn.get(filename)?.push(source);
    const files: DemoActor["files"] = { formatA: null, formatB: null, promptMetadata: null, response: null, baseImage: rel(baseImagePath) };
    const formatAStatus = new Map<string, { status: string | null; md5: string | null; sizeBytes: number }>();
    let broken: DemoBrokenFile | null = null;
    let roundTripExempt: string | null = null;
    const updated = naiveIso(Math.max(...draft.images.map((image) => image.mtime)) + 1800);

    // Format A.
    if (draft.formatA && draft.characterId) {
      traits.add("format_a");
      const mirrored = draft.formatA === "mirrored";
      const entries: Array<Record<string, unknown>> = [];
      for (const image of draft.images) {
        const rule = scenarioRules[image.scenario];
        if (rule.formatA === null) continue;
        listed(image.filename, "format_a");
        const size = image.described.length;
        const md5 = md5Hex(image.described);
        const status = mirrored ? rule.formatA : null;
        formatAStatus.set(image.filename, { status, md5: mirrored ? md5 : null, sizeBytes: size });
        const entry: Record<string, unknown> = mirrored
          ? {
              filename: image.filename,
              local_path: rule.local === null && rule.formatA === "s3_only" ? null : layout.relativeImagePath(name, image.filename),
              s3_url: status === "local_only" ? null : urlOf(name, image.filename),
              md5_hash: md5,
              size_bytes: size,
              size_mb: roundMb(size),
              modified_timestamp: image.mtime,
              modified_date: naiveIso(image.mtime),
              status,
            }
          : { filename: image.filename, s3_url: urlOf(name, image.filename), size_mb: roundMb(size), modified_date: naiveIso(image.mtime) };
        entries.push({ ...entry, ...image.entryExtras });
      }
      const statuses = entries.map((entry) => entry.status);
      const totalBytes = draft.images.filter((image) => formatAStatus.has(image.filename)).reduce((sum, image) => sum + image.described.length, 0);
      const statistics: Record<string, unknown> = mirrored
        ? {
            training_images_count: entries.length,
            training_data_size_mb: roundMb(totalBytes),
            training_synced_count: statuses.filter((s) => s === "synced").length,
            training_local_only_count: statuses.filter((s) => s === "local_only").length,
            training_s3_only_count: statuses.filter((s) => s === "s3_only").length,
            training_out_of_sync_count: statuses.filter((s) => s === "out_of_sync").length,
          }
        : { training_images_count: entries.length, training_data_size_mb: roundMb(totalBytes) };
      const manifest: Record<string, unknown> = {
        character_id: draft.numericId ? Number(draft.characterId) : draft.characterId,
        character_name: name,
        ...draft.topExtras,
        training_data: entries,
        training_data_updated: updated,
        statistics: { ...statistics, ...draft.statisticsExtras },
      };
      const path = layout.formatAPath(draft.characterId);
      files.formatA = rel(path);
      let text = json(manifest);
      switch (draft.breakage) {
        case "truncated":
          text = text.slice(0, Math.floor(text.length * 0.6));
          broken = { path: files.formatA, reason: "truncated JSON", jsonPath: null };
          break;
        case "wrong_type":
          (entries[2] as Record<string, unknown>).size_bytes = "big";
          text = json(manifest);
          broken = { path: files.formatA, reason: 'size_bytes is the string "big"', jsonPath: "$.training_data[2].size_bytes" };
          break;
        case "unknown_status":
          (entries[1] as Record<string, unknown>).status = "sideways";
          text = json(manifest);
          broken = { path: files.formatA, reason: 'unknown status "sideways"', jsonPath: "$.training_data[1].status" };
          break;
        case "hostile_filename": {
          const hostileEntry = entries[3] as Record<string, unknown>;
          hostileEntry.filename = hostileFilename;
          hostileEntry.local_path = `data/actors/${name}/training_data/${hostileFilename}`;
          hostileEntry.s3_url = `https://${s3.bucket}.s3.${s3.region}.amazonaws.com/${s3.prefix}${name}/${hostileFilename}`;
          text = json(manifest);
          broken = { path: files.formatA, reason: `hostile filename ${JSON.stringify(hostileFilename)}`, jsonPath: "$.training_data[3].filename" };
          const replaced = draft.images[3]!.filename;
          formatAStatus.delete(replaced);
          listedIn.set(replaced, []);
          break;
        }
        default:
          if (healthy) dataSet.healthyManifests.push(files.formatA);
      }
      if (broken) dataSet.brokenFiles.push(broken);
      await writeText(path, text);
    }

    // Format B: what the S3 scans and generations knew (images in S3 that some manifest names).
    if (draft.formatB) {
      traits.add("format_b");
      const kinds = draft.formatB.generations;
      const inB = draft.images.filter((image) => image.s3 !== null && image.scenario !== "s3_orphan" && image.scenario !== "legacy_only");
      const generationOf = (image: ImageDraft, position: number) => {
        if (kinds.length === 1) return 1;
        if (draft.name.startsWith("0001_")) return image.generation;
        return position < Math.ceil(inB.length * 0.6) ? 1 : 2;
      };
      const generationTime = (generationId: number) => draft.baseTime - 86400 + (generationId - 1) * 5400;
      const images: Record<string, unknown> = {};
      const counts = new Map<number, number>();
      inB.forEach((image, position) => {
        const generationId = generationOf(image, position);
        const type = kinds[generationId - 1]!;
        counts.set(generationId, (counts.get(generationId) ?? 0) + 1);
        listed(image.filename, "format_b");
        const key = s3KeyOf(s3, name, image.filename);
        const generatedAt = naiveIso(generationTime(generationId) + position * 41.5);
        images[image.filename] = {
          s3_url: s3UrlOf(s3, key),
          s3_key: key,
          prompt: image.prompt,
          prompt_preview: image.prompt === null ? null : previewOf(image.prompt),
          generated_at: generatedAt,
          last_modified: naiveIso(image.mtime),
          size: image.s3!.length,
          etag: md5Hex(image.s3!),
          index: position + 1,
          generation_id: generationId,
          generation_type: type,
          source: type === "replicate_flux_kontext" ? "replicate" : type,
          ...(draft.name.startsWith("0016_") && position % 4 === 0 ? { width: 96, height: 128, seed: 1000 + position } : {}),
        };
      });
      const generations = kinds.map((type, i) => {
        const generationId = i + 1;
        const at = naiveIso(generationTime(generationId));
        const imageCount = counts.get(generationId) ?? 0;
        const metadata: Record<string, unknown> =
          type === "s3_scan"
            ? { scanned_at: at, total_scanned: imageCount }
            : type === "replicate_flux_kontext"
              ? { model: "black-forest-labs/flux-kontext-pro", aspect_ratio: "3:4", output_format: "jpg", seed: 424242, prompt_template: "{actor} — scène n°{i}, 写真" }
              : { uploaded_by: "markus", source_dir: "~/Downloads/refs", original_names: ["IMG_2041.JPG", "Foto café.jpg", "写真.png"] };
        return { generation_id: generationId, type, generated_at: at, image_count: imageCount, metadata };
      });
      const manifest: Record<string, unknown> = {
        actor_id: name,
        created_at: naiveIso(generationTime(1)),
        updated_at: updated,
        total_images: inB.length,
        generations,
        images,
        ...(draft.name.startsWith("0020_") ? { scan_settings: { bucket: s3.bucket, recursive: false, include: ["*.jpg", "*.png"] } } : {}),
      };
      const path = layout.formatBPath(name);
      files.formatB = rel(path);
      await writeText(path, json(manifest));
      if (healthy) dataSet.healthyManifests.push(files.formatB);
    }

    // Legacy response.json: S3 URLs nested anywhere, plus URLs that are not this actor's.
    const legacyUrls: string[] = [];
    if (draft.response) {
      traits.add("legacy_response");
      // The legacy-only images (named nowhere else) first, then others, up to six URLs.
      const inS3 = draft.images.filter((image) => image.s3 !== null);
      const chosen = [...inS3.filter((image) => image.scenario === "legacy_only"), ...inS3.filter((image) => image.scenario !== "legacy_only")]
        .slice(0, 6)
        .sort((x, y) => x.index - y.index);
      const urls = chosen.map((image) => {
        listed(image.filename, "response");
        return urlOf(name, image.filename);
      });
      legacyUrls.push(...urls);
      if (files.formatA && chosen.some((image) => image.scenario === "legacy_only")) {
        // Importing response.json adds images format A lacks, so its export rightly differs.
        roundTripExempt = "response.json names an S3 image that format A lacks";
        dataSet.healthyManifests.splice(dataSet.healthyManifests.indexOf(files.formatA), 1);
      }
      const response = {
        id: `p8x2k4bq1hrm40cjw5ja3gnv2c${draft.characterId ?? ""}`,
        model: "black-forest-labs/flux-kontext-pro",
        status: "succeeded",
        created_at: "2025-09-30T18:22:41.201Z",
        input: { prompt: promptFor(name, draft.gender, 0), input_image: "https://replicate.delivery/pbxt/Qm4x/base.png", aspect_ratio: "3:4" },
        output: urls.slice(0, 2),
        uploads: [
          { filename: urls[2]?.split("/").pop(), s3: { url: urls[2], bucket: s3.bucket } },
          { result: { urls: urls.slice(3, 5) } },
        ],
        by_index: Object.fromEntries(urls.slice(5).map((url, i) => [String(5 + i), url])),
        reference: urlOf("0000_european_16_male", "0000_european_16_male_0.jpg"),
        metrics: { predict_time: 41.2, total_time: 43.9 },
      };
      const path = layout.responsePath(name);
      files.response = rel(path);
      await writeText(path, json(response));
    }

    // prompt_metadata.json: ratings and prompts, in one of the two shapes seen.
    if (draft.promptMetadata) {
      traits.add(draft.promptMetadata === "object" ? "prompt_metadata_object" : "prompt_metadata_list");
      const rated = draft.images.filter(
        (image) => (image.prompt !== null || image.good !== null) && image.scenario !== "local_orphan" && image.scenario !== "s3_orphan",
      );
      const entryOf = (image: ImageDraft, i: number) => ({
        ...(image.prompt !== null ? { prompt: image.prompt } : {}),
        ...(image.good !== null ? { good: image.good } : {}),
        ...(image.good !== null ? { rated_at: naiveIso(draft.baseTime + 86400 * 2 + i * 13) } : {}),
      });
      for (const image of rated) listed(image.filename, "prompt_metadata");
      const value =
        draft.promptMetadata === "object"
          ? Object.fromEntries(rated.map((image, i) => [image.filename, entryOf(image, i)]))
          : rated.map((image, i) => ({ filename: image.filename, ...entryOf(image, i), seed: 1000 + image.index }));
      const path = layout.promptMetadataPath(name);
      files.promptMetadata = rel(path);
      // One actor's file as Python's json.dump wrote it by default: \u escapes.
      await writeText(path, name.startsWith("0001_") ? asciiJson(value) : json(value));
      if (healthy) dataSet.healthyManifests.push(files.promptMetadata);
    }
    // What an importer can know of each image's rating and prompt.
    const ratedNames = new Set(draft.promptMetadata ? listedNames(listedIn, "prompt_metadata") : []);
    const promptNames = new Set([...ratedNames, ...listedNames(listedIn, "format_b")]);

    dataSet.actors.push({
      name,
      characterId: draft.characterId,
      healthy,
      traits: [...traits].sort(),
      files,
      broken,
      legacyUrls,
      roundTripExempt,
      images: draft.images.map((image) => ({
        filename: image.filename,
        local: image.local ? { path: rel(layout.imagePath(name, image.filename)), sizeBytes: image.local.length, md5: md5Hex(image.local) } : null,
        s3: image.s3 ? { sizeBytes: image.s3.length, md5: md5Hex(image.s3), multipart: image.scenario === "multipart" } : null,
        expectedStatus: scenarioRules[image.scenario].expected,
        listedIn: listedIn.get(image.filename) ?? [],
        formatA: formatAStatus.get(image.filename) ?? null,
        good: ratedNames.has(image.filename) ? image.good : null,
        prompt: promptNames.has(image.filename) ? image.prompt : null,
        scenario: image.scenario,
      })),
    });
  }
  return dataSet;
}

function listedNames(listedIn: Map<string, ManifestSource[]>, source: ManifestSource): string[] {
  return [...listedIn].filter(([, sources]) => sources.includes(source)).map(([filename]) => filename);
}

async function writeText(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, "utf8");
}

async function writeBytes(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}
