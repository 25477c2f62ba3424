import { exportManifests, ManifestConflictError } from "../sync/manifests/export.ts";
import { importManifests } from "../sync/manifests/import.ts";
import { InvalidFilenameError } from "../sync/files/layout.ts";
import { UnknownActorError } from "../sync/operations/operation-common.ts";
import { builder } from "./builder.ts";
import { requireActor } from "./context.ts";

export const ManifestProblem = builder.objectRef<{ file: string; jsonPath?: string; reason: string }>("ManifestProblem").implement({
  description: "A file that could not be read or written; the other actors were not affected.",
  fields: (t) => ({
    file: t.exposeString("file", { description: "Path of the file." }),
    jsonPath: t.string({
      nullable: true,
      description: "Where in the file, e.g. `$.training_data[3].status`.",
      resolve: (p) => p.jsonPath ?? null,
    }),
    reason: t.exposeString("reason", { description: "What is wrong with it." }),
  }),
});

const ImportReport = builder.objectRef<Awaited<ReturnType<typeof importManifests>>>("ImportReport").implement({
  description: "What an import of the manifests on disk did.",
  fields: (t) => ({
    actorsImported: t.exposeInt("actorsImported", { description: "Actors (re)read from changed files." }),
    actorsUnchanged: t.exposeInt("actorsUnchanged", { description: "Actors whose files had not changed since the last import." }),
    imagesImported: t.exposeInt("imagesImported", { description: "Images of the imported actors." }),
    filesRead: t.exposeInt("filesRead", { description: "Manifest files read." }),
    problems: t.field({ type: [ManifestProblem], description: "Files skipped, with the reason.", resolve: (r) => r.problems }),
  }),
});

const ExportReport = builder.objectRef<Awaited<ReturnType<typeof exportManifests>>>("ExportReport").implement({
  description: "What an export of the manifests to disk did.",
  fields: (t) => ({
    filesWritten: t.exposeStringList("filesWritten", { description: "Files replaced (atomically)." }),
    actorsExported: t.exposeInt("actorsExported", { description: "Actors whose manifests were rendered." }),
    actorsSkipped: t.exposeInt("actorsSkipped", { description: "Actors left alone (unchanged since their manifests were written)." }),
    problems: t.field({ type: [ManifestProblem], description: "Files not written, with the reason.", resolve: (r) => r.problems }),
    leftAlone: t.field({
      type: [ManifestProblem],
      description: "Files with problems, left as they are until fixed or rebuilt (`rebuild: true`).",
      resolve: (r) => r.leftAlone,
    }),
    backups: t.exposeStringList("backups", { description: "Where a rebuild kept the old bytes of the files it replaced (`{file}.bak`)." }),
  }),
});

builder.mutationFields((t) => ({
  importManifests: t.field({
    type: ImportReport,
    description:
      "Reads the manifests under the data directory into SQLite (unchanged files are skipped), as `actor-manifests import` does.",
    args: { force: t.arg.boolean({ defaultValue: false, description: "Re-read every file even when its size and mtime are unchanged." }) },
    resolve: (_root, args, ctx) => importManifests(ctx.app, { force: args.force ?? false }),
  }),
  exportManifests: t.field({
    type: ExportReport,
    description: "Writes the manifests of changed actors from SQLite to disk, as `actor-manifests export` does.",
    args: {
      names: t.arg.stringList({ description: "Only these actors (default: every actor changed since its manifests were written)." }),
      force: t.arg.boolean({ defaultValue: false, description: "Render the selected actors even if unchanged." }),
      rebuild: t.arg.boolean({
        defaultValue: false,
        description:
          "Replace the selected actors' files that have problems (see `Actor.problems`) with what the service holds, keeping the old bytes beside each as `{file}.bak`.",
      }),
    },
    errors: {
      types: [UnknownActorError, InvalidFilenameError, ManifestConflictError],
      directResult: true,
      union: { name: "ExportManifestsResult", description: "What the export did, or why it did not start." },
    },
    resolve: (_root, args, ctx) => {
      const actorIds = args.names?.map((name) => requireActor(ctx, name).id);
      return exportManifests(ctx.app, { actorIds, force: args.force ?? false, rebuild: args.rebuild ?? false });
    },
  }),
}));
