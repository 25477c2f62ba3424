import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { candidatePartSizes, MiB } from "../../src/sync/s3/content-md5.ts";
import { HashFileError, Md5Pool } from "../../src/sync/hashing/md5-pool.ts";
import { symlinkReason, UnsafePathError } from "../../src/sync/files/safe-files.ts";

/** Real S3's ETag of a multipart upload: md5 of the concatenated part MD5s, then `-N`. */
function referenceMultipartEtag(bytes: Buffer, partSize: number): string {
  const digests: Buffer[] = [];
  for (let offset = 0; offset < bytes.length || digests.length === 0; offset += partSize) {
    digests.push(
      createHash("md5")
        .update(bytes.subarray(offset, offset + partSize))
        .digest(),
    );
  }
  return `${createHash("md5").update(Buffer.concat(digests)).digest("hex")}-${digests.length}`;
}

const md5 = (bytes: Buffer) => createHash("md5").update(bytes).digest("hex");

describe("Md5Pool", () => {
  let dir: string;
  let pool: Md5Pool;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "am-md5-"));
    // A small read buffer so that parts and reads cut each other at odd places.
    pool = new Md5Pool({ threads: 2, bufferSize: 1 << 20 });
  });
  afterAll(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("hashes files of every size like crypto does, and counts the bytes it read", async () => {
    const sizes = [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 300_000];
    const files = sizes.map((size, i) => {
      const bytes = randomBytes(size);
      const path = join(dir, `f${i}.jpg`);
      writeFileSync(path, bytes);
      return { path, bytes };
    });
    const before = pool.bytesRead;
    const hashes = await Promise.all(files.map((file) => pool.hash(dir, file.path)));
    hashes.forEach((hash, i) => {
      expect(hash.md5).toBe(md5(files[i]!.bytes));
      expect(hash.size).toBe(files[i]!.bytes.length);
      expect(hash.bytesRead).toBe(files[i]!.bytes.length);
      expect(hash.inode).toBeGreaterThan(0);
    });
    expect(pool.bytesRead - before).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it("computes multipart ETags for several part sizes in the same pass", async () => {
    const bytes = randomBytes(12 * MiB + 3);
    const path = join(dir, "big.jpg");
    writeFileSync(path, bytes);
    const partSizes = [5 * MiB, 8 * MiB, 6 * MiB];
    const before = pool.bytesRead;
    const hash = await pool.hash(dir, path, partSizes);
    expect(pool.bytesRead - before).toBe(bytes.length);
    expect(hash.md5).toBe(md5(bytes));
    for (const partSize of partSizes) expect(hash.multipartEtags[String(partSize)]).toBe(referenceMultipartEtag(bytes, partSize));
    expect(hash.multipartEtags[String(5 * MiB)]).toMatch(/-3$/);
    expect(hash.multipartEtags[String(8 * MiB)]).toMatch(/-2$/);
  });

  it("gives a file of exactly N parts N parts, and a one-part upload its own ETag", async () => {
    const bytes = randomBytes(10 * MiB);
    const path = join(dir, "exact.jpg");
    writeFileSync(path, bytes);
    const hash = await pool.hash(dir, path, [5 * MiB, bytes.length]);
    expect(hash.multipartEtags[String(5 * MiB)]).toBe(referenceMultipartEtag(bytes, 5 * MiB));
    expect(hash.multipartEtags[String(5 * MiB)]).toMatch(/-2$/);
    expect(hash.multipartEtags[String(bytes.length)]).toMatch(/-1$/);
  });

  it("rejects a missing file with its path and code, and keeps working", async () => {
    const error = await pool.hash(dir, join(dir, "nope.jpg")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HashFileError);
    expect((error as HashFileError).code).toBe("ENOENT");
    const path = join(dir, "after.jpg");
    writeFileSync(path, "still here");
    expect((await pool.hash(dir, path)).md5).toBe(md5(Buffer.from("still here")));
  });

  it("lists and stats a folder in a worker, without reading content", async () => {
    const folder = join(dir, "folder");
    mkdirSync(folder);
    writeFileSync(join(folder, "a.jpg"), "aaaa");
    mkdirSync(join(folder, "sub.jpg"));
    const before = pool.bytesRead;
    const listed = await pool.statFolder(dir, folder, ["a.jpg", "gone.jpg", "sub.jpg"], [undefined, undefined, undefined]);
    expect(pool.bytesRead).toBe(before);
    expect(listed.exists).toBe(true);
    expect(listed.names.sort()).toEqual(["a.jpg", "sub.jpg"]);
    const stat = statSync(join(folder, "a.jpg"));
    expect(listed.stats).toEqual([{ size: 4, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, inode: stat.ino }, null, null]);
    // Many folders at once: each gets its own answer.
    const many = await Promise.all(
      Array.from({ length: 70 }, (_, i) => pool.statFolder(dir, i % 2 ? folder : join(dir, `none-${i}`), ["a.jpg"], [undefined])),
    );
    expect(many.map((answer) => answer.exists)).toEqual(Array.from({ length: 70 }, (_, i) => i % 2 === 1));
  });

  it("hashes in the stat job the files whose cached stat is missing or stale, and only those", async () => {
    const folder = join(dir, "stat-and-hash");
    mkdirSync(folder);
    const contents = {
      "new.jpg": "no cache yet",
      "same.jpg": "cached and unchanged",
      "edited.jpg": "cached, then edited",
      "skip.jpg": "not asked",
    };
    for (const [name, content] of Object.entries(contents)) writeFileSync(join(folder, name), content);
    symlinkSync(join(folder, "new.jpg"), join(folder, "link.jpg"));
    const statOf = (name: string) => {
      const stat = statSync(join(folder, name));
      return { size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, inode: stat.ino };
    };
    const names = ["new.jpg", "same.jpg", "edited.jpg", "skip.jpg", "link.jpg", "gone.jpg"];
    const before = pool.bytesRead;
    const listed = await pool.statFolder(dir, folder, names, [
      null,
      statOf("same.jpg"),
      { ...statOf("edited.jpg"), mtimeMs: 1 },
      undefined,
      null,
      null,
    ]);
    expect(listed.hashes.map((hash) => (hash instanceof Error ? hash : (hash?.md5 ?? null)))).toEqual([
      md5(Buffer.from(contents["new.jpg"])),
      null,
      md5(Buffer.from(contents["edited.jpg"])),
      null,
      null, // a link is never followed
      null,
    ]);
    expect(pool.bytesRead - before).toBe(contents["new.jpg"].length + contents["edited.jpg"].length);
    expect(listed.hashes[0]).toMatchObject({ ...statOf("new.jpg"), bytesRead: contents["new.jpg"].length });
  });

  it("shares one folder's hashing with the other threads while nothing else waits, and answers every file", async () => {
    const folder = join(dir, "shared-out");
    mkdirSync(folder);
    const files = Array.from({ length: 13 }, (_, i) => ({ name: `img_${i}.jpg`, bytes: randomBytes(50_000 + i) }));
    for (const file of files) writeFileSync(join(folder, file.name), file.bytes);
    const before = pool.bytesRead;
    const filesBefore = pool.filesHashed;
    const listed = await pool.statFolder(
      dir,
      folder,
      files.map((file) => file.name),
      files.map((_, i) => (i === 5 ? undefined : null)),
    );
    expect(listed.hashes.map((hash) => (hash instanceof Error ? hash : (hash?.md5 ?? null)))).toEqual(
      files.map((file, i) => (i === 5 ? null : md5(file.bytes))),
    );
    expect(listed.stats.every((stat, i) => stat?.size === files[i]!.bytes.length)).toBe(true);
    expect(pool.bytesRead - before).toBe(files.reduce((n, file, i) => n + (i === 5 ? 0 : file.bytes.length), 0));

    // The same folder reached through a link: refused in every thread before any of it is read (each
    // share of the hashing checks on its own), and so is a file of it asked for alone (part sizes).
    const linked = join(dir, "linked-shared");
    symlinkSync(folder, linked);
    const readBefore = pool.bytesRead;
    const refused = pool.statFolder(
      dir,
      linked,
      files.map((file) => file.name),
      files.map(() => null),
    );
    await expect(refused).rejects.toThrow(new UnsafePathError(linked, symlinkReason));
    await expect(refused).rejects.toBeInstanceOf(UnsafePathError);
    expect(pool.bytesRead - readBefore).toBe(0);
    expect(pool.filesHashed).toBe(filesBefore + files.length - 1);
    await expect(pool.hash(dir, join(linked, files[0]!.name), [5 * MiB])).rejects.toThrow(new UnsafePathError(linked, symlinkReason));
    expect(pool.bytesRead - readBefore).toBe(0);
  });

  it("reads nothing of another folder while a link to it is swapped in and out for the folder being read", async () => {
    const root = join(dir, "swapped-data");
    const folder = join(root, "actors", "a", "training_data");
    const aside = join(root, "actors", "a", "aside");
    const outside = join(dir, "swapped-outside");
    mkdirSync(folder, { recursive: true });
    mkdirSync(outside);
    const names = Array.from({ length: 8 }, (_, i) => `x${i}.jpg`);
    const secret = randomBytes(4096);
    for (const name of names) {
      writeFileSync(join(folder, name), randomBytes(4096));
      writeFileSync(join(outside, name), secret);
    }
    await new Promise((resolve) => setTimeout(resolve, 30)); // past the digest's racily-clean window
    const digests = new Set([(await pool.folderDigest(root, folder)).digest, "absent"]);
    // Another process swaps the folder for a link to the outside one and back, as fast as it can.
    const swapper = spawn(process.execPath, [
      "-e",
      `const fs = require("node:fs");
       const [folder, aside, outside] = process.argv.slice(1);
       const stop = Date.now() + 1500;
       let swaps = 0;
       while (Date.now() < stop) {
         fs.renameSync(folder, aside); fs.symlinkSync(outside, folder);
         fs.unlinkSync(folder); fs.renameSync(aside, folder); swaps++;
       }
       console.log(swaps);`,
      folder,
      aside,
      outside,
    ]);
    let printed = "";
    swapper.stdout.on("data", (data) => (printed += String(data)));
    const exited = new Promise((resolve) => swapper.on("exit", resolve));
    const md5s = new Set<string>();
    let answered = 0;
    const readBefore = pool.bytesRead;
    while (swapper.exitCode === null) {
      const outcomes = await Promise.allSettled([
        pool.statFolder(
          root,
          folder,
          names,
          names.map(() => null),
        ),
        pool.hash(root, join(folder, names[0]!)),
        // Several digests to a message: they share the folders held above theirs.
        ...Array.from({ length: 4 }, () => pool.folderDigest(root, folder)),
      ]);
      for (const outcome of outcomes) {
        if (outcome.status === "rejected") continue;
        answered += 1;
        const value = outcome.value;
        if ("md5" in value) {
          md5s.add(value.md5);
          continue;
        }
        digests.add(value.digest);
        if ("hashes" in value) for (const hash of value.hashes) if (hash && !(hash instanceof Error)) md5s.add(hash.md5);
      }
    }
    await exited;
    expect(Number(printed)).toBeGreaterThan(100);
    expect(answered).toBeGreaterThan(0);
    expect(md5s.has(md5(secret))).toBe(false);
    expect(digests.size, "a digest of the outside folder's files").toBe(2);
    expect(pool.bytesRead).toBeGreaterThan(readBefore);
  });

  it("digests a folder the same before its threads start (on the caller's thread) and after (in a thread), never through a link", async () => {
    const folder = join(dir, "digested");
    mkdirSync(folder);
    writeFileSync(join(folder, "a.jpg"), "aaaa");
    writeFileSync(join(folder, "notes.txt"), "not an image");
    symlinkSync(join(folder, "a.jpg"), join(folder, "link.jpg"));
    // Stamped well before now: a file written within the timestamp granularity gets a digest that never matches.
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(folder, "a.jpg"), past, past);
    await new Promise((resolve) => setTimeout(resolve, 30));
    // A folder on the way that is a link to another: refused before it is listed.
    const elsewhere = join(dir, "elsewhere");
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, "secret.jpg"), "not yours");
    symlinkSync(elsewhere, join(dir, "linked"));
    const throughLink = join(dir, "linked");
    const fresh = new Md5Pool({ threads: 1 });
    try {
      const before = await fresh.folderDigest(dir, folder);
      expect(before.links).toEqual(["link.jpg"]);
      await expect(fresh.folderDigest(dir, throughLink)).rejects.toThrow(`${throughLink}: is a symbolic link (never followed)`);
      expect(fresh.running).toBe(0);
      await fresh.hash(dir, join(folder, "a.jpg")); // starts its thread
      expect(await fresh.folderDigest(dir, folder)).toEqual(before);
      await expect(fresh.folderDigest(dir, throughLink)).rejects.toThrow(`${throughLink}: is a symbolic link (never followed)`);
      writeFileSync(join(folder, "b.jpg"), "bbbb");
      expect((await fresh.folderDigest(dir, folder)).digest).not.toBe(before.digest);
      expect((await fresh.folderDigest(dir, join(dir, "no-such-folder"))).digest).toBe("absent");
    } finally {
      await fresh.close();
    }
  });

  it("hashes many files concurrently on all its threads", async () => {
    const files = Array.from({ length: 64 }, (_, i) => {
      const bytes = randomBytes(10_000 + i);
      const path = join(dir, `many-${i}.jpg`);
      writeFileSync(path, bytes);
      return { path, expected: md5(bytes) };
    });
    const hashes = await Promise.all(files.map((file) => pool.hash(dir, file.path)));
    expect(hashes.map((hash) => hash.md5)).toEqual(files.map((file) => file.expected));
    // A long queue goes several files to a message; a missing one among them fails alone.
    const mixed = await Promise.all(
      files.map((file, i) =>
        pool.hash(dir, i === 9 ? join(dir, "gone-in-a-batch.jpg") : file.path).then(
          (hash) => hash.md5,
          (error: HashFileError) => error.code,
        ),
      ),
    );
    expect(mixed).toEqual(files.map((file, i) => (i === 9 ? "ENOENT" : file.expected)));
  });
});

describe("candidatePartSizes", () => {
  it("keeps only part sizes that cut the object into N parts", () => {
    expect(candidatePartSizes(12 * MiB + 3, 3)).toContain(5 * MiB);
    expect(candidatePartSizes(12 * MiB + 3, 3)).not.toContain(8 * MiB);
    expect(candidatePartSizes(12 * MiB + 3, 2)).toContain(8 * MiB);
    // 40 MB in 3 parts: the whole-MiB sizes from 13 to 19 MiB all do it (s3cmd's 15, rclone's 16, …).
    expect(candidatePartSizes(40_000_000, 3)).toEqual(expect.arrayContaining([13 * MiB, 15 * MiB, 16 * MiB, 19 * MiB]));
    expect(candidatePartSizes(300_000, 1)).toEqual([300_000]);
  });
});
