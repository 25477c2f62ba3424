import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServer } from "../../src/server.ts";
import { uploadsDir } from "../../src/uploads.ts";
import { insertActors, makeApiWorld, planActors, type ApiWorld } from "../helpers/api-world.ts";

const boundary = "----am-test-boundary";
const actor = planActors(1)[0]!;

/** A GraphQL multipart request whose one file is `fileBytes` zero bytes, sent in 1 MiB chunks without a length. */
function sendMultipart(port: number, query: string, fileBytes: number): Promise<{ status: number; body: string }> {
  const head =
    `--${boundary}\r\ncontent-disposition: form-data; name="operations"\r\n\r\n` +
    JSON.stringify({ query, variables: { file: null } }) +
    `\r\n--${boundary}\r\ncontent-disposition: form-data; name="map"\r\n\r\n{"0":["variables.file"]}` +
    `\r\n--${boundary}\r\ncontent-disposition: form-data; name="0"; filename="${actor.name}_90.jpg"\r\ncontent-type: image/jpeg\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  return new Promise((resolveResponse, reject) => {
    const req = httpRequest(
      {
        agent: false,
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/graphql",
        headers: {
          "content-type": `multipart/form-data; boundary=${boundary}`,
          "x-graphql-yoga-csrf": "1",
          "transfer-encoding": "chunked",
        },
      },
      (res) => {
        answered = true;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolveResponse({ status: res.statusCode ?? 0, body }));
      },
    );
    // The server may answer 413 and close before the whole body is out: the answer is what counts.
    let answered = false;
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(1024 * 1024);
    let left = fileBytes;
    const pump = () => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!req.write(piece)) return void req.once("drain", pump);
      }
      req.end(tail);
    };
    req.write(head);
    pump();
  });
}

const worlds: ApiWorld[] = [];
afterEach(() => {
  for (const w of worlds.splice(0)) w.dispose();
});

describe("uploads (SPEC.md §9)", () => {
  it("refuses a body over MAX_UPLOAD_BYTES while it streams, keeps no staged file and adds nothing", async () => {
    const world = makeApiWorld({ env: { PORT: "0", MAX_UPLOAD_BYTES: String(2 * 1024 * 1024) } });
    worlds.push(world);
    insertActors(world.ctx.db, [actor]);
    const server = await startServer(world.ctx);
    try {
      const port = (server.address() as AddressInfo).port;
      const add = `mutation ($file: File!) { addImages(name: "${actor.name}", images: [{ file: $file }]) { __typename } }`;
      const over = await sendMultipart(port, add, 3 * 1024 * 1024);
      expect(over.status).toBe(413);
      const declared = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: "POST",
        headers: {
          "content-type": `multipart/form-data; boundary=${boundary}`,
          "content-length": String(3 * 1024 * 1024),
          "x-graphql-yoga-csrf": "1",
        },
        body: new Uint8Array(3 * 1024 * 1024),
      });
      expect(declared.status).toBe(413);
      expect(readdirSync(uploadsDir(world.dataDir))).toEqual([]);
      const count = world.ctx.db.$client.prepare("SELECT count(*) FROM images WHERE filename = ?").pluck().get(`${actor.name}_90.jpg`);
      expect(count).toBe(0);

      // Under the limit, the same request is parsed (here it fails later: no S3 is configured).
      const under = await sendMultipart(port, add, 1024 * 1024);
      expect(under.status).toBe(200);
      expect(JSON.parse(under.body).data.addImages.__typename).toBe("NotConfiguredError");
      expect(readdirSync(uploadsDir(world.dataDir))).toEqual([]);
    } finally {
      await new Promise((resolveClose) => server.close(resolveClose));
    }
  });

  it("names no server path when the upload cannot be staged, and writes nothing through a link", async () => {
    const world = makeApiWorld();
    worlds.push(world);
    const outside = mkdtempSync(join(tmpdir(), "am-outside-"));
    try {
      mkdirSync(world.dataDir, { recursive: true });
      symlinkSync(outside, uploadsDir(world.dataDir));
      const form = new FormData();
      form.append("operations", JSON.stringify({ query: "{ stats { __typename } }" }));
      form.append("map", "{}");
      form.append("0", new Blob([new Uint8Array(1000)]), "x.jpg");
      const response = await world.api.fetch("http://127.0.0.1/graphql", {
        method: "POST",
        headers: { "x-graphql-yoga-csrf": "1" },
        body: form,
      });
      const text = await response.text();
      expect(response.status).toBe(500);
      expect(text).toContain("the upload could not be staged on the server");
      expect(text).not.toContain(world.dataDir);
      expect(readdirSync(outside)).toEqual([]);
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it("streams a request at the documented limit to disk: the server's memory stays flat", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "am-upload-"));
    let child: ChildProcess | undefined;
    try {
      const bin = resolve(import.meta.dirname, "../../bin/actor-manifests.js");
      child = spawn(process.execPath, [bin, "serve", "--port", "0", "--no-demo", "--no-import"], {
        env: { PATH: process.env.PATH ?? "", DATA_DIR: dataDir, HOME: dataDir, S3_EMBEDDED: "false" },
        stdio: ["ignore", "ignore", "pipe"],
      });
      const port = await new Promise<number>((resolvePort, reject) => {
        let log = "";
        child!.stderr!.on("data", (chunk) => {
          log += chunk;
          const match = /GraphiQL on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
          if (match) resolvePort(Number(match[1]));
        });
        child!.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${log}`)));
      });
      const memory = (field: "VmRSS" | "VmHWM") =>
        Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${child!.pid}/status`, "utf8"))![1]) * 1024;
      const before = memory("VmRSS");
      const limit = 256 * 1024 * 1024;
      // The whole body (parts and boundaries) just under the README's 256 MiB.
      const response = await sendMultipart(port, "{ stats { __typename } }", limit - 4096);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ data: { stats: { __typename: "Stats" } } });
      const growth = memory("VmHWM") - before;
      expect(growth).toBeLessThan(64 * 1024 * 1024);
      expect(readdirSync(uploadsDir(dataDir))).toEqual([]);
    } finally {
      child?.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
