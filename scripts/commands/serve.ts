import type { Command } from "commander";
import type { Service } from "../../src/service.ts";
import { configOverrides, withCommonOptions, type CommonFlags } from "./common.ts";

interface ServeFlags extends CommonFlags {
  host?: string;
  port?: string;
  demo?: boolean;
  import?: boolean;
}

export function registerServeCommand(program: Command): void {
  withCommonOptions(
    program
      .command("serve")
      .description(
        "serve the Training Data page (default http://127.0.0.1:4000/), the GraphQL API and GraphiQL (/graphql); an empty data directory gets the demo data set first",
      )
      .option("--host <host>", "address to bind (env HOST, default 127.0.0.1; off loopback, mutations need API_TOKEN)")
      .option("--port <port>", "port (env PORT, default 4000; 0 picks a free one)")
      .option("--no-demo", "do not write the demo data set into an empty data directory")
      .option("--no-import", "do not import the manifests on disk before serving"),
  ).action(async (flags: ServeFlags) => {
    // The whole service, loaded when it is asked for, never for `--help` (SPEC.md §9).
    const [{ loadConfig }, { serviceLogger }, { openService }, { prepareService }, { graphqlEndpoint, startServer }] = await Promise.all([
      import("../../src/config.ts"),
      import("../../src/logger.ts"),
      import("../../src/service.ts"),
      import("../../src/startup.ts"),
      import("../../src/server.ts"),
    ]);
    let service: Service | undefined;
    try {
      // Refuses an off-loopback bind without a token before the database, S3 or the demo data is written.
      service = await openService(loadConfig(process.env, configOverrides(flags)), serviceLogger());
      await prepareService(service, { demo: flags.demo !== false, import: flags.import !== false });
      const server = await startServer(service.ctx);
      const { config, logger } = service.ctx;
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : config.port;
      const host = config.host.includes(":") ? `[${config.host}]` : config.host;
      const s3 = service.s3;
      logger.info(
        `Training Data page on http://${host}:${port}/ · GraphiQL on http://${host}:${port}${graphqlEndpoint} (S3: ${!s3 ? "none, reads only" : s3.embedded ? `embedded at ${s3.s3Config.endpoint}` : (s3.s3Config.endpoint ?? "AWS")})`,
      );
      const signal = await new Promise<NodeJS.Signals>((resolveStop) => {
        process.once("SIGINT", () => resolveStop("SIGINT"));
        process.once("SIGTERM", () => resolveStop("SIGTERM"));
      });
      await service.stop(server, signal);
      process.exitCode = 0;
    } catch (error) {
      console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    } finally {
      await service?.close();
    }
    // Keep-alive timers of ended event streams would hold the process; everything is closed.
    process.exit();
  });
}
