import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Files the service reads that are not data: its own (migrations, the page, package.json) and
 * those of installed packages (GraphiQL, Preact). The code runs from src/ (tests, tsx) or
 * compiled from dist/src/; both find the same project folder here, once.
 */

/** True when this runs as the compiled JavaScript in dist/ (workers then start as .js). */
export const runsCompiled = import.meta.url.endsWith(".js");

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), runsCompiled ? "../.." : "..");

/** A path inside the project folder (where package.json is). */
export function projectPath(...segments: string[]): string {
  return join(projectRoot, ...segments);
}

const require = createRequire(import.meta.url);

/** A file of an installed package, found from its entry point (some packages, htm among them, export no `./package.json`). */
export function packageFile(name: string, file: string): string {
  let folder = dirname(require.resolve(name));
  while (!isPackageRoot(folder, name)) {
    if (dirname(folder) === folder) throw new Error(`package ${name} not found`);
    folder = dirname(folder);
  }
  return join(folder, file);
}

function isPackageRoot(folder: string, name: string): boolean {
  const manifest = join(folder, "package.json");
  return existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === name;
}
