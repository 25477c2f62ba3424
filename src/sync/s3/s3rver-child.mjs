// Runs s3rver in a process of its own (started by s3rver-process.ts with
// `node --openssl-legacy-provider`: s3rver encrypts ListObjectsV2 continuation tokens
// with DES, which Node 20's OpenSSL 3 only offers through the legacy provider; without
// it every listing of more than 1,000 keys answers 500, not even the first page arrives).
// Plain JavaScript so that it starts without a TypeScript loader.
import S3rver from "s3rver";

const options = JSON.parse(process.argv[2] ?? "{}");
const server = new S3rver({
  address: options.address ?? "127.0.0.1",
  port: options.port ?? 0,
  silent: true,
  directory: options.directory,
  configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
});

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  const closed = server.close();
  // Idle keep-alive sockets of clients not yet destroyed would hold close() for seconds.
  server.httpServer?.closeAllConnections?.();
  closed.then(
    () => process.exit(0),
    () => process.exit(0),
  );
}

try {
  const address = await server.run();
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  // The parent going away (crash, exit without stop()) closes the IPC channel.
  process.on("disconnect", shutdown);
  process.on("message", (message) => {
    if (message && message.type === "stop") shutdown();
  });
  process.send?.({ type: "ready", port: address.port, address: address.address });
} catch (error) {
  process.send?.({ type: "error", message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
