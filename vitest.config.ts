import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real servers (s3rver, yoga over HTTP); two workers match the two cores.
    maxWorkers: 2,
  },
});
