/**
 * Finding the manifest-like files under the data directory (format A files in
 * actor_manifests/, format B, prompt_metadata and response.json in each actor's
 * training_data/), statted but not read; and an actor's folder as a source of its own
 * when it has no manifest.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { AppContext } from "../../context.ts";
import type { ImageFields, SourceFormat } from "../../db/actor-import.ts";
import { assertSafeName, imageIndexOf, isTrainingImageFilename } from "../files/layout.ts";
import { assertRealFolder, lstatOrNull, UnsafePathError } from "../files/safe-files.ts";
import type { SourceContribution } from "./formats/fields.ts";
import type { ManifestProblem } from "./formats/problems.ts";
import type { FoundFile } from "./source-files.ts";

export interface Discovery {
  all: FoundFile[];
  formatA: FoundFile[];
  /** Actor folder name → the manifest-like files in its training_data folder. */
  folders: Map<string, FoundFile[]>;
  /** Folders not looked into: a symbolic link (SPEC.md §3), or not a folder. */
  folderProblems: ManifestProblem[];
}

/** Lists and stats the source files; `listed` hears how many entries there are before the stat calls begin. */
export function discoverSourceFiles(ctx: AppContext, listed: (entries: number) => void): Discovery {
  const { layout } = ctx;
  const folderProblems: ManifestProblem[] = [];
  /** Whether the folders down to `folder` are real folders; a link is reported (named) and not followed. */
  const isRealFolder = (folder: string) => {
    try {
      return assertRealFolder(layout.root, folder);
    } catch (error) {
      if (!(error instanceof UnsafePathError)) throw error;
      folderProblems.push({ file: error.path, jsonPath: "$", reason: error.reason });
      return false;
    }
  };
  const manifestEntries = isRealFolder(layout.manifestsDir) ? listDir(layout.manifestsDir) : [];
  const actorEntries = isRealFolder(layout.actorsDir) ? listDir(layout.actorsDir) : [];
  listed(manifestEntries.length + actorEntries.length);
  const formatA: FoundFile[] = [];
  for (const entry of manifestEntries) {
    if (!entry.endsWith("_manifest.json")) continue;
    const path = join(layout.manifestsDir, entry);
    const found = foundFile(path, "format_a", null);
    if (found) formatA.push(found);
  }
  const folders = new Map<string, FoundFile[]>();
  for (const name of actorEntries) {
    let folder: string;
    try {
      folder = layout.trainingDir(name);
    } catch {
      continue; // a folder name that is not a safe actor name is never an actor
    }
    if (!isRealFolder(folder)) continue;
    const files: FoundFile[] = [];
    const candidates: [string, SourceFormat][] = [
      [layout.formatBPath(name), "format_b"],
      [layout.promptMetadataPath(name), "prompt_metadata"],
      [layout.responsePath(name), "response"],
    ];
    for (const [path, format] of candidates) {
      const found = foundFile(path, format, name);
      if (found) files.push(found);
    }
    folders.set(name, files);
  }
  return { all: [...formatA, ...[...folders.values()].flat()], formatA, folders, folderProblems };
}

/** A regular file, or a link in a manifest's place: found, so that reading it refuses it and reports it by name. */
function foundFile(path: string, format: SourceFormat, folderName: string | null): FoundFile | null {
  const stat = lstatOrNull(path);
  if (!stat?.isFile() && !stat?.isSymbolicLink()) return null;
  return { path, format, folderName, size: stat.size, mtimeMs: stat.mtimeMs };
}

/** An actor with a training-data folder and no manifest: its images are the files in the folder. */
export function folderContribution(ctx: AppContext, name: string): SourceContribution {
  const folder = ctx.layout.trainingDir(name);
  const images: ImageFields[] = [];
  for (const filename of listDir(folder).sort()) {
    if (!isTrainingImageFilename(filename)) continue;
    try {
      assertSafeName(filename);
    } catch {
      continue;
    }
    const stat = lstatOrNull(join(folder, filename));
    if (!stat?.isFile()) continue; // a link is never followed: scan reports it
    images.push({
      filename,
      index: imageIndexOf(name, filename),
      localPath: ctx.layout.relativeImagePath(name, filename),
      sizeBytes: stat.size,
      modifiedTimestamp: stat.mtimeMs / 1000,
      modifiedAt: stat.mtime.toISOString(),
    });
  }
  return { file: folder, format: "format_a", updatedAt: null, actorName: name, images, listsImages: true };
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}
