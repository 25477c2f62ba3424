/** One benchmark figure, printed beside its bar and written to the results file. */
export interface BenchFigure {
  name: string;
  value: number;
  unit: string;
  /** The bar from SPEC.md §10, when the figure has one. */
  bar?: { op: ">=" | "<="; value: number; unit: string };
  pass?: boolean;
  note?: string;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
