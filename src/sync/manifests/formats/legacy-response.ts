import { actorPrefix, assertSafeName, isTrainingImageFilename } from "../../files/layout.ts";
import type { S3Config } from "../../../config.ts";
import type { SourceContribution } from "./fields.ts";

/**
 * Legacy response.json (import only): its shape was never documented, so every string
 * anywhere in it that is an S3 URL under this actor's prefix names one image.
 */
export function parseLegacyResponse(value: unknown, file: string, actorName: string, s3: S3Config): SourceContribution {
  const prefix = actorPrefix(s3, actorName);
  const found = new Map<string, string>();
  visitStrings(value, (text) => {
    const key = s3KeyInUrl(text);
    if (!key?.startsWith(prefix)) return;
    const filename = key.slice(prefix.length);
    if (!isTrainingImageFilename(filename)) return;
    assertSafeName(filename);
    found.set(filename, text);
  });
  return {
    file,
    format: "response",
    updatedAt: null,
    actorName,
    listsImages: true,
    images: [...found].map(([filename, url]) => ({ filename, s3Url: url, s3Key: `${prefix}${filename}` })),
  };
}

function visitStrings(value: unknown, visit: (text: string) => void): void {
  if (typeof value === "string") visit(value);
  else if (Array.isArray(value)) for (const item of value) visitStrings(item, visit);
  else if (value !== null && typeof value === "object") for (const item of Object.values(value)) visitStrings(item, visit);
}

/** The object key of a virtual-hosted or path-style S3 URL, or s3://bucket/key. */
function s3KeyInUrl(text: string): string | null {
  if (!/^(https?|s3):\/\//.test(text)) return null;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const path = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (url.protocol === "s3:") return path;
  if (/\.s3[.-]/.test(url.hostname) && !url.hostname.startsWith("s3.")) return path;
  return path.split("/").slice(1).join("/");
}
