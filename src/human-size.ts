/**
 * "12.3 GB": byte counts for people, in decimal (SI) units as file browsers show them. The one
 * formatter of the GraphQL API's `size` fields, the job summaries, the CLI and the page (which
 * loads this function's own source: it must stay self-contained).
 */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

/** `1 actor`, `2 actors`, `3 images (1.2 MB)`: sizes only of something (never "(0 B)"). */
export function counted(count: number, noun: string, bytes?: number): string {
  const size = bytes !== undefined && count > 0 ? ` (${humanSize(bytes)})` : "";
  return `${count.toLocaleString("en-US")} ${count === 1 ? noun : `${noun}s`}${size}`;
}
