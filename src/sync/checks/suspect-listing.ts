/**
 * The suspect-listing guard of SPEC.md §6, shared by scan and audit: a side (S3 or the
 * local folder) whose listing comes back empty while images were known there, or that
 * would take more than the allowed share of an actor's images off it, is treated as a
 * wrong prefix, wrong credentials or an unmounted disk: nothing is removed without an
 * explicit override.
 */
export interface SideListing {
  side: "s3" | "local";
  /** Images the last check put on this side. */
  known: number;
  /** Of those, how many the new listing no longer has. */
  removed: number;
  /** The listing has no image at all; `emptyReason` says how it looks ("the folder does not exist"). */
  empty: boolean;
  emptyReason: string;
}

const hints = { s3: "wrong bucket, prefix or credentials?", local: "unmounted disk or wrong data directory?" } as const;

/** Why the listings of an actor with `total` images are suspect; empty when they are not. */
export function suspectListingReasons(total: number, sides: readonly SideListing[], maxRemoveShare: number): string[] {
  const reasons: string[] = [];
  for (const listing of sides) {
    if (listing.removed === 0) continue;
    const where = listing.side === "s3" ? "S3 listing" : "local folder";
    if (listing.empty) {
      reasons.push(
        `${where} looks suspect: ${listing.emptyReason}, but ${listing.known} images were there when last checked (${hints[listing.side]})`,
      );
    } else if (listing.removed / total > maxRemoveShare) {
      reasons.push(
        `${where} looks suspect: ${listing.removed} of ${total} images would be marked gone (limit ${Math.round(maxRemoveShare * 100)} %)`,
      );
    }
  }
  return reasons;
}

export class SuspectListingError extends Error {
  constructor(
    readonly actor: string,
    readonly reasons: readonly string[],
  ) {
    super(`${actor}: ${reasons.join("; ")}; nothing was changed (--allow-suspect applies it anyway)`);
    this.name = "SuspectListingError";
  }
}
