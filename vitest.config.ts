import { defineConfig } from "vitest/config";

export default defineConfig({
  // graphql 16 has no exports map: Node loads its CommonJS build for Pothos and yoga, while
  // Vite would pick the .mjs build for our files, and the schema would come from two realms.
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers (s3rver, yoga over HTTP); two workers match the two cores.
    maxWorkers: 2,
  },
});
