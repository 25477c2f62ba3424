import { BadFilterError } from "./actor-queries.ts";
import type { SqlFragment } from "./statements.ts";

/** Bounds on a number or an ISO time; every bound given must hold. */
export interface Comparison<T extends number | string = number> {
  lt?: T;
  lte?: T;
  gt?: T;
  gte?: T;
  eq?: T;
}

const operators = { lt: "<", lte: "<=", gt: ">", gte: ">=", eq: "=" } as const;

/** The WHERE fragments of a comparison on `column` (a NULL column matches no bound). */
export function comparisonWhere(column: string, comparison: Comparison<number | string> | undefined): SqlFragment[] {
  if (!comparison) return [];
  return (Object.keys(operators) as (keyof typeof operators)[])
    .filter((key) => comparison[key] !== undefined)
    .map((key) => ({ sql: `${column} ${operators[key]} ?`, params: [comparison[key]] }));
}

/** Refuses bounds that no value can meet (`{ gt: 5, lt: 3 }`), naming the argument. */
export function validateComparison(path: string, comparison: Comparison<number | string> | undefined): void {
  if (!comparison) return;
  const lower = tightest(
    [
      [comparison.gt, true],
      [comparison.gte, false],
      [comparison.eq, false],
    ],
    (a, b) => a > b,
  );
  const upper = tightest(
    [
      [comparison.lt, true],
      [comparison.lte, false],
      [comparison.eq, false],
    ],
    (a, b) => a < b,
  );
  if (!lower || !upper) return;
  const [low, lowStrict] = lower;
  const [high, highStrict] = upper;
  if (low > high || (low === high && (lowStrict || highStrict))) throw new BadFilterError(path, `no value is ${describe(comparison)}`);
}

type Bound = [number | string, boolean];

/** The tightest of the given bounds; at equal values a strict bound is the tighter. */
function tightest(
  bounds: [number | string | undefined, boolean][],
  tighter: (a: number | string, b: number | string) => boolean,
): Bound | undefined {
  let best: Bound | undefined;
  for (const [value, strict] of bounds) {
    if (value === undefined) continue;
    if (!best || tighter(value, best[0]) || (value === best[0] && strict)) best = [value, strict];
  }
  return best;
}

function describe(comparison: Comparison<number | string>): string {
  return (Object.keys(operators) as (keyof typeof operators)[])
    .filter((key) => comparison[key] !== undefined)
    .map((key) => `${operators[key]} ${comparison[key]}`)
    .join(" and ");
}
