import { humanSize } from "../../src/human-size.ts";
import type { StatusCounts } from "../../src/db/schema.ts";

const statusLabels: [keyof StatusCounts, string][] = [
  ["synced", "SYNCED"],
  ["local_only", "LOCAL_ONLY"],
  ["s3_only", "S3_ONLY"],
  ["out_of_sync", "OUT_OF_SYNC"],
  ["missing", "MISSING"],
  ["unchecked", "unchecked (needs audit)"],
];

/** Left-aligned first column, right-aligned others. */
export function formatTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
}

/** The summary every check prints: images per status, and the bytes they hold. */
export function statusTable(counts: StatusCounts, totalSizeBytes: number): string[] {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return formatTable(
    ["status", "images"],
    [
      ...statusLabels.map(([key, label]) => [label, counts[key].toLocaleString("en-US")]),
      ["total", total.toLocaleString("en-US")],
      ["size", humanSize(totalSizeBytes)],
    ],
  );
}
