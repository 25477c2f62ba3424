/**
 * The composition root (STYLE.md "Layers"): where every run, a CLI command or `serve`
 * (`openService` builds on it), gets its context. Everything below receives these parts as
 * arguments, never as module singletons. Light on purpose: every CLI command loads it.
 */
import type { Config } from "./config.ts";
import { makeContext, type AppContext } from "./context.ts";
import { closeStore, openStore } from "./db/store.ts";
import type { Logger } from "./logger.ts";

/** One run's context and how to let go of it. */
export interface App {
  ctx: AppContext;
  close(): void;
}

/**
 * The context of every run: the configuration, the store (SQLite file, migrated), the data
 * directory's layout and the logger. A CLI command connects S3 only when it needs it (`withS3`).
 */
export function openApp(config: Config, logger: Logger): App {
  const ctx = makeContext(config, openStore(config.dbPath), logger);
  return {
    ctx,
    close: () => closeStore(ctx.db),
  };
}
