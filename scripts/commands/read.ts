import type { Command } from "commander";
import type { AppContext } from "../../src/context.ts";
import type { Api } from "../../src/server.ts";
import { counted, humanSize } from "../../src/human-size.ts";
import { printResult, repeatable, runWithContext, withCommonOptions, type CommonFlags } from "./common.ts";
import { exitCodes, UsageError } from "./exit-codes.ts";

/**
 * Read commands (SPEC.md §9): questions about the data answered from SQLite, through the
 * GraphQL API itself (in process, no socket), so the CLI and GraphiQL give the same answer
 * with the same filters, limits and errors.
 */
export function registerReadCommands(program: Command): void {
  registerLs(program);
  registerStats(program);
  registerStatus(program);
}

const apis = new WeakMap<AppContext, Api>();

async function query<T>(ctx: AppContext, text: string, variables: Record<string, unknown>): Promise<T> {
  let api = apis.get(ctx);
  if (!api) {
    const { createApi } = await import("../../src/server.ts");
    // The API's per-request log lines are for a server; here they would drown the answer.
    api = createApi({ ...ctx, logger: { ...ctx.logger, info() {} } });
    apis.set(ctx, api);
  }
  const response = await api.fetch("http://127.0.0.1/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query: text, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (body.errors?.length) throw new Error(body.errors.map((error) => error.message).join("; "));
  return body.data as T;
}

/** `--filter` is an ActorFilterInput written as JSON, with GraphiQL's names; the flags add to it. */
function actorFilterOf(flags: ReadFlags): Record<string, unknown> {
  let filter: Record<string, unknown> = {};
  if (flags.filter) {
    try {
      filter = JSON.parse(flags.filter) as Record<string, unknown>;
    } catch {
      throw new UsageError(`--filter: not JSON (an ActorFilterInput, e.g. '{"gender": "female", "goodCount": {"lt": 5}}')`);
    }
  }
  if (flags.gender) filter.gender = flags.gender;
  if (flags.descriptor) filter.descriptor = flags.descriptor;
  if (flags.goodBelow !== undefined) filter.goodCount = { lt: Number(flags.goodBelow) };
  return filter;
}

interface ReadFlags extends CommonFlags {
  actor?: string;
  filter?: string;
  gender?: string;
  descriptor?: string;
  goodBelow?: string;
  sort?: string;
  desc?: boolean;
  first?: string;
  status?: string[];
  by?: string;
  all?: boolean;
}

function withActorFilters(command: Command): Command {
  return command
    .option("--filter <json>", 'an ActorFilterInput as JSON, e.g. \'{"goodCount": {"lt": 5}}\'')
    .option("--gender <gender>", "only this gender")
    .option("--descriptor <descriptor>", "only this descriptor (e.g. east_asian)")
    .option("--good-below <n>", "only actors with fewer than n images rated good");
}

const statistics =
  "totalCount syncedCount localOnlyCount s3OnlyCount outOfSyncCount missingCount goodCount badCount unratedCount totalSizeBytes";

interface ActorStatistics {
  totalCount: number;
  syncedCount: number;
  localOnlyCount: number;
  s3OnlyCount: number;
  outOfSyncCount: number;
  missingCount: number;
  goodCount: number;
  badCount: number;
  unratedCount: number;
  totalSizeBytes: number;
}

function registerLs(program: Command): void {
  withActorFilters(withCommonOptions(program.command("ls")))
    .description("list actors (with the GraphQL actor filters) or, with --actor, one actor's images with status and rating")
    .option("--actor <name>", "list this actor's images (name or character id)")
    .option("--status <status...>", "with --actor: only images of these statuses (synced, local_only, s3_only, out_of_sync, missing)")
    .option("--sort <field>", "order actors by name, character_id, image_count, good_count, size or last_checked", "name")
    .option("--desc", "descending order")
    .option("--first <n>", "at most n rows (up to 500)", "100")
    .action((flags: ReadFlags) =>
      runWithContext(flags, async (ctx) => {
        if (flags.actor) return listImages(ctx, flags);
        const data = await query<{ actors: { totalCount: number; nodes: { name: string; statistics: ActorStatistics }[] } }>(
          ctx,
          `query ($filter: ActorFilterInput, $orderBy: ActorOrderInput, $first: Int) {
            actors(filter: $filter, orderBy: $orderBy, first: $first) { totalCount nodes { name statistics { ${statistics} } } } }`,
          {
            filter: actorFilterOf(flags),
            orderBy: { field: (flags.sort ?? "name").toUpperCase(), descending: flags.desc ?? false },
            first: Number(flags.first),
          },
        );
        printResult(flags.json, data.actors, () => [
          row(["actor", "images", "synced", "local", "s3", "differ", "missing", "good", "bad", "unrated", "size"]),
          ...data.actors.nodes.map(({ name, statistics: s }) =>
            row([
              name,
              s.totalCount,
              s.syncedCount,
              s.localOnlyCount,
              s.s3OnlyCount,
              s.outOfSyncCount,
              s.missingCount,
              s.goodCount,
              s.badCount,
              s.unratedCount,
              humanSize(s.totalSizeBytes),
            ]),
          ),
          `${data.actors.nodes.length} of ${counted(data.actors.totalCount, "actor")}`,
        ]);
        return 0;
      }),
    );
}

interface ImageRow {
  filename: string;
  status: string | null;
  good: boolean | null;
  sizeBytes: number | null;
  checkedAt: string | null;
}

async function actorImages(ctx: AppContext, actor: string, status: string[] | undefined): Promise<{ name: string; images: ImageRow[] }> {
  const byId = /^\d+$/.test(actor);
  const images: ImageRow[] = [];
  let after: string | null = null;
  let name = actor;
  // Pages of 500 (the API's largest) until the actor's last image.
  for (;;) {
    const data: {
      actor: { name: string; trainingImages: { nodes: ImageRow[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } | null;
    } = await query(
      ctx,
      `query ($name: String, $characterId: String, $after: String, $status: [SyncStatus!]) {
        actor(name: $name, characterId: $characterId) { name trainingImages(first: 500, after: $after, filter: { status: $status }) {
          nodes { filename status good sizeBytes checkedAt } pageInfo { hasNextPage endCursor } } } }`,
      { name: byId ? null : actor, characterId: byId ? actor : null, after, status: status?.map((s) => s.toUpperCase()) ?? null },
    );
    if (!data.actor) throw new Error(`unknown actor: ${actor} (run import first?)`);
    name = data.actor.name;
    images.push(...data.actor.trainingImages.nodes);
    if (!data.actor.trainingImages.pageInfo.hasNextPage) return { name, images };
    after = data.actor.trainingImages.pageInfo.endCursor;
  }
}

async function listImages(ctx: AppContext, flags: ReadFlags): Promise<number> {
  const listing = await actorImages(ctx, flags.actor!, flags.status);
  printResult(flags.json, listing, () => [
    row(["status", "rating", "size", "checked", "file"]),
    ...listing.images.map((image) =>
      row([
        image.status?.toLowerCase() ?? "unchecked",
        image.good === null ? "-" : image.good ? "good" : "bad",
        humanSize(image.sizeBytes ?? 0),
        image.checkedAt ?? "never",
        image.filename,
      ]),
    ),
    `${counted(listing.images.length, "image")} of ${listing.name}`,
  ]);
  return 0;
}

const groupings: Record<string, string> = {
  descriptor: "byDescriptor",
  gender: "byGender",
  "age-band": "byAgeBand",
  actor: "byActor(first: 500)",
};

function registerStats(program: Command): void {
  withActorFilters(withCommonOptions(program.command("stats")))
    .description("figures across actors: images and bytes by status and rating, optionally grouped (GraphQL `stats`)")
    .option("--by <grouping>", `group by ${Object.keys(groupings).join(", ")}`)
    .action((flags: ReadFlags) =>
      runWithContext(flags, async (ctx) => {
        const grouping = flags.by ? groupings[flags.by] : undefined;
        if (flags.by && !grouping) throw new UsageError(`--by: one of ${Object.keys(groupings).join(", ")} (got ${flags.by})`);
        const figures =
          "totalCount totalSizeBytes syncedCount syncedBytes localOnlyCount localOnlyBytes s3OnlyCount s3OnlyBytes outOfSyncCount outOfSyncBytes missingCount missingBytes goodCount badCount unratedCount";
        type Figures = Record<string, number> & { key?: string | null };
        const data = await query<{ stats: { actorCount: number; images: Figures; groups?: Figures[] } }>(
          ctx,
          `query ($filter: ActorFilterInput) { stats(filter: $filter) { actorCount images { ${figures} } ${grouping ? `groups: ${grouping} { key ${figures} }` : ""} } }`,
          { filter: actorFilterOf(flags) },
        );
        const line = (label: string, f: Figures) =>
          row(
            [
              label,
              f.totalCount!,
              humanSize(f.totalSizeBytes!),
              `${f.syncedCount} (${humanSize(f.syncedBytes!)})`,
              `${f.localOnlyCount} (${humanSize(f.localOnlyBytes!)})`,
              `${f.s3OnlyCount} (${humanSize(f.s3OnlyBytes!)})`,
              `${f.outOfSyncCount} (${humanSize(f.outOfSyncBytes!)})`,
              `${f.missingCount}`,
              `${f.goodCount}/${f.badCount}/${f.unratedCount}`,
            ],
            16,
          );
        printResult(flags.json, data.stats, () => [
          row([flags.by ?? "", "images", "size", "synced", "local only", "s3 only", "differ", "missing", "good/bad/unrated"], 16),
          ...(data.stats.groups ?? []).map((group) => line(group.key ?? "(none)", group)),
          line(`all ${counted(data.stats.actorCount, "actor")}`, data.stats.images),
        ]);
        return 0;
      }),
    );
}

/** rclone check --combined's marks, local as source and S3 as destination. */
const marks: Record<string, { mark: string; meaning: string }> = {
  SYNCED: { mark: "=", meaning: "identical" },
  LOCAL_ONLY: { mark: "-", meaning: "only local: sync uploads it" },
  S3_ONLY: { mark: "+", meaning: "only in S3: sync downloads it (mirrored mode)" },
  OUT_OF_SYNC: { mark: "*", meaning: "differs: sync --out-of-sync local|s3|newer picks a side" },
  MISSING: { mark: "!", meaning: "listed, on neither side" },
};

function registerStatus(program: Command): void {
  withCommonOptions(program.command("status"))
    .description(
      `what a sync would do, per image, as of the last scan or audit (like dvc status; marks as rclone check --combined: ${Object.values(
        marks,
      )
        .map((m) => `${m.mark} ${m.meaning}`)
        .join("; ")}); exits ${exitCodes.differencesFound} when anything is not synced`,
    )
    .option("--actor <name>", "an actor, name or character id (repeatable); default every actor", repeatable, [] as string[])
    .option("--all", "every actor (the default)")
    .action((flags: Omit<ReadFlags, "actor"> & { actor: string[] }) =>
      runWithContext(flags, async (ctx) => {
        // -v also lists the synced images (=).
        const names =
          flags.actor.length > 0
            ? flags.actor
            : (
                await query<{ actors: { nodes: { name: string }[] } }>(
                  ctx,
                  "{ actors(first: 500, filter: { fullySynced: false }) { nodes { name } } }",
                  {},
                )
              ).actors.nodes.map((a) => a.name);
        const lines: { mark: string; path: string; status: string }[] = [];
        const counts = new Map<string, number>();
        for (const name of names) {
          const listing = await actorImages(ctx, name, undefined);
          for (const image of listing.images) {
            const status = image.status ?? "UNCHECKED";
            counts.set(status.toLowerCase(), (counts.get(status.toLowerCase()) ?? 0) + 1);
            if (status === "SYNCED" && !flags.verbose) continue;
            lines.push({ mark: marks[status]?.mark ?? "?", path: `${listing.name}/${image.filename}`, status });
          }
        }
        const differences = lines.filter((line) => line.status !== "SYNCED").length;
        printResult(flags.json, { differences, counts: Object.fromEntries(counts), images: lines }, () => [
          ...lines.map((line) => `${line.mark} ${line.path}`),
          `${counted(differences, "difference")} in ${counted(names.length, "actor")}: ${[...counts].map(([status, count]) => `${count} ${status}`).join(", ") || "no images"} (as of the last scan or audit)`,
        ]);
        return differences > 0 ? exitCodes.differencesFound : 0;
      }),
    );
}

/** A table row: the first cell left-aligned, the others right-aligned in `width`, the last (a name or size) as it is. */
function row(cells: (string | number)[], width = 10): string {
  return cells.map((cell, i) => (i === 0 ? String(cell).padEnd(28) : String(cell).padStart(i === cells.length - 1 ? 0 : width))).join(" ");
}
