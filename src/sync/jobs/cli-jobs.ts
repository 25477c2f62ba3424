import { type AppContext, silentLogger } from "../../context.ts";
import { type JobKind, type JobReporter, JobRunner } from "./jobs.ts";

/**
 * Runs one CLI command as a job like the server's (SPEC.md §7: CLI runs are jobs, visible in
 * `jobs`): a row owned by this process's lease, progress written at a bounded rate while
 * `work` reports it, the end recorded (a thrown error fails the job and is thrown on), and
 * every actor change appended to the shared log a running server follows. A run killed
 * mid-way leaves its row `running` until the next process finds its lease gone.
 */
export async function runAsJob<T>(
  ctx: AppContext,
  kind: JobKind,
  params: unknown,
  options: { dryRun?: boolean },
  work: (reporter: JobReporter) => Promise<T>,
): Promise<T> {
  // The command prints its own outcome: the job's start and end lines would only repeat it.
  const runner = new JobRunner(ctx, { logger: silentLogger });
  let outcome: { value: T } | { error: unknown } | undefined;
  const id = runner.start(kind, params, options, async (reporter) => {
    try {
      outcome = { value: await work(reporter) };
    } catch (error) {
      outcome = { error };
      throw error;
    }
  });
  await runner.wait(id);
  if (!outcome) throw new Error(`job ${id} (${kind}) ended without running`);
  if ("error" in outcome) throw outcome.error;
  return outcome.value;
}
