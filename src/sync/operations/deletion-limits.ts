/**
 * What a deletion may touch and how much of it, without any I/O behind it: the CLI builds
 * its options from these before loading anything heavy (`--help` starts at once).
 */

/** Destructive operations refuse plans deleting more images than this unless told otherwise (SPEC.md §7). */
export const defaultMaxDelete = 100;

/** Where an image is deleted from: the manifest always; also S3, also local disk, or both. */
export type DeleteFrom = "manifest" | "s3" | "disk" | "everywhere";
export const deleteTargets: readonly DeleteFrom[] = ["manifest", "s3", "disk", "everywhere"];
