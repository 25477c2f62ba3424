import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const childScript = fileURLToPath(new URL("./s3rver-child.mjs", import.meta.url));

export interface S3rverProcessOptions {
  /** Where s3rver keeps buckets and objects (created if missing). */
  directory: string;
  /** Buckets to create before it answers. */
  buckets?: readonly string[];
  /** 0 (default) picks a free port; the child reports the one it got. */
  port?: number;
  /**
   * Default true. Without the OpenSSL legacy provider every truncated ListObjectsV2
   * (over 1,000 keys) answers 500 InternalError, because s3rver's continuation tokens
   * use DES. Only a test that shows this should turn it off.
   */
  legacyProvider?: boolean;
}

export interface S3rverProcess {
  /** `http://127.0.0.1:{port}`; use path-style addressing. */
  endpoint: string;
  port: number;
  directory: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts s3rver in a child process on loopback and waits until it listens.
 * The child exits when stop() is called or when this process goes away (IPC disconnect).
 */
export async function startS3rverProcess(options: S3rverProcessOptions): Promise<S3rverProcess> {
  mkdirSync(options.directory, { recursive: true });
  const child = fork(
    childScript,
    [JSON.stringify({ directory: options.directory, buckets: options.buckets ?? [], port: options.port ?? 0 })],
    {
      // Explicit, so the child does not inherit the parent's loader flags (tsx, vitest).
      execArgv: options.legacyProvider === false ? [] : ["--openssl-legacy-provider"],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    if (stderr.length < 8_000) stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const port = await new Promise<number>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const m = message as { type?: string; port?: number; message?: string };
      if (m?.type === "ready" && typeof m.port === "number") {
        cleanup();
        resolve(m.port);
      } else if (m?.type === "error") {
        cleanup();
        reject(new Error(`s3rver did not start: ${m.message}`));
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`s3rver exited before listening (code ${code}, signal ${signal}): ${stderr.trim()}`));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
      child.off("error", onError);
    };
    child.on("message", onMessage);
    child.on("exit", onExit);
    child.on("error", onError);
  });

  // Once it listens, the child must not keep this process alive; it dies with us.
  child.unref();
  child.channel?.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory: options.directory,
    pid: child.pid ?? -1,
    stop: () => stopChild(child, exited),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Keep this process alive until the child has gone (it was unref'd after start).
  child.ref();
  child.channel?.ref();
  if (child.connected) child.send({ type: "stop" });
  else child.kill("SIGTERM");
  await exited;
}
