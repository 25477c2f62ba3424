import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeStore } from "../../src/db/store.ts";
import { configFilePath } from "../../src/config-file.ts";
import { bytesFor, makeActor } from "../helpers/actors.ts";
import { startTestS3Server, type TestS3Server } from "../helpers/s3-server.ts";
import { cli, cliEnv, cliJson } from "../helpers/cli.ts";
import { createWorld, type World } from "../helpers/world.ts";

let server: TestS3Server;
let world: World;
let scratch: string;
const A = "0001_european_30_male";
const B = "0002_african_40_female";
const file = (actor: string, i: number) => `${actor}_${i}.jpg`;

beforeAll(async () => {
  server = await startTestS3Server();
  world = await createWorld({ server });
  await makeActor(world, { name: A, images: [{ local: true, s3: true }, { local: true }, { s3: true }, { local: true, s3: true }] });
  await makeActor(world, {
    name: B,
    images: [
      { local: true, s3: true },
      { local: true, s3: true },
    ],
  });
  // The CLI opens the SQLite file itself.
  closeStore(world.db);
  scratch = mkdtempSync(join(tmpdir(), "am-cli-envelope-"));
});
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await world?.close();
  await server?.stop();
});

const env = () => cliEnv(world);

/** Keys in snake_case anywhere in a value: the envelope has none (one casing with the GraphQL API). */
function snakeKeys(value: unknown, path = "$"): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => snakeKeys(item, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([key, inner]) => [
    ...(/_/.test(key) && /^[a-z]/.test(key) ? [`${path}.${key}`] : []),
    ...snakeKeys(inner, `${path}.${key}`),
  ]);
}

