/**
 * The demo's cast: 36 actors, each planned image by image as a scenario (what the manifest
 * says, what each side holds, what an audit finds), with deterministic bytes, times,
 * ratings and prompts. demo-manifests.ts writes the files from these drafts.
 */
import type { SyncStatus } from "../db/schema.ts";
import type { DemoTrait } from "./demo.ts";
import { makeImageOfSize, makeJpeg, makePng, makeRandom, padImage } from "./image-bytes.ts";

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
export const scenarioRules: Record<
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

export function promptFor(name: string, gender: string | null, index: number): string {
  const who = gender === "female" ? "woman" : gender === "male" ? "man" : "person";
  const whoJa = gender === "female" ? "女性" : gender === "male" ? "男性" : "人物";
  const whoFr = gender === "female" ? "la femme" : gender === "male" ? "l'homme" : "la personne";
  const template = promptTemplates[(index + name.length) % promptTemplates.length]!;
  return template.replace("de {who}", `de ${whoFr}`).replace("{who_ja}", whoJa).replace("{who}", who);
}

export interface ImageDraft {
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

export interface ActorDraft {
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
  {
    name: "0000_european_16_male",
    plan: (a) =>
      a
        .add("local_only", 5)
        .add("synced", 12)
        .set("formatB", { generations: ["s3_scan"] })
        .set("promptMetadata", "object"),
  },
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
        lora: {
          trigger_word: "ohwx man",
          model_version: "v3",
          trained_at: "2025-10-12T08:41:10.552310",
          replicate_model: "studio/actor-0002:3f9a1c",
        },
        tags: ["hero", "noir", "雨"],
        version: 3,
        poses: [],
        approved_by: null,
      });
      a.set("statisticsExtras", { base_images_count: 1, last_sync_duration_s: 4.2 });
      for (const [i, image] of a.draft.images.entries()) {
        if (i % 3 === 0)
          image.entryExtras = {
            caption: `frame ${i}, 96×128 preview`,
            width: 96,
            height: 128,
            tags: ["outdoor"],
            review: { by: "jo", ok: i % 2 === 0 },
          };
      }
    },
  },
  {
    name: "0003_african_31_female",
    plan: (a) =>
      a
        .mix(count(a.random, 6, 12))
        .set("numericId", true)
        .set("traits", ["numeric_character_id"]),
  },
  { name: "0004_south_asian_45_male", plan: (a) => a.mix(4).add("s3_changed").mix(3).add("s3_changed_same_size").mix(2) },
  { name: "0005_latin_american_28_female", plan: (a) => a.mix(3).add("local_changed_same_size").mix(6) },
  { name: "0006_middle_eastern_52_male", plan: (a) => a.mix(5).add("known_out_of_sync").mix(4) },
  { name: "0007_east_asian_25_female", plan: (a) => a.mix(6).add("s3_only", 2).mix(3).add("s3_orphan", 2) },
  { name: "0008_european_70_female", plan: (a) => a.mix(7).add("local_orphan", 2) },
  { name: "0009_southeast_asian_19_male", plan: (a) => a.mix(5).add("missing").add("s3_deleted").mix(3) },
  { name: "0010_african_american_38_male", plan: (a) => a.mix(3).add("multipart").mix(4).set("traits", ["multipart"]) },
  {
    name: "0011_pacific_islander_27_female",
    plan: (a) =>
      a
        .mix(3)
        .add("synced", 1, { ext: "jpeg" })
        .add("synced", 1, { ext: "png" })
        .skipIndex()
        .mix(1)
        .add("synced", 1, { ext: "JPG" })
        .add("synced", 1, { ext: "png" })
        .mix(2),
  },
  { name: "0012_african_40_male", plan: (a) => a.add("synced", 6).add("local_only", 2).add("legacy_only").set("response", true) },
  {
    name: "0013_native_american_60_male",
    plan: (a) =>
      a.add("synced", 5).add("local_only", 3).set("formatA", null).set("promptMetadata", "object").set("traits", ["no_manifest"]),
  },
  {
    name: "0014_european_34_female",
    plan: (a) => a.add("s3_only", 9).add("missing").add("s3_only", 2).set("formatA", "s3_only").set("traits", ["s3_only_manifest"]),
  },
  {
    name: "0015_mixed_race_23_female",
    plan: (a) => a.add("synced", 5).add("local_only", 2).set("formatA", null).set("response", true).set("promptMetadata", null),
  },
  {
    name: "0016_south_asian_18_male",
    plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["s3_scan", "replicate_flux_kontext"] }),
  },
  { name: "0017_east_asian_80_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0018_latin_american_41_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  {
    name: "0019_south_asian_67_female",
    plan: (a) =>
      a
        .mix(count(a.random, 5, 25))
        .skipIndex()
        .mix(2),
  },
  {
    name: "0020_middle_eastern_29_female",
    plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["s3_scan", "replicate_flux_kontext"] }),
  },
  { name: "0021_european_55_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0022_african_19_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0023_southeast_asian_36_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  {
    name: "0024_european_44_nonbinary",
    plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["s3_scan", "upload"] }),
  },
  { name: "0025_east_asian_33_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0026_north_african_47_female", plan: (a) => a.mix(count(a.random, 5, 25)) },
  { name: "0027_central_asian_26_male", plan: (a) => a.mix(count(a.random, 5, 25)) },
  {
    name: "0028_european_62_female",
    plan: (a) => a.mix(count(a.random, 10, 20)).set("formatB", { generations: ["replicate_flux_kontext"] }),
  },
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

/** Every actor of the roster, planned. */
export function draftActors(): ActorDraft[] {
  return roster.map((entry, actorNumber) => {
    const planner = new ActorPlanner(entry.name, actorNumber);
    entry.plan(planner);
    return planner.draft;
  });
}
