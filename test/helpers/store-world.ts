import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config.ts";
import { makeContext, silentLogger, type AppContext } from "../../src/context.ts";
import { closeStore, openStore } from "../../src/db/store.ts";

export interface StoreWorld {
  root: string;
  dataDir: string;
  ctx: AppContext;
  /** Closes the store and opens it again on the same file, as a restart would. */
  reopen(): AppContext;
  dispose(): void;
}

/** A temp data directory and a migrated SQLite file in it; no S3. */
export function makeStoreWorld(env: Record<string, string> = {}): StoreWorld {
  const root = mkdtempSync(join(tmpdir(), "actor-manifests-"));
  const dataDir = join(root, "data");
  const config: Config = loadConfig({ DATA_DIR: dataDir, ...env });
  let ctx = makeContext(config, openStore(config.dbPath), silentLogger);
  return {
    root,
    dataDir,
    get ctx() {
      return ctx;
    },
    reopen() {
      closeStore(ctx.db);
      ctx = makeContext(config, openStore(config.dbPath), silentLogger);
      return ctx;
    },
    dispose() {
      closeStore(ctx.db);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
