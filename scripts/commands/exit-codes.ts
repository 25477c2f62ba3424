/**
 * The CLI's exit codes (SPEC.md §9), the one table scripts rely on; README and
 * docs/cli.md show the same table.
 */
export const exitCodes = {
  /** Everything asked was done (a dry run: the plan was shown). */
  done: 0,
  /** Nothing was done: bad input, an unknown actor, a limit that refused the plan, a failure. */
  error: 1,
  /** The command line was wrong (unknown option, missing argument, invalid choice); nothing ran. */
  usage: 2,
  /** A check ran and found images not synced (`audit`, `status`). */
  differencesFound: 3,
  /** Some of the work was done and some failed or was refused (broken files, failed transfers). */
  partlyDone: 4,
} as const;

export type Outcome = keyof typeof exitCodes;
export type ExitCode = (typeof exitCodes)[Outcome];

export function outcomeOf(code: number): Outcome {
  return (Object.keys(exitCodes) as Outcome[]).find((outcome) => exitCodes[outcome] === code) ?? "error";
}

/** Work with parts that can fail: done when none failed, an error when none succeeded, otherwise partly done. */
export function exitCodeOfParts(succeeded: number, failed: number): ExitCode {
  if (failed === 0) return exitCodes.done;
  return succeeded === 0 ? exitCodes.error : exitCodes.partlyDone;
}

/** A command line that cannot run as given (exit 2), found by a command rather than by commander. */
export class UsageError extends Error {
  override name = "UsageError";
}
