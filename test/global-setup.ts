import { execFileSync } from "node:child_process";
import { resolve } from "node:path";

/**
 * Tests run the real CLI entry point, which runs the compiled JavaScript in dist/: build it
 * from the sources under test first (emit only, a few seconds; `npm run typecheck` checks types).
 */
export default function buildCli(): void {
  const root = resolve(import.meta.dirname, "..");
  execFileSync(process.execPath, [resolve(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
    cwd: root,
    stdio: "inherit",
  });
}
