import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../../src/config.ts";
import { openApp } from "../../src/app.ts";
import { silentLogger, type AppContext } from "../../src/context.ts";

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
  let app = openApp(config, silentLogger);
  return {
    root,
    dataDir,
    get ctx() {
      return app.ctx;
    },
    reopen() {
      app.close();
      app = openApp(config, silentLogger);
      return app.ctx;
    },
    dispose() {
      app.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
