/**
 * Folder src/demo/: demo data, not sync: the data set (this file, its cast in roster, its
 * manifests written by demo-manifests), its S3 objects (demo-s3) and the image bytes it and
 * the benchmark use (image-bytes).
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
import { join } from "node:path";
import { loadConfig, type S3Config } from "../config.ts";
import type { SyncStatus } from "../db/schema.ts";
import { DataLayout } from "../sync/files/layout.ts";
import {
  type ActorWrite,
  listedNames,
  naiveIso,
  relativePath,
  writeBytes,
  writeFormatA,
  writeFormatB,
  writeLegacyResponse,
  writePromptMetadata,
} from "./demo-manifests.ts";
import { makePng, md5Hex } from "./image-bytes.ts";
import { draftActors, scenarioRules, type ActorDraft, type ImageScenario } from "./roster.ts";

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

/** Writes the demo data set under `dataDir` and describes what it wrote. */
export async function writeDemoData(dataDir: string, options: DemoOptions = {}): Promise<DemoDataSet> {
  const s3 = options.s3 ?? loadConfig({}).s3;
  const layout = new DataLayout(dataDir);
  const dataSet: DemoDataSet = { dataDir: layout.root, actors: [], s3Plan: [], brokenFiles: [], healthyManifests: [] };
  for (const draft of draftActors()) dataSet.actors.push(await writeActor(draft, layout, s3, dataSet));
  return dataSet;
}

/** Writes one actor's base image, local files and manifests, adds its objects to the S3 plan, and describes it. */
async function writeActor(draft: ActorDraft, layout: DataLayout, s3: S3Config, dataSet: DemoDataSet): Promise<DemoActor> {
  const { name } = draft;
  const healthy = draft.breakage === undefined;
  await mkdir(layout.trainingDir(name), { recursive: true });
  const baseImagePath = join(layout.actorDir(name), "base_image", `${name}_base.png`);
  await writeBytes(baseImagePath, makePng(`${name}/base`, { width: 64, height: 64 }));

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

  const w: ActorWrite = {
    draft,
    layout,
    s3,
    healthy,
    updated: naiveIso(Math.max(...draft.images.map((image) => image.mtime)) + 1800),
    traits: new Set<DemoTrait>(healthy ? draft.traits : [...draft.traits, "broken"]),
    files: { formatA: null, formatB: null, promptMetadata: null, response: null, baseImage: relativePath(layout, baseImagePath) },
    listedIn: new Map(draft.images.map((image) => [image.filename, []])),
    formatAStatus: new Map(),
    broken: null,
    roundTripExempt: null,
    legacyUrls: [],
    dataSet,
  };
  await writeFormatA(w);
  await writeFormatB(w);
  await writeLegacyResponse(w);
  await writePromptMetadata(w);
  return {
    name,
    characterId: draft.characterId,
    healthy,
    traits: [...w.traits].sort(),
    files: w.files,
    broken: w.broken,
    legacyUrls: w.legacyUrls,
    roundTripExempt: w.roundTripExempt,
    images: describeImages(w),
  };
}

/** Each image as written, and what an importer can know of its rating and prompt. */
function describeImages(w: ActorWrite): DemoImage[] {
  const { draft, layout, listedIn } = w;
  const ratedNames = new Set(draft.promptMetadata ? listedNames(listedIn, "prompt_metadata") : []);
  const promptNames = new Set([...ratedNames, ...listedNames(listedIn, "format_b")]);
  return draft.images.map((image) => ({
    filename: image.filename,
    local: image.local
      ? {
          path: relativePath(layout, layout.imagePath(draft.name, image.filename)),
          sizeBytes: image.local.length,
          md5: md5Hex(image.local),
        }
      : null,
    s3: image.s3 ? { sizeBytes: image.s3.length, md5: md5Hex(image.s3), multipart: image.scenario === "multipart" } : null,
    expectedStatus: scenarioRules[image.scenario].expected,
    listedIn: listedIn.get(image.filename) ?? [],
    formatA: w.formatAStatus.get(image.filename) ?? null,
    good: ratedNames.has(image.filename) ? image.good : null,
    prompt: promptNames.has(image.filename) ? image.prompt : null,
    scenario: image.scenario,
  }));
}
