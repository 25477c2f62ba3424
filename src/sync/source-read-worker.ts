import { parentPort } from "node:worker_threads";
import type { S3Config } from "../config.ts";
import { readSourceFile, type FoundFile } from "./source-files.ts";

/** A reader thread: reads and validates the files it is sent, in the order sent. */
parentPort!.on("message", ({ id, files, s3 }: { id: number; files: FoundFile[]; s3: S3Config }) => {
  parentPort!.postMessage({ id, results: files.map((file) => readSourceFile(file, s3)) });
});