describe("--json: one envelope on every command (SPEC.md §9)", () => {
  it("every command prints the envelope, camelCase throughout, with its exit code", async () => {
    const picture = join(scratch, "new.jpg");
    writeFileSync(picture, bytesFor("new"));
    type Run = [args: string[], command: string, exitCode: number];
    // Each stage leaves the data as the next expects it (the sync makes every image synced); within one, the runs only read.
    const stages: Run[][] = [
      [[["import"], "import", 0]],
      [[["scan", "--actor", A, "--actor", "0002"], "scan", 0]],
      [[["audit", "--all"], "audit", 3]],
      [
        [["status"], "status", 3],
        [["ls"], "ls", 0],
        [["ls", "--actor", A], "ls", 0],
        [["stats", "--by", "gender"], "stats", 0],
        [["migrate-legacy", "--all", "-n"], "migrate-legacy", 0],
        [["config", "show"], "config show", 0],
        [["demo", "--no-s3", "--data-dir", join(scratch, "demo")], "demo", 0],
      ],
      [[["sync", "--all"], "sync", 0]],
      [[["export", "--actor", A, "--force"], "export", 0]],
      [[["rate", "--actor", A, "--good", file(A, 0)], "rate", 0]],
      [[["add", "--actor", B, picture, "--as", file(B, 9)], "add", 0]],
      [[["delete", "--actor", B, "--from", "manifest", file(B, 9)], "delete", 0]],
      [[["prune-local", "--all", "-n", "--switch-to-s3-only"], "prune-local", 0]],
    ];
    const runs: { run: Run; output: Awaited<ReturnType<typeof cliJson>> }[] = [];
    for (const stage of stages)
      runs.push(...(await Promise.all(stage.map(async (run) => ({ run, output: await cliJson(run[0], env()) })))));
    for (const {
      run: [args, command, exitCode],
      output: { code, envelope, stderr },
    } of runs) {
      expect({ args, code }, stderr).toEqual({ args, code: exitCode });
      expect(Object.keys(envelope)).toEqual(["ok", "command", "exitCode", "outcome", "result", "problems", "errors"]);
      expect(envelope).toMatchObject({ ok: exitCode === 0, command, exitCode, errors: [] });
      expect(envelope.result, command).not.toBeNull();
      expect(snakeKeys(envelope), command).toEqual([]);
    }
  }, 120_000);

  it("an error is the envelope on stdout too, with a code (exit 1)", async () => {
    const { code, envelope, stdout } = await cliJson(["rate", "--actor", "nobody", "--good", file(A, 0)], env());
    expect(code).toBe(1);
    expect(envelope).toEqual({
      ok: false,
      command: "rate",
      exitCode: 1,
      outcome: "error",
      result: null,
      problems: [],
      errors: [{ message: 'unknown actor "nobody" (run import first?)', code: "UnknownActorError", actor: "nobody" }],
    });
    expect(stdout).not.toMatch(/^error:/m);
  });

  it("usage errors exit 2, as the envelope under --json", async () => {
    const usage: [string[], string, RegExp][] = [
      [["ls", "--no-such-option"], "ls", /unknown option '--no-such-option'/],
      [["rate", "--actor", A, "--good"], "rate", /missing required argument 'filenames'/],
      [["sync"], "sync", /--actor NAME\|ID \(repeatable\) or --all/],
      [["sync", "--all", "--direction", "sideways"], "sync", /Allowed choices are push, pull, both/],
      [["rate", "--actor", A, "--good", "--bad", file(A, 0)], "rate", /exactly one of --good, --bad, --unrated/],
    ];
    for (const [args, command, message] of usage) {
      const { code, envelope } = await cliJson(args, env());
      expect({ args, code }).toEqual({ args, code: 2 });
      expect(envelope).toMatchObject({
        ok: false,
        command,
        exitCode: 2,
        outcome: "usage",
        result: null,
        errors: [{ code: "UsageError", message: expect.stringMatching(message) }],
      });
    }
    const plain = await cli(["delete", "--actor", A, "--from", "nowhere", file(A, 0)], env());
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/argument 'nowhere' is invalid/);
    expect((await cli(["--version"], env())).code).toBe(0);
  });

  it("a dry run over --max-delete still prints its plan, then says the limit refuses it (exit 1)", async () => {
    const dry = await cli(["delete", "--actor", A, "--all-images", "--from", "everywhere", "--max-delete", "1", "-n"], env());
    expect(dry.code).toBe(1);
    for (const filename of [file(A, 0), file(A, 1), file(A, 2), file(A, 3)])
      expect(dry.stdout).toMatch(new RegExp(`delete ${filename} \\(2\\.0 kB\\): `));
    expect(dry.stdout).toMatch(/dry run, nothing changed: would delete 4 images \(8\.2 kB\)\n$/);
    expect(dry.stderr).toMatch(
      /would delete 4 images, over the max-delete limit of 1; nothing was changed \(raise --max-delete to go on\)/,
    );

    const json = await cliJson<{ dryRun: boolean; plans: { steps: unknown[] }[] }>(
      ["delete", "--actor", A, "--all-images", "--from", "everywhere", "--max-delete", "1", "-n"],
      env(),
    );
    expect(json.code).toBe(1);
    expect(json.envelope.result.dryRun).toBe(true);
    expect(json.envelope.result.plans[0]!.steps).toHaveLength(4);
    expect(json.envelope.errors).toEqual([expect.objectContaining({ code: "MaxDeleteExceededError", limit: 1, count: 4 })]);
    // Nothing was deleted: the images are all still listed.
    expect((await cliJson<{ images: unknown[] }>(["ls", "--actor", A], env())).envelope.result.images).toHaveLength(4);
  });

  it("config show gives each setting in effect and where it came from, secrets masked", async () => {
    writeFileSync(configFilePath(world.dataDir), JSON.stringify({ s3: { prefix: "from-the-file/" } }));
    try {
      const secret = "do-not-print-me";
      const { code, envelope, stdout } = await cliJson<{ settings: Record<string, { value: unknown; source: string }> }>(
        ["config", "show", "--s3-bucket", "from-a-flag"],
        {
          ...env(),
          API_TOKEN: secret,
          AWS_SECRET_ACCESS_KEY: secret,
        },
      );
      expect(code).toBe(0);
      expect(envelope.result.settings).toMatchObject({
        dataDir: { value: world.dataDir, source: "env" },
        bucket: { value: "from-a-flag", source: "flag" },
        prefix: { value: "from-the-file/", source: "file" },
        region: { value: "us-west-1", source: "default" },
        storageMode: { value: "mirrored", source: "default" },
        apiToken: { value: "********", source: "env" },
        awsSecretAccessKey: { value: "********", source: "env" },
      });
      expect(stdout).not.toContain(secret);
      const human = await cli(["config", "show"], { ...env(), API_TOKEN: secret });
      expect(human.stdout).toMatch(/^prefix\s+file\s+from-the-file\/$/m);
      expect(human.stdout).toMatch(/^apiToken\s+env\s+\*{8}$/m);
      expect(human.stdout).not.toContain(secret);
    } finally {
      rmSync(configFilePath(world.dataDir));
    }
  });

  it("import with a broken manifest is partly done (exit 4); -q prints only the problem", async () => {
    const broken = world.ctx.layout.formatAPath("0009");
    writeFileSync(broken, "{ not json");
    try {
      const { code, envelope } = await cliJson(["import"], env());
      expect(code).toBe(4);
      expect(envelope).toMatchObject({
        ok: false,
        outcome: "partlyDone",
        problems: [{ file: broken, jsonPath: "$", message: expect.stringContaining(`${broken}: $: invalid JSON`) }],
      });
      const quiet = await cli(["import", "-q"], env());
      expect(quiet.code).toBe(4);
      expect(quiet.stdout).toBe(`${envelope.problems[0]!.message}\n`);
    } finally {
      rmSync(broken);
    }
  });
});
