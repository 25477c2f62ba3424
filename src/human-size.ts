/**
 * "12.3 GB": byte counts for people, in decimal (SI) units as file browsers show them. The one
 * formatter of the GraphQL API's `size` fields, the job summaries and the CLI.
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
