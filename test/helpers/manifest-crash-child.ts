/**
 * A write-through of a rating killed with SIGKILL right after its manifest's rename and before
 * SQLite records the write (issue 10, item 2): the intent stays pending and the manifest holds
 * the service's own, unrecorded content. Run as
 * `node --import tsx test/helpers/manifest-crash-child.ts <dataDir> <actorName> <filename>`.
 */
import { renameSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { eq } from "drizzle-orm";
import { loadConfig } from "../../src/config.ts";
import { makeContext, silentLogger } from "../../src/context.ts";
import { recordIntent } from "../../src/db/intents.ts";
import { recordRating } from "../../src/db/operation-writes.ts";
import { actors } from "../../src/db/schema.ts";
import { openStore } from "../../src/db/store.ts";
import { exportManifests } from "../../src/sync/manifests/export.ts";

const [dataDir, actorName, filename] = process.argv.slice(2) as [string, string, string];
const ctx = makeContext(loadConfig({ DATA_DIR: dataDir }), openStore(join(dataDir, "actor-manifests.db")), silentLogger);
const actor = ctx.db.select().from(actors).where(eq(actors.name, actorName)).get()!;
recordIntent(ctx.db, actor.id, filename, "rate", { kind: "rate", filename, good: true, bytes: 0, reason: "test" });
recordRating(ctx.db, actor.id, filename, true);
await exportManifests(ctx, {
  actorIds: [actor.id],
  atomicWriteHooks: {
    beforeRename: (temporary) => {
      // `.{name}.{pid}.{hex}.tmp` → `{name}`: the rename happens, then the process dies.
      renameSync(
        temporary,
        join(
          dirname(temporary),
          basename(temporary)
            .replace(/^\./, "")
            .replace(/\.\d+\.[0-9a-f]{8}\.tmp$/, ""),
        ),
      );
      process.kill(process.pid, "SIGKILL");
    },
  },
});
