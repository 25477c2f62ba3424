import { lstatSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { isAbandonedTemporaryFile } from "./atomic-write.ts";
import { assertRealFolder } from "./safe-files.ts";
import { isAbandonedTransferFile } from "../s3/transfer.ts";

/**
 * Removes what interrupted downloads and atomic writes of gone processes left in `folder`
 * under the data directory `root`; returns the paths. Only regular files in a real folder are
 * ours: a folder reached through a link is not looked into, and a link is never removed.
 */
export function removeTemporaryFiles(root: string, folder: string): string[] {
  let entries: string[];
  try {
    if (!assertRealFolder(root, folder)) return [];
    entries = readdirSync(folder);
  } catch {
    return [];
  }
  const removed = entries
    .filter((entry) => isAbandonedTransferFile(entry) || isAbandonedTemporaryFile(entry))
    .map((entry) => join(folder, entry))
    .filter((path) => lstatSync(path, { throwIfNoEntry: false })?.isFile());
  for (const path of removed) unlinkSync(path);
  return removed;
}
