import { ManifestError } from "./problems.ts";

/**
 * Parses a file's JSON text. An error names the file and where the text goes wrong, never
 * what it says (SPEC.md §9): Node 20's JSON.parse quotes a piece of the input in its
 * message ("Unexpected token 'r', "root:x:0:0"... is not valid JSON"), which for a
 * secret put in a manifest's place would be the secret.
 */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ManifestError({ file, jsonPath: "$", reason: `invalid JSON: ${describeJsonError(text, error)}` });
  }
}

/**
 * V8's messages of the form "<what> in JSON at position N" quote nothing (checked: no `"`
 * in them); the others ("Unexpected token …, "…" is not valid JSON") quote the input and
 * are replaced by what they mean.
 */
function describeJsonError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  const positioned = /^([^"]*?) in JSON at position (\d+)/.exec(message);
  if (positioned) return `${positioned[1]!.toLowerCase()} at ${lineAndColumn(text, Number(positioned[2]))}`;
  if (message.startsWith("Unexpected end of JSON input")) return text.trim() === "" ? "the file is empty" : "unexpected end of the text";
  return `unexpected character at ${lineAndColumn(text, badCharacterPosition(text))}`;
}

/**
 * Where an error V8 gives without a position lies: the shortest prefix of the text that
 * fails for another reason than ending too soon ends with the bad character (binary
 * search: a few parses, only for a file that is broken anyway).
 */
function badCharacterPosition(text: string): number {
  let fine = 0;
  let failing = text.length;
  while (failing - fine > 1) {
    const middle = (fine + failing) >>> 1;
    if (fineSoFar(text.slice(0, middle))) fine = middle;
    else failing = middle;
  }
  return failing - 1;
}

function fineSoFar(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (error) {
    const message = (error as Error).message;
    const position = /in JSON at position (\d+)/.exec(message)?.[1];
    return message.startsWith("Unexpected end of JSON input") || (position !== undefined && Number(position) >= prefix.length);
  }
}

function lineAndColumn(text: string, position: number): string {
  const before = text.slice(0, position);
  const line = before.split("\n").length;
  return `line ${line}, column ${position - before.lastIndexOf("\n")}`;
}
