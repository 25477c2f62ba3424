import { z } from "zod";
import type { GenerationFields, ImageFields, SourceFormat } from "../../../db/actor-import.ts";
import { syncStatuses } from "../../../db/schema.ts";
import { assertSafeName, InvalidFilenameError } from "../../files/layout.ts";
import type { ManifestProblem } from "./problems.ts";

/** A filename from a manifest: data, never a path. */
export const safeFilename = z.string().superRefine((value, ctx) => {
  try {
    assertSafeName(value);
  } catch (error) {
    if (!(error instanceof InvalidFilenameError)) throw error;
    ctx.addIssue({ code: "custom", message: `refused filename: ${error.reason}` });
  }
});

export const syncStatus = z.enum(syncStatuses, {
  error: (issue) => `unknown status ${JSON.stringify(issue.input)}; expected one of ${syncStatuses.join(", ")}`,
});

/** What one file says about one actor. */
export interface SourceContribution {
  file: string;
  format: SourceFormat;
  /** The file's own "updated" time; the newest source wins per field. */
  updatedAt: string | null;
  actorName: string;
  characterId?: string;
  images: ImageFields[];
  generations?: GenerationFields[];
  /** False for sources that only annotate images others list (ratings, prompts). */
  listsImages: boolean;
  /** Entries left out (wrong type, refused filename, listed twice): the file imports without them and is left as it is. */
  problems?: ManifestProblem[];
}

/** Time ordering of manifest timestamps, which come with or without a zone (Python's isoformat). */
export function timeValue(text: string | null | undefined): number {
  if (!text) return Number.NEGATIVE_INFINITY;
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`;
  const value = Date.parse(zoned.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(value) ? Number.NEGATIVE_INFINITY : value;
}

/**
 * Sets `key` on a manifest object being exported, keeping the value already there when
 * it means the same thing: an untouched manifest exports to the same JSON value. An
 * unknown value (null) never erases what another tool wrote.
 */
export function setField(target: Record<string, unknown>, key: string, value: unknown, same = sameJson): void {
  if (value === undefined || value === null) return;
  if (key in target && same(target[key], value)) return;
  target[key] = value;
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function roundMb(bytes: number): number {
  return Math.round((bytes / 1048576) * 100) / 100;
}
